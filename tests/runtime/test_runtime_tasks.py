"""Remote functions: results, options, argument passing, nested submission."""
from __future__ import annotations

import time

import numpy as np
import pytest

from .conftest import need, started


def add(a, b=0):
    return a + b


def test_remote_function_returns_its_value(rt):
    f = rt.remote(add)
    assert rt.get(f.remote(1, 2)) == 3
    assert rt.get([f.remote(i, b=i) for i in range(20)]) == [2 * i for i in range(20)]


def test_remote_decorator_with_options_and_num_returns(rt):
    @rt.remote(num_returns=2, num_cpus=1, max_retries=3)
    def two(x):
        return x, x * 10

    a, b = two.remote(4)
    assert rt.get([a, b]) == [4, 40]
    three = rt.remote(lambda: (1, 2, 3)).options(num_returns=3)
    assert rt.get(three.remote()) == [1, 2, 3]


def test_wrong_number_of_returns_is_an_error(rt, caps):
    caps("checked_returns")
    bad = rt.remote(num_returns=2)(lambda: 1)
    a, b = bad.remote()
    with pytest.raises(ValueError, match="num_returns=2"):
        rt.get(a)


def test_top_level_refs_are_resolved_nested_refs_stay_refs(rt):
    @rt.remote
    def inspect(x, box):
        return type(x).__name__, type(box[0]).__name__, rt.get(box[0])

    r = rt.put(5)
    assert rt.get(inspect.remote(r, [r])) == ("int", "ObjectRef", 5)


def test_kwargs_refs_are_resolved(rt):
    f = rt.remote(add)
    assert rt.get(f.remote(rt.put(1), b=rt.put(2))) == 3


def test_chain_of_tasks_passing_refs(rt):
    f = rt.remote(add)
    r = f.remote(0, 1)
    for _ in range(10):
        r = f.remote(r, 1)
    assert rt.get(r) == 11


def test_nested_submission_from_tasks(rt):
    @rt.remote
    def fib(n):
        if n < 2:
            return n
        return sum(rt.get([fib.remote(n - 1), fib.remote(n - 2)]))

    assert rt.get(fib.remote(8)) == 21


def test_tasks_can_return_refs_and_put_inside_tasks(rt):
    @rt.remote
    def make():
        return [rt.put(np.arange(5)), rt.put("x")]

    refs = rt.get(make.remote())
    assert rt.get(refs[1]) == "x"
    assert rt.get(refs[0]).tolist() == [0, 1, 2, 3, 4]


def test_large_arguments_and_results(rt):
    @rt.remote
    def total(a):
        return a.sum(), a * 2

    arr = np.ones(1_000_000)
    s, doubled = rt.get(total.remote(arr))
    assert s == 1_000_000
    assert doubled.shape == arr.shape and doubled[0] == 2


def test_a_large_bytes_or_str_argument_travels_through_the_store(fresh, caps):
    caps("shm")
    rt = fresh

    @rt.remote
    def size(x):
        return len(x)

    for big in (b"x" * (2 << 20), "y" * (2 << 20)):
        before = rt.memory_summary()["shm_bytes"]
        r = size.remote(big)
        assert rt.get(r, timeout=60) == 2 << 20
        # the argument is r's lineage, so it stays in the store while r lives; before, an
        # argument list of plain values went inline on the control channel whatever its size
        # (a frame's length has 32 bits: one past 4 GiB raised struct.error as it was sent,
        # dropping the messages it went with)
        assert rt.memory_summary()["shm_bytes"] - before >= 2 << 20
        del r


def test_a_task_submitted_by_a_task_with_tasks_queued_behind_it_starts_at_once(rt, caps,
                                                                               tmp_path):
    caps("processes")

    @rt.remote
    def child(path):
        with open(path, "w") as f:
            f.write("ran")

    @rt.remote
    def parent(path):
        import os
        w = rt.api._client
        queued = ("task", -1, -1)  # stands for a short task pipelined behind this one
        w.queue.append(queued)
        try:
            child.remote(path)
            deadline = time.monotonic() + 20
            while not os.path.exists(path):  # the child's side effect, not a get
                if time.monotonic() > deadline:
                    return "the child did not start"
                time.sleep(0.01)
            return "the child ran"
        finally:
            w.queue.remove(queued)

    # before: the submit waited in the worker's outbox, batched with the queued tasks' results,
    # until this task returned (never, had it waited on without a deadline)
    assert rt.get(parent.remote(str(tmp_path / "child")), timeout=60) == "the child ran"


def test_num_cpus_is_honoured(rt):
    import time

    @rt.remote(num_cpus=2)
    def hold():
        t0 = time.time()
        time.sleep(0.2)
        return t0, time.time()

    spans = sorted(rt.get([hold.remote() for _ in range(3)]))
    for (s0, e0), (s1, _) in zip(spans, spans[1:]):
        assert s1 >= e0 - 0.01  # with num_cpus=2 of 2 they never overlap


def test_a_task_asking_for_more_cpus_than_the_runtime_has_fails_not_waits(rt, caps):
    caps("processes")
    greedy = rt.remote(num_cpus=3)(lambda: "ran")

    @rt.remote
    def submits():
        return rt.get(greedy.remote(), timeout=60)

    # before: no worker could ever take it, and get() waited for ever (here: GetTimeoutError)
    for ref in (greedy.remote(), submits.remote()):
        with pytest.raises(ValueError, match="num_cpus=3, more than the runtime's 2"):
            rt.get(ref, timeout=30)
    assert rt.get(greedy.options(num_cpus=2).remote(), timeout=60) == "ran"


def test_a_task_asking_for_no_cpu_runs_while_every_cpu_is_taken(rt, caps, tmp_path):
    # Ray runs tasks while the sum of the CPUs they ask for fits: a num_cpus=0 task waited
    # for a CPU, here behind the tasks that wait for it (until they gave up)
    import os

    caps("parallel")
    flag = tmp_path / "set"

    @rt.remote
    def wait_for(flag):
        deadline = time.monotonic() + 20
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.01)
        return os.path.exists(flag)

    @rt.remote(num_cpus=0)
    def set_flag(flag):
        open(flag, "w").close()
        return True

    waiting = [wait_for.remote(str(flag)) for _ in range(4)]  # 2 run, 2 queue ahead of it
    assert rt.get(set_flag.remote(str(flag)), timeout=60)
    assert rt.get(waiting, timeout=60) == [True] * 4  # before: [False, False, False, True]


def test_tasks_asking_for_half_a_cpu_run_two_per_cpu(rt, caps, tmp_path):
    # 4 tasks of num_cpus=0.5 fit in 2 CPUs at once, as on Ray; they ran 2 at a time
    import os

    caps("parallel")

    @rt.remote(num_cpus=0.5)
    def meet(folder, i, n):
        open(os.path.join(folder, str(i)), "w").close()
        deadline = time.monotonic() + 20
        while len(os.listdir(folder)) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(os.listdir(folder))

    assert rt.get([meet.remote(str(tmp_path), i, 4) for i in range(4)], timeout=60) == [4] * 4


def test_tasks_run_in_parallel(rt, caps):
    caps("parallel")
    import os
    import time

    @rt.remote
    def pid_after(t):
        time.sleep(t)
        return os.getpid()

    pids = set(rt.get([pid_after.remote(0.3) for _ in range(2)]))
    assert len(pids) == 2


def test_workers_use_one_torch_thread(rt, caps):
    caps("processes")
    pytest.importorskip("torch")

    @rt.remote
    def threads():
        import torch
        return torch.get_num_threads()

    rt.get(threads.remote())  # the first task imports torch; every later one runs with 1 thread
    assert set(rt.get([threads.remote() for _ in range(4)])) == {1}


@pytest.fixture
def capped_pool(backend, monkeypatch):
    """A runtime of its own with 2 CPUs whose pool may not grow past them."""
    need(backend, "bounded_pool")
    monkeypatch.setenv("RUNTIME_MAX_EXTRA_WORKERS", "0")
    yield from started(backend)


def test_deep_nesting_past_the_worker_cap_does_not_deadlock(capped_pool, backend):
    rt = capped_pool

    @rt.remote
    def fib(n):
        if n < 2:
            return n
        return sum(rt.get([fib.remote(n - 1), fib.remote(n - 2)]))

    # 88 tasks wait in get() at once at most; the pool cannot grow, so waiting workers run the
    # tasks they wait for (before: every worker blocked, the READY tasks never ran)
    assert rt.get(fib.remote(10), timeout=120) == 55
    if backend == "local":
        assert len(rt.api._client.processes()) == 2


def test_a_chain_of_waiting_tasks_runs_inside_the_waits_not_a_process_each(fresh, caps):
    caps("worker_pids")
    rt = fresh

    @rt.remote
    def chain(n):
        return 0 if n == 0 else 1 + rt.get(chain.remote(n - 1))

    assert rt.get(chain.remote(30), timeout=120) == 30
    # past 2 * num_cpus processes, a task waiting in get() runs the task it waits for inside
    # its wait, as a function call would (before: a process per waiting task, ~0.1 s each)
    assert rt.api._client.workers_spawned <= 4


def test_the_driver_forgets_workers_that_were_retired_or_died(fresh, caps):
    caps("worker_pids")
    rt = fresh
    client = rt.api._client

    @rt.remote
    def child():
        time.sleep(0.3)
        return 1

    @rt.remote
    def parent():
        return rt.get(child.remote())

    spawned = client.workers_spawned
    for burst in range(2):
        # six parents wait in get() at once: the pool grows past num_cpus=2, then the extra
        # workers retire after 2 s idle (before: every retired worker stayed in all_workers)
        assert sum(rt.get([parent.remote() for _ in range(6)], timeout=120)) == 6
        assert client.workers_spawned > spawned
        spawned = client.workers_spawned
        deadline = time.monotonic() + 60
        while len(client.all_workers) > 2:
            assert time.monotonic() < deadline, (
                f"burst {burst}: {len(client.all_workers)} worker records kept after "
                f"{client.workers_spawned} spawns; {len(client.processes())} processes run")
            time.sleep(0.1)
        assert sorted(w.pid for w in client.all_workers) == sorted(client.processes())


def test_tasks_bounced_by_a_worker_waiting_in_get_get_a_fresh_ready_time(fresh, backend,
                                                                          tmp_path):
    # pool.grow gives a READY task a grace before it starts a process for it (its waiter may
    # run it inside its wait); a task handed back by a worker entering get() kept its first
    # ready time, so it had none
    if backend != "local":
        pytest.skip("reads the local driver's scheduler state")
    rt = fresh
    sched = rt.api._client.sched

    @rt.remote
    def busy():
        time.sleep(3)

    @rt.remote
    def quick(i):
        return i

    @rt.remote
    def parent(x):
        if x == 0:
            return 0
        time.sleep(1)  # the quick tasks below are queued behind it meanwhile
        (tmp_path / "get_at").write_text(repr(time.monotonic()))
        return rt.get(quick.remote(-1))

    for _ in range(20):  # short runs: these are pipelined behind one another on a worker
        rt.get([parent.remote(0), quick.remote(0)])
    b = busy.remote()  # takes one worker; it is not short, so nothing queues behind it
    p = parent.remote(1)  # the other worker
    refs = [quick.remote(i) for i in range(4)]  # queued behind p
    with sched.lock:
        tasks = [sched.store.entries[r._id].lineage for r in refs]
        where = {id(t.worker) for t in tasks}
        assert where == {id(sched.store.entries[p._id].task.worker)}, "not queued behind p"
    assert rt.get(refs, timeout=60) == list(range(4))
    assert rt.get(p, timeout=60) == -1
    get_at = float((tmp_path / "get_at").read_text())
    assert all(t.ready_at > get_at for t in tasks)  # bounced as p waited: READY again
    rt.get(b, timeout=60)


def test_gets_with_a_timeout_answered_in_time_leave_no_timers_behind(fresh, backend):
    if backend != "local":
        pytest.skip("reads the local driver's scheduler state")
    rt = fresh
    sched = rt.api._client.sched

    @rt.remote
    def quick(i):
        return i

    @rt.remote
    def poll(n):
        return sum(rt.get(quick.remote(i), timeout=3600) for i in range(n))

    n = 600
    assert rt.get(poll.remote(n), timeout=120) == n * (n - 1) // 2
    # before: each answered get's timer stayed in the heap for its hour
    with sched.lock:
        assert len(sched.timers) < n // 2


def test_a_get_with_a_timeout_is_not_held_up_by_a_task_run_inside_it(fresh, caps, tmp_path):
    caps("worker_pids")
    rt = fresh

    @rt.remote
    def slow():
        time.sleep(10)
        open(tmp_path / "slow done", "w").close()

    @rt.remote
    def impatient(n):
        if n:  # deep enough that the innermost levels run inside the waits of outer ones
            return rt.get(impatient.remote(n - 1))
        try:
            rt.get(slow.remote(), timeout=0.5)
        except rt.GetTimeoutError:
            return "finished" if (tmp_path / "slow done").exists() else "timed out first"

    assert rt.get(impatient.remote(6), timeout=120) == "timed out first"


def test_tasks_that_call_get_many_times_still_run_others_inside_their_waits(capped_pool):
    rt = capped_pool

    @rt.remote
    def quick(i):
        return i

    @rt.remote
    def parent(n):
        return sum(rt.get(quick.remote(i)) for i in range(n))

    # both workers run a parent; each quick task runs inside a parent's wait (before: every
    # answered get stayed on the worker's stack, and a worker 64 gets deep took no more tasks
    # inside its wait, so the parents deadlocked)
    n = 100
    assert rt.get([parent.remote(n) for _ in range(2)], timeout=60) == [n * (n - 1) // 2] * 2


def test_cancel_of_a_task_under_a_help_task_cancels_that_task_only(capped_pool, caps, tmp_path):
    caps("async")
    rt = capped_pool

    @rt.remote
    def child(i):
        open(tmp_path / f"child{i}", "w").close()
        deadline = time.monotonic() + 60
        # until the test has cancelled: a fixed sleep (1 s) could end before the other child
        # started under load, and the parent then had finished before its cancel
        while not (tmp_path / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return i

    @rt.remote
    def parent(i):
        try:
            return rt.get(child.remote(i))
        except rt.TaskCancelledError:
            return "child cancelled"

    p = [parent.remote(0), parent.remote(1)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"child{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the children never started"
        time.sleep(0.02)
    # each child runs inside its parent's wait, in the parent's worker; cancelling the parent
    # must not interrupt the child running on top of it
    rt.cancel(p[0])
    open(tmp_path / "go", "w").close()
    with pytest.raises(rt.TaskCancelledError):
        rt.get(p[0], timeout=60)
    assert rt.get(p[1], timeout=60) == 1
    assert rt.get(parent.remote(2), timeout=60) == 2  # the workers still serve


def test_a_worker_whose_task_was_cancelled_in_get_takes_tasks_again(capped_pool, caps,
                                                                     tmp_path):
    caps("async")
    rt = capped_pool

    @rt.remote
    def child():
        open(tmp_path / "child", "w").close()
        time.sleep(60)

    @rt.remote
    def parent():
        rt.get(child.remote())

    @rt.remote
    def quick():
        return "ran"

    p = parent.remote()
    deadline = time.monotonic() + 60
    while not (tmp_path / "child").exists():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    rt.cancel(p, recursive=False)  # the child runs on in the pool's other worker
    with pytest.raises(rt.TaskCancelledError):
        rt.get(p, timeout=30)
    # the parent's worker counted as waiting in get() until the child's result came (60 s)
    assert rt.get(quick.remote(), timeout=20) == "ran"


def test_workers_grown_for_waiting_tasks_exit_once_idle(fresh, caps):
    caps("worker_pids")
    rt = fresh

    @rt.remote
    def child():
        time.sleep(0.3)
        return 1

    @rt.remote
    def parent():
        return rt.get(child.remote())

    # six parents wait in get() at once: the pool grows past num_cpus=2 to run their children
    assert sum(rt.get([parent.remote() for _ in range(6)], timeout=120)) == 6
    assert rt.api._client.workers_spawned > 2
    deadline = time.monotonic() + 60
    while len(rt.api._client.processes()) > 2:  # the extra workers leave after 2 s idle
        assert time.monotonic() < deadline, "extra workers never exited"
        time.sleep(0.1)
    assert sum(rt.get([parent.remote() for _ in range(6)], timeout=120)) == 6
