"""The worker pool under nested tasks: when it grows, when it shrinks, and *help* tasks.

A worker blocked in ``get`` does not count against ``num_cpus``. When no worker can take a READY
task (``Scheduler.pump``), ``grow`` either starts a worker (Ray does the same, so nested tasks
cannot deadlock) or sends the task to a worker waiting in ``get`` as a *help* task, which that
worker runs inside its wait, on top of the waiting task's stack, as a function call would:

* below ``soft_pool`` (2 x ``num_cpus``) processes, the pool grows;
* from there on, a READY task whose output a worker's innermost ``get`` (one without a timeout,
  which the task would hold up) waits for goes to that worker (``_help_own``); the pool grows
  only for READY tasks no waiting worker can run that way, and only after ``_GROW_GRACE_S``,
  since a task's submitter sends its ``get`` just after the submit. A process start costs
  ~0.1 s of CPU: README's fib(10) started 66 of them before, one after another;
* at ``num_cpus`` + ``RUNTIME_MAX_EXTRA_WORKERS`` (default 64) processes, with no worker
  active, any READY task goes to a waiting worker (``_help``), preferring one it waits for;
  so it does when no process can start (out of file descriptors or processes), which is
  tried again after ``_SPAWN_RETRY_S``.

A worker running a help task counts against ``num_cpus``. Workers past ``num_cpus`` exit after
``_IDLE_S`` idle (``retire_idle``). These functions work on the scheduler's state and run under
its lock.
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

_IDLE_S = 2.0  # a pool worker past num_cpus idle this long exits (Ray retires idle workers too)
# past soft_pool, a READY task no waiting worker can run gets a new process only after this
# long (a later pump decides): a task's submitter sends its get() just after the submit
_GROW_GRACE_S = 0.05
_SPAWN_RETRY_S = 1.0  # after a worker process failed to start, no start is tried this long
_MAX_HELP_DEPTH = 64  # frames on a worker's stack (its Python recursion stays far from the limit)


def grow(s: Any, head: Any) -> None:
    """No worker can take READY task ``head``: grow the pool, or (past ``soft_pool``
    processes) let waiting workers run the tasks they wait for."""
    active = helping = 0
    busy = 0.0  # the CPUs that the tasks of the active workers asked for
    for w in s.pool:
        if w.doomed:
            continue
        if not w.blocked:
            active += 1
            if w.inflight:
                busy += w.cpu
        elif w.stack and type(w.stack[-1]) is int:  # runs a help task
            helping += 1
    free = s.num_cpus - active - helping
    if free <= 0:
        # a process per CPU is active, but some run tasks that asked for less than a CPU
        # (num_cpus=0 or a fraction): one that fits in the CPUs left gets a process, as Ray
        # runs tasks for as long as the sum of what they asked for fits
        if (head.num_cpus <= s.num_cpus - busy - helping + 1e-9
                and len(s.pool) < s.num_cpus + s.max_extra_workers):
            start_worker(s)
        return
    if len(s.pool) >= s.soft_pool:
        if _help_own(s, free):
            return  # the next pump grows the pool if READY tasks are still left
        if time.monotonic() - head.ready_at < _GROW_GRACE_S:
            return  # its submitter may be about to wait for it, and run it in that wait
    if len(s.pool) < s.num_cpus + s.max_extra_workers and start_worker(s):
        return
    if active == 0:  # at the cap, or no process could start: run tasks inside the waits
        _help(s)


def start_worker(s: Any) -> bool:
    """Add a worker to the pool; False if no process could start (out of file descriptors or
    processes): that is logged, and no start is tried for ``_SPAWN_RETRY_S``."""
    now = time.monotonic()
    if now < s.spawn_blocked_until:
        return False
    try:
        w = s.spawn(None)
    except OSError as e:
        s.spawn_blocked_until = now + _SPAWN_RETRY_S
        log.warning("could not start a worker process (%s); trying again in %.0f s, while "
                    "waiting workers run queued tasks inside their wait", e, _SPAWN_RETRY_S)
        return False
    s.pool.append(w)
    return True


def retire_idle(s: Any) -> None:
    """Let pool workers beyond ``num_cpus`` (grown while tasks waited in ``get``) exit once
    they have been idle for ``_IDLE_S``."""
    now = time.monotonic()
    for w in list(s.pool):
        if len(s.pool) <= s.num_cpus:
            return
        if (not w.inflight and not w.blocked and not w.stack and not w.doomed and w.alive
                and now - w.idle_since > _IDLE_S):
            s.pool.remove(w)
            w.doomed = True
            w.chan.outbox.append(("exit",))
            s.to_flush.add(w)


def _help_own(s: Any, n: int) -> int:
    """Send up to ``n`` READY tasks to pool workers whose innermost ``get`` (without a
    timeout) waits for their output, to run inside that wait as a function call would,
    instead of starting a process for them; return how many were sent."""
    sent = 0
    for w in s.pool:
        if sent >= n:
            break
        top = _help_target(w)
        if top is None or not top.is_get or top.timed:
            continue
        t = _awaited_ready(s, top)
        if t is not None and t.num_cpus <= 1:
            _send_help(s, w, t)
            sent += 1
    return sent


def _help_target(w: Any) -> Any:
    """The waiter at the top of ``w``'s stack that a task may be sent into to run inside its
    wait (an open get or wait, not bounced, below the nesting cap), or None."""
    st = w.stack
    if w.doomed or not st or len(st) >= _MAX_HELP_DEPTH:
        return None
    top = st[-1]
    if type(top) is int or top.done or top.bounced:
        return None
    return top


def _awaited_ready(s: Any, waiter: Any) -> Any:
    """A READY pool task, its arguments present, whose output ``waiter`` waits for."""
    entries = s.store.entries
    for oid in waiter.oids:
        e = entries.get(oid)
        t = e.task if e is not None else None
        if (t is not None and t.state == "READY" and t.kind == "task"
                and not (t.deps and s._missing_deps(t))):
            return t
    return None


def _help(s: Any) -> None:
    """Every pool worker waits in ``get`` and the pool is at its cap: send READY tasks to
    waiting workers to run inside their wait, so nested tasks cannot deadlock."""
    avail = [w for w in s.pool if _help_target(w) is not None]
    if not avail:
        return
    rest = []
    for w in avail:  # first, a task whose output the worker itself waits for
        t = _awaited_ready(s, w.stack[-1])
        if t is not None:
            _send_help(s, w, t)
        else:
            rest.append(w)
    rest.sort(key=lambda w: len(w.stack))  # then any, to the least nested workers
    queues = [q for q in (s.ready_low, s.ready) if q]
    for w in rest:
        while queues:
            ready = queues[0]
            while ready and (ready[0].state != "READY"
                             or (ready[0].deps and s._missing_deps(ready[0]))):
                ready.popleft()
            if ready:
                break
            queues.pop(0)
        if not queues:
            return
        _send_help(s, w, queues[0].popleft())


def _send_help(s: Any, w: Any, t: Any) -> None:
    log.debug("worker %d runs %s inside its wait in get() (%d pool workers)", w.wid, t.name,
              len(s.pool))
    w.stack.append(t.tid)
    s._send_task(w, t, "help")
