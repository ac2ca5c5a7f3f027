"""Faults: task retries when a worker dies, pool healing, and retry of application errors."""
from __future__ import annotations

import os
import signal

import pytest


def _die_first_times(marker_dir: str, times: int) -> int:
    """Kill this worker process the first ``times`` calls (counted in files), then return."""
    n = len(os.listdir(marker_dir))
    if n < times:
        open(os.path.join(marker_dir, str(n)), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def test_task_is_retried_on_a_fresh_worker_after_a_kill(rt, tmp_path, caps):
    caps("processes")
    f = rt.remote(max_retries=2)(_die_first_times)
    assert rt.get(f.remote(str(tmp_path), 2), timeout=60) == 2


def test_worker_crashed_error_past_max_retries(rt, tmp_path, caps):
    caps("processes")
    f = rt.remote(max_retries=1)(_die_first_times)
    with pytest.raises(rt.WorkerCrashedError):
        rt.get(f.remote(str(tmp_path), 5), timeout=60)


def test_pool_heals_after_worker_deaths(rt, tmp_path, caps):
    caps("processes")
    import time

    f = rt.remote(max_retries=0)(_die_first_times)
    for i in range(3):
        d = tmp_path / str(i)
        d.mkdir()
        with pytest.raises(rt.WorkerCrashedError):
            rt.get(f.remote(str(d), 1), timeout=60)

    @rt.remote
    def pid():
        time.sleep(0.3)
        return os.getpid()

    assert len(set(rt.get([pid.remote() for _ in range(2)], timeout=60))) == 2


def test_application_errors_are_retried_only_with_retry_exceptions(rt, tmp_path):
    def flaky(d):
        n = len(os.listdir(d))
        open(os.path.join(d, str(n)), "w").close()
        if n < 2:
            raise OSError(f"attempt {n}")
        return n

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with pytest.raises(OSError, match="attempt 0"):
        rt.get(rt.remote(max_retries=3)(flaky).remote(str(a)))
    f = rt.remote(max_retries=3, retry_exceptions=True)(flaky)
    assert rt.get(f.remote(str(b))) == 2
