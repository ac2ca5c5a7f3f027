"""Actors in the driver: creation, the FIFO of calls, restarts, and death.

An actor is one worker process (a ``WorkerInfo`` with its ``aid``) running one instance. Its
calls queue in submission order (``ActorInfo.queue``) and are sent to the process once their
own dependencies and those of the earlier calls of the same submitter (the driver, or a worker
process) are ready and the constructor has been sent, as Ray orders them: a call waiting for an
argument holds back no other submitter's calls. They keep no lineage. States::

    CREATING --constructor sent-->              ALIVE      (calls queue in FIFO order meanwhile)
    ALIVE    --process dies, restarts left-->   CREATING   (``max_restarts``; calls in flight
                                                            rerun if ``max_task_retries`` allows,
                                                            else fail with ActorDiedError)
    ALIVE    --kill / constructor raised /
               no handle left and idle /
               process dies, no restarts /
               process dies, no handle left
               and no call to rerun-->          DEAD       (every later call: ActorDiedError)

"Idle" is checked when the last handle goes and again whenever the actor finishes something
(its constructor, a call) or its queue moves, so one dropped while busy exits once it is done.

An actor's handles are counted like refs, under the actor's id; when the last one goes
(``on_free``) the actor exits once idle. These functions work on the scheduler's state and run
under its lock.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from .exceptions import ActorDiedError, TaskCancelledError
from .serialization import constructor_error, system_error_value

if TYPE_CHECKING:
    from .scheduler import Scheduler, Task, WorkerInfo

log = logging.getLogger(__name__)


class ActorInfo:
    """One actor: its process, its FIFO of calls, and whether it lives."""

    __slots__ = ("aid", "name", "meta", "worker", "queue", "started", "dead", "error", "cause",
                 "creation", "restarts_left", "task_retries", "restarts", "unreferenced",
                 "submitters")

    def __init__(self, aid: int, name: str | None, meta: Any, restarts: int = 0,
                 task_retries: int = 0) -> None:
        self.restarts_left = restarts
        self.task_retries = task_retries
        self.restarts = 0
        self.unreferenced = False  # no handle left: exit once idle
        self.aid = aid
        self.name = name
        self.meta = meta
        self.worker: WorkerInfo | None = None
        self.queue: deque[Task] = deque()
        # how many calls in ``queue`` each submitter has (a call's ``fn_id`` names its submitter)
        self.submitters: dict[int, int] = {}
        self.started = False
        self.dead = False
        self.error = ""
        self.cause: BaseException | None = None  # what its constructor raised, if that killed it
        self.creation: Task | None = None


def create(s: Scheduler, aid: int, name: str | None, meta: Any, restarts: int = 0,
           task_retries: int = 0, detached: bool = False,
           holder: WorkerInfo | None = None) -> None:
    """Register actor ``aid`` and start its process (its constructor is submitted next)."""
    if name is not None:
        old = s.actors.get(s.names.get(name))  # type: ignore[arg-type]
        if old is not None and not old.dead:
            raise ValueError(f"an actor named {name!r} already exists; pick another name or "
                             "use get_actor(name)")
    w = s.spawn(aid)  # first: if no process can start (OSError), nothing is registered
    a = ActorInfo(aid, name, meta, restarts, task_retries)
    s.actors[aid] = a
    a.worker = w
    if name is not None:
        s.names[name] = aid
    # detached actors carry one reference that is never released
    s.store.create(aid, 2 if detached else 1)
    if holder is not None:
        holder.holds[aid] = holder.holds.get(aid, 0) + 1
    s.store.set_value(aid, ("a", aid), None)


def submit(s: Scheduler, t: Task) -> None:
    """A submitted constructor or call ``t`` (its dependencies counted): queue it."""
    a = s.actors.get(t.aid)  # type: ignore[arg-type]
    if t.kind == "actor_create":
        a.creation = t  # type: ignore[union-attr]
        if t.pending == 0:
            s._task_ready(t)
        return
    if a is None or a.dead:
        s._fail(t, dead_value(a))
        return
    t.retries_left = a.task_retries
    a.queue.append(t)
    _count(a, t, 1)
    if t.pending == 0:
        pump(s, a)


def _count(a: ActorInfo, t: Task, n: int) -> None:
    """``t`` enters (``n`` = 1) or leaves (-1) ``a``'s queue: count it under its submitter."""
    sub = t.fn_id  # for a call, ``api`` puts there the id of the process that submitted it
    c = a.submitters.get(sub, 0) + n
    if c > 0:
        a.submitters[sub] = c
    else:
        a.submitters.pop(sub, None)


def on_free(s: Scheduler, aid: int) -> None:
    """The actor's last handle is gone: it exits once idle."""
    a = s.actors.get(aid)
    if a is None:
        return
    a.unreferenced = True
    if a.dead:
        _forget(s, a)
    else:
        exit_if_idle(s, a)


def exit_if_idle(s: Scheduler, a: ActorInfo) -> None:
    """An actor with no handle left, not dead yet, exits once it has no call queued or running."""
    w = a.worker
    if not a.unreferenced or a.dead or a.queue or (w is not None and w.inflight):
        return
    died(s, a, "all its handles went out of scope")
    if w is not None:
        s._kill_proc(w)


def ready(s: Scheduler, t: Task) -> None:
    """Constructor or call ``t`` has its dependencies: send the constructor (then the calls
    queued behind it), or the calls now at the head of the FIFO."""
    a = s.actors.get(t.aid)  # type: ignore[arg-type]
    if t.kind != "actor_create":
        if a is not None:
            pump(s, a)
        return
    if a is None or a.dead:
        s._release(t)
        return
    if s._missing_deps(t):
        return
    w = a.worker
    assert w is not None
    t.state = "RUNNING"
    t.worker = w
    w.inflight[t.tid] = t
    # a creation's slot for retry_exceptions carries its max_concurrency (``api``)
    w.chan.outbox.append(("actor_init", t.tid, t.aid, t.fn_id, s.fn_blobs[t.fn_id],
                          t.args_val, s._export(t.deps), t.name, t.retry_exceptions))
    s.to_flush.add(w)
    a.started = True
    pump(s, a)


def argument_failed(s: Scheduler, t: Task, value: tuple) -> None:
    """Constructor ``t`` failed with ``value`` before it ran (an argument failed): it can never
    start, so its actor dies and its calls must not wait."""
    a = s.actors.get(t.aid)  # type: ignore[arg-type]
    if a is None:  # dead and forgotten already
        return
    died(s, a, *constructor_error(value, "an argument of its constructor failed"))
    if a.worker is not None:
        s._kill_proc(a.worker)


def pump(s: Scheduler, a: ActorInfo) -> None:
    """Send the calls of ``a``'s queue whose dependencies are ready, each after the earlier calls
    of its submitter; a call still waiting (for an argument, or one evicted meanwhile and being
    rebuilt) holds back that submitter's later calls only."""
    if not a.started:
        return
    q = a.queue
    w = a.worker
    entries = s.store.entries
    held: deque[Task] = deque()  # calls passed over, waiting, in their order
    blocked: set[int] = set()  # submitters with a call waiting
    while q:
        t = q[0]
        if t.state == "WAITING" and (t.fn_id in blocked or t.pending != 0
                                     or (not a.dead and s._missing_deps(t))):
            blocked.add(t.fn_id)
            if len(blocked) >= len(a.submitters):  # every submitter waits: nothing to send
                break
            held.append(q.popleft())
            continue
        q.popleft()
        _count(a, t, -1)
        if t.state != "WAITING":
            continue
        if a.dead:
            s._fail(t, dead_value(a))
            continue
        bad = None
        for d in t.deps:
            v = entries[d].value
            if v[0] in "ex":
                bad = v
                break
        if bad is not None:
            s._fail(t, bad)
            continue
        t.state = "RUNNING"
        t.worker = w
        w.inflight[t.tid] = t  # type: ignore[union-attr]
        w.chan.outbox.append(("call", t.tid, t.method, t.args_val,  # type: ignore[union-attr]
                              s._export(t.deps), t.roids, t.name))
        s.to_flush.add(w)  # type: ignore[arg-type]
    q.extendleft(reversed(held))
    # the calls left may have failed without running (an argument failed, cancelled): nothing
    # else may be left to wait for
    exit_if_idle(s, a)


def constructor_done(s: Scheduler, w: WorkerInfo, t: Task, ok: bool, values: list) -> None:
    """Constructor ``t`` reported back from ``w``: the actor is ALIVE, or dies with its error."""
    t.state = "FINISHED" if ok else "FAILED"
    a = s.actors.get(t.aid)  # type: ignore[arg-type]
    if a is None or a.restarts_left == 0 or not ok:  # else keep the arguments to run it again
        s._release(t)
    if not ok:
        if a is not None:
            died(s, a, *constructor_error(values[0][0]))
        s._kill_proc(w)
    elif a is not None:  # its last handle may have gone while this ran
        exit_if_idle(s, a)


def call_done(s: Scheduler, t: Task) -> None:
    """Call ``t`` finished: an actor with no handle left exits once it is idle."""
    a = s.actors.get(t.aid)  # type: ignore[arg-type]
    if a is not None:
        exit_if_idle(s, a)


def dead_value(a: ActorInfo | None) -> tuple:
    """The error value of a call to ``a`` once it is dead (or to an actor that never was)."""
    why = a.error if a is not None else "it does not exist in this runtime"
    cause = a.cause if a is not None else None
    return system_error_value(ActorDiedError(f"the actor died: {why}", cause=cause))


def on_process_died(s: Scheduler, w: WorkerInfo, status: Callable[[WorkerInfo], str]) -> None:
    """Actor process ``w`` died (``status(w)``: how it exited, looked up only if the actor
    dies): restart the actor, or it is dead."""
    a = s.actors.get(w.aid)  # type: ignore[arg-type]
    if a is None or a.worker is not w:
        return
    if a.restarts_left != 0 and not a.dead and a.creation is not None:
        restart(s, a, w)
    else:
        died(s, a, f"its process (pid {w.pid}) died{status(w)}, with no restarts left after "
                   f"{a.restarts} (raise max_restarts to restart it)")


def restart(s: Scheduler, a: ActorInfo, old: WorkerInfo) -> None:
    """Run the constructor again in a new process; calls in flight retry or fail."""
    if a.restarts_left > 0:
        a.restarts_left -= 1
    a.restarts += 1
    log.info("restarting actor %s (restart %d)", a.meta[0], a.restarts)
    value = system_error_value(ActorDiedError(
        "the actor's process died before the call finished (raise max_task_retries to retry)"))
    retry = []
    cancelled = system_error_value(TaskCancelledError("the call was cancelled"))
    for t in sorted(old.inflight.values(), key=lambda t: t.tid):
        if t.kind != "call":
            continue
        if t.cancelled:  # it must not run again
            s._fail(t, cancelled)
        elif t.retries_left != 0:
            t.retries_left -= 1
            t.state = "WAITING"
            t.worker = None
            retry.append(t)
        else:
            s._fail(t, value)
    old.inflight.clear()
    a.queue.extendleft(reversed(retry))
    for t in retry:
        _count(a, t, 1)
    if a.unreferenced and not a.queue:  # no handle left and nothing to run: it stays dead
        died(s, a, f"its process (pid {old.pid}) died after its last handle went")
        return
    a.started = False
    try:
        a.worker = s.spawn(a.aid)
    except OSError as e:
        died(s, a, f"its process died and no new one could start ({e})")
        return
    c = a.creation
    assert c is not None
    c.state = "WAITING"
    c.worker = None
    s._task_ready(c)  # its arguments are released once it reports (constructor_done)


def died(s: Scheduler, a: ActorInfo, why: str, cause: BaseException | None = None) -> None:
    """``a`` is DEAD: its calls in flight and queued fail with ``ActorDiedError`` (``why``)."""
    if a.dead:
        return
    if a.creation is not None and a.creation.args_val is not None:
        s._release(a.creation)
    a.dead = True
    a.error = why
    a.cause = cause
    if a.name is not None and s.names.get(a.name) == a.aid:
        del s.names[a.name]
    value = dead_value(a)
    w = a.worker
    if w is not None:
        for t in list(w.inflight.values()):
            s._fail(t, value)
    while a.queue:
        s._fail(a.queue.popleft(), value)
    a.submitters.clear()
    if a.unreferenced:
        _forget(s, a)


def _forget(s: Scheduler, a: ActorInfo) -> None:
    """Drop dead actor ``a``'s record once no handle to it is left: nothing can call it, so
    keeping it (its process's record, its constructor) would only grow the driver."""
    if s.actors.get(a.aid) is a:
        del s.actors[a.aid]


def kill(s: Scheduler, aid: int, no_restart: bool = True) -> None:
    """``runtime.kill``: the actor dies, or with ``no_restart=False`` restarts if it may."""
    a = s.actors.get(aid)
    if a is None or a.dead:
        return
    if not no_restart and a.restarts_left != 0:
        if a.worker is not None:  # on_process_died restarts it
            s._kill_proc(a.worker)
        return
    died(s, a, "it was killed with kill()")
    if a.worker is not None:
        s._kill_proc(a.worker)
