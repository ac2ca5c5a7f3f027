"""A synthetic IMDb for the Join Order Benchmark, generated into DuckDB.

``build_database``, ``ensure_database`` and ``generate_tables`` are loaded on first use: they
need pandas, which takes longer to import than planning a query takes, and most callers only
find and check a cached database (:mod:`.config`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ImdbConfig as ImdbConfig
from .config import build_owner_gone as build_owner_gone
from .config import check_seed as check_seed
from .config import connection_problem as connection_problem
from .config import database_path as database_path
from .config import database_problem as database_problem
from .config import default_cache_dir as default_cache_dir
from .config import held_by_another_process as held_by_another_process
from .config import stored_fingerprint as stored_fingerprint
from .schema import COLUMNS as COLUMNS
from .schema import FOREIGN_KEYS as FOREIGN_KEYS
from .schema import TABLES as TABLES

if TYPE_CHECKING:
    from .generator import build_database as build_database
    from .generator import ensure_database as ensure_database
    from .generator import generate_tables as generate_tables

_FROM_GENERATOR = ("build_database", "ensure_database", "generate_tables")


def __getattr__(name: str):
    if name in _FROM_GENERATOR:
        from . import generator
        return getattr(generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
