"""A persistent cache of true cardinalities: one SQLite file, keyed by db fingerprint + SQL.

The cache only saves time: every count in it can be computed again. So a cache file that cannot
be used never stops planning: a corrupt file is moved aside (``<name>.corrupt``) and a new one
started; a file that cannot be opened or written (read-only folder, full disk) is replaced by an
in-memory cache for the rest of the run. Each case is logged once as a warning.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS cards (key TEXT PRIMARY KEY, rows REAL)"


class CardinalityCache:
    """``get``/``put`` of counts; writes are batched and committed every ``flush_every`` puts."""

    def __init__(self, path: str | Path, flush_every: int = 200) -> None:
        self.path = Path(path)
        self.persistent = True
        """False once the file could not be used and counts are kept in memory only."""
        self._pending = 0
        self._flush_every = flush_every
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
        con = sqlite3.connect(str(self.path), timeout=30)
        try:
            con.execute(_SCHEMA)
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
        con = sqlite3.connect(":memory:")
        con.execute(_SCHEMA)
        return con

    def _fall_back(self, error: sqlite3.Error) -> None:
        """The file failed mid-run (disk full, made read-only, damaged): go on in memory."""
        try:
            self._con.close()
        except sqlite3.Error:
            pass
        self._con = self._in_memory(f"it failed ({error})")
        self._pending = 0

    @staticmethod
    def key(fingerprint: str, sql: str) -> str:
        """Cache key of a canonical sub-query on one database."""
        return hashlib.sha256(f"{fingerprint}\n{sql}".encode()).hexdigest()

    def get(self, fingerprint: str, sql: str) -> float | None:
        """The cached count, or None."""
        try:
            row = self._con.execute("SELECT rows FROM cards WHERE key = ?",
                                    (self.key(fingerprint, sql),)).fetchone()
        except sqlite3.DatabaseError as e:
            if not self.persistent:
                raise
            self._fall_back(e)
            return None
        return None if row is None else row[0]

    def put(self, fingerprint: str, sql: str, rows: float) -> None:
        """Remember a count."""
        try:
            self._con.execute("INSERT OR REPLACE INTO cards VALUES (?, ?)",
                              (self.key(fingerprint, sql), rows))
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
        """Commit pending writes."""
        try:
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
