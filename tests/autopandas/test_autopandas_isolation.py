"""The forked search worker: hard memory cap, killed past its deadline, results and errors relayed."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import autopandas.__main__ as cli
import autopandas.isolation as isolation
from autopandas.isolation import WorkerDied, WorkerTimeout, available, run_isolated
from autopandas.sandbox import Sandbox

pytestmark = pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")


# A C-level loop no Python signal handler can interrupt: the regex engine backtracks for ages.
def _c_loop() -> object:
    return re.match(r"(a+)+$", "a" * 60 + "b")


def test_value_and_exceptions_come_back():
    assert run_isolated(lambda: {"x": [1, 2]}, time.monotonic() + 30) == {"x": [1, 2]}
    with pytest.raises(ValueError, match="bad"):
        run_isolated(lambda: (_ for _ in ()).throw(ValueError("bad")), time.monotonic() + 30)
    with pytest.raises(RuntimeError, match="unpicklable"):
        run_isolated(lambda: (lambda: 1), time.monotonic() + 30)


class _TwoArgumentError(Exception):
    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} at {where}")


def _raise_two_argument_error() -> None:
    raise _TwoArgumentError("bad", "step 2")


def test_an_exception_that_pickles_but_does_not_load_comes_back_as_a_runtime_error_naming_it():
    """Pickling keeps only ``args`` (one message) and loading calls ``__init__`` with it: the
    parent raised a TypeError about ``__init__``'s arguments instead of the worker's error."""
    with pytest.raises(RuntimeError, match="_TwoArgumentError.*bad at step 2"):
        run_isolated(_raise_two_argument_error, time.monotonic() + 30)


@pytest.mark.timeout(60)
def test_a_c_loop_past_the_deadline_is_killed():
    """The sandbox's alarm cannot stop this loop; the worker is killed at the deadline."""
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout):
        run_isolated(_c_loop, t0 + 0.5)
    assert time.monotonic() - t0 < 10


def test_an_allocation_past_the_cap_fails_inside_the_call_and_the_worker_goes_on():
    def work():
        with Sandbox() as box:
            big = box.run(np.empty, 4 << 30, np.uint8)     # 4 GiB: address space only, never touched
            small = box.run(np.ones, 1000)
        return big.ok, big.error, small.ok
    ok, error, after = run_isolated(work, time.monotonic() + 30, headroom=512 << 20)
    assert not ok and error.startswith("MemoryError") and after


def test_a_worker_that_dies_is_reported():
    with pytest.raises(WorkerDied, match="signal 9, SIGKILL"):
        run_isolated(lambda: os.kill(os.getpid(), signal.SIGKILL), time.monotonic() + 30)


@pytest.mark.timeout(60)
def test_cli_stops_a_search_stuck_in_a_c_loop_at_the_time_limit(capsys, monkeypatch, tmp_path):
    """--timeout overshot without bound when one candidate call ran a long C loop."""
    monkeypatch.setattr(cli, "synthesize", lambda *a, **k: _c_loop())
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autopandas")
    t0 = time.monotonic()
    code = cli.main(["synth", os.path.join(fix, "temps.csv"), os.path.join(fix, "temps_pivot.csv"),
                     "--timeout", "0.5", "--json"])
    assert code == 1 and time.monotonic() - t0 < 10
    out = capsys.readouterr().out
    assert '"outcome": "time limit"' in out and '"solved": false' in out and "stopped inside" in out


def test_cli_reports_a_worker_that_crashed_in_one_line_naming_the_signal(capsys, monkeypatch):
    """A segfault in C code kills only the worker: one line naming the signal, exit 1, no JSON
    (the same as any internal error)."""
    import ctypes
    import faulthandler

    def crash(*args, **kwargs):
        faulthandler.disable()          # pytest's dump of the worker's stack is only noise here
        ctypes.string_at(0)
    monkeypatch.setattr(cli, "synthesize", crash)
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autopandas")
    code = cli.main(["synth", os.path.join(fix, "temps.csv"), os.path.join(fix, "temps_pivot.csv"),
                     "--timeout", "5", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("autopandas: ") and "SIGSEGV" in err, err


def test_a_hard_address_space_limit_below_the_cap_is_kept():
    """setrlimit refuses a soft limit above the hard one: every search worker died of it."""
    def under_a_hard_limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (64 << 40, 64 << 40))   # a hard limit of 64 TiB
        return run_isolated(lambda: resource.getrlimit(resource.RLIMIT_AS), time.monotonic() + 30,
                            headroom=1 << 50)
    soft, hard = run_isolated(under_a_hard_limit, time.monotonic() + 60, headroom=1 << 50)
    assert soft == hard == 64 << 40


@pytest.mark.timeout(60)
def test_a_killed_parent_takes_its_worker_with_it(tmp_path):
    """A command killed while its worker ran a C loop left the worker running for ages."""
    pidfile = tmp_path / "worker.pid"
    script = (
        "import os, re, time\n"
        "from autopandas.isolation import run_isolated\n"
        "def work():\n"
        f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    return re.match(r'(a+)+$', 'a' * 60 + 'b')\n"
        "run_isolated(work, time.monotonic() + 600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        worker = _wait_for_pid(pidfile)
    finally:
        parent.kill()
        parent.wait()
    assert _exits_soon(worker)


_STUCK_CLI = (
    "import os, re, sys\n"
    "import autopandas.__main__ as cli\n"
    "def stuck(*args, **kwargs):\n"
    "    open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "    return re.match(r'(a+)+$', 'a' * 60 + 'b')\n"
    "cli.synthesize = stuck\n"
    "sys.exit(cli.main(['synth', sys.argv[2], sys.argv[3], '--timeout', '600', '--json']))\n")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["SIGTERM to the command", "Ctrl-C (SIGINT to its process group)"])
def test_a_stopped_cli_leaves_no_worker_behind(tmp_path, how):
    """The real command, its worker stuck in a C loop, stopped from outside: the parent kills
    it and says so in one line, exit 1 (SIGTERM as Ctrl-C; a SIGTERM'd parent that died at once,
    -15, took the worker with it through PR_SET_PDEATHSIG)."""
    pidfile = tmp_path / "worker.pid"
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autopandas")
    parent = subprocess.Popen([sys.executable, "-c", _STUCK_CLI, str(pidfile),
                               os.path.join(fix, "temps.csv"), os.path.join(fix, "temps_pivot.csv")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        worker = _wait_for_pid(pidfile)
        if how.startswith("SIGTERM"):
            parent.send_signal(signal.SIGTERM)
        else:
            os.killpg(parent.pid, signal.SIGINT)
        out, err = parent.communicate(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert _exits_soon(worker)
    said = "terminated" if how.startswith("SIGTERM") else "interrupted"
    assert parent.returncode == 1 and out == "" and err == f"autopandas: {said}\n", (parent.returncode, err)


def _wait_for_pid(pidfile) -> int:
    """The pid the worker wrote to ``pidfile`` (waits up to 30 s for it)."""
    t0 = time.monotonic()
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    return int(pidfile.read_text())


def _exits_soon(pid: int) -> bool:
    """Whether process ``pid`` is gone within 10 s; one still there is killed (no leftovers)."""
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"     # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("limit, fails", [("256M", True), ("none", False), (None, False)])
def test_cli_memory_limit_fails_only_the_candidate_that_passes_it(capsys, monkeypatch, tmp_path,
                                                                  limit, fails):
    """The worker's cap was fixed at 4 GiB: --memory-limit sets it (``none``: no cap). A 1 GiB
    allocation (address space only, never touched) fails under 256M, and the search goes on."""
    real = cli.synthesize
    seen = tmp_path / "big.txt"

    def allocate_then_search(*args, **kwargs):
        with Sandbox() as box:
            big = box.run(np.empty, 1 << 30, np.uint8)
        seen.write_text(big.error or "ok")
        return real(*args, **kwargs)
    monkeypatch.setattr(cli, "synthesize", allocate_then_search)
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autopandas")
    code = cli.main(["synth", os.path.join(fix, "temps.csv"), os.path.join(fix, "temps_pivot.csv"),
                     "--timeout", "30"] + (["--memory-limit", limit] if limit else []))
    assert code == 0 and capsys.readouterr().out.startswith("df0.pivot(")
    assert seen.read_text().startswith("MemoryError") == fails, seen.read_text()


def test_headroom_is_checked_and_a_cap_past_what_setrlimit_takes_means_none():
    import resource
    for bad in (0, -1, 1.5, True, "4G"):
        with pytest.raises(ValueError, match="headroom must be"):
            run_isolated(lambda: 1, time.monotonic() + 30, headroom=bad)
    for huge in (1 << 63, 1 << 70, None):   # setrlimit overflowed: the worker died, exit code 1
        soft, _ = run_isolated(lambda: resource.getrlimit(resource.RLIMIT_AS), time.monotonic() + 30,
                               headroom=huge)
        assert soft == resource.getrlimit(resource.RLIMIT_AS)[0]


def test_a_result_in_the_pipe_at_the_deadline_is_read_not_discarded(monkeypatch):
    """The parent reached the deadline check only after the worker had written its result
    (a loaded machine, a slow scheduler): it raised WorkerTimeout without looking at the pipe."""
    real, slept = time.monotonic, []

    def late_clock() -> float:
        if not slept:
            time.sleep(2)               # the worker writes 42 meanwhile
            slept.append(1)
        return real() + 100             # and the parent then finds the deadline passed
    monkeypatch.setattr(isolation, "time", type("Clock", (), {"monotonic": staticmethod(late_clock)}))
    assert run_isolated(lambda: 42, real() + 1) == 42


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads", [0, 1])
def test_a_ctrl_c_just_after_the_fork_still_kills_the_worker(monkeypatch, threads):
    """A KeyboardInterrupt landing between the fork and the parent's try left the worker running
    (run_isolated called from the API, which has no process group to take it down). With another
    thread alive (pyarrow's pools, say) that thread takes a SIGINT the main thread blocks, so
    blocking it with pthread_sigmask is not enough."""
    stop = threading.Event()
    others = [threading.Thread(target=stop.wait) for _ in range(threads)]
    for t in others:
        t.start()
    real_fork, workers = os.fork, []

    def fork_then_ctrl_c() -> int:
        pid = real_fork()
        if pid:
            workers.append(pid)
            os.kill(os.getpid(), signal.SIGINT)
        return pid
    monkeypatch.setattr(isolation.os, "fork", fork_then_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_isolated(lambda: time.sleep(60), time.monotonic() + 60)
    finally:
        monkeypatch.undo()
        stop.set()
        for t in others:
            t.join()
    assert workers and _exits_soon(workers[0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # put back
