"""Remote functions: results, options, argument passing, nested submission."""
from __future__ import annotations

import numpy as np
import pytest


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
