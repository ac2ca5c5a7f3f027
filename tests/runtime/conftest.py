"""Fixtures for the runtime conformance suite: every test runs once per backend in BACKENDS."""
from __future__ import annotations

import glob
import os
from typing import Callable, Iterator

import pytest

import runtime

# Adding a backend is one line here (and its entry in backend_supports below).
BACKENDS = ["local"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def rt(backend: str) -> Iterator[object]:
    """An initialised runtime with 2 CPUs, shared by the tests of one module."""
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=2, backend=backend)
    yield runtime
    runtime.shutdown()


@pytest.fixture
def fresh(backend: str) -> Iterator[object]:
    """A runtime of its own for one test (shut down afterwards)."""
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=2, backend=backend)
    yield runtime
    runtime.shutdown()


def _shm_files() -> list[str]:
    return [p for p in glob.glob(f"/dev/shm/rt-{os.getpid()}-*/*") if os.path.isfile(p)]


@pytest.fixture
def shm_files(backend: str) -> Callable[[], list[str]]:
    """A function listing the backend's shared-memory files of this driver."""
    if backend != "local":
        pytest.skip(f"shared-memory files are not observable on backend {backend!r}")
    return _shm_files
