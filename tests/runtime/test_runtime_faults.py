"""Faults: task retries when a worker dies, pool healing, and retry of application errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest


def _die_first_times(marker_dir: str, times: int) -> int:
    """Kill this worker process the first ``times`` calls (counted in files), then return."""
    n = len(os.listdir(marker_dir))
    if n < times:
        open(os.path.join(marker_dir, str(n)), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return n


class _ExitWhenPickled:
    """Kills the worker as the task's second output is stored, after the first was written."""

    def __reduce__(self):
        os._exit(1)


class _StallWhenPickled:
    """Stalls the worker as the task's second output is stored (marker file first)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        open(self.marker, "w").close()
        time.sleep(60)
        return (int, ())


def _segments_of(shm_files, ref):
    return [p for p in shm_files() if os.path.basename(p).startswith(f"{ref._id:x}.")]


def test_a_worker_that_dies_while_storing_outputs_leaves_no_segment(rt, caps, shm_files):
    caps("processes")

    @rt.remote(num_returns=2, max_retries=0)
    def dies_while_storing():
        return np.ones(1_000_000), _ExitWhenPickled()  # 8 MB: a shared-memory segment

    big, _ = dies_while_storing.remote()
    with pytest.raises(rt.WorkerCrashedError):
        rt.get(big, timeout=60)
    assert _segments_of(shm_files, big) == []  # it stayed until shutdown


def test_a_force_cancelled_task_leaves_no_segment(rt, caps, shm_files, tmp_path):
    caps("processes")
    marker = str(tmp_path / "storing")

    @rt.remote(num_returns=2)
    def stalls_while_storing(marker):
        return np.ones(1_000_000), _StallWhenPickled(marker)

    big, _ = stalls_while_storing.remote(marker)
    deadline = time.monotonic() + 60
    while not os.path.exists(marker):
        assert time.monotonic() < deadline, "the task never stored its outputs"
        time.sleep(0.02)
    assert len(_segments_of(shm_files, big)) == 1  # written, not yet reported
    rt.cancel(big, force=True)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(big, timeout=60)
    while _segments_of(shm_files, big):  # removed once the killed worker's death is seen
        assert time.monotonic() < deadline, "the killed task's segment stayed"
        time.sleep(0.02)


def test_an_actor_killed_while_storing_a_result_leaves_no_segment(rt, caps, shm_files,
                                                                  tmp_path):
    caps("processes")
    marker = str(tmp_path / "storing")

    @rt.remote
    class Storer:
        @rt.method(num_returns=2)
        def stalls_while_storing(self, marker):
            return np.ones(1_000_000), _StallWhenPickled(marker)

    a = Storer.remote()
    big, _ = a.stalls_while_storing.remote(marker)
    deadline = time.monotonic() + 60
    while not os.path.exists(marker):
        assert time.monotonic() < deadline, "the call never stored its outputs"
        time.sleep(0.02)
    assert len(_segments_of(shm_files, big)) == 1
    rt.kill(a)
    with pytest.raises(rt.ActorDiedError):
        rt.get(big, timeout=60)
    while _segments_of(shm_files, big):
        assert time.monotonic() < deadline, "the killed actor's segment stayed"
        time.sleep(0.02)


def test_a_worker_that_dies_after_a_put_leaves_no_segment(rt, caps, shm_files):
    caps("shm")
    before = set(shm_files())

    @rt.remote(max_retries=0)
    def put_then_die():
        rt.put(np.ones(1 << 17))  # 1 MiB: a shared-memory segment
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(rt.WorkerCrashedError):
        rt.get(put_then_die.remote(), timeout=60)
    # before: the driver never heard of the segment, which stayed until shutdown
    deadline = time.monotonic() + 10
    while set(shm_files()) - before:
        assert time.monotonic() < deadline, f"left behind: {set(shm_files()) - before}"
        time.sleep(0.02)


class _Keeper:
    def keep(self, box):
        self.ref = box[0]
        return True

    def total(self):
        import runtime
        return float(runtime.get(self.ref, timeout=30).sum())


def test_a_worker_killed_before_reporting_a_put_leaves_no_segment(rt, caps, shm_files):
    caps("shm")
    keeper = rt.remote(_Keeper).remote()
    before = set(shm_files())

    @rt.remote(max_retries=0)
    def put_twice_then_die(keeper):
        kept = rt.put(np.ones(1 << 17))  # reported, and still referenced after the death
        rt.get(keeper.keep.remote([kept]))
        from runtime import worker

        def die():
            os.kill(os.getpid(), signal.SIGKILL)
        worker._WORKER.flush = die  # killed between writing the segment and sending the put
        rt.put(np.zeros(1 << 17))

    with pytest.raises(rt.WorkerCrashedError):
        rt.get(put_twice_then_die.remote(keeper), timeout=60)
    # before: the driver never heard of the second segment, which stayed until shutdown
    deadline = time.monotonic() + 10
    while len(set(shm_files()) - before) > 1:
        assert time.monotonic() < deadline, f"left behind: {set(shm_files()) - before}"
        time.sleep(0.02)
    assert rt.get(keeper.total.remote(), timeout=30) == float(1 << 17)  # the kept one stays


def test_a_worker_killed_idle_in_a_left_threads_put_leaves_no_segment(rt, caps, shm_files):
    caps("shm")
    before = set(shm_files())

    @rt.remote
    def leave_a_thread_putting():
        import threading

        from runtime import worker

        def run():
            time.sleep(0.5)  # the task is done: the driver sees its worker idle
            write = worker.make_value

            def write_then_die(*args, **kwargs):
                out = write(*args, **kwargs)  # the segment is written, the put not sent
                os.kill(os.getpid(), signal.SIGKILL)
                return out
            worker.make_value = write_then_die
            rt.put(np.ones(1 << 17))
        threading.Thread(target=run, daemon=True).start()
        return os.getpid()

    pid = rt.get(leave_a_thread_putting.remote(), timeout=60)
    client = rt.api._client
    deadline = time.monotonic() + 10
    while any(w.pid == pid and not w.dead for w in client.all_workers):
        assert time.monotonic() < deadline, "the worker did not die"
        time.sleep(0.02)
    # before: the driver listed a dead worker's folder for unsent puts only if it died in a
    # task, so the segment stayed until shutdown
    while set(shm_files()) - before:
        assert time.monotonic() < deadline, f"left behind: {set(shm_files()) - before}"
        time.sleep(0.02)


def test_the_driver_lists_a_dead_workers_segments_without_holding_its_lock(fresh, backend,
                                                                           monkeypatch):
    if backend != "local":
        pytest.skip("watches the local driver's lock")
    rt = fresh
    sched = rt.api._client.sched
    held = []
    listdir = os.listdir

    def watched(path="."):
        if str(path) == sched.session_dir:
            held.append(sched.lock._is_owned())
        return listdir(path)

    monkeypatch.setattr(os, "listdir", watched)

    @rt.remote(max_retries=0)
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(rt.WorkerCrashedError):
        rt.get(die.remote(), timeout=60)
    # before: the session folder was listed for the dead worker's unsent puts under the
    # scheduler's lock, so every other caller waited for the disk
    assert held and not any(held)


def _put_here(i):
    import runtime
    time.sleep(0.05)  # not a short task: the tasks spread over both workers
    return runtime.put(np.full(4, i))


def test_worker_ids_past_16_bits_reuse_none_still_in_use(fresh, backend):
    if backend != "local":
        pytest.skip("reads and sets the local driver's worker ids")
    import itertools
    rt = fresh
    client = rt.api._client
    put_here = rt.remote(_put_here)
    first = rt.get([put_here.remote(i) for i in range(8)])  # objects the two workers made
    # as after 2**16 worker starts: an object id holds 16 bits of its worker's id (Worker.new_id),
    # so before, this id's extra bit landed in the epoch bits and the new workers made the same
    # ids as the first two (workers 1 and 2), whose objects are still alive
    low = client.epoch & -client.epoch
    client._wids = itertools.count((low << 16) | 1)
    killed = set(client.processes())
    for pid in killed:
        os.kill(pid, signal.SIGKILL)  # their replacements get the next ids
    deadline = time.monotonic() + 30
    while set(client.processes()) & killed or len(client.processes()) < 2:
        assert time.monotonic() < deadline, "the killed workers were not replaced"
        time.sleep(0.05)
    second = rt.get([put_here.remote(i) for i in range(100, 108)], timeout=60)
    assert len({r._id for r in first + second}) == 16
    assert [int(a[0]) for a in rt.get(first)] == list(range(8))
    assert [int(a[0]) for a in rt.get(second)] == list(range(100, 108))
    assert all(w.wid < 1 << 16 for w in client.all_workers)


def test_task_is_retried_on_a_fresh_worker_after_a_kill(rt, tmp_path, caps):
    caps("processes")
    f = rt.remote(max_retries=2)(_die_first_times)
    assert rt.get(f.remote(str(tmp_path), 2), timeout=60) == 2


def test_worker_crashed_error_past_max_retries(rt, tmp_path, caps):
    caps("processes")
    f = rt.remote(max_retries=1)(_die_first_times)
    with pytest.raises(rt.WorkerCrashedError):
        rt.get(f.remote(str(tmp_path), 5), timeout=60)


def test_worker_crash_error_names_the_task_and_the_signal(rt, tmp_path, caps):
    caps("worker_pids")
    f = rt.remote(max_retries=0)(_die_first_times)
    with pytest.raises(rt.WorkerCrashedError, match=r"running _die_first_times died \(killed by "
                       r"SIGKILL\), with no retries left \(max_retries=0"):
        rt.get(f.remote(str(tmp_path), 1), timeout=60)

    @rt.remote
    class A:
        def pid(self):
            return os.getpid()

    a = A.remote()
    os.kill(rt.get(a.pid.remote()), signal.SIGKILL)
    with pytest.raises(rt.ActorDiedError, match=r"died \(killed by SIGKILL\), with no restarts "
                       r"left after 0"):
        rt.get(a.pid.remote(), timeout=60)


def _quick_or_exit(i, exit_after_s):
    if exit_after_s:
        time.sleep(exit_after_s)  # the tasks submitted after it queue behind it meanwhile
        os._exit(3)
    return i


def test_tasks_queued_behind_a_task_that_kills_its_worker_run_elsewhere(rt, caps):
    # short tasks are pipelined: several are sent to a worker while it runs one; those that
    # had not started when another took the process down neither fail nor spend a retry
    caps("processes")
    f = rt.remote(max_retries=0)(_quick_or_exit)
    assert rt.get([f.remote(i, 0) for i in range(50)], timeout=60) == list(range(50))
    crasher = f.remote(-1, 0.5)
    queued = [f.remote(i, 0) for i in range(50)]
    assert rt.get(queued, timeout=60) == list(range(50))
    with pytest.raises(rt.WorkerCrashedError, match="running _quick_or_exit died"):
        rt.get(crasher, timeout=60)


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


def _fail_once_noting_when(marker: str, how: str) -> int:
    """The first call writes ``time.monotonic()`` (system-wide on Linux) to ``marker`` and
    then kills its worker (``how == "die"``) or raises; later calls return 1."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(repr(time.monotonic()))
        if how == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError("first attempt")
    return 1


@pytest.mark.parametrize("how", ["die", "raise"])
def test_a_retried_task_reenters_the_ready_queue_with_a_fresh_ready_time(rt, backend,
                                                                         tmp_path, how):
    # pool.grow gives a READY task a grace before it starts a process for it (its waiter may
    # run it inside its wait); a retry kept its first ready time, so it had none
    if backend != "local":
        pytest.skip("reads the local driver's scheduler state")
    marker = str(tmp_path / "failed_at")
    f = rt.remote(max_retries=1, retry_exceptions=how == "raise")(_fail_once_noting_when)
    ref = f.remote(marker, how)
    assert rt.get(ref, timeout=60) == 1
    failed_at = float(open(marker).read())
    task = rt.api._client.sched.store.entries[ref._id].lineage
    assert task.ready_at > failed_at


class Stateful:
    def __init__(self, start):
        self.n = start

    def add(self):
        self.n += 1
        return self.n

    def pid(self):
        return os.getpid()

    def slow_pid(self, t):
        import time
        time.sleep(t)
        return os.getpid()


def _once_restarted(rt, method, timeout=60.0):
    """Call ``method`` until it succeeds: calls sent before the driver saw the death fail."""
    import time
    deadline = time.time() + timeout
    while True:
        try:
            return rt.get(method.remote(), timeout=timeout)
        except rt.ActorDiedError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def test_actor_restarts_by_rerunning_its_constructor(rt, caps):
    caps("processes")
    a = rt.remote(Stateful).options(max_restarts=1).remote(100)
    assert rt.get(a.add.remote()) == 101
    os.kill(rt.get(a.pid.remote()), signal.SIGKILL)
    assert _once_restarted(rt, a.add) == 101  # fresh state from the constructor
    os.kill(rt.get(a.pid.remote()), signal.SIGKILL)
    import time
    t0 = time.time()
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.add.remote(), timeout=60)
    assert time.time() - t0 < 10  # no restarts left: fails promptly
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.add.remote(), timeout=60)


def test_in_flight_call_retries_with_max_task_retries(rt, caps, backend):
    caps("processes")
    import time
    for retries, ok in [(1, True), (0, False)]:
        a = rt.remote(Stateful).options(max_restarts=1, max_task_retries=retries).remote(0)
        pid = rt.get(a.pid.remote())
        r = a.slow_pid.remote(1.0)
        # local: sent behind r to the actor's process, it never starts (what Ray does with a
        # call not pushed yet is Ray's matter)
        queued = [a.add.remote()] if backend == "local" else []
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        if ok:
            assert rt.get(r, timeout=60) != pid
            assert rt.get(queued, timeout=60) == [1] * len(queued)
        else:
            for ref in [r, *queued]:
                with pytest.raises(rt.ActorDiedError) as info:
                    rt.get(ref, timeout=60)
                if backend == "local":  # before: "died while running the call", for both
                    assert "died before the call finished" in str(info.value)
            assert _once_restarted(rt, a.add) == 1  # restarted all the same


class _Summed:
    def __init__(self, array):
        self.total = float(array.sum())

    def get_total(self):
        return self.total

    def pid(self):
        return os.getpid()


def test_an_actor_restarted_for_the_last_time_still_reads_its_constructor_arguments(rt, caps):
    caps("processes")
    for restarts in (1, 2):
        # 1 MiB: passed through the store, held by the actor's constructor for its restarts
        a = rt.remote(_Summed).options(max_restarts=restarts).remote(np.ones(1 << 17))
        for _ in range(restarts):
            os.kill(rt.get(a.pid.remote(), timeout=60), signal.SIGKILL)
            # before: the last restart released the arguments as it sent the constructor,
            # which found the array freed (ObjectLostError) and the actor died
            assert _once_restarted(rt, a.get_total, timeout=30) == float(1 << 17)


def test_an_actor_with_no_handle_left_is_not_restarted(rt, caps):
    caps("worker_pids")
    import gc
    client = rt.api._client
    a = rt.remote(Stateful).options(max_restarts=1).remote(0)
    pid = rt.get(a.pid.remote())
    r = a.slow_pid.remote(1.0)
    del a  # it exits once idle; its process dies before that
    gc.collect()
    rt.put(0)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(rt.ActorDiedError):
        rt.get(r, timeout=60)
    # before: the actor restarted in a new process, which nothing could call and which ran
    # until shutdown
    deadline = time.monotonic() + 10
    while len(client.processes()) > 2:
        assert time.monotonic() < deadline, f"{len(client.processes())} processes run"
        time.sleep(0.05)
    with client.sched.lock:
        assert client.sched.actors == {}


def test_kill_with_no_restart_false_restarts(rt, caps):
    caps("processes")
    a = rt.remote(Stateful).options(max_restarts=2).remote(5)
    pid = rt.get(a.pid.remote())
    rt.kill(a, no_restart=False)
    # Ray's kill is asynchronous: a call may still reach the old process, so wait for a new one.
    import time
    deadline = time.time() + 60
    while _once_restarted(rt, a.pid) == pid:
        assert time.time() < deadline, "the actor was not restarted"
        time.sleep(0.05)
    assert _once_restarted(rt, a.add) == 6  # fresh state from the constructor
    rt.kill(a)
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.add.remote(), timeout=60)


def test_dag_survives_workers_killed_at_random(rt, caps):
    """A few hundred dependent tasks while workers are SIGKILLed at random: every result is
    right, and the pool heals."""
    caps("worker_pids")
    import random
    import threading
    import time

    import psutil

    @rt.remote(max_retries=-1)
    def leaf(i):
        time.sleep(0.002)
        return i

    @rt.remote(max_retries=-1)
    def combine(a, b):
        time.sleep(0.002)
        return a + b

    rng = random.Random(0)
    stop = threading.Event()
    killed = []

    def killer():
        me = psutil.Process()
        while not stop.is_set() and len(killed) < 6:
            time.sleep(rng.uniform(0.05, 0.15))
            workers = []
            for p in me.children():
                try:
                    if "runtime.worker" in " ".join(p.cmdline()):
                        workers.append(p)
                except psutil.Error:  # exiting already
                    pass
            if workers:
                victim = rng.choice(workers)
                try:
                    victim.kill()
                    killed.append(victim.pid)
                except psutil.Error:
                    pass

    level = [leaf.remote(i) for i in range(256)]
    t = threading.Thread(target=killer)
    t.start()
    try:
        while len(level) > 1:
            level = [combine.remote(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        total = rt.get(level[0], timeout=120)
    finally:
        stop.set()
        t.join()
    assert total == sum(range(256))
    assert len(killed) >= 3  # the run really lost workers
    f = rt.remote(lambda x: x * 3)
    assert rt.get([f.remote(i) for i in range(10)], timeout=60) == [3 * i for i in range(10)]


NO_FDS = textwrap.dedent("""
    import json, os, resource, signal, time
    import runtime

    runtime.init(num_cpus=1)
    client = runtime.api._client

    @runtime.remote
    def child():
        return 1

    @runtime.remote
    def parent():
        return runtime.get(child.remote()) + 1

    class A:
        pass

    @runtime.remote
    def make_actor():
        try:
            runtime.remote(A).remote()
            return "created"
        except OSError as e:
            return f"{type(e).__name__}: {e}"

    # no new file descriptor in this driver: no worker process can start
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1, hard))
    held = []
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            break
    out = {"spawned_before": client.workers_spawned}
    try:  # the parents' children run inside their waits instead of in new workers
        out["nested"] = runtime.get([parent.remote() for _ in range(3)], timeout=20)
    except Exception as e:
        out["nested"] = f"{type(e).__name__}: {e}"
    try:
        runtime.remote(A).remote()
        out["actor"] = "created"
    except OSError as e:
        out["actor"] = f"{type(e).__name__}: {e}"
    out["actor_in_task"] = runtime.get(make_actor.remote(), timeout=20)
    out["dispatcher_alive"] = client.thread.is_alive()
    for fd in held:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    os.kill(client.processes()[0], signal.SIGKILL)  # its replacement starts, fds are back
    out["after"] = runtime.get(parent.remote(), timeout=20)
    out["spawned_after"] = client.workers_spawned
    runtime.shutdown()
    print(json.dumps(out))
""")


def test_a_driver_out_of_file_descriptors_keeps_running_nested_tasks(backend, caps):
    # before: the dispatcher thread died of the OSError from starting a worker, and every
    # get() after it hung
    caps("worker_pids")
    proc = subprocess.run([sys.executable, "-c", NO_FDS], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["nested"] == [2, 2, 2], out
    assert out["actor"].startswith("OSError: [Errno 24]"), out
    assert out["actor_in_task"].startswith("OSError: [Errno 24]"), out
    assert out["dispatcher_alive"], out
    assert out["after"] == 2
    assert out["spawned_after"] > out["spawned_before"]
    assert "could not start a worker process" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
