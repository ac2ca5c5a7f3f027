"""Fixtures for the runtime conformance suite: every test runs once per backend in BACKENDS."""
from __future__ import annotations

import glob
import os
from typing import Callable, Iterator

import pytest

import runtime

# Adding a backend is one line here: its name and what it can do. Tests that need a capability
# call ``caps("...")`` and skip elsewhere. RUNTIME_TEST_BACKENDS picks the backends to run
# (default "local,inline"; CI adds "ray" where the extra is installed: each Ray start is seconds).
CAPABILITIES = {
    # worker processes, concurrency, /dev/shm objects, clean-exit checks, prefixed output,
    # timeline events, a clear error when a task returns the wrong number of values, worker
    # processes recognisable among the driver's children, a bounded store that evicts task
    # outputs and rebuilds them from lineage (memory_summary counts it), a pool of bounded size
    # (RUNTIME_MAX_EXTRA_WORKERS) that deep nesting cannot deadlock
    "local": {"processes", "parallel", "async", "shm", "lifecycle", "prefix", "timeline",
              "checked_returns", "worker_pids", "lineage", "bounded_pool"},
    # everything synchronously in the calling process
    "inline": {"timeline", "checked_returns", "bounded_pool"},
    # Ray itself (pip install .[ray])
    "ray": {"processes", "parallel", "async"},
}
BACKENDS = {b: CAPABILITIES[b] for b in
            os.environ.get("RUNTIME_TEST_BACKENDS", "local,inline").split(",") if b}


def need(backend: str, capability: str) -> None:
    """Skip the calling test unless ``backend`` has ``capability``."""
    if backend == "ray":
        pytest.importorskip("ray")
    if capability not in BACKENDS[backend]:
        pytest.skip(f"backend {backend!r} has no {capability!r}")


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def started(backend: str, **init_kwargs: object) -> Iterator[object]:
    """Yield ``runtime`` initialised on ``backend`` with 2 CPUs (and ``init_kwargs``); shut it
    down afterwards. A runtime left running by an earlier test is shut down first."""
    if backend == "ray":
        pytest.importorskip("ray")
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=2, backend=backend, **init_kwargs)  # type: ignore[arg-type]
    try:
        yield runtime
    finally:
        runtime.shutdown()


@pytest.fixture(scope="module")
def rt(backend: str) -> Iterator[object]:
    """An initialised runtime with 2 CPUs, shared by the tests of one module."""
    yield from started(backend)


@pytest.fixture
def caps(backend: str) -> Callable[[str], None]:
    """``caps("processes")`` skips the test unless the backend has that capability."""
    return lambda capability: need(backend, capability)


@pytest.fixture
def fresh(backend: str) -> Iterator[object]:
    """A runtime of its own for one test (shut down afterwards)."""
    yield from started(backend)


@pytest.fixture
def stale_ref(backend: str) -> Iterator[object]:
    """A ref of a runtime already shut down, with a new runtime (1 CPU) running for the test
    (shut down afterwards). Local backend only: what such a ref does on Ray is Ray's matter."""
    if backend == "ray":
        pytest.skip("Ray's object ids are its own")
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=1, backend=backend)
    stale = runtime.put(1)
    runtime.shutdown()
    runtime.init(num_cpus=1, backend=backend)
    try:
        yield stale
    finally:
        runtime.shutdown()


def _shm_files() -> list[str]:
    return [p for p in glob.glob(f"/dev/shm/rt-{os.getpid()}-*/*") if os.path.isfile(p)]


@pytest.fixture
def shm_files(backend: str) -> Callable[[], list[str]]:
    """A function listing the backend's shared-memory files of this driver."""
    need(backend, "shm")
    return _shm_files


STORE_CAP = 8 * 2**20


@pytest.fixture
def small_store(backend: str) -> Iterator[object]:
    """A runtime of its own whose object store holds ``STORE_CAP`` bytes of shared memory, on
    backends that evict and rebuild task outputs (``lineage``)."""
    need(backend, "lineage")
    yield from started(backend, object_store_memory=STORE_CAP)
