"""A synthetic IMDb for the Join Order Benchmark, generated into DuckDB."""
from .generator import ImdbConfig as ImdbConfig
from .generator import build_database as build_database
from .generator import database_path as database_path
from .generator import database_problem as database_problem
from .generator import default_cache_dir as default_cache_dir
from .generator import ensure_database as ensure_database
from .generator import generate_tables as generate_tables
from .schema import COLUMNS as COLUMNS
from .schema import FOREIGN_KEYS as FOREIGN_KEYS
from .schema import TABLES as TABLES
