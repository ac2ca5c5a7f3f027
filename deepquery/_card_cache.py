"""A persistent cache of true cardinalities: one SQLite file, keyed by db fingerprint + SQL.

The cache only saves time: every count in it can be computed again. So a cache file that cannot
be used never stops planning: a corrupt file is moved aside (``<name>.corrupt``) and a new one
started; a file that cannot be opened or written (read-only folder, full disk) is replaced by an
in-memory cache for the rest of the run. Each case is logged once as a warning.

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
"""How long a write waits for another process's write lock before the cache goes in memory."""
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
    con.execute("BEGIN IMMEDIATE")
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
    """``get``/``put`` of counts; writes are batched and committed every ``flush_every`` puts."""

    def __init__(self, path: str | Path, flush_every: int = 200,
                 keep: int = KEEP_FINGERPRINTS) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.path = Path(path)
        self.persistent = True
        """False once the file could not be used and counts are kept in memory only."""
        self._pending = 0
        self._flush_every = flush_every
        self._keep = keep
        self._used: set[str] = set()
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
            con.isolation_level = ""  # puts batched in implicit transactions (see flush)
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
        con.isolation_level = ""
        return con

    def _fall_back(self, error: sqlite3.Error) -> None:
        """The file failed mid-run (disk full, made read-only, damaged): go on in memory."""
        try:
            self._con.close()
        except sqlite3.Error:
            pass
        self._con = self._in_memory(f"it failed ({error})")
        self._pending = 0
        self._used.clear()
        self._unmarked.clear()

    def _use(self, fingerprint: str) -> None:
        """Mark ``fingerprint`` used now, the first time this cache sees it, and prune the
        counts of fingerprints past the :data:`KEEP_FINGERPRINTS` most recently used. Without
        waiting for the file: while another process holds its write lock (a batch of puts not
        yet committed, which may take minutes) this is left to a flush, and gets go on."""
        if fingerprint in self._used:
            return
        self._used.add(fingerprint)
        self._unmarked.append(fingerprint)
        self._mark_unmarked(wait=False)

    def _mark_unmarked(self, wait: bool) -> None:
        if not self._unmarked:
            return
        con = self._con
        if not wait:
            con.execute("PRAGMA busy_timeout = 0")
        try:
            for fingerprint in self._unmarked:
                self._mark(fingerprint)
            self._unmarked.clear()
        except sqlite3.OperationalError as e:
            if wait or self._pending or "locked" not in str(e):
                raise
            con.rollback()  # nothing of this cache's was pending: only the marks go
            logger.debug("true-cardinality cache %s: another process is writing; fingerprints "
                         "are marked used at the next flush", self.path)
        finally:
            if not wait:
                con.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")

    def _mark(self, fingerprint: str) -> None:
        con = self._con
        con.execute("INSERT OR REPLACE INTO fingerprints VALUES (?, ?)", (fingerprint, time.time()))
        old = [r[0] for r in con.execute(
            "SELECT fingerprint FROM fingerprints WHERE fingerprint != ? "
            "ORDER BY used DESC LIMIT -1 OFFSET ?", (fingerprint, self._keep - 1))]
        for fp in old:
            con.execute("DELETE FROM cards WHERE fingerprint = ?", (fp,))
            con.execute("DELETE FROM fingerprints WHERE fingerprint = ?", (fp,))
        if old:
            logger.info("true-cardinality cache %s: dropped the counts of %d database(s) "
                        "not used lately", self.path, len(old))
        con.commit()

    @staticmethod
    def key(fingerprint: str, sql: str) -> str:
        """Cache key of a canonical sub-query on one database."""
        return hashlib.sha256(f"{fingerprint}\n{sql}".encode()).hexdigest()

    def get(self, fingerprint: str, sql: str) -> float | None:
        """The cached count, or None."""
        try:
            self._use(fingerprint)
            row = self._con.execute("SELECT rows FROM cards WHERE fingerprint = ? AND key = ?",
                                    (fingerprint, self.key(fingerprint, sql))).fetchone()
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
            return None
        return None if row is None else row[0]

    def put(self, fingerprint: str, sql: str, rows: float) -> None:
        """Remember a count."""
        try:
            self._use(fingerprint)
            self._con.execute("INSERT OR REPLACE INTO cards VALUES (?, ?, ?)",
                              (fingerprint, self.key(fingerprint, sql), rows))
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
            self.put(fingerprint, sql, rows)
            return
        self._pending += 1
        if self._pending >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Commit pending writes, with the fingerprints they belong to marked used now (another
        process may have pruned one since this cache first used it: its new counts would then
        belong to no fingerprint listed, and never be pruned)."""
        try:
            # with puts pending this cache holds the write lock; without, a read-only run does
            # not wait on another process's batch just to mark its fingerprints
            self._mark_unmarked(wait=bool(self._pending))
            if self._pending:
                now = time.time()
                self._con.executemany("INSERT OR REPLACE INTO fingerprints VALUES (?, ?)",
                                      [(fp, now) for fp in self._used])
            self._con.commit()
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
        self._pending = 0

    def close(self) -> None:
        """Commit and close."""
        self.flush()
        self._con.close()

    def __len__(self) -> int:
        return self._con.execute("SELECT count(*) FROM cards").fetchone()[0]
