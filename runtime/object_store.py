"""The driver's object table: values, reference counts, lineage, waiters, eviction and spilling.

The driver owns every object. An entry's ``refs`` counts what can read it: ``ObjectRef``s in
the driver or in workers (workers report 0->1 and 1->0 changes), tasks whose arguments mention
it (until they finish), and stored objects that contain it. Its ``lineage_refs`` counts the
finished tasks that took it as an argument and whose outputs are still alive: to rebuild one of
those outputs, the task may have to run again with this argument (Ray's lineage pinning).

An object made by a task keeps that task (``lineage``: function, arguments, options) for as long
as the entry lives, so a lost value can be rebuilt by running it again (``Scheduler.recover``).
States of an entry::

    PENDING   --value set-->                     READY
    READY     --refs reach 0, no lineage_refs--> freed (entry dropped, segment unlinked)
    READY     --refs reach 0, lineage_refs,
                made by a task-->                LOST (kept for lineage only: value dropped)
    READY     --evicted under memory pressure,
                or its segment vanished-->       LOST
    LOST      --a reader needs it-->             PENDING (its task runs again)
    LOST      --refs and lineage_refs at 0-->    freed

Lineage is bounded: past ``max_lineage`` finished tasks holding lineage (environment variable
``RUNTIME_MAX_LINEAGE_TASKS``, default 100,000; Ray bounds it by bytes instead), the oldest
are forgotten, so a loop such as ``x = f.remote(x)`` stays flat. Their outputs can no longer be
rebuilt: a LOST one holds an ``ObjectLostError``, a READY one is spilled instead of evicted.

Objects made by ``put`` or by actor methods cannot be rebuilt: they stay READY while anything
(lineage included) refers to them, and under pressure they spill to disk instead.

Past ``object_store_memory`` (``cap``) the store makes room in this order: first it unlinks
freed segments kept for reuse, then it evicts task outputs that can be rebuilt, least recently
used first, except the arguments of tasks not finished yet (evicting those could make the
store rebuild in circles); last it spills the rest (``put`` objects first) to the spill folder, from where readers map them as before. When an entry is freed, its
shared-memory file is unlinked (readers that still map it keep their pages until they unmap)
and the objects it contains are released in turn. All methods run under the scheduler's lock.
"""
from __future__ import annotations

import errno
import logging
import mmap
import os
from collections import deque
from typing import Any

from .exceptions import ObjectLostError
from .object_ref import wid_of
from .serialization import system_error_value

log = logging.getLogger(__name__)


class Entry:
    """One object: its value once ready, who waits for it, its references and its lineage."""

    __slots__ = ("value", "refs", "contained", "task", "waiters", "mm", "exported", "wmm",
                 "lineage", "lineage_refs", "lost", "pins")

    def __init__(self, refs: int, task: Any = None, lineage: bool = False) -> None:
        self.value: tuple | None = None
        self.refs = refs
        self.contained: list[int] | None = None
        self.task = task  # the task computing it, while pending (for cancel)
        self.waiters: list[Any] | None = None
        self.mm: mmap.mmap | None = None
        self.exported = False  # its value was sent to a worker, which may still map it
        self.wmm: mmap.mmap | None = None  # the driver's writable mapping of a recycled file
        self.lineage = task if lineage else None  # the task that makes it, to run again
        self.lineage_refs = 0
        self.lost = False  # value dropped or evicted; ``Scheduler.recover`` rebuilds it
        self.pins = 0  # tasks not yet finished that take it as an argument: never evicted


def rebuildable(e: Entry) -> bool:
    """Whether the entry's value can be computed again from its lineage."""
    t = e.lineage
    return t is not None and t.held is not None and (e.value is None or e.value[0] in "is")


class ObjectStore:
    """Entries by object id; ``set_value`` returns the waiters it woke."""

    def __init__(self, free_dir: str | None = None, recycle_max: int = 0) -> None:
        self.entries: dict[int, Entry] = {}
        self.on_actor_free: Any = None  # called with an actor id when its last handle is gone
        self.cap: int | None = None  # object_store_memory: shared memory past it is reclaimed
        self.spill_dir: str | None = None
        self.spilled_bytes = 0
        self.shm_bytes = 0
        self.free_dir = free_dir
        self.recycle_max = recycle_max
        self.recycled: list[tuple[int, str, mmap.mmap | None]] = []
        self.recycled_bytes = 0
        self.capacity: dict[str, int] = {}
        self.lru: dict[int, None] = {}  # rebuildable objects in shared memory, oldest use first
        self.evicted = 0
        self.lost = 0
        self.reconstructed = 0
        self.spilled = 0
        self.max_lineage = int(os.environ.get("RUNTIME_MAX_LINEAGE_TASKS", "100000"))
        self.held: deque[Any] = deque()  # tasks holding lineage, oldest first (some released)
        self.held_n = 0
        self.lineage_forgotten = 0

    def create(self, oid: int, refs: int, task: Any = None, lineage: bool = False) -> Entry:
        e = Entry(refs, task, lineage)
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
            # a rebuilt value: what the evicted one contained stays held with it (_drop_value)
            e.contained = e.contained + contained if e.contained else contained
        e.value = value
        e.task = None
        e.lost = False
        if value[0] == "s" and self.is_spilled(value):  # larger than the store: made on disk
            self.spilled_bytes += value[2]
            self.spilled += 1
        elif value[0] == "s":
            self.shm_bytes += self.capacity.get(value[1], value[2])
            if rebuildable(e):
                self.lru[oid] = None
            if self.cap is not None and self._over():
                self.make_room(keep=oid)
        waiters = e.waiters or []
        e.waiters = None
        if e.refs <= 0:
            self.settle([oid])
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
        if e.refs <= 0:
            self.settle([oid])

    def touch(self, oid: int) -> None:
        """Mark a use of ``oid``: eviction takes the least recently used first."""
        lru = self.lru
        if oid in lru:
            del lru[oid]
            lru[oid] = None

    def settle(self, stack: list[int]) -> None:
        """Apply the state rules to entries whose counts dropped: free them, drop their value
        (kept for lineage only), or leave them; releases cascade through contained objects and
        through the arguments of freed lineage."""
        entries = self.entries
        while stack:
            oid = stack.pop()
            e = entries.get(oid)
            if e is None or e.refs > 0 or (e.value is None and not e.lost):
                continue  # alive, or pending (set_value settles it)
            if e.lineage_refs > 0:
                if e.value is not None and rebuildable(e):
                    self._drop_value(oid, e, stack)
                elif e.contained:  # evicted while held: no holder is left to read it now
                    self._release_contained(e, stack)
                continue  # a put's (or an actor result's) value stays while lineage needs it
            del entries[oid]
            v = e.value
            if v is not None:
                if v[0] == "a":
                    if self.on_actor_free is not None:
                        self.on_actor_free(v[1])
                    continue
                self.lru.pop(oid, None)
                self._drop_data(v, e)
            if e.wmm is not None:  # not recycled after all
                e.wmm.close()
                e.wmm = None
            e.mm = None
            self._release_contained(e, stack)
            t = e.lineage
            if t is not None:
                t.live -= 1
                if t.live <= 0 and t.held is not None:
                    self._unhold(t, stack)

    def _unhold(self, t: Any, stack: list[int]) -> None:
        """Release ``t``'s lineage refs on its arguments (they may be freed in turn)."""
        entries = self.entries
        for d in t.held:
            de = entries.get(d)
            if de is not None:
                de.lineage_refs -= 1
                if de.lineage_refs <= 0:
                    stack.append(d)
        t.held = None  # the scheduler drops the arguments once t is done
        self.held_n -= 1

    def note_held(self, t: Any) -> None:
        """``t`` now holds lineage; forget the oldest lineage past ``max_lineage``."""
        self.held.append(t)
        self.held_n += 1
        if self.held_n > self.max_lineage or len(self.held) > 2 * self.held_n + 1024:
            self._trim_lineage()

    def _trim_lineage(self) -> None:
        held = self.held
        if len(held) > 2 * self.held_n + 1024:  # drop released tasks so the queue stays small
            self.held = held = deque(x for x in held if x.held is not None)
        skipped = []
        stack: list[int] = []
        while self.held_n > self.max_lineage and held:
            old = held.popleft()
            if old.held is None:
                continue
            if old.state in ("WAITING", "READY", "RUNNING"):  # being rebuilt: keep it
                skipped.append(old)
                continue
            self._forget(old, stack)
        held.extendleft(reversed(skipped))
        self.settle(stack)

    def _forget(self, t: Any, stack: list[int]) -> None:
        self.lineage_forgotten += 1
        self._unhold(t, stack)
        lost = system_error_value(ObjectLostError(
            f"an output of {t.name} was lost and its lineage was dropped to bound memory "
            "(raise RUNTIME_MAX_LINEAGE_TASKS to keep more)"))
        for r in t.roids:
            e = self.entries.get(r)
            if e is None or e.lineage is not t:
                continue
            self.lru.pop(r, None)
            if e.lost:
                e.lost = False
                e.value = lost
                stack.append(r)

    def free(self, oid: int) -> None:
        self.settle([oid])

    def _release_contained(self, e: Entry, stack: list[int]) -> None:
        for c in e.contained or ():
            ce = self.entries.get(c)
            if ce is not None:
                ce.refs -= 1
                if ce.refs <= 0:
                    stack.append(c)
        e.contained = None

    def _drop_value(self, oid: int, e: Entry, stack: list[int], evict: bool = False) -> None:
        """Forget a rebuildable value (LOST): free its memory; release what it contains unless
        ``evict`` (see below)."""
        v = e.value
        assert v is not None
        self.lru.pop(oid, None)
        self._drop_data(v, None if evict else e)  # evicted: readers may hold the file, never recycle it
        if e.wmm is not None:
            e.wmm.close()
            e.wmm = None
        e.mm = None
        e.value = None
        e.lost = True
        # evicted (or its segment gone) while its holders still hold it: a worker that got the
        # value counts the refs inside only at its next report, until which this entry's hold
        # is what keeps them alive (that report applies its increases before its release of
        # this entry); they are released when the entry is freed or only lineage holds it
        if not evict:
            self._release_contained(e, stack)

    def lose(self, oid: int, path: str) -> bool:
        """The segment at ``path`` of ``oid`` vanished (its holder went away): the entry is
        LOST if it can be rebuilt (True), else it holds an ``ObjectLostError`` (False)."""
        e = self.entries.get(oid)
        if e is None or e.value is None or e.value[0] != "s" or e.value[1] != path:
            return True  # already moved, rebuilt or freed: the caller asks again
        if os.path.exists(path):
            return True
        self.lost += 1
        if rebuildable(e):
            log.warning("object %016x lost its segment %s; rebuilding it from lineage", oid, path)
            stack: list[int] = []
            self._drop_value(oid, e, stack, evict=True)
            self.settle(stack)
            return True
        self._uncount(e.value)
        self.capacity.pop(e.value[1], None)
        e.mm = None
        e.value = system_error_value(ObjectLostError(
            f"object {oid:016x} lost its data ({path} vanished) and was made by put() or an "
            "actor method, so it cannot be rebuilt"))
        return False

    def is_spilled(self, value: tuple) -> bool:
        return self.spill_dir is not None and value[1].startswith(self.spill_dir)

    def _over(self) -> bool:
        return self.shm_bytes + self.recycled_bytes > self.cap  # type: ignore[operator]

    def make_room(self, keep: int | None = None) -> None:
        """Bring shared memory under the cap: unlink freed segments kept for reuse, evict
        rebuildable objects (least recently used first), then spill."""
        while self.recycled and self._over():
            size, path, wmm = self.recycled.pop(0)
            self.recycled_bytes -= size
            if wmm is not None:
                wmm.close()
            _unlink(("s", path))
        if not self._over():
            return
        if self.lru:
            stack: list[int] = []
            for oid in list(self.lru):
                if not self._over():
                    break
                e = self.entries.get(oid)
                if oid == keep or e is None or e.pins > 0 or e.value is None:
                    continue
                self._drop_value(oid, e, stack, evict=True)
                self.evicted += 1
            self.settle(stack)
        if self._over() and self.spill_dir is not None:
            self.spill(keep)

    def spill(self, keep: int | None = None) -> None:
        """Move shared-memory objects to the spill folder until under the cap: those that cannot
        be rebuilt first (oldest first), then any.

        A spilled object keeps its value format with a path on disk: readers map it from the
        page cache, zero-copy as before. Readers that already mapped the shared-memory file
        keep their pages; a worker sent the old path asks the driver again ("locate")."""
        assert self.spill_dir is not None and self.cap is not None
        for last_resort in (False, True):
            for oid, e in list(self.entries.items()):
                if not self._over():
                    return
                v = e.value
                if v is None or v[0] != "s" or oid == keep or self.is_spilled(v):
                    continue
                if not last_resort and rebuildable(e):
                    continue
                dst = f"{self.spill_dir}/{os.path.basename(v[1])}"
                try:
                    _copy_head(v[1], dst, v[2])  # a reused file may be larger than its value
                except OSError as err:
                    log.warning("could not spill %s: %s", v[1], err)
                    _unlink(("s", dst))  # a partial copy would only take disk space
                    continue
                _unlink(v)
                self.shm_bytes -= self.capacity.pop(v[1], v[2])
                self.lru.pop(oid, None)
                if e.wmm is not None:
                    e.wmm.close()
                    e.wmm = None
                e.mm = None
                e.value = (v[0], dst) + v[2:]
                self.spilled_bytes += v[2]
                self.spilled += 1

    def _uncount(self, value: tuple) -> None:
        """Take a file-backed value's bytes off the shared-memory or spilled total (in shared
        memory, its whole file: a reused one may be larger than the value)."""
        if self.is_spilled(value):
            self.spilled_bytes -= value[2]
        else:
            self.shm_bytes -= self.capacity.get(value[1], value[2])

    def _drop_data(self, value: tuple, e: Entry | None = None) -> None:
        """Release a value's file: unlink it, or keep it for reuse when ``e`` allows."""
        if value[0] != "s":
            return
        self._uncount(value)
        if self.is_spilled(value):
            _unlink(value)
            return
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
        """The file at ``path`` (a reused one) has ``size`` bytes, more than its value's: the
        whole file counts against the cap. Noted before the value is set."""
        self.capacity[path] = size

    def summary(self) -> dict[str, Any]:
        """Objects and bytes (inline, shared memory, spilled) in total and by owner; objects
        kept for lineage only; and how many were evicted, lost, rebuilt and spilled so far."""
        by_owner: dict[str, dict[str, int]] = {}
        lineage_only = 0
        for oid, e in self.entries.items():
            v = e.value
            if v is not None and v[0] == "a":
                continue
            if e.refs <= 0 and (v is None and e.lost or e.lineage_refs > 0):
                lineage_only += 1  # no ref left: kept so that lineage can run again
                continue
            wid = wid_of(oid)
            row = by_owner.setdefault("driver" if wid == 0 else f"worker {wid}",
                                      {"objects": 0, "pending": 0, "evicted": 0,
                                       "inline_bytes": 0, "shm_bytes": 0, "spilled_bytes": 0})
            row["objects"] += 1
            if v is None:
                row["evicted" if e.lost else "pending"] += 1
            elif v[0] == "i":
                row["inline_bytes"] += len(v[1]) + sum(len(b) for b in v[2])
            elif v[0] == "s":
                row["spilled_bytes" if self.is_spilled(v) else "shm_bytes"] += v[2]
        return {"objects": sum(r["objects"] for r in by_owner.values()),
                "shm_bytes": self.shm_bytes, "spilled_bytes": self.spilled_bytes,
                "shm_cap": self.cap, "recycled_bytes": self.recycled_bytes,
                "lineage_only_objects": lineage_only, "evicted": self.evicted,
                "lost": self.lost, "reconstructed": self.reconstructed,
                "spilled": self.spilled, "lineage_tasks": self.held_n,
                "lineage_forgotten": self.lineage_forgotten, "by_owner": by_owner}


def _copy_head(src: str, dst: str, n: int) -> None:
    """Copy the first ``n`` bytes of file ``src`` to a new file ``dst`` (in the kernel where it
    can: ``sendfile``)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        off = 0
        try:
            while off < n:
                sent = os.sendfile(fo.fileno(), fi.fileno(), off, n - off)
                if sent == 0:
                    break
                off += sent
        except OSError as e:  # no file-to-file sendfile here: copy through a buffer
            if off or e.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK,
                                      errno.EOPNOTSUPP):
                raise
            fi.seek(0)
            while off < n:
                chunk = fi.read(min(n - off, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                off += len(chunk)
        if off < n:
            raise OSError(errno.EIO, f"{src} ended after {off} of its {n} bytes")


def _unlink(value: tuple) -> None:
    if value[0] == "s":
        try:
            os.unlink(value[1])
        except OSError:
            pass
