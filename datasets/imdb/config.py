"""What a synthetic IMDb is (:class:`ImdbConfig`) and where its cached DuckDB file lives.

Kept apart from :mod:`.generator` so that finding and checking a cached database (every
``python -m deepquery plan``) does not import pandas, which only building needs.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import duckdb
import numpy as np

from . import _values as V

GENERATOR_VERSION = 1
"""Part of the fingerprint and the metadata; the fingerprint does not rely on it being bumped."""

MIN_SCALE = 0.0005
"""Smallest scale generated: below ~0.0003 the keyword table has fewer rows than the JOB
keywords that must be planted in it (the build failed with a numpy broadcast error)."""


MAX_SEED = 2**64 - 1
"""Largest seed: numpy takes any size, but the seed names the cached database file, and one of
~250 digits made a name too long to create (the same 64 bits as rllib_lite's ``--seed``)."""


def check_seed(seed: int) -> None:
    """ValueError unless ``seed`` is in [0, :data:`MAX_SEED`]; a huge one is named by its digits."""
    if not 0 <= seed <= MAX_SEED:
        shown = seed if len(str(seed)) <= 40 else f"a {len(str(abs(seed)))}-digit number"
        raise ValueError(f"seed must be in [0, 2**64 - 1], got {shown}")


@dataclass(frozen=True)
class ImdbConfig:
    """How to generate the synthetic IMDb."""

    scale: float = 0.01
    """Fraction of the real row counts (lookup tables are always whole), in [MIN_SCALE, 1]."""
    seed: int = 0
    """Seed of every random draw: the same (scale, seed) gives the same database."""
    witnesses: bool = True
    """Plant one satisfying row set per JOB query (keeps its filters and joins satisfiable)."""

    def __post_init__(self) -> None:
        if not (MIN_SCALE <= self.scale <= 1.0):
            raise ValueError(f"scale must be in [{MIN_SCALE:g}, 1], got {self.scale}")
        check_seed(self.seed)

    def rows(self, table: str) -> int:
        """Row count of a big table at this scale (at least 10)."""
        return max(10, int(round(V.REAL_ROWS[table] * self.scale)))

    @property
    def fingerprint(self) -> str:
        """Identifies the database contents: the generator's source (:func:`source_hash`), the
        versions of numpy (which draws every value), pandas (which holds the tables) and DuckDB
        (which stores them), then scale, seed and witnesses. It names the cached file, so
        checkouts with other generator code sharing one cache folder each keep their own; a
        database whose fingerprint differs is rebuilt, and the true-cardinality cache, keyed by
        it, never serves the counts of another generator's data."""
        key = (f"imdb-v{GENERATOR_VERSION}-src{source_hash()}-{library_versions()}"
               f"-s{self.scale!r}-seed{self.seed}-w{int(self.witnesses)}")
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def library_versions() -> str:
    """``numpy<v>-pandas<v>-duckdb<v>``: pandas's version is read from its installed metadata,
    not by importing it (finding a cached database must not import pandas)."""
    try:
        pandas = metadata.version("pandas")
    except metadata.PackageNotFoundError:
        pandas = "none"
    return f"numpy{np.__version__}-pandas{pandas}-duckdb{duckdb.__version__}"


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 of this package's files (``*.py`` and the JOB specs ``*.json``, by name): any
    change to the generator, its value pools, witnesses or schema changes it, and nothing else
    (not paths, not times, not CRLF line ends that git may write on checkout), so it holds
    across runs, checkouts and machines."""
    h = hashlib.sha256()
    files = sorted((f for f in resources.files(__package__).iterdir()
                    if f.is_file() and f.name.endswith((".py", ".json"))), key=lambda f: f.name)
    for f in files:
        data = f.read_bytes().replace(b"\r\n", b"\n")
        h.update(f"{f.name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$SYSML_CACHE`` or ``~/.cache/sysml``."""
    return Path(os.environ.get("SYSML_CACHE") or Path.home() / ".cache" / "sysml")


def database_path(config: ImdbConfig = ImdbConfig(), cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the database of ``config`` lives in the cache folder:
    ``imdb_s<scale>_seed<seed>[_nowit]_<fingerprint>.duckdb``. Files of other fingerprints
    (another generator, numpy, pandas or DuckDB) are left alone: another checkout may use them."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    # Six significant digits name the usual scales (0.01 -> 0.01); a scale they would round
    # (0.01000001) gets its full repr, so two configs never share one file.
    scale = f"{config.scale:g}" if float(f"{config.scale:g}") == config.scale else repr(config.scale)
    tag = f"imdb_s{scale}_seed{config.seed}{'' if config.witnesses else '_nowit'}"
    return base / f"{tag}_{config.fingerprint}.duckdb"


def held_by_another_process(error: duckdb.Error) -> bool:
    """Whether DuckDB could not open a file because another process holds it open for writing:
    that says nothing about the file, which must then be neither judged nor replaced."""
    return "Could not set lock on file" in str(error)


def database_problem(path: str | os.PathLike, config: ImdbConfig) -> str | None:
    """Why the file at ``path`` is not a finished database of ``config``, or None when it is.

    A build writes the metadata last and renames a finished file into place, so a file that
    opens and carries ``config``'s fingerprint is complete; anything else (a truncated or
    overwritten file, another generator version, scale or seed) must not be used for it.

    A file another process holds open for writing says nothing about the file: DuckDB's error
    is raised (rebuilding would replace the file under that process)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as e:
        if held_by_another_process(e):
            raise
        return f"it cannot be opened ({str(e).splitlines()[0]})"
    try:
        return connection_problem(con, config)
    finally:
        con.close()


_MISSING = object()  # stored_fingerprint: no _sysml_meta table or no fingerprint row


def stored_fingerprint(con: duckdb.DuckDBPyConnection) -> object:
    """The generator fingerprint stored in ``con``'s ``_sysml_meta``: the string, ``None`` when
    the row is there but is not a JSON string (another tool's table, damage), or ``_MISSING``."""
    try:
        row = con.execute("SELECT value FROM _sysml_meta WHERE key = 'fingerprint'").fetchone()
    except duckdb.Error:
        return _MISSING
    if row is None:
        return _MISSING
    try:
        value = json.loads(row[0]) if isinstance(row[0], str) else None
    except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
        return None
    return value if isinstance(value, str) else None


def connection_problem(con: duckdb.DuckDBPyConnection, config: ImdbConfig) -> str | None:
    """:func:`database_problem` of a database already open on ``con`` (left open)."""
    stored = stored_fingerprint(con)
    if stored is _MISSING:
        return "it has no generator metadata"
    if stored is None:
        return "its generator metadata is unreadable"
    if stored != config.fingerprint:
        return ("it was generated with other settings (scale, seed, witnesses, or another "
                "generator source, numpy, pandas or DuckDB)")
    return None


def build_owner_gone(owner: str) -> bool:
    """Whether the build that named a temporary file ``<host>.<pid>`` (its owner, as
    ``generator._temp_owner`` writes it) ran on this machine and its process is gone. Another
    host's pids mean nothing here (a cache folder shared over NFS), and on Windows
    ``os.kill(pid, 0)`` would terminate the process, so both count as not gone."""
    host, _, pid = owner.rpartition(".")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        return False
    return False
