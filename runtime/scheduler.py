"""The driver's scheduler: task states, dispatch to workers and actors, and worker requests.

Task states and transitions::

    WAITING  --all dependencies ready-->        READY      (a failed dependency: FAILED at once)
    READY    --a worker has room-->             RUNNING    (pool task; actor calls go to their
                                                            actor's FIFO instead and are sent in
                                                            submission order once their own and
                                                            all earlier calls' dependencies are
                                                            ready)
    RUNNING  --worker reports a result-->       FINISHED   (outputs stored, waiters woken)
    RUNNING  --worker reports an exception-->   FAILED     (outputs hold the error; dependents
                                                            fail with it without running)
    RUNNING  --worker blocks in get, bounces--> READY      (the worker hands back queued tasks)
    RUNNING  --worker dies, no retries left-->  FAILED     (WorkerCrashedError / ActorDiedError)
    WAITING/READY --cancel-->                   CANCELLED  (outputs hold TaskCancelledError)
    RUNNING  --cancel-->                        CANCELLED  (its id on the worker's cancel pipe,
                                                            then SIGINT: it never starts if it
                                                            has not, else it is interrupted;
                                                            see ``worker``. Force kills the
                                                            worker; recursive: the tasks it
                                                            submitted are cancelled too,
                                                            transitively, and so is any it
                                                            submits after)
    RUNNING  --pool worker dies, retries left-> READY      (``max_retries``; -1 is unlimited)
    RUNNING  --raises, ``retry_exceptions``--> READY
    FINISHED --an output is lost and needed-->  WAITING    (lineage reconstruction: the task runs
                                                            again with the same arguments; lost
                                                            arguments are rebuilt first, the
                                                            same way, recursively)

Actors (creation, the FIFO of calls, restarts, death) have their own states: see ``actors``.

A task holds a reference on each of its dependencies and on every ref pickled inside its
arguments until it leaves RUNNING. Actor handles are counted like refs, under the actor's id.
A pool task that finished keeps its arguments as the lineage of its outputs, with a lineage
reference on each argument object, until its last output is freed (see ``object_store``); a
lost output (evicted under memory pressure, or its segment gone) is rebuilt (``lineage``).
Actor calls keep no lineage: their outputs are never evicted (they spill like ``put`` objects).

Pool workers get one task at a time, except functions whose recent runs were short
(< ``_SHORT_S``): those are pipelined up to ``_DEPTH`` per worker so bursts of small tasks travel
in batches. A worker blocked in ``get`` does not count against ``num_cpus``: when no worker can
take a READY task, ``pool.grow`` starts a worker or sends the task to a waiting worker to run
inside its wait (a *help* task), so nested tasks cannot deadlock (see ``pool``). Each pool
worker's ``stack`` mirrors the worker's call stack: its open ``get`` requests (``Waiter``) and
the help tasks it runs (task ids); it can take a help task only while its innermost frame is a
``get`` still waiting.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import logging
import os
import signal
import struct
import threading
import time
from collections import deque
from typing import Any, Callable

from . import actors, lineage, pool
from .exceptions import ObjectLostError, TaskCancelledError, WorkerCrashedError
from .object_ref import wid_of
from .object_store import ObjectStore
from .protocol import started_path
from .serialization import discard, system_error_value, unlink_quiet

log = logging.getLogger(__name__)

WAITING, READY, RUNNING, FINISHED, FAILED, CANCELLED = (
    "WAITING", "READY", "RUNNING", "FINISHED", "FAILED", "CANCELLED")
_SHORT_S = 0.002
_DEPTH = 8
_MAX_EXTRA_WORKERS = 64  # default of RUNTIME_MAX_EXTRA_WORKERS
_MAX_EVENTS = 200_000  # the timeline keeps the most recent events
_TIMERS_MIN = 256  # past this many request timers, those already answered are dropped
_TID = struct.Struct("<Q")  # a task id on a worker's cancel pipe (worker._TIDS)


class Task:
    """A pool task, an actor's constructor or an actor method call."""

    __slots__ = ("tid", "kind", "fn_id", "name", "args_val", "deps", "contained", "roids",
                 "num_cpus", "aid", "method", "retries_left", "retry_exceptions", "state",
                 "worker", "pending", "max_retries", "held", "live", "children", "ready_at",
                 "cancelled", "sent")

    def __init__(self, spec: tuple) -> None:
        (self.kind, self.fn_id, self.name, self.args_val, self.deps, self.contained, self.roids,
         self.num_cpus, self.aid, self.method, self.retries_left, self.retry_exceptions) = spec
        self.tid = 0
        self.state = WAITING
        self.worker: WorkerInfo | None = None
        self.pending = 0
        self.max_retries = self.retries_left
        self.held: list[int] | None = None  # ids holding a lineage ref from this task
        self.live = len(self.roids)  # outputs still in the store
        self.children: list[Task] | None = None  # tasks it submitted while it ran
        # when it last entered the ready queue (time.monotonic), for any reason: first time,
        # retry or bounce; pool.grow gives it a grace from then (see ``_enqueue``)
        self.ready_at = 0.0
        # cancelled while on a worker, which reports it: it must not run again (retry, bounce)
        self.cancelled = False
        self.sent = 0  # its place in the order of the tasks sent to its pool worker (WorkerInfo)


class WorkerInfo:
    """The driver's view of one worker process."""

    __slots__ = ("wid", "chan", "proc", "pid", "inflight", "fns", "blocked", "cpu", "aid",
                 "holds", "alive", "dead", "doomed", "stack", "idle_since", "cancelled",
                 "orphans", "side_puts", "cancel_fd", "cancel_at_hello", "sent", "done_upto")

    def __init__(self, wid: int, chan: Any, proc: Any, aid: int | None = None) -> None:
        self.wid = wid
        self.chan = chan
        self.proc = proc
        self.pid = proc.pid
        self.inflight: dict[int, Task] = {}
        self.fns: set[int] = set()
        self.blocked = 0
        self.cpu = 0.0
        self.aid = aid
        self.holds: dict[int, int] = {}
        self.alive = False
        self.dead = False
        self.doomed = False
        self.stack: list[Any] = []  # open gets (Waiter) and help task ids, innermost last
        # a thread other than its main one put: one may be inside a put while no task runs
        self.side_puts = False
        self.idle_since = time.monotonic()
        # tasks cancelled with recursive=True that still run here: what they submit is
        # cancelled at once (removed when they report done)
        self.cancelled: set[int] = set()
        # tasks failed by the driver while they still ran here (cancelled, actor killed), by
        # id: the output segments they write are removed if the worker dies before reporting
        self.orphans: dict[int, Task] = {}
        self.cancel_fd = -1  # write end of its cancel pipe (``Scheduler._interrupt``)
        self.cancel_at_hello = False  # ids written while it started: SIGINT once it is up
        # pool tasks sent to it so far (each task's ``sent`` is its number), and the largest
        # ``sent`` of those it reported done: a pool worker starts its tasks in the order they
        # were sent (a bounced one never starts), which ``on_worker_died`` relies on
        self.sent = 0
        self.done_upto = 0

    def close(self) -> None:
        """Close the driver's ends of its channel and cancel pipe (its process is gone or
        going)."""
        self.chan.close()
        fd, self.cancel_fd = self.cancel_fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class Waiter:
    """A worker's pending ``get`` or ``wait`` request."""

    __slots__ = ("w", "rid", "oids", "need", "remaining", "is_get", "done", "timed", "blocking",
                 "bounced")

    def __init__(self, w: WorkerInfo, rid: int, oids: list[int], need: int, is_get: bool,
                 timed: bool = False) -> None:
        self.w, self.rid, self.oids, self.need, self.is_get = w, rid, oids, need, is_get
        self.remaining = need
        self.done = False
        self.timed = timed  # it has a timeout, which a task run inside it would hold up
        self.blocking = False  # counted in its worker's ``blocked``
        # a help task sent into it came back: another thread of the task waits in it while
        # the main thread runs user code, so no help task is sent into it again
        self.bounced = False


class DriverWaiter:
    """The driver's pending ``wait``: counts down as the objects it waits on get a value."""

    __slots__ = ("done", "remaining")

    def __init__(self, need: int) -> None:
        self.remaining = need
        self.done = False  # answered: dropped from the lists it is in (add_waiter)


class Scheduler:
    """All driver-side state; every method runs under ``self.lock`` unless it says otherwise."""

    def __init__(self, num_cpus: int, spawn: Callable[[int | None], WorkerInfo],
                 store: ObjectStore, session_dir: str | None = None) -> None:
        self.lock = threading.RLock()
        self.cv = threading.Condition(self.lock)
        self.num_cpus = num_cpus
        self.spawn = spawn
        self.store = store
        self.session_dir = session_dir  # where workers write output segments
        store.on_actor_free = functools.partial(actors.on_free, self)
        self.pool: list[WorkerInfo] = []
        self.actors: dict[int, actors.ActorInfo] = {}
        self.names: dict[str, int] = {}
        self.fn_blobs: dict[int, bytes] = {}
        self.fn_time: dict[int, float] = {}
        self.ready: deque[Task] = deque()
        self.ready_low: deque[Task] = deque()  # READY tasks asking for less than a CPU
        self.timers: list[tuple[float, int, Waiter]] = []
        self._tids = itertools.count(1)
        self._timer_seq = itertools.count()
        self._timers_compact_at = _TIMERS_MIN
        self.to_flush: set[WorkerInfo] = set()
        self.changed = False
        self.max_extra_workers = int(os.environ.get("RUNTIME_MAX_EXTRA_WORKERS",
                                                    str(_MAX_EXTRA_WORKERS)))
        # past this many pool processes, a worker waiting in get() runs the task it waits for
        # itself before the pool grows for it (see pool.grow)
        self.soft_pool = num_cpus + min(num_cpus, self.max_extra_workers)
        self.events: deque[tuple] = deque(maxlen=_MAX_EVENTS)
        self.spawn_blocked_until = 0.0  # no worker start is tried before (see pool.start_worker)
        self.failures = 0  # error values stored so far (a get raises the first it sees)

    # --- submission ---
    def submit(self, spec: tuple, blob: bytes | None, holder: WorkerInfo | None,
               parent: int | None = None) -> None:
        """Add a task; ``holder`` is the worker that submitted it, from inside its running task
        number ``parent`` (its child, for ``cancel(recursive=True)``)."""
        t = Task(spec)
        t.tid = next(self._tids)
        self._submit(t, blob, holder)
        if parent is None or holder is None:
            return
        if parent in holder.cancelled:  # its parent was cancelled (recursive) and runs on
            self._cancel(t, False, True)
            return
        p = holder.inflight.get(parent)
        if p is not None:  # a long-running submitter keeps only its live children
            p.children = _append_pruned(p.children, t, _live)

    def _submit(self, t: Task, blob: bytes | None, holder: WorkerInfo | None) -> None:
        if blob is not None and t.fn_id not in self.fn_blobs:
            self.fn_blobs[t.fn_id] = blob
        store = self.store
        lineage = t.kind == "task"
        for oid in t.roids:
            store.create(oid, 1, t, lineage)
            if holder is not None:
                holder.holds[oid] = holder.holds.get(oid, 0) + 1
        entries = store.entries
        if lineage and t.num_cpus > self.num_cpus:  # no worker could ever take it
            t.deps = t.contained = ()  # holds nothing yet
            self._fail(t, system_error_value(ValueError(
                f"{t.name} asks for num_cpus={t.num_cpus}, more than the runtime's "
                f"{self.num_cpus}, so it could never run; lower its num_cpus, or start the "
                "runtime with more (init(num_cpus=...))")))
            return
        for d in t.deps:
            if d not in entries:
                t.deps = t.contained = ()  # holds nothing yet
                lost = system_error_value(ObjectLostError(
                    f"argument {d:016x} of {t.name} was freed or belongs to a runtime that was "
                    "shut down"))
                self._fail(t, lost)
                if t.kind == "actor_create":  # it can never start: its actor is dead
                    actors.argument_failed(self, t, lost)
                return
        for d in t.deps:
            e = entries[d]
            e.refs += 1
            e.pins += 1
            if e.value is None:
                if e.lost:
                    self.recover(d)
                self._await(t, e)
        for c in t.contained:
            store.incref(c)
        if t.kind != "task":
            actors.submit(self, t)
        elif t.pending == 0:
            self._task_ready(t)

    def create_actor(self, aid: int, name: str | None, meta: Any, restarts: int = 0,
                     task_retries: int = 0, detached: bool = False,
                     holder: WorkerInfo | None = None) -> None:
        actors.create(self, aid, name, meta, restarts, task_retries, detached, holder)

    def kill_actor(self, aid: int, no_restart: bool = True) -> None:
        actors.kill(self, aid, no_restart)

    def _task_ready(self, t: Task) -> None:
        entries = self.store.entries
        for d in t.deps:
            v = entries[d].value
            if v is not None and v[0] in "ex":
                self._fail(t, v)
                if t.kind == "actor_create":
                    actors.argument_failed(self, t, v)
                elif t.kind == "call":  # the FIFO moves past it (an actor with no handle
                    actors.ready(self, t)  # left may be idle now)
                return
        if t.kind == "task":
            self._enqueue(t)
        else:
            actors.ready(self, t)

    def _enqueue(self, t: Task, front: bool = False) -> None:
        """Make pool task ``t`` READY (first time, retry or bounce; ``front``: ahead of the
        others). ``ready_at`` restarts each time: its submitter, or whoever waits for it, may
        be about to run it inside a wait before ``pool.grow`` starts a process for it."""
        t.state = READY
        t.worker = None
        t.ready_at = time.monotonic()
        q = self.ready if t.num_cpus >= 1 else self.ready_low
        if front:
            q.appendleft(t)
        else:
            q.append(t)

    def _export(self, deps: list[int]) -> list[tuple]:
        """The values of ``deps``, marked as seen by a worker."""
        entries = self.store.entries
        out = []
        touch = self.store.touch
        for d in deps:
            e = entries[d]
            e.exported = True
            out.append(e.value)
            touch(d)
        return out

    # --- lineage reconstruction ---
    def _await(self, t: Task, e: Any) -> None:
        """``t`` waits for the value of entry ``e``."""
        if e.value is not None:
            return
        t.pending += 1
        if e.waiters is None:
            e.waiters = [t]
        else:
            e.waiters.append(t)

    def _missing_deps(self, t: Task) -> bool:
        return lineage.missing_deps(self, t)

    def recover(self, oid: int) -> None:
        """Rebuild the lost object ``oid`` from its lineage (see ``lineage.recover``)."""
        lineage.recover(self, oid)

    # --- dispatch to the pool ---
    def pump(self) -> None:
        # tasks asking for less than a CPU queue apart: one that fits starts even while a
        # task asking for whole CPUs waits for them, as Ray schedules by what tasks ask for
        if self.ready_low:
            self._pump(self.ready_low)
        self._pump(self.ready)

    def _pump(self, ready: deque[Task]) -> None:
        while ready:
            t = ready[0]
            if t.state != READY:
                ready.popleft()
                continue
            w = self._pick(t)
            if w is None:
                pool.grow(self, t)
                return
            ready.popleft()
            if t.deps and self._missing_deps(t):
                continue
            self._send_task(w, t)

    def _pick(self, t: Task) -> WorkerInfo | None:
        busy = 0.0
        for w in self.pool:
            if w.inflight and not w.blocked:
                busy += w.cpu
        free = self.num_cpus - busy
        short = self.fn_time.get(t.fn_id, 1.0) < _SHORT_S and t.num_cpus <= 1
        best = None
        best_n = _DEPTH
        for w in self.pool:
            if w.blocked or w.doomed:
                continue
            n = len(w.inflight)
            if n == 0:
                if t.num_cpus <= free + 1e-9:
                    return w
            elif short and n < best_n and w.cpu <= 1 and self._all_short(w):
                best, best_n = w, n
        return best

    def _all_short(self, w: WorkerInfo) -> bool:
        ft = self.fn_time
        for t in w.inflight.values():
            if ft.get(t.fn_id, 1.0) >= _SHORT_S:
                return False
        return True

    def retire_idle(self) -> None:
        pool.retire_idle(self)

    def _send_task(self, w: WorkerInfo, t: Task, tag: str = "task") -> None:
        t.state = RUNNING
        t.worker = w
        if not w.inflight:
            w.cpu = t.num_cpus
        w.inflight[t.tid] = t
        w.sent += 1
        t.sent = w.sent
        blob = None
        if t.fn_id not in w.fns:
            blob = self.fn_blobs[t.fn_id]
            w.fns.add(t.fn_id)
        w.chan.outbox.append((tag, t.tid, t.fn_id, blob, t.args_val,
                              self._export(t.deps) if t.deps else (), t.roids,
                              t.name))
        self.to_flush.add(w)

    # --- results ---
    def _set(self, oid: int, value: tuple, contained: list[int] | None) -> None:
        failed = value[0] in "ex"
        if failed:
            self.failures += 1
        for waiter in self.store.set_value(oid, value, contained):
            if type(waiter) is Task:
                waiter.pending -= 1
                if waiter.pending == 0 and waiter.state == WAITING:
                    self._task_ready(waiter)
                elif waiter.pending == 0 and waiter.kind == "call":
                    a = self.actors.get(waiter.aid)
                    if a is not None:  # else dead and forgotten: nothing to send
                        actors.pump(self, a)
            elif type(waiter) is DriverWaiter:
                waiter.remaining -= 1
            elif failed and waiter.is_get and not waiter.done:
                _unblock(waiter)  # raised at once, whatever the others, as Ray's get does
                self._finish_waiter(waiter, error=value)
            else:
                self._waiter_hit(waiter)
        self.changed = True

    def _release(self, t: Task) -> None:
        store = self.store
        entries = store.entries
        for d in t.deps:
            e = entries.get(d)
            if e is not None:
                e.pins -= 1
            store.decref(d)
        for c in t.contained:
            store.decref(c)
        if t.held is None:  # else the arguments stay: they are the outputs' lineage
            t.deps = t.contained = ()
            t.args_val = None

    def _fail(self, t: Task, value: tuple) -> None:
        if t.state in (FINISHED, FAILED, CANCELLED):
            return
        t.children = None
        if t.state == RUNNING and t.worker is not None and not t.worker.dead:
            t.worker.orphans[t.tid] = t
        t.state = CANCELLED if value[0] == "x" and b"TaskCancelledError" in value[1] else FAILED
        if t.worker is not None:
            t.worker.inflight.pop(t.tid, None)
        for oid in t.roids:
            self._set(oid, value, None)
        self._release(t)

    def on_done(self, w: WorkerInfo, tid: int, values: list, dt: float, ok: bool,
                start: float = 0.0) -> None:
        st = w.stack
        if tid in st:  # a help task leaves the stack; gets above it stay while open: with
            st.remove(tid)  # threads, another thread of an outer task may wait in them
        elif st:  # any other task leaves nothing open: a get it left (cancelled in it) no
            for x in st:  # longer blocks the worker
                if type(x) is Waiter and x.blocking:
                    _unblock(x)
            st.clear()
        t = w.inflight.pop(tid, None)
        if not w.inflight:
            w.cpu = 0.0
            w.idle_since = time.monotonic()
        if w.cancelled:
            w.cancelled.discard(tid)
        o = w.orphans.pop(tid, None) if w.orphans else None
        if o is not None and o.sent > w.done_upto:
            w.done_upto = o.sent
        if t is not None and t.sent > w.done_upto:
            w.done_upto = t.sent
        x = t if t is not None else o
        if x is not None and x.cancelled:
            # its id went down w's cancel pipe, maybe after it ended there (then nothing there
            # drops it): w forgets it, else each such cancel stays in w for ever
            w.chan.outbox.append(("forget", tid))
            self.to_flush.add(w)
        if t is None:  # cancelled while running: drop the result
            discard([v for v, _ in values])
            return
        t.children = None  # it is done: cancelling it no longer reaches them
        cancelled, t.cancelled = t.cancelled, False  # (a rebuild from lineage may run it again)
        if t.kind == "task":
            old = self.fn_time.get(t.fn_id)
            self.fn_time[t.fn_id] = dt if old is None else 0.8 * old + 0.2 * dt
        self.events.append((t.name, t.kind, w.wid, w.pid, start, dt, ok))
        if t.kind == "actor_create":
            actors.constructor_done(self, w, t, ok, values)
            return
        if (not ok and t.retry_exceptions and t.retries_left != 0 and t.kind == "task"
                and not cancelled):
            t.retries_left -= 1
            self._enqueue(t)
            discard([v for v, _ in values])
            return
        t.state = FINISHED if ok else FAILED
        if ok and t.kind == "task" and t.held is None and t.live > 0:
            lineage.hold(self, t)
        for oid, (value, contained) in zip(t.roids, values):
            self._set(oid, value, contained)
        self._release(t)
        if t.kind == "call":
            actors.call_done(self, t)

    # --- worker requests ---
    def on_get(self, w: WorkerInfo, rid: int, oids: list[int], timeout: float | None,
               is_get: bool, need: int) -> None:
        entries = self.store.entries
        waiter = Waiter(w, rid, oids, need, is_get, timeout is not None)
        missing = []
        failed = None
        for o in oids:
            e = entries.get(o)
            if e is None:
                self._reply(w, rid, ("lost", o))
                return
            if e.value is None:
                if e.lost:
                    self.recover(o)
                if e.value is None:
                    missing.append(e)
            elif is_get and failed is None and e.value[0] in "ex":
                failed = e.value
        if missing and failed is not None:  # raised at once, without waiting for the others
            self._finish_waiter(waiter, error=failed)
            return
        ready_n = len(oids) - len(missing)
        waiter.remaining = need - ready_n
        if waiter.remaining <= 0 or timeout == 0:
            self._finish_waiter(waiter, timed_out=waiter.remaining > 0)
            return
        for e in missing:
            self.add_waiter(e, waiter)
        w.blocked += 1
        waiter.blocking = True
        w.stack.append(waiter)
        if timeout is not None:
            heapq.heappush(self.timers, (time.monotonic() + timeout, next(self._timer_seq), waiter))
            if len(self.timers) > self._timers_compact_at:
                self._compact_timers()
        self.pump()

    def add_waiter(self, e: Any, waiter: Waiter | DriverWaiter) -> None:
        """``waiter`` hears when entry ``e`` gets its value (the answered ones of an object
        polled with timeouts while pending are dropped as its list grows)."""
        e.waiters = _append_pruned(e.waiters, waiter, _unanswered)

    def _waiter_hit(self, waiter: Waiter) -> None:
        if waiter.done:
            return
        waiter.remaining -= 1
        if waiter.remaining <= 0:
            _unblock(waiter)
            self._finish_waiter(waiter)

    def _finish_waiter(self, waiter: Waiter, timed_out: bool = False,
                       error: tuple | None = None) -> None:
        """Answer ``waiter``; a get with ``error`` (the error value of one of its objects)
        gets the first error among its objects, which the worker raises."""
        waiter.done = True
        st = waiter.w.stack
        if st and waiter in st:  # answered: it leaves the stack at once, so it never hides a
            st.remove(waiter)  # get still open under it (another thread's) from pool.grow
        entries = self.store.entries
        if waiter.is_get:
            if timed_out:
                self._reply(waiter.w, waiter.rid, ("timeout",))
                return
            if error is not None:
                for o in waiter.oids:
                    e = entries.get(o)
                    if e is not None and e.value is not None and e.value[0] in "ex":
                        error = e.value
                        break
                self._reply(waiter.w, waiter.rid, ("ok", [error]))  # loading it raises
                return
            vals = []
            for o in waiter.oids:
                e = entries.get(o)
                if e is None or (e.value is None and not e.lost):
                    self._reply(waiter.w, waiter.rid, ("lost", o))
                    return
                # evicted while the others were computed: the worker asks for it alone
                # ("locate"), so a list larger than the store still comes through
                vals.append(e.value if e.value is not None else ("l", o))
            touch = self.store.touch
            for o in waiter.oids:
                entries[o].exported = True
                touch(o)
            self._reply(waiter.w, waiter.rid, ("ok", vals))
        else:
            ready = [o for o in waiter.oids
                     if (e := entries.get(o)) is not None and e.value is not None]
            self._reply(waiter.w, waiter.rid, ("ok", ready))

    def expire_timers(self) -> float | None:
        """Time out due worker requests; return seconds to the next deadline."""
        now = time.monotonic()
        timers = self.timers
        while timers and timers[0][0] <= now:
            _, _, waiter = heapq.heappop(timers)
            if not waiter.done:
                _unblock(waiter)
                self._finish_waiter(waiter, timed_out=True)
        return timers[0][0] - now if timers else None

    def _compact_timers(self) -> None:
        """Drop the timers of requests answered before their deadline (``expire_timers`` only
        skips them once due), so a worker calling ``get(timeout=...)`` in a loop does not grow
        the heap for as long as its timeouts; amortised O(1) per timer."""
        live = [x for x in self.timers if not x[2].done]
        heapq.heapify(live)
        self.timers = live
        self._timers_compact_at = max(_TIMERS_MIN, 2 * len(live))

    def on_locate(self, w: WorkerInfo, rid: int, oid: int, path: str) -> None:
        """A worker found no file at ``path`` for ``oid``: answer with where the value is now,
        once it is there (rebuilt if its segment vanished)."""
        self.store.lose(oid, path)
        self.on_get(w, rid, [oid], None, True, 1)

    def _reply(self, w: WorkerInfo, rid: int, payload: Any) -> None:
        w.chan.outbox.append(("reply", rid, payload))
        self.to_flush.add(w)

    def on_put(self, w: WorkerInfo | None, oid: int, value: tuple, contained: list[int]) -> None:
        self.store.create(oid, 1)
        if w is not None:
            w.holds[oid] = w.holds.get(oid, 0) + 1
        self._set(oid, value, contained)

    def on_refs(self, w: WorkerInfo, deltas: list[tuple[int, int]]) -> None:
        store = self.store
        holds = w.holds
        for oid, d in deltas:
            if d > 0:
                holds[oid] = holds.get(oid, 0) + d
                store.incref(oid, d)
        for oid, d in deltas:
            if d < 0:
                n = holds.get(oid, 0) + d
                if n <= 0:
                    holds.pop(oid, None)
                else:
                    holds[oid] = n
                store.decref(oid, -d)

    def on_bounce(self, w: WorkerInfo, tid: int) -> None:
        st = w.stack
        if tid in st:  # a help task the worker's main thread could not take (it runs user
            i = st.index(tid)  # code while another thread waits): the get it was sent into
            if i and type(st[i - 1]) is Waiter:  # takes no more help tasks
                st[i - 1].bounced = True
            del st[i]
        t = w.inflight.pop(tid, None)
        if not w.inflight:
            w.cpu = 0.0
            w.idle_since = time.monotonic()
        x = t if t is not None else w.orphans.get(tid)  # (an orphan: failed by the driver)
        if x is not None and x.cancelled:  # its id may be in w's cancelled ids: w forgets it
            w.chan.outbox.append(("forget", tid))
            self.to_flush.add(w)
        if t is not None and t.state == RUNNING:
            if t.cancelled:  # handed back before it started: it never runs
                t.worker = None
                self._fail(t, system_error_value(TaskCancelledError(f"{t.name} was cancelled")))
            else:
                self._enqueue(t, front=True)

    # --- cancellation, deaths ---
    def _kill_proc(self, w: WorkerInfo) -> None:
        w.doomed = True
        try:
            os.kill(w.pid, signal.SIGKILL)
        except OSError:
            pass

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        e = self.store.entries.get(oid)
        if e is None or e.task is None:
            return
        if force and e.task.kind == "call":  # Ray refuses it too (its ValueError)
            raise ValueError(
                f"cancel(force=True) is not supported for an actor call ({e.task.name}): an "
                "actor has state, so its calls are never killed halfway. Use force=False (a "
                "call that has not started never runs), or kill(actor) to end the actor")
        self._cancel(e.task, force, recursive)

    def _cancel(self, t: Task, force: bool, recursive: bool) -> None:
        """Cancel ``t``; with ``recursive``, then the tasks it submitted, transitively (as Ray:
        actor calls only while they wait, and never forced)."""
        children = t.children if recursive else None
        if t.state in (WAITING, READY):
            self._fail(t, system_error_value(TaskCancelledError(f"{t.name} was cancelled")))
        elif t.state == RUNNING and t.kind == "task" and t.worker is not None:
            w = t.worker
            if recursive and not (force or w.doomed):  # it may submit more before it stops
                w.cancelled.add(t.tid)
            self._cancel_running(t, w, force)
        elif t.state == RUNNING and t.kind == "call" and t.worker is not None:
            # sent to its actor, maybe queued there behind other calls: it never starts if it
            # has not (the actor reads its cancel pipe before each call); a running call is not
            # interrupted (Ray's rule for actors: they have state), nor is the actor killed
            t.cancelled = True
            self._interrupt(t.worker, t.tid)
        for c in children or ():
            self._cancel(c, force and c.kind == "task", True)

    def _cancel_running(self, t: Task, w: WorkerInfo, force: bool) -> None:
        """Cancel pool task ``t``, sent to ``w``: it may be running, or still queued there (then
        it never starts). Its outputs get TaskCancelledError when ``w`` reports it, or at once
        if its result no longer matters: forced, or ``w`` is still starting, or a help task runs
        on top of it (``t`` is interrupted once that one returns)."""
        value = system_error_value(TaskCancelledError(f"{t.name} was cancelled"))
        if force:
            self._fail(t, value)
            self._kill_proc(w)
            return
        t.cancelled = True
        self._interrupt(w, t.tid)
        helps = [x for x in w.stack if type(x) is int]
        if (helps and helps[-1] != t.tid) or not w.alive:
            self._fail(t, value)

    def _interrupt(self, w: WorkerInfo, tid: int) -> None:
        """Tell ``w`` that task ``tid`` is cancelled: its id on ``w``'s cancel pipe, then SIGINT,
        which makes the worker read the pipe. The id says which task: a SIGINT alone could land
        before the task starts (and be lost) or interrupt the task before it. A worker still
        starting has no SIGINT handler yet: it gets the signal once it says hello."""
        if w.cancel_fd < 0 or w.dead:
            return
        try:
            os.write(w.cancel_fd, _TID.pack(tid))  # 8 bytes: atomic on a pipe
        except OSError:  # its process is gone (or, stuck, it left 8192 cancels unread)
            return
        if w.aid is not None:  # an actor's process reads the pipe itself, never interrupted
            return
        if w.alive:
            self._sigint(w)
        else:
            w.cancel_at_hello = True

    def _sigint(self, w: WorkerInfo) -> None:
        try:
            os.kill(w.pid, signal.SIGINT)
        except OSError:
            pass

    def on_hello(self, w: WorkerInfo, pid: int) -> None:
        """``w``'s process is up, its SIGINT handler installed."""
        w.alive = True
        w.pid = pid
        if w.cancel_at_hello:  # a task it may have started meanwhile is interrupted
            w.cancel_at_hello = False
            self._sigint(w)
        # from here each cancel comes with a SIGINT: until it reads this, the worker reads the
        # cancel pipe before each task it starts
        w.chan.outbox.append(("up",))
        self.to_flush.add(w)
        self.changed = True

    def on_worker_died(self, w: WorkerInfo, unsent: list[str] | None = None) -> None:
        """``w``'s process is gone; ``unsent``: its ``unsent_put_files``, listed before."""
        if w.dead:
            return
        w.dead = True
        if unsent:
            self._drop_unsent_puts(unsent)
        for t in itertools.chain(w.inflight.values(), w.orphans.values()):
            self._drop_partial(t)
        started = self._last_started(w)
        w.orphans.clear()
        if w.aid is not None:
            actors.on_process_died(self, w, _exit_status)
        else:
            if w in self.pool:
                self.pool.remove(w)
            status = None  # looked up once (it may wait 0.1 s), and only if a task fails
            for t in list(w.inflight.values()):
                if t.cancelled and t.state == RUNNING:
                    self._fail(t, system_error_value(TaskCancelledError(
                        f"{t.name} was cancelled")))
                elif started is not None and t.sent > started and t.state == RUNNING:
                    # queued there behind the task that took the process down: it never
                    # started, so it runs elsewhere without spending a retry
                    self._enqueue(t, front=True)
                elif t.retries_left != 0 and t.state == RUNNING:
                    t.retries_left -= 1
                    self._enqueue(t, front=True)
                    log.info("retrying %s after its worker died", t.name)
                else:
                    if status is None:
                        status = _exit_status(w)
                    self._fail(t, system_error_value(WorkerCrashedError(
                        f"the worker process (pid {w.pid}) running {t.name} died"
                        f"{status}, with no retries left (max_retries="
                        f"{t.max_retries}; raise it to retry)")))
        w.inflight.clear()
        for oid, n in list(w.holds.items()):
            self.store.decref(oid, n)
        w.holds.clear()
        for _, _, waiter in self.timers:
            if waiter.w is w:
                waiter.done = True
        if w.aid is None and len([p for p in self.pool if not p.doomed]) < self.num_cpus:
            pool.start_worker(self)  # if none can start, pool.grow tries again
        self.changed = True

    def _last_started(self, w: WorkerInfo) -> int | None:
        """The ``sent`` number of the last task dead pool worker ``w`` started (0: none), from
        the id it wrote into its ``started`` file as each task started (``worker.run``); None
        if unknown (no file: the tasks it had are treated as started). Removes the file."""
        if self.session_dir is None:
            return None
        path = started_path(self.session_dir, w.wid)
        try:
            with open(path, "rb") as f:
                data = f.read(_TID.size)
        except OSError:
            return None
        unlink_quiet(path)
        if w.aid is not None or len(data) != _TID.size:
            return None
        (tid,) = _TID.unpack(data)
        if tid == 0:
            return 0
        t = w.inflight.get(tid) or w.orphans.get(tid)
        # not there: it reported done (or failed and was dropped), as did every task sent
        # before it, except the ones it ran inside the wait of (still in ``inflight``)
        return t.sent if t is not None else w.done_upto

    def _drop_partial(self, t: Task) -> None:
        """Remove the output segments the run of ``t`` on a worker that died may have written
        (whole or in part): they belong to no object (a retry writes them again)."""
        if self.session_dir is None:
            return
        spill = self.store.spill_dir
        for oid in t.roids:
            name = f"{oid:x}.{t.tid:x}"  # the worker's shm_path(oid, tid)
            unlink_quiet(f"{self.session_dir}/{name}")
            if spill:
                unlink_quiet(f"{spill}/{name}")

    def unsent_put_files(self, w: WorkerInfo) -> list[str]:
        """The ``put`` segments dead worker ``w`` may have written but never reported (killed
        between writing one and sending it): its files in the session and spill folders. A
        worker's put file is named by its object id alone (task outputs add ``.run``), and the
        id carries the worker's id (``wid_of``). Disk work, done without the lock
        before ``on_worker_died`` (which removes the ones no entry holds): ``w``'s socket is
        closed, so its process writes no more. None unless ``w`` may have been inside a put:
        in a task, an actor, or a worker whose other threads put (``side_puts``, told before
        their first segment, so set by a message handled before its death was seen). Read
        without the lock: only the caller, the dispatcher, takes tasks off a worker and sets
        ``side_puts``, and a cancelled task stays in ``orphans``."""
        if self.session_dir is None or not (w.inflight or w.orphans or w.aid is not None
                                            or w.side_puts):
            return []
        out = []
        for folder in (self.session_dir, self.store.spill_dir):
            try:
                names = os.listdir(folder) if folder else ()
            except OSError:
                continue
            for name in names:
                try:
                    oid = int(name, 16)  # not a task output ("oid.run") nor the free/ folder
                except ValueError:
                    continue
                if wid_of(oid) == w.wid:
                    out.append(f"{folder}/{name}")
        return out

    def _drop_unsent_puts(self, paths: list[str]) -> None:
        """Remove the files of ``unsent_put_files`` that no entry holds: every message their
        worker sent has been applied by now, so they belong to nothing."""
        entries = self.store.entries
        for path in paths:
            e = entries.get(int(os.path.basename(path), 16))
            v = e.value if e is not None else None
            if v is None or v[0] != "s" or v[1] != path:
                unlink_quiet(path)

    def take_flush(self) -> set[WorkerInfo]:
        fl = self.to_flush
        self.to_flush = set()
        return fl


def _append_pruned(items: list | None, x: Any, keep: Callable[[Any], bool]) -> list:
    """``items`` (a new list for None) with ``x`` appended; at each power-of-two length from 64
    on, only the items ``keep`` accepts stay, so a list appended to for ever stays about as
    long as its live items, at O(1) amortised per append."""
    if items is None:
        return [x]
    items.append(x)
    n = len(items)
    if n >= 64 and not n & (n - 1):
        return [y for y in items if keep(y)]
    return items


def _live(t: Task) -> bool:
    return t.state in (WAITING, READY, RUNNING)


def _unanswered(x: Task | Waiter | DriverWaiter) -> bool:
    return type(x) is Task or not x.done


def _unblock(waiter: Waiter) -> None:
    """``waiter`` no longer counts as its worker waiting in ``get`` (answered, timed out, or
    left by its task; a left one is still answered, for a thread of the task that may wait)."""
    if waiter.blocking:
        waiter.blocking = False
        waiter.w.blocked -= 1


def _exit_status(w: WorkerInfo) -> str:
    """`` (killed by SIGKILL)``, `` (exit code 1)``, or nothing if it has not exited yet."""
    try:
        rc = w.proc.wait(timeout=0.1)  # its socket closed: it is exiting, if not gone already
    except Exception:  # noqa: BLE001 - still running (TimeoutExpired), or reaped elsewhere
        return ""
    if rc < 0:
        try:
            return f" (killed by {signal.Signals(-rc).name})"
        except ValueError:
            return f" (killed by signal {-rc})"
    return f" (exit code {rc})"
