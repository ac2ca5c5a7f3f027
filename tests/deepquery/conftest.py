"""Fixtures: one small synthetic IMDb (scale 0.002) per test session, in a temporary cache."""
from __future__ import annotations

from pathlib import Path

import pytest

from sysml_datasets.imdb import ImdbConfig, build_database, database_path

TEST_SCALE = 0.002


@pytest.fixture(scope="session")
def imdb_cache(tmp_path_factory) -> Path:
    """A cache folder holding the test database at its default path for ``TEST_SCALE``."""
    cache = tmp_path_factory.mktemp("sysml_cache")
    build_database(database_path(ImdbConfig(scale=TEST_SCALE), cache), ImdbConfig(scale=TEST_SCALE))
    return cache


@pytest.fixture(scope="session")
def imdb_db(imdb_cache: Path) -> Path:
    """Path of the session's test database."""
    return database_path(ImdbConfig(scale=TEST_SCALE), imdb_cache)


@pytest.fixture(scope="session")
def job_dir(shared_dir: Path) -> Path:
    """The JOB queries in ../shared (skips when absent)."""
    d = shared_dir / "job"
    if not d.is_dir():
        pytest.skip("shared/job not found")
    return d


@pytest.fixture(scope="session")
def test_scale() -> float:
    """Scale of the session's test database."""
    return TEST_SCALE
