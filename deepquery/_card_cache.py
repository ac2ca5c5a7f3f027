"""A persistent cache of true cardinalities: one SQLite file, keyed by db fingerprint + SQL."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


class CardinalityCache:
    """``get``/``put`` of counts; writes are batched and committed every ``flush_every`` puts."""

    def __init__(self, path: str | Path, flush_every: int = 200) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(self.path), timeout=30)
        self._con.execute("CREATE TABLE IF NOT EXISTS cards (key TEXT PRIMARY KEY, rows REAL)")
        self._pending = 0
        self._flush_every = flush_every

    @staticmethod
    def key(fingerprint: str, sql: str) -> str:
        """Cache key of a canonical sub-query on one database."""
        return hashlib.sha256(f"{fingerprint}\n{sql}".encode()).hexdigest()

    def get(self, fingerprint: str, sql: str) -> float | None:
        """The cached count, or None."""
        row = self._con.execute("SELECT rows FROM cards WHERE key = ?",
                                (self.key(fingerprint, sql),)).fetchone()
        return None if row is None else row[0]

    def put(self, fingerprint: str, sql: str, rows: float) -> None:
        """Remember a count."""
        self._con.execute("INSERT OR REPLACE INTO cards VALUES (?, ?)",
                          (self.key(fingerprint, sql), rows))
        self._pending += 1
        if self._pending >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Commit pending writes."""
        self._con.commit()
        self._pending = 0

    def close(self) -> None:
        """Commit and close."""
        self.flush()
        self._con.close()

    def __len__(self) -> int:
        return self._con.execute("SELECT count(*) FROM cards").fetchone()[0]
