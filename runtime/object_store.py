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
import shutil
from typing import Any

log = logging.getLogger(__name__)


class Entry:
    """One object: its value once ready, who waits for it, and how many references it has."""

    __slots__ = ("value", "refs", "contained", "task", "waiters", "mm", "exported", "wmm")

    def __init__(self, refs: int, task: Any = None) -> None:
        self.value: tuple | None = None
        self.refs = refs
        self.contained: list[int] | None = None
        self.task = task
        self.waiters: list[Any] | None = None
        self.mm: mmap.mmap | None = None
        self.exported = False  # its value was sent to a worker, which may still map it
        self.wmm: mmap.mmap | None = None  # the driver's writable mapping of a recycled file


class ObjectStore:
    """Entries by object id; ``set_value`` returns the waiters it woke."""

    def __init__(self, free_dir: str | None = None, recycle_max: int = 0) -> None:
        self.entries: dict[int, Entry] = {}
        self.on_actor_free: Any = None  # called with an actor id when its last handle is gone
        self.cap: int | None = None  # object_store_memory: shared memory past it spills to disk
        self.spill_dir: str | None = None
        self.spilled_bytes = 0
        self.shm_bytes = 0
        self.free_dir = free_dir
        self.recycle_max = recycle_max
        self.recycled: list[tuple[int, str, mmap.mmap | None]] = []
        self.recycled_bytes = 0
        self.capacity: dict[str, int] = {}

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
            if self.cap is not None and self.shm_bytes > self.cap:
                self.spill(keep=oid)
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
                if e.value[0] == "a":
                    if self.on_actor_free is not None:
                        self.on_actor_free(e.value[1])
                    continue
                self._drop_data(e.value, e)
            if e.wmm is not None:  # not recycled after all
                e.wmm.close()
                e.wmm = None
            e.mm = None
            for c in e.contained or ():
                ce = self.entries.get(c)
                if ce is not None:
                    ce.refs -= 1
                    if ce.refs <= 0 and ce.value is not None:
                        stack.append(c)

    def is_spilled(self, value: tuple) -> bool:
        return self.spill_dir is not None and value[1].startswith(self.spill_dir)

    def spill(self, keep: int | None = None) -> None:
        """Move the oldest shared-memory objects to the spill folder until under the cap.

        A spilled object keeps its value format with a path on disk: readers map it from the
        page cache, zero-copy as before. Readers that already mapped the shared-memory file
        keep their pages; a worker sent the old path asks the driver again ("locate")."""
        assert self.spill_dir is not None and self.cap is not None
        for oid, e in list(self.entries.items()):
            if self.shm_bytes <= self.cap:
                return
            v = e.value
            if v is None or v[0] != "s" or oid == keep or self.is_spilled(v):
                continue
            dst = f"{self.spill_dir}/{os.path.basename(v[1])}"
            try:
                shutil.copyfile(v[1], dst)
                os.unlink(v[1])
            except OSError as err:
                log.warning("could not spill %s: %s", v[1], err)
                continue
            self.capacity.pop(v[1], None)
            if e.wmm is not None:
                e.wmm.close()
                e.wmm = None
            e.mm = None
            e.value = (v[0], dst) + v[2:]
            self.shm_bytes -= v[2]
            self.spilled_bytes += v[2]

    def _drop_data(self, value: tuple, e: Entry | None = None) -> None:
        if value[0] != "s":
            return
        if self.is_spilled(value):
            self.spilled_bytes -= value[2]
            _unlink(value)
            return
        self.shm_bytes -= value[2]
        if e is not None and self._recycle(value, e):
            return
        self.capacity.pop(value[1], None)
        _unlink(value)

    # Writing into fresh tmpfs pages costs a page fault and a zeroing per page, which halves
    # put bandwidth; like Ray's plasma arena, the store reuses the pages of freed objects, but
    # only when no reader can still map them: never sent to a worker, and the driver's own
    # mapping closes (mmap.close raises BufferError while an array still uses it).
    def _recycle(self, value: tuple, e: Entry) -> bool:
        if self.free_dir is None or e.exported:
            return False
        if e.mm is not None:
            try:
                e.mm.close()
            except BufferError:
                return False
        size = self.capacity.get(value[1], value[2])
        if size < (1 << 20) or self.recycled_bytes + size > self.recycle_max:
            return False
        new = f"{self.free_dir}/{os.path.basename(value[1])}"
        try:
            os.rename(value[1], new)
        except OSError:
            return False
        self.capacity.pop(value[1], None)
        self.recycled.append((size, new, e.wmm))
        e.wmm = None
        self.recycled_bytes += size
        return True

    def take_recycled(self, nbytes: int) -> tuple[str, int, mmap.mmap | None] | None:
        """``(path, size, writable_mapping)`` of a freed file of at least ``nbytes`` (and not much
        larger) to write into, if any; the mapping is None until the driver first maps it."""
        best = None
        for i, (size, path, _) in enumerate(self.recycled):
            if nbytes <= size <= 2 * nbytes + (1 << 20) and (best is None
                                                             or size < self.recycled[best][0]):
                best = i
        if best is None:
            return None
        size, path, wmm = self.recycled.pop(best)
        self.recycled_bytes -= size
        return path, size, wmm

    def note_capacity(self, path: str, size: int) -> None:
        self.capacity[path] = size

    def summary(self) -> dict[str, Any]:
        """Objects and bytes (inline, shared memory, spilled), in total and by owner."""
        by_owner: dict[str, dict[str, int]] = {}
        for oid, e in self.entries.items():
            v = e.value
            if v is not None and v[0] == "a":
                continue
            wid = (oid >> 32) & 0xFFFF
            row = by_owner.setdefault("driver" if wid == 0 else f"worker {wid}",
                                      {"objects": 0, "pending": 0, "inline_bytes": 0,
                                       "shm_bytes": 0, "spilled_bytes": 0})
            row["objects"] += 1
            if v is None:
                row["pending"] += 1
            elif v[0] == "i":
                row["inline_bytes"] += len(v[1]) + sum(len(b) for b in v[2])
            elif v[0] == "s":
                row["spilled_bytes" if self.is_spilled(v) else "shm_bytes"] += v[2]
        return {"objects": sum(r["objects"] for r in by_owner.values()),
                "shm_bytes": self.shm_bytes, "spilled_bytes": self.spilled_bytes,
                "shm_cap": self.cap, "recycled_bytes": self.recycled_bytes,
                "by_owner": by_owner}


def _unlink(value: tuple) -> None:
    if value[0] == "s":
        try:
            os.unlink(value[1])
        except OSError:
            pass
