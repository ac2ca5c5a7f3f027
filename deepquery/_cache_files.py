"""The files deepquery keeps in its cache folder: which ones this code can use, and removing the
others without pulling a file from under a process that has it open (``data list``, ``data clean``).

Only names deepquery writes are looked at; any other file in the folder is never listed nor
touched, and neither are links or folders:

- ``imdb_s<scale>_seed<seed>[_nowit]_<fingerprint>.duckdb``, a synthetic IMDb: ``current`` when it
  is the file of the settings given, ``usable`` when its name is the one this code gives its
  scale, seed and witnesses (another ``--scale`` or ``--seed`` uses it), else ``stale``: another
  generator source or numpy, pandas or DuckDB version made it and this code never opens it;
- ``imdb_s<scale>_seed<seed>[_nowit]_v<N>.duckdb``, named before names held fingerprints: ``stale``;
- ``<database>.wal``, DuckDB's write-ahead log: its database's status (``stale`` without one);
- ``.<database>.<host>.<pid>.tmp[.wal]``, a build in progress: ``building``, or ``stale`` once
  its process (on this host) is gone;
- ``true_cards.sqlite`` (and SQLite's ``-journal``/``-wal``), the true-cardinality cache: ``cache``
  (it prunes itself); ``true_cards.sqlite.corrupt``, a damaged one moved aside: ``stale``.

A stale file is removed only while this process holds an exclusive lock on it: DuckDB locks every
database it opens, read-only too, so a file another process has open is kept (and said so), and no
process can start using it between the check and the removal; and only while its name still names
the locked file: a file a build put at that name meanwhile is kept.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sysml_datasets.imdb import ImdbConfig, build_owner_gone, database_path

CARD_CACHE = "true_cards.sqlite"
"""The true-cardinality cache's file name in the cache folder."""

_DATABASE = re.compile(r"imdb_s(?P<scale>[0-9.e+-]+)_seed(?P<seed>\d+)(?P<nowit>_nowit)?"
                       r"_(?:(?P<fp>[0-9a-f]{16})|v(?P<version>\d+))\.duckdb")
_TEMP = re.compile(r"\.(?P<db>imdb_.+\.duckdb)\.(?P<host>.+)\.(?P<pid>\d+)\.tmp(?:\.wal)?")


@dataclass(frozen=True)
class CacheFile:
    """One file of the cache folder that deepquery wrote."""

    path: Path
    size: int
    """Bytes."""
    status: str
    """``current``, ``usable``, ``building``, ``cache`` or ``stale`` (removed by ``data clean``)."""
    why: str
    """What the file is, in a few words."""
    identity: tuple[int, int] | None = field(default=None, compare=False)
    """``(st_dev, st_ino)`` when listed: :func:`remove_unless_held` given it keeps a file that
    another has replaced since."""


def _database_status(name: str, current: Path | None) -> tuple[str, str] | None:
    m = _DATABASE.fullmatch(name)
    if m is None:
        return None
    if m["version"] is not None:
        return "stale", "IMDb named the old way (_v<N>): never opened"
    if current is not None and name == current.name:
        return "current", "IMDb of the settings given"
    try:
        config = ImdbConfig(scale=float(m["scale"]), seed=int(m["seed"]), witnesses=not m["nowit"])
    except ValueError:
        return "stale", "IMDb of a scale this code does not build"
    if database_path(config, ".").name == name:
        return "usable", "IMDb of other settings (scale, seed, witnesses)"
    return "stale", ("IMDb of another fingerprint (generator code, numpy, pandas or DuckDB "
                     "version): never opened")


def _status(path: Path, current: Path | None) -> tuple[str, str] | None:
    name = path.name
    if name in (CARD_CACHE, f"{CARD_CACHE}-journal", f"{CARD_CACHE}-wal", f"{CARD_CACHE}-shm"):
        return "cache", "true-cardinality cache (prunes itself)"
    if name == f"{CARD_CACHE}.corrupt":
        return "stale", "damaged true-cardinality cache, moved aside"
    if name.endswith(".duckdb.wal"):
        status = _database_status(name[:-len(".wal")], current)
        if status is None:
            return None
        if not path.with_name(name[:-len(".wal")]).is_file():
            return "stale", "write-ahead log of a database that is gone"
        return status[0], "write-ahead log of an " + status[1]
    m = _TEMP.fullmatch(name)
    if m is not None:
        if _DATABASE.fullmatch(m["db"]) is None:
            return None
        if build_owner_gone(f"{m['host']}.{m['pid']}"):
            return "stale", "temporary file of a build whose process is gone"
        return "building", "temporary file of a build in progress (or on another host)"
    return _database_status(name, current)


def scan(folder: Path, current: Path | None = None) -> list[CacheFile]:
    """deepquery's files in ``folder`` (see the module docstring), by name; ``current`` is the
    database path of the settings given, if any."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        status = _status(path, current)
        if status is not None:
            try:
                st = path.stat()
            except OSError:
                continue  # removed meanwhile
            out.append(CacheFile(path, st.st_size, *status, identity=(st.st_dev, st.st_ino)))
    return out


def remove_unless_held(path: Path, dry_run: bool = False,
                       listed: tuple[int, int] | None = None) -> str | None:
    """Remove ``path`` (with ``<path>.wal`` when it is a database) unless another process holds
    it open; None when removed (or gone already), else why it was kept. The exclusive lock is
    held through the removal. ``dry_run``: only the check. ``listed``: the file's
    :attr:`CacheFile.identity` when :func:`scan` found it stale; a file of that name that is
    not that one any more is kept.

    The lock is on the file opened, the removal by name: a build that ``os.replace``s a new
    database onto the name in between would have it removed. So the name must still be the
    locked file (same device and inode) when the log goes and again when the database goes;
    else the file is kept. (Only a replace in the microseconds between that check and the
    unlink can still slip through: POSIX removes by name alone.)"""
    try:
        import fcntl
    except ImportError:  # Windows: a file another process has open cannot be removed
        if dry_run:
            return None
        try:
            path.unlink(missing_ok=True)
        except PermissionError:
            return "another process has it open, or it cannot be removed"
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as e:  # without write access the lock cannot be taken, nor the check made
        return f"cannot open it to check it is unused ({e.strerror or e})"
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return "another process has it open"
        if not _still_named(fd, path) or (listed is not None and _identity(fd) != listed):
            return _REPLACED
        if dry_run:
            return None
        if path.name.endswith(".duckdb"):
            # The database is ours and locked: no process uses its log.
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
            if not _still_named(fd, path):
                return _REPLACED
        path.unlink(missing_ok=True)
        return None
    finally:
        os.close(fd)


_REPLACED = "replaced meanwhile by another file of that name"


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` names the file open as ``fd`` (True when the name is gone: nothing
    there to keep)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return True
    return (named.st_dev, named.st_ino) == _identity(fd)


def _identity(fd: int) -> tuple[int, int]:
    held = os.fstat(fd)
    return held.st_dev, held.st_ino
