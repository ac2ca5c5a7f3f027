"""Lifecycle: auto-init, shutdown, and no process or shared-memory segment outliving the driver."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np
import psutil
import pytest

DRIVER = textwrap.dedent("""
    import faulthandler, os, signal, sys, time
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when this test runs in a background
    # job whose shell set SIGINT to "ignore" (children inherit that); SIGUSR1 dumps the threads
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    import numpy as np
    import runtime
    runtime.init(num_cpus=2, backend=sys.argv[1])

    @runtime.remote
    class A:
        def pid(self):
            return os.getpid()

    @runtime.remote
    def pid_and_big():
        return os.getpid(), np.ones(1_000_000)

    a = A.remote()
    refs = [pid_and_big.remote() for _ in range(4)]
    pids = {p for p, _ in runtime.get(refs)} | {runtime.get(a.pid.remote())}
    keep = runtime.put(np.zeros(2_000_000))
    print("PIDS", " ".join(map(str, sorted(pids))), flush=True)
    mode = sys.argv[2]
    if mode == "exit":
        sys.exit(0)
    if mode == "shutdown":
        runtime.shutdown()
        print("DONE", flush=True)
        time.sleep(30)
    if mode == "fork":  # a child that outlives us (a multiprocessing server, say)
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print("CHILD", child, flush=True)
    time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # also when it exits between two looks
        return False


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _run(backend: str, mode: str) -> tuple[subprocess.Popen, list[int]]:
    err = tempfile.TemporaryFile()  # a file, not a pipe: a chatty driver cannot fill it and block
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, backend, mode],
                            stdout=subprocess.PIPE, stderr=err, text=True)
    proc.err_file = err  # type: ignore[attr-defined]
    line = proc.stdout.readline()
    assert line.startswith("PIDS"), line
    return proc, [int(x) for x in line.split()[1:]]


@pytest.mark.parametrize("how", ["exit", "shutdown", "sigint", "sigterm", "sigkill"])
def test_nothing_outlives_the_driver(backend, how, caps):
    caps("lifecycle")
    proc, pids = _run(backend, "exit" if how == "exit" else
                      "shutdown" if how == "shutdown" else "sleep")
    assert len(pids) >= 2
    assert glob.glob(f"/dev/shm/rt-{proc.pid}-*/*")  # big objects were in shared memory
    if how == "shutdown":
        assert proc.stdout.readline().startswith("DONE")
        assert _gone(pids)
        assert not glob.glob(f"/dev/shm/rt-{proc.pid}-*")
        proc.kill()
    elif how != "exit":
        proc.send_signal({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM,
                          "sigkill": signal.SIGKILL}[how])
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # where is it stuck?
        time.sleep(1.0)
        proc.kill()
        proc.wait()
        proc.err_file.seek(0)
        threads = proc.err_file.read().decode(errors="replace")[-8000:]
        pytest.fail(f"the driver still runs 20 s after {how}; its threads:\n{threads}")
    proc.stdout.close()
    proc.err_file.close()
    assert _gone(pids), f"workers left after {how}"
    deadline = time.time() + 5
    while glob.glob(f"/dev/shm/rt-{proc.pid}-*") and time.time() < deadline:
        time.sleep(0.05)
    assert not glob.glob(f"/dev/shm/rt-{proc.pid}-*"), f"segments left after {how}"


def test_nothing_outlives_a_driver_killed_while_a_forked_child_lives(backend, caps):
    caps("lifecycle")
    proc, pids = _run(backend, "fork")
    line = proc.stdout.readline()
    assert line.startswith("CHILD"), line
    child = int(line.split()[1])
    try:
        proc.kill()
        proc.wait(timeout=20)
        # before: the child's copy of the lifeline's write end kept every worker, and the
        # session's shared memory, alive for as long as the child lived
        assert _gone(pids), "workers left while the forked child lives"
        deadline = time.time() + 5
        while glob.glob(f"/dev/shm/rt-{proc.pid}-*") and time.time() < deadline:
            time.sleep(0.05)
        assert not glob.glob(f"/dev/shm/rt-{proc.pid}-*"), "segments left"
        assert _alive(child)
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stdout.close()
        proc.err_file.close()
        for p in pids:  # on the old code: what the test found left
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in glob.glob(f"/dev/shm/rt-{proc.pid}-*"):
            shutil.rmtree(d, ignore_errors=True)


def test_a_remote_call_before_init_auto_initialises(backend):
    import runtime
    if runtime.is_initialized():
        runtime.shutdown()
    try:
        f = runtime.remote(lambda: 42)
        assert runtime.get(f.remote()) == 42  # auto-init uses the default backend
        assert runtime.is_initialized()
    finally:
        runtime.shutdown()
    assert not runtime.is_initialized()


def test_shutdown_stops_every_worker_and_is_idempotent(fresh, caps):
    rt = fresh
    caps("lifecycle")

    @rt.remote
    def pid():
        time.sleep(0.1)
        return os.getpid()

    pids = set(rt.get([pid.remote() for _ in range(4)]))
    rt.shutdown()
    rt.shutdown()
    assert _gone(list(pids))


def test_get_and_wait_in_other_threads_raise_when_the_runtime_shuts_down(fresh, caps):
    rt = fresh
    caps("lifecycle")

    @rt.remote
    def slow():
        time.sleep(60)

    refs = [slow.remote(), slow.remote()]
    out = {}

    def call(kind, fn):
        try:
            out[kind] = fn()
        except Exception as e:  # noqa: BLE001 - what the thread got is the result
            out[kind] = e

    threads = [threading.Thread(target=call, args=("get", lambda: rt.get(refs[0]))),
               threading.Thread(target=call, args=("wait", lambda: rt.wait(refs[1:])))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    rt.shutdown()
    for t in threads:
        t.join(30)
    # before: wait() without a timeout returned ([], [ref]), as if it had timed out
    for kind in ("get", "wait"):
        assert isinstance(out[kind], RuntimeError), (kind, out[kind])
        assert "shut down" in str(out[kind])


def test_ctrl_c_during_init_leaves_nothing_behind(backend, caps, monkeypatch):
    caps("lifecycle")
    import runtime
    from runtime import driver
    if runtime.is_initialized():
        runtime.shutdown()
    spawned = []
    real_spawn = driver.Driver._spawn

    def spawn_then_interrupt(self, aid):
        if spawned:  # the second worker: Ctrl-C arrives while the first one boots
            raise KeyboardInterrupt
        w = real_spawn(self, aid)
        spawned.append(w.pid)
        return w

    monkeypatch.setattr(driver.Driver, "_spawn", spawn_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        runtime.init(num_cpus=2)
    assert not runtime.is_initialized()
    assert spawned and _gone(spawned)  # before: the worker ran on, with no runtime to stop it
    assert not glob.glob(f"/dev/shm/rt-{os.getpid()}-*")
    monkeypatch.undo()
    runtime.init(num_cpus=1)  # and the next init works
    try:
        assert runtime.get(runtime.remote(lambda: 7).remote()) == 7
    finally:
        runtime.shutdown()


def test_init_twice_is_a_clear_error(fresh):
    with pytest.raises(RuntimeError, match="shutdown"):
        fresh.init()
    fresh.init(ignore_reinit_error=True)


def test_bad_init_arguments(backend):
    import runtime
    with pytest.raises(ValueError, match="num_cpus"):
        runtime.init(num_cpus=-1)
    with pytest.raises(ValueError, match="backend"):
        runtime.init(backend="nope")
    with pytest.raises(ValueError, match="unknown option"):
        runtime.init(bogus=1)


def test_ray_backend_without_ray_is_a_clear_error(monkeypatch):
    import runtime
    if runtime.is_initialized():
        runtime.shutdown()
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(RuntimeError, match="pip install"):
        runtime.init(backend="ray")
    assert not runtime.is_initialized()
    with pytest.raises(ValueError, match="address"):
        runtime.init(address="127.0.0.1:6379")


@pytest.mark.parametrize("address", ["127.0.0.1:\u00b2", "127.0.0.1:\u0668\u0660", "127.0.0.1:70000",
                                     "ray://[::1]:0", "host:"])
def test_a_ray_address_whose_port_is_not_one_is_a_clear_error(address):
    # the address is checked before Ray is asked (no Ray needed): before, '\u00b2' (isdigit)
    # raised int()'s "invalid literal", and the others were tried as ports
    from runtime.ray_backend import check_reachable
    with pytest.raises(ValueError, match=r"expected 'host:port' \(a port from 1 to 65535\)"):
        check_reachable(address, timeout=1.0)


@pytest.mark.timeout(120)
def test_ray_backend_with_an_unreachable_address_is_one_clear_error():
    """Ray itself retries an unreachable cluster for minutes; init fails at once instead."""
    pytest.importorskip("ray")
    import runtime
    if runtime.is_initialized():
        runtime.shutdown()
    with pytest.raises(RuntimeError, match="cannot reach the Ray cluster.*127.0.0.1:1"):
        runtime.init(backend="ray", address="127.0.0.1:1")
    assert not runtime.is_initialized()
    with pytest.raises(ValueError, match="host:port"):
        runtime.init(backend="ray", address="no-port-here")
    assert not runtime.is_initialized()


def test_a_worker_whose_driver_is_gone_at_start_removes_the_session(backend, caps, tmp_path):
    caps("lifecycle")
    import socket
    from runtime import driver
    session = tempfile.mkdtemp(prefix="rt-test-", dir="/dev/shm")
    ours, theirs = socket.socketpair()
    ours.close()  # the driver's end is gone before the worker says hello
    life_r, life_w = os.pipe()  # the lifeline stays open: only the failed hello can tell
    cancel_r, cancel_w = os.pipe()
    env = dict(os.environ, RUNTIME_SYS_PATH=os.pathsep.join([driver._PKG_PARENT] + sys.path))
    try:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", driver._BOOT, str(theirs.fileno()), str(life_r),
             session, "1", "1", "", "0", str(cancel_r)],
            pass_fds=(theirs.fileno(), life_r, cancel_r), env=env, timeout=60,
            capture_output=True)
        assert proc.returncode == 1
        assert not os.path.exists(session), proc.stderr[-2000:]
    finally:
        theirs.close()
        for fd in (life_r, life_w, cancel_r, cancel_w):
            os.close(fd)
        shutil.rmtree(session, ignore_errors=True)


def _exit_code_of_child(pid, limit_s=120):
    deadline = time.time() + limit_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)


def test_a_forked_child_uses_a_runtime_of_its_own_not_its_parents(fresh, caps):
    caps("lifecycle")
    rt = fresh
    f = rt.remote(lambda x: x + 1)

    @rt.remote
    def slow():
        time.sleep(1.0)
        return "parent's"

    pending = slow.remote()
    pid = os.fork()
    if pid == 0:
        step = 1
        try:
            # before: the parent's runtime, whose dispatcher thread is not in this process: a
            # get of its pending object waited for ever (GetTimeoutError here), and a task went
            # into the parent's workers' sockets, its result to the parent (GetTimeoutError)
            with pytest.raises(rt.ObjectLostError, match="forked"):
                rt.get(pending, timeout=20)
            step = 2
            assert not rt.is_initialized()
            assert rt.get(f.remote(10), timeout=60) == 11
            step = 3
            assert rt.api._client.pid == os.getpid()
            step = 0
            rt.shutdown()
        finally:
            os._exit(step)
    assert _exit_code_of_child(pid) == 0
    assert rt.get(pending, timeout=60) == "parent's"
    assert rt.get(f.remote(2), timeout=60) == 3


def test_a_forked_child_leaving_does_not_stop_the_parents_runtime(fresh, caps):
    caps("lifecycle")
    rt = fresh
    f = rt.remote(lambda x: x + 1)
    assert rt.get(f.remote(1)) == 2
    pid = os.fork()
    if pid == 0:  # the child: what its atexit runs, then a runtime of its own
        code = 1
        try:
            rt.shutdown()
            rt.init(num_cpus=1)
            code = 0 if rt.get(f.remote(10), timeout=60) == 11 else 1
            rt.shutdown()
        finally:
            os._exit(code)
    deadline = time.time() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    # before: the child's shutdown removed our shared-memory folder
    assert glob.glob(f"/dev/shm/rt-{os.getpid()}-*")
    assert rt.get(f.remote(2), timeout=60) == 3
    big = rt.remote(lambda n: np.ones(n))
    assert float(rt.get(rt.put(np.ones(1 << 20))).sum()) == 1 << 20
    assert float(rt.get(big.remote(1 << 20), timeout=60).sum()) == 1 << 20


def test_only_the_processes_of_async_or_threaded_actors_import_asyncio():
    # asyncio costs a process about 7 MB and 35 ms to import: the driver, the pool's workers
    # and plain actors' processes do without it (they imported it once async actors came)
    code = textwrap.dedent("""
        import sys
        import runtime

        class Plain:
            def f(self):
                return "asyncio" in sys.modules

        class Async:
            async def f(self):
                return "asyncio" in sys.modules

        runtime.init(num_cpus=1)
        seen = {"driver": "asyncio" in sys.modules}
        seen["task"] = runtime.get(runtime.remote(Plain().f).remote(), timeout=60)
        seen["actor"] = runtime.get(runtime.remote(Plain).remote().f.remote(), timeout=60)
        threaded = runtime.remote(Plain).options(max_concurrency=2).remote()
        seen["threaded actor"] = runtime.get(threaded.f.remote(), timeout=60)
        seen["async actor"] = runtime.get(runtime.remote(Async).remote().f.remote(), timeout=60)
        runtime.shutdown()
        print(seen)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str({"driver": False, "task": False, "actor": False,
                                       "threaded actor": True, "async actor": True})
