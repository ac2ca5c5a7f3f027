"""A persistent cache of true cardinalities: one SQLite file, keyed by db fingerprint + SQL.

The fingerprint a caller gives holds everything a count depends on besides its SQL text: for
:class:`~deepquery.cardinality.TrueCardinality`, the database's, the counting code's version and
the connection's settings that can change a count (time zone, collation, integer division, ...)
(:func:`~deepquery.cardinality.counts_fingerprint`), so a count an older deepquery made is never
served (it is pruned as any fingerprint not used lately).

The cache only saves time: every count in it can be computed again. So a cache file that cannot
be used never stops planning: a corrupt file is moved aside (``<name>.corrupt``) and a new one
started; a file that cannot be opened or written (read-only folder, full disk) is replaced by an
in-memory cache for the rest of the run. Each case is logged once as a warning.

Writes never wait on another process: puts are queued in memory (gets see them) and written in
one short transaction per batch; while another process holds the file's write lock the batch
stays queued and is tried again after twice as many puts, and what is still queued when the
cache closes is dropped (logged), since every count can be computed again. Opening a new file or
one of an older layout needs the write lock too (to create the tables): it waits as briefly, and
the run goes on in memory when another process keeps the lock.

Pruning: each database fingerprint's counts carry the time it was last used; when a cache starts
on a fingerprint, the counts of all but the :data:`KEEP_FINGERPRINTS` most recently used
fingerprints are deleted. A regenerated database (new generator code, numpy, pandas or DuckDB)
has a new fingerprint, so the counts of the old one leave the cache once it is that far behind,
while checkouts that share the cache folder and use different fingerprints keep theirs. A file
written by the first version of this cache (no fingerprint per count) is emptied once.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from pathlib import Path

logger = logging.getLogger(__name__)

KEEP_FINGERPRINTS = 8
"""Databases whose counts a cache file keeps: the most recently used ones."""

_VERSION = 2
"""``PRAGMA user_version`` of the file's layout (1: ``cards(key, rows)``, no fingerprints)."""
_BUSY_TIMEOUT_S = 30
"""How long a read waits while another process commits (it is blocked only for the commit)."""
_WRITE_WAIT_S = 0.25
"""How long a batch of puts waits for another process's write lock before it is left queued:
this cache holds the lock only to write one batch (milliseconds), so a longer hold is a writer
that keeps it (an older deepquery holding uncommitted puts), not worth waiting for."""
_SCHEMA = (
    ("CREATE TABLE IF NOT EXISTS cards (fingerprint TEXT NOT NULL, key TEXT NOT NULL, rows REAL, "
     "PRIMARY KEY (fingerprint, key)) WITHOUT ROWID"),
    "CREATE TABLE IF NOT EXISTS fingerprints (fingerprint TEXT PRIMARY KEY, used REAL NOT NULL)",
)


def _create(con: sqlite3.Connection) -> None:
    """Give ``con``'s database the current layout; an older layout's counts are dropped (they
    cannot be told apart by fingerprint). In one transaction: two processes may open an old
    file at once."""
    if con.execute("PRAGMA user_version").fetchone()[0] == _VERSION:
        return  # the usual case: no write lock (another process may hold it for minutes)
    # Waits for the write lock as briefly as a batch of puts does: another process creating
    # the tables holds it for milliseconds, one that keeps it (an older deepquery's batch on
    # an old-layout file) for minutes, and the caller then goes on in memory.
    con.execute(f"PRAGMA busy_timeout = {int(_WRITE_WAIT_S * 1000)}")
    try:
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise sqlite3.OperationalError("another process holds the write lock needed to "
                                           "create its tables") from None
        raise
    finally:
        con.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > _VERSION:
            raise sqlite3.OperationalError(f"written by a newer deepquery (layout {version})")
        if version < _VERSION:
            if version or con.execute("SELECT 1 FROM sqlite_master WHERE name = 'cards'").fetchone():
                logger.info("true-cardinality cache: an older layout, its counts are dropped")
            con.execute("DROP TABLE IF EXISTS cards")
            con.execute("DROP TABLE IF EXISTS fingerprints")
            for statement in _SCHEMA:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.rollback()
        raise


class CardinalityCache:
    """``get``/``put`` of counts; puts are queued and written every ``flush_every`` puts."""

    def __init__(self, path: str | Path, flush_every: int = 200,
                 keep: int = KEEP_FINGERPRINTS) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.path = Path(path)
        self.persistent = True
        """False once the file could not be used and counts are kept in memory only."""
        self._queue: dict[tuple[str, str], float] = {}
        """Puts not yet written: (fingerprint, key) -> rows."""
        self._flush_every = flush_every
        self._next_flush = flush_every
        self._keep = keep
        self._used: dict[str, None] = {}
        """Fingerprints this cache has seen, in order of first use."""
        self._unmarked: list[str] = []
        """Fingerprints used while another process held the write lock: marked at a flush."""
        try:
            self._con = self._open()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) or not self.path.is_file():
                self._con = self._in_memory(f"cannot open it ({e})")
            else:  # the file is not an SQLite database, or a damaged one
                self._con = self._replace_corrupt(e)

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise sqlite3.OperationalError(e.strerror or str(e)) from None
        con = sqlite3.connect(str(self.path), timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _create(con)
            con.execute("SELECT count(*) FROM cards").fetchone()
        except sqlite3.DatabaseError:
            con.close()
            raise
        return con

    def _replace_corrupt(self, error: Exception) -> sqlite3.Connection:
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            os.replace(self.path, aside)
            con = self._open()
        except (OSError, sqlite3.DatabaseError) as e:
            return self._in_memory(f"it is damaged ({error}) and cannot be replaced ({e})")
        logger.warning("true-cardinality cache %s was damaged (%s): moved to %s, starting a new one",
                       self.path, error, aside)
        return con

    def _in_memory(self, why: str) -> sqlite3.Connection:
        logger.warning("true-cardinality cache %s: %s; counts are kept in memory for this run",
                       self.path, why)
        self.persistent = False
        con = sqlite3.connect(":memory:", isolation_level=None)
        _create(con)
        return con

    def _fall_back(self, error: sqlite3.Error) -> None:
        """The file failed mid-run (disk full, made read-only, damaged): go on in memory, with
        the queued puts (the file's earlier counts are not carried over)."""
        try:
            self._con.close()
        except sqlite3.Error:
            pass
        self._con = self._in_memory(f"it failed ({error})")
        self._unmarked = list(self._used)
        self._write(wait_s=0.0)

    def _use(self, fingerprint: str) -> None:
        """Mark ``fingerprint`` used now, the first time this cache sees it, and prune the
        counts of fingerprints past the :data:`KEEP_FINGERPRINTS` most recently used. Without
        waiting: while another process holds the write lock this is left to a flush."""
        if fingerprint in self._used:
            return
        self._used[fingerprint] = None
        self._unmarked.append(fingerprint)
        if not self._queue:  # else the next flush marks it with the puts
            self._write(wait_s=0.0)

    def _write(self, wait_s: float) -> bool:
        """Write the queued puts and mark their fingerprints (and those used meanwhile) in one
        transaction, waiting at most ``wait_s`` for the write lock; False, everything left
        queued, when another process holds it. Other failures raise."""
        if not self._queue and not self._unmarked:
            return True
        con = self._con
        con.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR REPLACE INTO cards VALUES (?, ?, ?)",
                                [(fp, key, rows) for (fp, key), rows in self._queue.items()])
                # counts just written belong to a listed fingerprint even if another process
                # pruned it since this cache first used it (else they would never be pruned)
                marks = self._used if self._queue else dict.fromkeys(self._unmarked)
                now = time.time()
                for k, fingerprint in enumerate(marks):  # later use, later time: kept longer
                    self._mark(fingerprint, now + k * 1e-6)
                con.execute("COMMIT")
            except BaseException:
                con.rollback()
                raise
        except sqlite3.OperationalError as e:
            if not self.persistent or not ("locked" in str(e) or "busy" in str(e)):
                raise
            logger.debug("true-cardinality cache %s: another process holds the write lock; "
                         "%d counts stay queued", self.path, len(self._queue))
            return False
        finally:
            con.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")
        self._queue.clear()
        self._unmarked.clear()
        return True

    def _mark(self, fingerprint: str, used: float) -> None:
        con = self._con
        con.execute("INSERT OR REPLACE INTO fingerprints VALUES (?, ?)", (fingerprint, used))
        old = [r[0] for r in con.execute(
            "SELECT fingerprint FROM fingerprints WHERE fingerprint != ? "
            "ORDER BY used DESC LIMIT -1 OFFSET ?", (fingerprint, self._keep - 1))]
        for fp in old:
            con.execute("DELETE FROM cards WHERE fingerprint = ?", (fp,))
            con.execute("DELETE FROM fingerprints WHERE fingerprint = ?", (fp,))
        if old:
            logger.info("true-cardinality cache %s: dropped the counts of %d database(s) "
                        "not used lately", self.path, len(old))

    @staticmethod
    def key(fingerprint: str, sql: str) -> str:
        """Cache key of a canonical sub-query on one database."""
        return hashlib.sha256(f"{fingerprint}\n{sql}".encode()).hexdigest()

    def get(self, fingerprint: str, sql: str) -> float | None:
        """The cached count, or None."""
        key = self.key(fingerprint, sql)
        queued = self._queue.get((fingerprint, key))
        if queued is not None:
            return queued
        try:
            self._use(fingerprint)
            row = self._con.execute("SELECT rows FROM cards WHERE fingerprint = ? AND key = ?",
                                    (fingerprint, key)).fetchone()
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
            return self._queue.get((fingerprint, key))
        return None if row is None else row[0]

    def put(self, fingerprint: str, sql: str, rows: float) -> None:
        """Remember a count (queued; written with the batch it completes)."""
        self._queue[(fingerprint, self.key(fingerprint, sql))] = rows
        self._use(fingerprint)
        if len(self._queue) >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Write the queued puts now, unless another process holds the write lock: then they
        stay queued, tried again after as many puts again."""
        try:
            written = self._write(wait_s=_WRITE_WAIT_S)
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
            written = True
        self._next_flush = self._flush_every if written else 2 * max(len(self._queue), 1)

    def close(self) -> None:
        """Write what is queued (unless another process holds the write lock: then it is
        dropped, said in the log) and close."""
        self.flush()
        if self._queue:
            logger.info("true-cardinality cache %s: another process holds the write lock; "
                        "%d counts were not saved", self.path, len(self._queue))
        self._con.close()

    def __len__(self) -> int:
        """Counts in the cache, queued ones included."""
        stored = self._con.execute("SELECT count(*) FROM cards").fetchone()[0]
        return stored + sum(1 for fp, key in self._queue if not self._con.execute(
            "SELECT 1 FROM cards WHERE fingerprint = ? AND key = ?", (fp, key)).fetchone())
