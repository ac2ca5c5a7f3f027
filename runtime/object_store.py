"""The driver's object table: values, reference counts, waiters and freeing.

The driver owns every object. An entry lives while anything references it: ``ObjectRef``s in the
driver or in workers (workers report 0->1 and 1->0 changes), tasks whose arguments mention it, and
stored objects that contain it. When the count reaches zero and the value exists, the entry is
dropped, its shared-memory file unlinked (readers that still map it keep their pages until they
unmap) and the objects it contains are released in turn. All methods run under the scheduler's
lock.
"""
from __future__ import annotations

import logging
import mmap
import os
from typing import Any

log = logging.getLogger(__name__)


class Entry:
    """One object: its value once ready, who waits for it, and how many references it has."""

    __slots__ = ("value", "refs", "contained", "task", "waiters", "mm")

    def __init__(self, refs: int, task: Any = None) -> None:
        self.value: tuple | None = None
        self.refs = refs
        self.contained: list[int] | None = None
        self.task = task
        self.waiters: list[Any] | None = None
        self.mm: mmap.mmap | None = None


class ObjectStore:
    """Entries by object id; ``set_value`` returns the waiters it woke."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.shm_bytes = 0

    def create(self, oid: int, refs: int, task: Any = None) -> Entry:
        e = Entry(refs, task)
        self.entries[oid] = e
        return e

    def set_value(self, oid: int, value: tuple, contained: list[int] | None) -> list[Any]:
        e = self.entries.get(oid)
        if e is None or e.value is not None:  # freed meanwhile, or a duplicate: drop the data
            _unlink(value)
            return []
        if contained:
            for c in contained:
                ce = self.entries.get(c)
                if ce is not None:
                    ce.refs += 1
            e.contained = contained
        e.value = value
        e.task = None
        if value[0] == "s":
            self.shm_bytes += value[2]
        waiters = e.waiters or []
        e.waiters = None
        if e.refs <= 0:
            self.free(oid)
        return waiters

    def incref(self, oid: int, n: int = 1) -> None:
        e = self.entries.get(oid)
        if e is not None:
            e.refs += n

    def decref(self, oid: int, n: int = 1) -> None:
        e = self.entries.get(oid)
        if e is None:
            return
        e.refs -= n
        if e.refs <= 0 and e.value is not None:
            self.free(oid)

    def free(self, oid: int) -> None:
        stack = [oid]
        while stack:
            e = self.entries.pop(stack.pop(), None)
            if e is None:
                continue
            if e.value is not None:
                self._drop_data(e.value)
            e.mm = None
            for c in e.contained or ():
                ce = self.entries.get(c)
                if ce is not None:
                    ce.refs -= 1
                    if ce.refs <= 0 and ce.value is not None:
                        stack.append(c)

    def _drop_data(self, value: tuple) -> None:
        if value[0] == "s":
            self.shm_bytes -= value[2]
            _unlink(value)

    def summary(self) -> dict[str, int]:
        ready = sum(1 for e in self.entries.values() if e.value is not None)
        return {"objects": len(self.entries), "ready": ready, "shm_bytes": self.shm_bytes}


def _unlink(value: tuple) -> None:
    if value[0] == "s":
        try:
            os.unlink(value[1])
        except OSError:
            pass
