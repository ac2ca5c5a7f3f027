"""A worker process: runs tasks, or hosts one actor, for the driver that started it.

Started as ``python -m runtime.worker FD LIFELINE_FD SESSION_DIR WORKER_ID EPOCH SPILL_DIR
OBJECT_STORE_MEMORY CANCEL_FD`` (SPILL_DIR empty and OBJECT_STORE_MEMORY 0 without a cap). It
talks to the driver over a framed socket (``protocol.Channel``). A daemon thread blocks on the
lifeline pipe, whose write end only the driver holds: when the driver dies, however it dies, the
read returns EOF and the worker removes the session's shared-memory folder and exits, so nothing
outlives it.

While a task waits in ``get`` or ``wait`` the worker hands queued tasks back to the driver
(``bounce``) so a nested task queued behind its parent cannot deadlock; an actor keeps its calls,
since they must run in order. When every pool worker waits and the pool cannot grow, the driver
sends a *help* task, which the waiting worker runs at once, inside its wait (see ``scheduler``);
a reply that arrives meanwhile for an outer wait is kept until that wait resumes.

Cancellation: the driver writes the id of a cancelled task to the worker's *cancel pipe*
(CANCEL_FD), then sends SIGINT. The handler reads the pipe into ``cancelled`` and raises
TaskCancelledError in the main thread only if that thread runs the user's code of a cancelled task;
inside the runtime's own code (``shielded``: an API call, a request) it raises nothing, and the
runtime raises the error itself where it holds nothing: before the task starts (so a task cancelled
while it waited here never runs), while a request waits for its reply (SIGINT writes to the
signal wakeup pipe, which that wait watches), after a help task, and as the API call returns. A
signal never leaves a lock held or a message half-sent. Actor processes are never interrupted.

Threads of a task may call the API at once: every request carries an id, one thread at a time
reads the socket and files each reply under its id for the thread that waits for it. Help tasks
run on the main thread only (cancelling one signals that thread): one read by another thread is
handed to the main thread's wait, or bounced when the main thread is not waiting.
"""
from __future__ import annotations

import io
import itertools
import mmap
import os
import pickle
import select
import shutil
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from . import object_ref as _object_ref
from .exceptions import GetTimeoutError, ObjectLostError, TaskCancelledError
from .object_ref import COUNT_MAX, EPOCHS
from .options import is_async_class
from .protocol import Channel, started_path
from .serialization import (error_value, load_value, make_results, make_value, resolve_args,
                            split_returns, system_error_value, unlink_quiet)

if TYPE_CHECKING:
    from .async_actor import AsyncActorLoop

_BATCH_S = 0.001  # hold results at most this long while more queued tasks are ready to run
_SHORT_S = 0.0005  # only a function whose runs took less than this may hold earlier results
_SIDE_S = 0.1  # while idle with other threads alive, report their refs at least this often


class Worker:
    """The worker's state and message loop; also the process's API client (see ``api``)."""

    direct = False  # api builds task specs for this client (see ray_backend)

    def __init__(self, chan: Channel, session_dir: str, wid: int, epoch: int) -> None:
        self.chan = chan
        self.session_dir = session_dir
        self.wid = wid
        self._ids = itertools.count(1)
        self._epoch = epoch
        self._prefix = (epoch << 48) | (wid << 32)
        self.fns: dict[int, Any] = {}
        self.sent_fns: set[int] = set()
        self.queue: deque[tuple] = deque()
        # the ref counts: only the main thread reads or changes them (no lock on the hot path);
        # the refs other threads of a task make wait in ``_side`` until it counts them
        self.local: dict[int, int] = {}
        self.deltas: dict[int, int] = {}
        self._side: deque[tuple[int, bool]] = deque()  # (id, incref: else own)
        self._side_puts = False  # a thread other than the main one put (told the driver)
        self.actor: Any = None
        self.actor_id: int | None = None
        self.aio: AsyncActorLoop | None = None  # an async actor's event loop (``async_actor``)
        self.running = False
        self.torch_done = False
        self._req = itertools.count(1)
        self.fn_time: dict[Any, float] = {}
        self._held = threading.Event()
        self.replies: dict[int, Any] = {}  # answers to open requests, by request id
        # threads of a task may call request at once: one reads the socket at a time
        # (``_reading``, under ``_cv``) and wakes the others when their replies are filed
        self._cv = threading.Condition(threading.Lock())
        self._reading = False
        self._main_ident = threading.get_ident()  # the thread running loop() and the tasks
        self._main_waits = 0  # requests of the main thread open now (help tasks run in them)
        self._helps: deque[tuple] = deque()  # help tasks another thread read, for the main one
        self.current: int | None = None  # the task running now (innermost): submits' parent
        self.calls = threading.local()  # tid: a threaded actor's call on this thread, if any
        # ids of tasks the driver cancelled that have not ended here (read from the cancel pipe
        # by the SIGINT handler); a task in it raises TaskCancelledError at the next safe point
        self.cancelled: set[int] = set()
        self.cancel_fd = -1  # read end of the driver's cancel pipe
        self.wake_fd = -1  # read end of the signal wakeup pipe: a SIGINT wakes a blocked request
        self.shield = 0  # > 0 while the main thread runs the runtime's own code for a task
        # the driver has read our hello ("up"): from then on it sends SIGINT with each cancel;
        # before, a task about to start reads the cancel pipe itself
        self.up = False
        self.again_s = _AGAIN_S  # see _on_sigint
        # the id of the last pool task started, for the driver if this process dies
        # (``Scheduler._last_started``): a shared mapping of its ``started`` file
        self.started: Any = None

    # --- reference counting hooks (see object_ref) ---
    def incref(self, oid: int) -> None:
        if _get_ident() != self._main_ident:
            self._side.append((oid, True))
            return
        c = self.local.get(oid, 0)
        self.local[oid] = c + 1
        if c == 0:
            self.deltas[oid] = self.deltas.get(oid, 0) + 1

    def own(self, oid: int) -> None:
        """A ref this worker created: the driver already counts it."""
        if _get_ident() != self._main_ident:
            self._side.append((oid, False))
            return
        self.local[oid] = self.local.get(oid, 0) + 1

    def _count_side(self) -> None:
        """Count the refs other threads made (main thread only)."""
        side = self._side
        local = self.local
        try:
            while True:
                oid, inc = side.popleft()
                c = local.get(oid, 0)
                local[oid] = c + 1
                if inc and c == 0:
                    self.deltas[oid] = self.deltas.get(oid, 0) + 1
        except IndexError:
            pass

    def _collect_released(self) -> None:
        # released first: a ref made on another thread was queued in _side before it could
        # die, so each release taken here is counted (below) after its ref's creation
        released = _object_ref.drain_released()
        if self._side:
            self._count_side()
        for oid in released:
            c = self.local.get(oid, 0) - 1
            if c <= 0:
                self.local.pop(oid, None)
                self.deltas[oid] = self.deltas.get(oid, 0) - 1
            else:
                self.local[oid] = c

    def flush(self) -> None:
        """Send the outbox, after the ref reports when called from the main thread; from any
        other thread of a task the outbox alone (the counts are the main thread's, and it may
        be between dropping the refs its result holds and queueing its ``done``: ``_done``)."""
        if _get_ident() == self._main_ident:
            self._collect_released()
            if self.deltas:
                d = [(k, v) for k, v in self.deltas.items() if v]
                self.deltas.clear()
                if d:
                    self.chan.outbox.append(("refs", d))
        self.chan.flush()

    def new_id(self) -> int:
        n = next(self._ids)
        if n <= COUNT_MAX:
            return self._prefix | n
        # past 2**32 ids (a long-lived actor) the count's bits start over under another epoch,
        # one per 2**32, instead of running into the worker id's bits (another worker's ids);
        # the worker id keeps them apart from every other process's
        epoch = (self._epoch - 1 + (n >> 32)) % EPOCHS + 1
        return (epoch << 48) | (self.wid << 32) | (n & COUNT_MAX)

    # --- cancellation ---
    def take_cancels(self) -> None:
        """Add the task ids the driver wrote to the cancel pipe to ``cancelled``."""
        while True:
            try:
                data = os.read(self.cancel_fd, 8 * 512)  # whole ids: each write is one, atomic
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # no pipe (started by hand) or closed
                return
            if not data:
                return
            self.cancelled.update(t for (t,) in _TIDS.iter_unpack(data))

    def check_cancelled(self) -> None:
        """Raise TaskCancelledError if the pool task on the main thread was cancelled; called
        where the runtime's code holds nothing (a safe point), on the main thread."""
        if self.running and self.actor_id is None and self.current in self.cancelled:
            self.running = False  # raised once: a second SIGINT does not interrupt the unwinding
            raise TaskCancelledError("the task was cancelled")

    def shielded(self, fn: Any, args: tuple, kwargs: dict) -> Any:
        """``fn(*args, **kwargs)``, an API call from a task, which a cancel's SIGINT does not
        interrupt; a cancel that came meanwhile raises as it returns."""
        if _get_ident() != self._main_ident:
            return fn(*args, **kwargs)
        self.shield += 1
        try:
            return fn(*args, **kwargs)
        finally:
            self.shield -= 1
            if not self.shield:
                self.check_cancelled()

    def _await_frames(self) -> None:
        """Block until the socket has data, as the main thread in a request; raise
        TaskCancelledError if its task is cancelled meanwhile. After each ``recv`` no complete
        frame is left buffered (``Channel._frames`` takes them all), so the socket tells."""
        sock = self.chan.sock
        watch = (sock, self.wake_fd) if self.wake_fd >= 0 else (sock,)
        while True:
            self.check_cancelled()
            ready = select.select(watch, (), ())[0]
            if sock in ready:
                return
            try:  # a signal came (the handler has run): empty the wakeup pipe, check again
                os.read(self.wake_fd, 512)
            except OSError:
                pass

    def shm_path(self, oid: int, run: int = 0) -> str:
        return f"{self.session_dir}/{oid:x}.{run:x}" if run else f"{self.session_dir}/{oid:x}"

    # --- requests to the driver while running user code ---
    def request(self, msg: tuple) -> Any:
        """Send ``msg`` with a request id and return the driver's reply to it. Any thread of a
        task may call it: one thread at a time reads the socket (``_read``) and files every
        reply under its request id, so each thread gets its own; help tasks run only on the
        main thread (see ``_read``)."""
        rid = next(self._req)
        main = threading.get_ident() == self._main_ident
        bounced = False
        replies = self.replies
        cv = self._cv
        with cv:
            replies[rid] = _OPEN
            if main:
                self._main_waits += 1
        try:
            self.chan.outbox.append((msg[0], rid) + msg[1:])
            if self.actor_id is None and msg[0] not in _ANSWERED_AT_ONCE:
                # hand queued tasks back: they may be what we wait for
                try:
                    while True:
                        self.chan.outbox.append(("bounce", self.queue.popleft()[1]))
                except IndexError:
                    pass
            self.flush()
            while True:
                if main:  # a safe point: a cancel that came meanwhile (or in a help task) raises
                    self.check_cancelled()
                with cv:
                    while True:
                        if replies[rid] is not _OPEN:
                            return replies[rid]
                        if main and self._helps:
                            help_msg = self._helps.popleft()
                            break
                        if not self._reading:
                            self._reading = True
                            help_msg = None
                            break
                        if main:  # another thread reads: look for a cancel now and then
                            self.check_cancelled()
                            cv.wait(_CANCEL_POLL_S)
                        else:
                            cv.wait()
                if help_msg is not None:  # read by another thread while we wait
                    self.incoming(help_msg, blocked=True)
                    continue
                for help_msg in self._read(True, blocked=True):
                    if main:
                        self.incoming(help_msg, blocked=True)
                    else:
                        with cv:
                            if self._main_waits:  # the main thread waits: it runs it
                                self._helps.append(help_msg)
                                cv.notify_all()
                                continue
                        # the main thread runs user code, which may wait for this thread:
                        # the driver sends the task elsewhere
                        self.chan.outbox.append(("bounce", help_msg[1]))
                self.chan.flush()
        finally:
            with cv:
                del replies[rid]
                if main:
                    self._main_waits -= 1
                    left = self._helps if not self._main_waits else ()
                    while left:  # came as the main thread's last wait ended: elsewhere too
                        self.chan.outbox.append(("bounce", left.popleft()[1]))
                        bounced = True
        if bounced:
            self.chan.flush()

    def _read(self, block: bool, blocked: bool) -> list[tuple]:
        """Read what the driver sent, as the one reading thread (the caller set ``_reading``;
        this clears it): file the replies, handle the other messages in order, and return the
        help tasks (with ``blocked``), which the caller runs outside the reading role so other
        threads can read meanwhile."""
        helps = []
        try:
            if block and blocked and _get_ident() == self._main_ident:
                self._await_frames()
            try:
                frames = self.chan.recv(block)
            except EOFError:
                if blocked:
                    _driver_gone(self.session_dir)
                raise
            replies = self.replies
            for frame in frames:
                for m in frame:
                    if m[0] == "reply":
                        with self._cv:
                            if m[1] in replies:  # else: the request was given up (cancelled)
                                replies[m[1]] = m[2]
                    elif m[0] == "help" and blocked:
                        helps.append(m)
                    else:
                        self.incoming(m, blocked)
        finally:
            with self._cv:
                self._reading = False
                self._cv.notify_all()
            if self.aio is not None and _get_ident() != self._main_ident:
                self.aio.notify()  # an async actor's loop reads the socket again
        return helps

    def _take_reading(self, block: bool) -> bool:
        """Become the reading thread; without ``block``, False at once if another thread is."""
        with self._cv:
            while self._reading:
                if not block:
                    return False
                self._cv.wait()
            self._reading = True
            return True

    def incoming(self, m: tuple, blocked: bool = False) -> None:
        tag = m[0]
        if tag in ("task", "call", "actor_init"):
            if blocked and tag == "task":
                self.chan.outbox.append(("bounce", m[1]))
            else:
                self.queue.append(m)
                if self.aio is not None:
                    self.aio.notify()
        elif tag == "help":
            m = ("task",) + m[1:]
            if not blocked:  # our wait ended before it came: an ordinary task now
                self.queue.append(m)
                return
            running = self.running
            self.run(m)  # inside the wait of the task below us on the stack
            self.running = running
            self.flush()
        elif tag == "up":
            self.take_cancels()  # those written while we started
            self.up = True
        elif tag == "forget":  # a task that ended here was cancelled: its id, maybe read
            self.take_cancels()  # after it ended (or still in the pipe), is of no more use
            self.cancelled.discard(m[1])
        elif tag == "exit":
            _exit(0)
        elif tag == "setup":
            sys.path[:] = m[1]
        elif tag == "fn":
            self.fns[m[1]] = m[2]

    # --- the API client inside tasks and actors (same methods as the Driver's) ---
    def submit(self, spec: tuple, blob: bytes | None) -> None:
        fn_id = spec[1]
        if spec[0] == "task" and fn_id not in self.sent_fns:
            self.sent_fns.add(fn_id)
        else:
            blob = None
        for oid in spec[6]:
            self.own(oid)
        parent = getattr(self.calls, "tid", None)
        self.chan.outbox.append(("submit", spec, blob, self.current if parent is None else parent))
        if self.actor_id is not None or not self.queue:
            self.flush()
        else:  # batched with the results of the short tasks queued here, but sent within
            self._held.set()  # _BATCH_S even if this task runs on for long (_flusher)

    def create_actor(self, aid: int, name: str | None, meta: Any, spec: tuple,
                     blob: bytes, detached: bool = False) -> None:
        r = self.request(("create_actor", aid, name, meta, spec, blob, detached))
        if r[0] == "error":  # the driver's exception: a taken name, or no process could start
            raise r[1]
        self.own(aid)

    def get_objects(self, oids: list[int], timeout: float | None) -> list[Any]:
        r = self.request(("get", oids, timeout))
        if r[0] == "timeout":
            raise GetTimeoutError(f"get() timed out after {timeout} s")
        if r[0] == "lost":
            raise _lost(r[1])
        return [self.load(v) for v in r[1]]

    def load(self, value: tuple) -> Any:
        """``load_value``, asking the driver where a shared-memory object went if it moved
        (spilled to disk) after the value was sent."""
        while True:
            try:
                if value[0] == "l":  # evicted before the reply: ask for it (it is rebuilt)
                    raise FileNotFoundError
                return load_value(value)
            except FileNotFoundError:
                if value[0] == "l":
                    oid, path = value[1], ""
                elif value[0] == "s":
                    oid, path = int(os.path.basename(value[1]).split(".")[0], 16), value[1]
                else:
                    raise
                r = self.request(("locate", oid, path))
                if r[0] != "ok":
                    raise ObjectLostError(f"object {r[1]:016x} was freed") from None
                value = r[1][0]

    def put(self, obj: Any) -> Any:
        oid = self.new_id()
        if not self._side_puts and _get_ident() != self._main_ident:
            # a thread may put after its task is done: tell the driver before its first
            # segment is written, so that it looks for unsent ones if this process dies idle
            self.chan.outbox.append(("side_puts",))
            self.chan.flush()
            self._side_puts = True  # after the send: another thread's put may not pass first
        value, contained = make_value(obj, self.shm_path(oid), _SPILL)
        self.own(oid)
        self.chan.outbox.append(("put", oid, value, contained))
        if value[0] == "s":  # the driver owns the file from now on, even if this process dies
            self.flush()
        return _object_ref.ObjectRef(oid, _counted=True)

    def wait(self, oids: list[int], num_returns: int, timeout: float | None) -> set[int]:
        r = self.request(("wait", oids, num_returns, timeout))
        if r[0] == "lost":  # as get does (a ref unpickled from bytes after its object went)
            raise _lost(r[1])
        return set(r[1])

    def kill(self, aid: int, no_restart: bool = True) -> None:
        self.chan.outbox.append(("kill", aid, no_restart))
        self.flush()

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        if force:  # the driver may refuse it (an actor call): wait for its answer
            r = self.request(("cancel_force", oid, recursive))
            if r[0] == "error":
                raise r[1]
            return
        self.chan.outbox.append(("cancel", oid, force, recursive))
        self.flush()

    def get_actor(self, name: str) -> Any:
        found = self.request(("get_actor", name))[1]
        if found is not None:
            self.own(found[0])  # the driver counted it for this worker as it answered
        elif self.actor_id is None and self.queue:
            # not registered yet: a task queued here may be what registers it, and the caller
            # may retry until it does (a poll), so hand the queued tasks back as a get does
            try:
                while True:
                    self.chan.outbox.append(("bounce", self.queue.popleft()[1]))
            except IndexError:
                pass
            self.chan.flush()
        return found

    # --- running ---
    def _fn(self, fn_id: int, blob: bytes | None) -> Any:
        fn = self.fns.get(fn_id)
        if fn is None or isinstance(fn, bytes):
            fn = pickle.loads(fn if blob is None else blob)
            self.fns[fn_id] = fn
        return fn

    def run(self, m: tuple) -> None:
        tag = m[0]
        if tag == "task":
            _, tid, fn_id, blob, args_val, dep_vals, roids, name = m
            if self.started is not None:
                _TIDS.pack_into(self.started, 0, tid)
            if blob is not None and fn_id not in self.fns:
                # kept before anything can fail (its arguments, the function's own unpickling):
                # the driver sends a function once per worker
                self.fns[fn_id] = blob
        elif tag == "call":
            _, tid, method, args_val, dep_vals, roids, name = m
        else:
            _, tid, aid, cls_id, blob, args_val, dep_vals, name, concurrency = m
            roids = []
            # an actor's process from now on, its constructor included: the calls queued
            # behind it stay here, in order, when it waits (request), and are never bounced
            self.actor_id = aid
        key = fn_id if tag == "task" else (method if tag == "call" else None)
        ok = True
        wall0 = time.time()
        t0 = time.perf_counter()
        outer, self.current = self.current, tid  # a help task runs inside an outer task
        shield, self.shield = self.shield, 1  # the runtime's own code until the user's starts
        try:
            self.running = True
            args, kwargs = resolve_args(args_val, dep_vals, self.load)
            if tag == "task":
                fn = self._fn(fn_id, blob)
                self._one_thread()
                self._start(tid)
                result = fn(*args, **kwargs)
            elif tag == "call":
                self._one_thread()
                self.take_cancels()  # an actor gets no SIGINT: a call cancelled while queued
                if self.cancelled:  # here never starts. A smaller id not queued here is a call
                    # that ran here already, cancelled too late (not interrupted); calls of
                    # different submitters may come out of id order (``actors.pump``)
                    queued = {q[1] for q in self.queue if q[0] == "call"}
                    self.cancelled.difference_update(
                        [x for x in self.cancelled if x < tid and x not in queued])
                self._start(tid)
                result = getattr(self.actor, method)(*args, **kwargs)
            else:
                cls = self._fn(cls_id, blob)
                _set_prefix(f"{getattr(cls, '__name__', 'actor')} worker {self.wid}")
                self._one_thread()
                # its loop first: the constructor of an async actor may schedule on it
                threaded = not is_async_class(cls)
                if not threaded or concurrency > 1:  # an async or a threaded actor
                    # imported here only: asyncio costs each other process 7 MB
                    from .async_actor import AsyncActorLoop
                    self.aio = AsyncActorLoop(self, concurrency, _SPILL, threaded=threaded)
                self.shield = 0
                self.actor = cls(*args, **kwargs)
                result = None
            self.running = False
            self.current = outer
            self.shield = shield
            outs = split_returns(result, len(roids), name)
            del result
            # a task's outputs are named per run: a run that rebuilds lost outputs must not
            # overwrite the segments of its outputs that were not lost
            values = make_results(outs, [self.shm_path(o, tid) for o in roids], name, _SPILL)
            del outs
        except BaseException as e:  # noqa: BLE001 - every user error goes back to the caller
            self.running = False
            self.current = outer
            self.shield = shield
            ok = False
            if isinstance(e, TaskCancelledError):
                err = system_error_value(e)
            else:
                tb = traceback.format_exc()
                err = error_value(e, tb, name)
            values = [(err, []) for _ in roids] if roids else [(err, [])]
            if self.cancelled:
                self.cancelled.discard(tid)
            if tag == "actor_init":
                self._done(("done", tid, values, time.perf_counter() - t0, False, wall0))
                self.flush()
                return
        if self.cancelled:  # a cancel that came too late (it finished) is forgotten here
            self.cancelled.discard(tid)
        dt = time.perf_counter() - t0
        old = self.fn_time.get(key)
        self.fn_time[key] = dt if old is None else 0.7 * old + 0.3 * dt
        self._done(("done", tid, values, dt, ok, wall0))

    def _start(self, tid: int) -> None:
        """The user's code of ``tid`` starts now, unless it was cancelled while it waited here
        (its SIGINT then interrupted nothing, or the task before it); from here a cancel's
        SIGINT interrupts a pool task at once."""
        self.shield = 0
        if not self.up:
            self.take_cancels()
        if tid in self.cancelled:
            self.running = False
            raise TaskCancelledError("the task was cancelled before it started")

    def _done(self, msg: tuple) -> None:
        """Queue a task's ``done``, after the refs it took (unpickled from its arguments and
        kept: in an actor's state, a global): the driver releases the task's hold on what its
        arguments contain at ``done``, which must not be the last hold. Releases still go
        after it: the task's results may contain what it dropped."""
        if sys.gettrace() is _no_trace:  # a cancel re-raised in a frame that never ran again
            sys.settrace(None)  # (_on_unraisable): tracing stops with its task
        if self._side:  # refs the task's other threads took count too
            self._count_side()
        d = self.deltas
        taken = [(k, v) for k, v in d.items() if v > 0]
        if taken:
            for k, _ in taken:
                del d[k]
            self.chan.outbox.append(("refs", taken))
        self.chan.outbox.append(msg)

    def _one_thread(self) -> None:
        """``torch.set_num_threads(1)`` once torch is loaded (by the user's code or by unpickling
        the function); never imported here, since that costs about a second and 100+ MB."""
        if not self.torch_done and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
            self.torch_done = True

    def _next_is_short(self) -> bool:
        try:
            m = self.queue[0]
        except IndexError:  # a thread of the task bounced it (request): nothing to wait for
            return False
        key = m[2] if m[0] in ("task", "call") else None
        return self.fn_time.get(key, 1.0) < _SHORT_S

    def _flusher(self) -> None:
        """Sends results held for batching if the main thread has not within ``_BATCH_S``."""
        while True:
            self._held.wait()
            time.sleep(_BATCH_S)
            self._held.clear()
            self.chan.flush()

    def loop(self) -> None:
        last_flush = time.perf_counter()
        threads = threading.active_count()  # this process's own: main, lifeline, flusher
        while True:
            if not self.queue:
                self.flush()
                # a thread a task left running (an actor's, or a finished task's) may make and
                # drop refs while we wait: only this thread counts and reports them (flush), so
                # wake now and then to do it, else they (their segments) would be held until
                # the next message came
                alive = threading.active_count() > threads  # before: a thread's last drops
                if self._side or _object_ref._released:  # precede its leaving the count
                    continue
                if alive and not select.select((self.chan.sock,), (), (), _SIDE_S)[0]:
                    continue
                with self._cv:  # a thread of an earlier task may be reading: what it reads
                    while self._reading and not self.queue:  # for us (a call, a task) is
                        self._cv.wait()  # queued, and the socket may stay quiet after it
                    if self.queue:
                        continue
                    self._reading = True
                try:  # with threads alive, never blocked here: they are reported (above)
                    self._read(not alive, blocked=False)
                except EOFError:
                    return
                last_flush = time.perf_counter()
                continue
            try:
                m = self.queue.popleft()
            except IndexError:  # since the check, a thread of a task bounced it (request)
                continue
            self.run(m)
            if self.aio is not None:  # an async actor was constructed: its loop runs the calls
                self.aio.serve(threads, _SIDE_S)
                return
            if self._take_reading(False):
                try:
                    self._read(False, blocked=False)
                except EOFError:
                    return
            if (not self.queue or time.perf_counter() - last_flush > _BATCH_S
                    or not self._next_is_short()):
                self.flush()
                last_flush = time.perf_counter()
            else:
                self._held.set()


def _map_started(path: str) -> Any:
    """A shared mapping of a new ``started`` file (zero: no task started yet), or None if it
    cannot be made (the driver then treats every task it sent here as started)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        return None
    try:
        os.ftruncate(fd, _TIDS.size)
        return mmap.mmap(fd, _TIDS.size)
    except (OSError, ValueError):
        unlink_quiet(path)
        return None
    finally:
        os.close(fd)


def _lost(oid: int) -> ObjectLostError:
    """The error of a get or wait on an object the driver no longer has."""
    return ObjectLostError(f"object {oid:016x} was freed or is not in this runtime")


def _exit(code: int) -> None:
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:  # noqa: BLE001 - the process is leaving anyway
            pass
    os._exit(code)


def _lifeline(fd: int, session_dir: str) -> None:
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    _driver_gone(session_dir)


_SPILL_DIR = ""
_SPILL: tuple[str, int] | None = None  # (spill folder, object_store_memory) when capped


def _driver_gone(session_dir: str) -> None:
    """The driver is gone: remove the session's shared memory and spill folder (every worker
    tries) and exit."""
    shutil.rmtree(session_dir, ignore_errors=True)
    if _SPILL_DIR:
        shutil.rmtree(_SPILL_DIR, ignore_errors=True)
    _exit(1)


def _on_sigint(signum: int, frame: Any) -> None:
    """A cancel: read which tasks (the cancel pipe); interrupt the user's code of the one the
    main thread runs, if it is one of them. Inside the runtime's own code (``shield``) the
    error is raised later, at a safe point (see the module's docstring)."""
    w = _WORKER
    if w is None:
        return
    w.take_cancels()
    if w.shield:
        return
    if _in_finalizer(frame):
        # a finalizer (a ref dropped) runs: Python prints and drops what it raises, and the
        # task would run on. Signal again from another thread, later each time, until it lands
        # outside one (a signal raised here would be handled at once, still inside it)
        if w.running and w.actor_id is None and w.current in w.cancelled:
            t = threading.Timer(w.again_s, os.kill, (os.getpid(), signal.SIGINT))
            t.daemon = True
            t.start()
            w.again_s = min(2 * w.again_s, _AGAIN_MAX_S)
        return
    w.again_s = _AGAIN_S
    w.check_cancelled()


def _on_unraisable(u: Any) -> None:
    """``sys.unraisablehook``: a cancel's TaskCancelledError that landed where Python drops what
    is raised (a gc callback, a weakref callback such as ``weakref.finalize``'s:
    ``_in_finalizer`` sees only ``__del__``) is raised again in the task's own code, at the
    next line of the frame that ran that callback, instead of being printed ("Exception
    ignored in") while the task runs on. Anything else goes to the hook there before."""
    w = _WORKER
    if (w is None or not isinstance(u.exc_value, TaskCancelledError) or w.actor_id is not None
            or w.current not in w.cancelled):
        _prev_unraisable(u)
        return
    tb = u.exc_traceback
    frame = tb.tb_frame.f_back if tb is not None else None
    if frame is None or sys.gettrace() is not None:  # a debugger traces: signal again later
        w.shield += 1  # a SIGINT meanwhile (an earlier timer's) must not raise in here
        try:
            t = threading.Timer(w.again_s, os.kill, (os.getpid(), signal.SIGINT))
            t.daemon = True
            t.start()
            w.again_s = min(2 * w.again_s, _AGAIN_MAX_S)
            w.running = True  # check_cancelled cleared it as it raised: the task still runs
        finally:
            w.shield -= 1
        return
    tid = w.current

    def trace(f: Any, event: str, arg: Any) -> Any:
        if f is not frame:
            return None
        sys.settrace(None)
        f.f_trace = None
        if w.current == tid and tid in w.cancelled:
            raise TaskCancelledError("the task was cancelled")
        return None

    frame.f_trace = trace  # its next line event (or its return) raises, in the task's code
    sys.settrace(_no_trace)  # line events reach a frame's f_trace only while tracing is on


def _no_trace(frame: Any, event: str, arg: Any) -> None:
    return None


_prev_unraisable = sys.unraisablehook


def _in_finalizer(frame: Any) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (its own or a caller's)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


_WORKER: Worker | None = None
_get_ident = threading.get_ident
_TIDS = struct.Struct("<Q")  # a task id on the cancel pipe
# how often the main thread, waiting while another thread of its task reads the socket, looks
# for a cancel (the one wait a signal cannot wake)
_CANCEL_POLL_S = 0.05
_AGAIN_S = 0.001  # a cancel's SIGINT that came inside a finalizer is sent again after this,
_AGAIN_MAX_S = 0.05  # twice as long each time it lands in one again, up to this
_OPEN = object()  # a request's reply slot before the answer arrives
# requests the driver answers as it reads them: no queued task can be what they wait for
_ANSWERED_AT_ONCE = frozenset(("get_actor", "create_actor", "cancel_force"))


class _Prefixed(io.TextIOBase):
    """Writes whole lines to ``raw``, each prefixed with the worker's id, as Ray does."""

    def __init__(self, raw: Any, prefix: str) -> None:
        self.raw = raw
        self.prefix = prefix
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        text = self._partial + s
        lines = text.split("\n")
        self._partial = lines.pop()
        if lines:
            self.raw.write("".join(f"{self.prefix}{ln}\n" for ln in lines))
            self.raw.flush()
        return len(s)

    def flush(self) -> None:
        if self._partial:
            self.raw.write(f"{self.prefix}{self._partial}")
            self._partial = ""
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def buffer(self) -> Any:  # binary writes go through unprefixed
        return self.raw.buffer

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.raw.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.raw.errors

    def __getattr__(self, name: str) -> Any:
        """What a text file has and this class does not (``name``, ``mode``,
        ``line_buffering``, ``reconfigure``): the underlying stream's, as code written for
        ``sys.stdout`` expects."""
        if name == "raw":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.raw, name)


def _set_prefix(label: str) -> None:
    for f in (sys.stdout, sys.stderr):
        if isinstance(f, _Prefixed):
            f.prefix = f"({label} pid={os.getpid()}) "


def _apply_site() -> None:
    """Process the ``.pth`` files that ``python -S`` skipped (editable installs add import hooks
    there). Runs after the hello, so it overlaps with the driver's own work."""
    import site
    for d in list(sys.path):
        if d.endswith(("site-packages", "dist-packages")):
            site.addsitedir(d)


def main(argv: list[str]) -> None:
    global _WORKER

    fd, lifeline_fd, session_dir, wid, epoch, spill_dir, cap, cancel_fd = argv
    global _SPILL_DIR, _SPILL
    _SPILL_DIR = spill_dir
    if spill_dir:
        _SPILL = (spill_dir, int(cap))
    threading.Thread(target=_lifeline, args=(int(lifeline_fd), session_dir), daemon=True).start()
    sock = socket.socket(fileno=int(fd))
    chan = Channel(sock)
    w = Worker(chan, session_dir, int(wid), int(epoch))
    _WORKER = w
    sys.stdout = _Prefixed(sys.stdout, "")
    sys.stderr = _Prefixed(sys.stderr, "")
    _set_prefix(f"worker {wid}")
    threading.Thread(target=w._flusher, daemon=True).start()
    w.cancel_fd = int(cancel_fd)
    os.set_blocking(w.cancel_fd, False)
    w.started = _map_started(started_path(session_dir, int(wid)))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    w.wake_fd = wake_r
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = _on_unraisable
    from . import api
    api._set_worker_client(w)
    _object_ref.set_hooks(w)
    try:
        chan.send([("hello", w.wid, os.getpid())])
    except OSError:  # the driver died while we started: clean up as the lifeline would
        _driver_gone(session_dir)
    if sys.flags.no_site:
        _apply_site()
    w.loop()
    _driver_gone(session_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
