"""Lineage reconstruction: rebuild lost task outputs by running their tasks again.

A pool task that finished successfully keeps its function, arguments and options as the
*lineage* of its outputs (``hold``), with a lineage reference on each argument object so that
the arguments can be read, or rebuilt in turn, for as long as an output might need them (the
store frees both once the last output is gone). An output is *lost* when the store evicted it
under memory pressure or its shared-memory segment vanished; the next reader (``get``, a worker's
``get``, a task about to run with it as an argument) calls ``recover``, which puts the task back
to WAITING, after the tasks of any lost arguments, recursively, as in Ray's object recovery.
Outputs of a re-run that were not lost arrive as duplicates and are dropped by the store.

These functions work on the scheduler's state and run under its lock.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any

log = logging.getLogger(__name__)

_ACTIVE = ("WAITING", "READY", "RUNNING")


def hold(s: Any, t: Any) -> None:
    """Keep ``t``'s arguments as its outputs' lineage: a lineage ref on each argument object
    (actor handles are not pinned: an actor lives by its handles alone)."""
    entries = s.store.entries
    held: list[int] = []
    for d in itertools.chain(t.deps, t.contained) if t.deps or t.contained else ():
        e = entries.get(d)
        if e is None or (e.value is not None and e.value[0] == "a"):
            continue
        e.lineage_refs += 1
        held.append(d)
    t.held = held
    s.store.note_held(t)


def missing_deps(s: Any, t: Any) -> bool:
    """Whether an argument of READY task ``t`` lost its value since (its segment vanished):
    then ``t`` waits again while the argument is rebuilt."""
    entries = s.store.entries
    missing = False
    for d in t.deps:
        e = entries[d]
        if e.value is None:
            if e.lost:
                recover(s, d)
            if e.value is None:
                s._await(t, e)
                missing = True
    if missing:
        t.state = "WAITING"
    return missing


def recover(s: Any, oid: int) -> None:
    """Rebuild the lost object ``oid`` by running the task that made it again; arguments that
    are lost too are rebuilt first, recursively (with a stack here: chains can be long)."""
    store = s.store
    entries = store.entries
    e = entries.get(oid)
    if e is None or not e.lost:
        return
    stack = [e.lineage]
    while stack:
        t = stack.pop()
        if t.state in _ACTIVE or t.held is None:
            continue  # running again already
        store.reconstructed += 1
        log.info("rebuilding the outputs of %s from lineage", t.name)
        t.tid = next(s._tids)
        t.state = "WAITING"
        t.worker = None
        t.pending = 0
        t.retries_left = t.max_retries
        for r in t.roids:
            re = entries.get(r)
            if re is not None and re.lost:
                re.lost = False  # PENDING again
                re.task = t
        for d in t.deps:  # held like a new task's arguments until the run ends
            de = entries[d]
            de.refs += 1
            de.pins += 1
            if de.value is None:
                if de.lost:
                    stack.append(de.lineage)
                s._await(t, de)
        for c in t.contained:
            store.incref(c)
        if t.pending == 0:
            s._task_ready(t)
