"""The driver: starts the worker processes, runs the dispatcher thread, serves the API calls.

One dispatcher thread multiplexes every worker's socket with an epoll selector: it reads all the
frames that are there, applies them to the scheduler under one lock acquisition, and flushes the
outgoing frames after releasing it. API calls in the user's threads mutate the scheduler under the
same lock and flush their own sends, so a task reaches its worker without a thread hop.

Clean exit: every worker holds the read end of a *lifeline* pipe whose write end only the driver
has. ``shutdown`` (also run by ``atexit`` and by the SIGTERM handler installed at ``init``) stops
the workers and removes the session's shared-memory folder; if the driver dies without running it,
the lifeline reads EOF in every worker and they remove the folder and exit.
"""
from __future__ import annotations

import itertools
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from . import object_ref as _object_ref
from .exceptions import GetTimeoutError, ObjectLostError
from .object_ref import COUNT_MAX, ObjectRef, wid_of
from .protocol import Channel
from .object_store import ObjectStore
from .scheduler import DriverWaiter, Scheduler, WorkerInfo
from .serialization import (dumps, fits_inline, inline_value, load_value, map_shm, map_writable,
                            shm_size, unlink_quiet, value_path, write_mapped, write_shm)

log = logging.getLogger(__name__)
_SHM_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") else None
_START_TIMEOUT_S = 60.0
_MAX_WID = 0xFFFF  # an object id holds 16 bits of the worker's id (object_ref.wid_of)
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Workers start with -S (no site: about 60 ms less per start) and the driver's sys.path; the
# worker applies the .pth files (editable installs) right after its hello (worker._apply_site).
_BOOT = ("import os, sys; sys.path[:] = os.environ.pop('RUNTIME_SYS_PATH').split(os.pathsep); "
         "from runtime.worker import main; main(sys.argv[1:])")


class Driver:
    """The runtime inside the driver process; ``api`` calls its methods."""

    direct = False  # api builds task specs for this client (see ray_backend)

    def __init__(self, num_cpus: int, object_store_memory: int | None = None) -> None:
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.pid = os.getpid()  # a forked child must not shut down its parent's runtime
        self.epoch = _object_ref.new_epoch()
        self._ids = itertools.count(1)
        self._prefix = self.epoch << 48
        self._more_epochs: dict[int, int] = {}  # see _id_past_count
        self._id_lock = threading.Lock()
        self._wids = itertools.count(1)
        self._wid_cursor = 0  # where _new_wid looks for a free id once they wrapped around
        self.closed = False
        self.failed: BaseException | None = None  # what ended the dispatcher, if not shutdown
        self.session_dir = tempfile.mkdtemp(prefix=f"rt-{os.getpid()}-", dir=_SHM_ROOT)
        self.life_r, self.life_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                        OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                        RUNTIME_SYS_PATH=os.pathsep.join([_PKG_PARENT] + sys.path))
        # the workers whose process may still run (shutdown stops them); a worker leaves once
        # its process is reaped, so bursts of nested tasks leave no trace in a long-lived driver
        self.all_workers: list[WorkerInfo] = []
        self.workers_spawned = 0
        self._dying: list[WorkerInfo] = []  # channel closed, process not reaped yet
        free_dir = os.path.join(self.session_dir, "free")
        os.mkdir(free_dir)
        os.mkdir(os.path.join(self.session_dir, "started"))  # see protocol.started_path
        cap = object_store_memory // 4 if object_store_memory else 1 << 30
        store = ObjectStore(free_dir, cap)
        self.spill_dir = ""
        self.spill: tuple[str, int] | None = None  # as workers get it (serialization.value_path)
        if object_store_memory:
            self.spill_dir = tempfile.mkdtemp(prefix=f"rt-spill-{os.getpid()}-")
            self.spill = (self.spill_dir, object_store_memory)
            store.cap = object_store_memory
            store.spill_dir = self.spill_dir
        self.sched = Scheduler(num_cpus, self._spawn, store, self.session_dir)
        self.thread = threading.Thread(target=self._dispatch, name="runtime-dispatcher",
                                       daemon=True)
        try:
            self._start(num_cpus)
        except BaseException:
            # Ctrl-C while the workers start: the caller gets no runtime to shut down, so
            # nothing may stay behind (the driver may live on, in a REPL or a notebook)
            self.shutdown()
            raise

    def _start(self, num_cpus: int) -> None:
        s = self.sched
        with s.lock:
            for _ in range(num_cpus):
                s.pool.append(self._spawn(None))
            fl = s.take_flush()
        for w in fl:
            w.chan.flush()
        self.thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        with s.cv:
            while not all(w.alive for w in s.pool):
                left = deadline - time.monotonic()
                if left <= 0 or any(w.proc.poll() is not None for w in s.pool):
                    raise RuntimeError("runtime workers failed to start; their error is on "
                                       "stderr above")
                self._check_open()
                s.cv.wait(min(left, 0.05))

    # --- processes ---
    def _spawn(self, aid: int | None) -> WorkerInfo:
        wid = self._new_wid()
        a, b = socket.socketpair()
        try:
            cancel_r, cancel_w = os.pipe()  # the ids of its cancelled tasks (Scheduler._interrupt)
        except BaseException:
            a.close()
            b.close()
            raise
        try:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _BOOT, str(b.fileno()), str(self.life_r),
                 self.session_dir, str(wid), str(self.epoch), self.spill_dir,
                 str(self.object_store_memory or 0), str(cancel_r)],
                pass_fds=(b.fileno(), self.life_r, cancel_r), start_new_session=True,
                env=self.env, stdin=subprocess.DEVNULL)
        except BaseException:
            a.close()
            b.close()
            os.close(cancel_r)
            os.close(cancel_w)
            raise
        b.close()
        os.close(cancel_r)
        os.set_blocking(cancel_w, False)
        w = WorkerInfo(wid, Channel(a), proc, aid)
        w.cancel_fd = cancel_w
        w.chan.outbox.append(("setup", list(sys.path)))
        self.sched.to_flush.add(w)
        self.all_workers.append(w)
        self.workers_spawned += 1
        self.sel.register(a, selectors.EVENT_READ, w)
        self._wake()
        return w

    def _new_wid(self) -> int:
        """An id for a new worker: 1, 2, ...; past ``_MAX_WID`` (that many starts, nested
        bursts make many) one that no worker whose process may run has and no object in the
        store was made under, since the worker's object ids start over from the same prefix."""
        wid = next(self._wids)
        if wid <= _MAX_WID:
            return wid
        used = {w.wid for w in self.all_workers}
        used.update(wid_of(oid) for oid in self.sched.store.entries)
        for _ in range(_MAX_WID):
            self._wid_cursor = self._wid_cursor % _MAX_WID + 1
            if self._wid_cursor not in used:
                return self._wid_cursor
        raise OSError(f"no worker id is free: objects made by all {_MAX_WID} of them are alive")

    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    # --- the dispatcher thread ---
    def _dispatch(self) -> None:
        try:
            self._dispatch_loop()
        except BaseException as e:  # noqa: BLE001 - a bug here must not hang every caller
            self.failed = e
            log.critical("the runtime's dispatcher thread failed; every runtime call raises "
                         "from now on", exc_info=True)
            with self.sched.cv:
                self.sched.cv.notify_all()

    def _dispatch_loop(self) -> None:
        s = self.sched
        timeout: float | None = 0.2
        while not self.closed:
            try:
                events = self.sel.select(timeout)
            except (OSError, ValueError):
                if self.closed:
                    return
                raise
            batches = []
            dead = []
            for key, _ in events:
                w = key.data
                if w is None:
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                    continue
                try:
                    frames = w.chan.recv(block=False)
                except (EOFError, OSError):
                    dead.append(w)
                    continue
                if frames:
                    batches.append((w, frames))
            # disk work outside the lock: the put segments each dead worker may have left
            unsent = [s.unsent_put_files(w) for w in dead]
            with s.lock:
                if self.closed:
                    return
                for w, frames in batches:
                    for frame in frames:
                        for m in frame:
                            self._handle(w, m)
                for w, files in zip(dead, unsent):
                    try:
                        self.sel.unregister(w.chan.sock)
                    except (KeyError, ValueError, OSError):
                        pass
                    w.close()
                    s.on_worker_died(w, files)
                    self._dying.append(w)
                if self._dying:
                    self._prune_reaped()
                nxt = s.expire_timers()
                self._collect_released()
                s.pump()
                if len(s.pool) > s.num_cpus:
                    s.retire_idle()
                if s.changed:
                    s.changed = False
                    s.cv.notify_all()
                fl = s.take_flush()
            for w in fl:
                w.chan.flush()
            timeout = 0.2 if nxt is None else min(0.2, max(nxt, 0.0))
            if dead:
                for w in dead:
                    try:
                        w.proc.wait(timeout=1.0)
                    except subprocess.TimeoutExpired:
                        pass

    def _prune_reaped(self) -> None:
        """Forget the workers whose process has exited and been reaped (under the lock)."""
        gone = [w for w in self._dying if w.proc.poll() is not None]
        if gone:
            gone_ids = {id(w) for w in gone}
            self._dying = [w for w in self._dying if id(w) not in gone_ids]
            self.all_workers = [w for w in self.all_workers if id(w) not in gone_ids]

    def _handle(self, w: WorkerInfo, m: tuple) -> None:
        s = self.sched
        tag = m[0]
        if tag == "done":
            s.on_done(w, m[1], m[2], m[3], m[4], m[5])
        elif tag == "refs":
            s.on_refs(w, m[1])
        elif tag == "submit":
            s.submit(m[1], m[2], w, m[3])
        elif tag == "get":
            s.on_get(w, m[1], m[2], m[3], True, len(m[2]))
        elif tag == "wait":
            s.on_get(w, m[1], m[2], m[4], False, m[3])
        elif tag == "put":
            s.on_put(w, m[1], m[2], m[3])
        elif tag == "bounce":
            s.on_bounce(w, m[1])
        elif tag == "create_actor":
            try:
                self._create_actor_locked(m[2], m[3], m[4], m[5], m[6], m[7], w)
                s._reply(w, m[1], ("ok", None))
            except (ValueError, OSError) as e:  # a taken name; no process could start
                s._reply(w, m[1], ("error", e))
        elif tag == "locate":
            s.on_locate(w, m[1], m[2], m[3])
        elif tag == "get_actor":
            found = self._find_actor(m[2])
            if found is not None:  # counted for the worker, as a handle it created
                w.holds[found[0]] = w.holds.get(found[0], 0) + 1
            s._reply(w, m[1], ("ok", found))
        elif tag == "kill":
            s.kill_actor(m[1], m[2])
        elif tag == "cancel":
            s.cancel(m[1], m[2], m[3])
        elif tag == "cancel_force":  # answered: it may be refused (an actor call)
            try:
                s.cancel(m[2], True, m[3])
                s._reply(w, m[1], ("ok", None))
            except ValueError as e:
                s._reply(w, m[1], ("error", e))
        elif tag == "side_puts":
            w.side_puts = True
        elif tag == "hello":
            s.on_hello(w, m[2])

    # --- reference counting hooks (see object_ref) ---
    def incref(self, oid: int) -> None:
        with self.sched.lock:
            self.sched.store.incref(oid)

    def _collect_released(self) -> None:
        released = _object_ref.drain_released()
        if released:
            decref = self.sched.store.decref
            for oid in released:
                decref(oid)

    # --- API ---
    def new_id(self) -> int:
        n = next(self._ids)
        if n <= COUNT_MAX:
            return self._prefix | n
        return self._id_past_count(n)

    def _id_past_count(self, n: int) -> int:
        """The id of number ``n`` past 2**32 of them (a long session): its count's 32 bits
        start over under another epoch, one per 2**32 ids, instead of running into the
        worker id's bits (the driver's are 0), where it made the ids of a worker's objects."""
        hi = n >> 32
        epoch = self._more_epochs.get(hi)
        if epoch is None:
            with self._id_lock:
                epoch = self._more_epochs.get(hi)
                if epoch is None:
                    epoch = self._more_epochs[hi] = _object_ref.new_epoch()
        return (epoch << 48) | (n & COUNT_MAX)

    def shm_path(self, oid: int) -> str:
        return f"{self.session_dir}/{oid:x}"

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the runtime was shut down; call runtime.init() again and "
                               "resubmit the work")
        if self.failed is not None:
            raise RuntimeError(
                f"the runtime's dispatcher thread failed ({type(self.failed).__name__}: "
                f"{self.failed}); call runtime.shutdown() and runtime.init() again, and resubmit "
                "the work") from self.failed

    def submit(self, spec: tuple, blob: bytes | None) -> None:
        s = self.sched
        with s.lock:
            self._check_open()
            self._collect_released()
            s.submit(spec, blob, None)
            s.pump()
            fl = s.take_flush()
        for w in fl:
            w.chan.flush()

    def create_actor(self, aid: int, name: str | None, meta: Any, spec: tuple,
                     blob: bytes, detached: bool = False) -> None:
        s = self.sched
        with s.lock:
            self._check_open()
            self._collect_released()
            self._create_actor_locked(aid, name, meta, spec, blob, detached)
            fl = s.take_flush()
        for w in fl:
            w.chan.flush()

    def _create_actor_locked(self, aid: int, name: str | None, meta: Any, spec: tuple,
                             blob: bytes, detached: bool = False,
                             holder: WorkerInfo | None = None) -> None:
        restarts, task_retries = spec[9]
        spec = spec[:9] + (None,) + spec[10:]
        self.sched.create_actor(aid, name, meta, restarts, task_retries, detached, holder)
        self.sched.submit(spec, blob, None)

    def get_objects(self, oids: list[int], timeout: float | None) -> list[Any]:
        s = self.sched
        deadline = None if timeout is None else time.monotonic() + timeout
        entries = s.store.entries
        n = len(oids)
        got: list[tuple[Any, tuple, Any]] = []
        err = None
        seen = [-1]  # Scheduler.failures when the list was last looked through for an error
        with s.cv:
            self._collect_released()
            for i, o in enumerate(oids):  # each object once: long lists stay cheap
                e = self._wait_value(o, deadline, timeout, n - len(got), n,
                                     oids if i + 1 < n else None, i + 1, seen)
                if e.value[0] not in "is":  # an error (of this or a later one): raised now,
                    err = e.value  # without waiting for the others, as Ray's get does
                    break
                got.append((e, e.value, e.mm))
                s.store.touch(o)
        if err is not None:
            load_value(err)  # raises it
        # map shared memory outside the lock; an object evicted or spilled since it was seen
        # is looked up again (and rebuilt if it was evicted)
        out = []
        for o, (e, v, mm) in zip(oids, got):
            while True:
                if v[0] != "s":
                    out.append(load_value(v))
                    break
                if mm is None:
                    try:
                        mm = map_shm(v)
                    except FileNotFoundError:
                        with s.cv:
                            s.store.lose(o, v[1])
                            e = self._wait_value(o, deadline, timeout, 1, n)
                            v, mm = e.value, e.mm
                        continue
                    with s.lock:
                        if e.value is v and entries.get(o) is e:
                            if e.mm is None:
                                e.mm = mm
                            else:
                                # mapped first by another get, or for an earlier copy of this
                                # id in the list: read through that mapping, the one the store
                                # checks (mm.close) before it reuses the file for a new object
                                mm.close()
                                mm = e.mm
                out.append(load_value(v, mm))
                break
        return out

    def _wait_value(self, oid: int, deadline: float | None, timeout: float | None,
                    left_n: int, n: int, others: list[int] | None = None,
                    start: int = 0, seen: list[int] | None = None) -> Any:
        """The entry of ``oid`` once it has a value (rebuilt from lineage if it was lost), or,
        while it has none, that of the first of ``others[start:]`` holding an error: they are
        looked through when an error was stored since ``seen[0]`` (``Scheduler.failures``
        then, updated), so a get of a long list looks through it once, not once per object;
        the caller holds ``sched.cv``."""
        s = self.sched
        while True:
            e = s.store.entries.get(oid)
            if e is None:
                self._check_open()
                raise ObjectLostError(
                    f"object {oid:016x} is not in this runtime: it belongs to a runtime that "
                    "was shut down (call runtime.init() and resubmit the work), or was freed")
            if e.value is not None:
                return e
            self._check_open()
            if e.lost:
                s.recover(oid)
                self._wake()  # the dispatcher sends the rebuilt tasks
                continue
            if others is not None and seen is not None and seen[0] != s.failures:
                seen[0] = s.failures  # an error was stored since: one of others' may be
                entries = s.store.entries
                for o in itertools.islice(others, start, None):
                    x = entries.get(o)
                    if x is not None and x.value is not None and x.value[0] in "ex":
                        return x
            if deadline is None:
                s.cv.wait(1.0)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GetTimeoutError(f"get() timed out after {timeout} s with {left_n} of "
                                          f"{n} objects not ready")
                s.cv.wait(left)

    def memory_summary(self) -> dict[str, Any]:
        with self.sched.lock:
            self._collect_released()
            return self.sched.store.summary()

    def put(self, obj: Any) -> ObjectRef:
        self._check_open()
        oid = self.new_id()
        s = self.sched
        data, bufs, contained = dumps(obj)
        raws = [b.raw() for b in bufs]
        wmm = None
        held: tuple[str, ...] = ()  # files this put made, until the store has them
        try:
            if fits_inline(data, raws):  # value_path's rule, without formatting a path
                value: tuple = inline_value(data, raws)
            else:
                shm = self.shm_path(oid)
                path = value_path(data, raws, shm, self.spill)
                if path != shm:  # larger than the whole store: to disk
                    held = (path,)
                    value = write_shm(path, data, raws)  # type: ignore[arg-type]
                else:
                    with s.lock:
                        self._collect_released()
                        seg = s.store.take_recycled(shm_size(data, raws))
                    if seg is None:
                        held = (shm,)
                        value = write_shm(shm, data, raws)
                    else:
                        free, cap, wmm = seg
                        held = (free, shm)
                        os.rename(free, shm)
                        if wmm is None:
                            wmm = map_writable(shm, cap)
                        value = write_mapped(shm, wmm, data, raws)
            with s.lock:
                self._collect_released()
                if wmm is not None:  # counted whole from the start, and kept for reuse whole
                    s.store.note_capacity(value[1], wmm.size())
                s.on_put(None, oid, value, contained)
                if wmm is not None:
                    e = s.store.entries.get(oid)
                    if e is not None:
                        e.wmm = wmm
                s.changed = False
        except BaseException:
            # Ctrl-C (or an error) before the ref exists: no segment may stay behind, in a
            # driver that lives on (a REPL, a notebook), nor an object no ref can free
            with s.lock:
                e = s.store.entries.get(oid)
                if e is not None:
                    if e.value is not None and e.value[0] == "s" and e.value[1] in held:
                        held = ()  # the store's now: freeing the object removes it
                    s.store.decref(oid)
            for p in held:
                unlink_quiet(p)
            if wmm is not None and held:
                wmm.close()
            raise
        return ObjectRef(oid, _counted=True)

    def wait(self, oids: list[int], num_returns: int, timeout: float | None) -> set[int]:
        """The ids of ``oids`` (distinct) computed once ``num_returns`` are, or at ``timeout``.

        One look through the list; then, as a worker's wait does, a ``DriverWaiter`` on the
        objects not computed counts down as they get their values, so a wake-up costs O(1)
        whatever the list's length (a look over the whole list at each wake-up made a wait
        for many of 40,000 tasks quadratic), and a last look gathers them."""
        s = self.sched
        deadline = None if timeout is None else time.monotonic() + timeout
        ready: set[int] = set()
        missing: list[int] = []
        with s.cv:
            self._collect_released()
            for o in oids:  # raises for an object not in this runtime
                if self._computed(o):
                    ready.add(o)
                    if len(ready) >= num_returns:  # draining loops stay cheap
                        return ready
                else:
                    missing.append(o)
            if timeout is not None and timeout <= 0:  # a poll: nothing to wait for
                self._check_open()
                return ready
            waiter = DriverWaiter(num_returns - len(ready))
            entries = s.store.entries
            for o in missing:
                s.add_waiter(entries[o], waiter)
            try:
                while waiter.remaining > 0:
                    # shut down (by another thread) or the dispatcher failed: nothing would
                    # ever arrive, and returning fewer than num_returns would read as a timeout
                    self._check_open()
                    if deadline is None:
                        s.cv.wait(1.0)
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    s.cv.wait(left)
            finally:
                waiter.done = True
            ready.update(o for o in missing if self._computed(o))
            return ready

    def _computed(self, oid: int) -> bool:
        """Whether object ``oid`` is computed (lost: evicted, get rebuilds it); raises
        ObjectLostError for an object no longer in this runtime."""
        e = self.sched.store.entries.get(oid)
        if e is None:
            self._check_open()
            raise ObjectLostError(f"object {oid:016x} is not in this runtime")
        return e.value is not None or e.lost

    def kill(self, aid: int, no_restart: bool = True) -> None:
        with self.sched.lock:
            self.sched.kill_actor(aid, no_restart)
            self.sched.changed = True
            self.sched.cv.notify_all()

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        s = self.sched
        with s.lock:
            s.cancel(oid, force, recursive)
            s.cv.notify_all()
            fl = s.take_flush()
        for w in fl:
            w.chan.flush()

    def get_actor(self, name: str) -> tuple[int, Any] | None:
        with self.sched.lock:
            return self._find_actor(name)

    def _find_actor(self, name: str) -> tuple[int, Any] | None:
        """``(aid, meta)`` of the live actor named ``name``, its handle counted at once (under
        the lock): counted later, the actor could exit meanwhile if its last other handle
        went; or None."""
        s = self.sched
        aid = s.names.get(name)
        a = s.actors.get(aid) if aid is not None else None
        if a is None or a.dead:
            return None
        s.store.incref(a.aid)
        return a.aid, a.meta

    def timeline(self) -> list[dict]:
        with self.sched.lock:
            return timeline_events(self.sched.events)

    def processes(self) -> list[int]:
        with self.sched.lock:
            workers = list(self.all_workers)
        return [w.pid for w in workers if w.proc.poll() is None]

    def close_in_forked_child(self) -> None:
        """In a forked child (``api``'s at-fork hook): close the child's copies of this driver's
        descriptors, so that only the driver holds the lifeline's write end: a child keeping
        it would keep every worker, and the session's shared memory, alive after the driver
        died, for as long as the child lives. The driver's own stay open."""
        self.closed = True
        for fd in (self.life_w, self.life_r, self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        for w in self.all_workers:
            w.close()
        try:
            self.sel.close()
        except OSError:
            pass

    # --- shutdown ---
    def shutdown(self) -> None:
        s = self.sched
        with s.lock:
            if self.closed:
                return
            self.closed = True
            s.cv.notify_all()
            workers = list(self.all_workers)
        self._wake()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=2.0)
        for w in workers:
            if w.proc.poll() is None:
                if w.inflight:
                    _kill(w.proc)
                else:
                    try:
                        w.chan.send([("exit",)])
                    except OSError:
                        _kill(w.proc)
        deadline = time.monotonic() + 0.5
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(w.proc)
                w.proc.wait()
            w.close()
        for fd in (self.life_w, self.life_r, self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.sel.close()
        except Exception:  # noqa: BLE001 - closing a selector twice is harmless
            pass
        shutil.rmtree(self.session_dir, ignore_errors=True)
        if self.spill_dir:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
        s.store.entries.clear()


def timeline_events(events: Any) -> list[dict]:
    """Chrome-trace "complete" events (``ph: X``), one per task, actor call or constructor."""
    pid = os.getpid()
    return [{"name": name, "cat": kind, "ph": "X", "ts": start * 1e6,
             "dur": max(dur, 0.0) * 1e6, "pid": pid, "tid": f"worker {wid} (pid {wpid})",
             "args": {"worker_id": wid, "worker_pid": wpid, "ok": ok}}
            for name, kind, wid, wpid, start, dur, ok in events]


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.send_signal(signal.SIGKILL)
    except OSError:
        pass
