"""Errors: remote exceptions, dependent failures, timeouts, cancellation and bad input."""
from __future__ import annotations

import threading
import time

import pytest


class MyError(Exception):
    def __init__(self, code, msg):
        super().__init__(code, msg)
        self.code = code


def test_get_raises_original_exception_with_remote_traceback(rt):
    @rt.remote
    def explode():
        raise MyError(7, "boom here")

    with pytest.raises(MyError) as info:
        rt.get(explode.remote())
    err = info.value
    assert isinstance(err, rt.TaskError)
    assert err.code == 7
    assert "explode" in str(err) and "boom here" in str(err)
    assert "line" in str(err) and "in explode" in str(err)  # the remote traceback


def test_builtin_exception_types_are_preserved(rt):
    @rt.remote
    def zero():
        return 1 / 0

    with pytest.raises(ZeroDivisionError):
        rt.get(zero.remote())


def test_dependent_task_fails_with_the_same_error_without_running(rt):
    ran = rt.put(None)

    @rt.remote
    def bad():
        raise ValueError("first")

    @rt.remote
    def record(x):
        return "ran"

    with pytest.raises(ValueError, match="first"):
        rt.get(record.remote(bad.remote()))
    del ran


def test_error_from_nested_get_propagates(rt):
    @rt.remote
    def inner():
        raise IndexError("deep")

    @rt.remote
    def outer():
        return rt.get(inner.remote())

    with pytest.raises(IndexError, match="deep"):
        rt.get(outer.remote())


def test_get_timeout(rt, caps):
    caps("async")
    @rt.remote
    def slow():
        time.sleep(1.0)
        return 1

    r = slow.remote()
    t0 = time.time()
    with pytest.raises(rt.GetTimeoutError):
        rt.get(r, timeout=0.1)
    assert time.time() - t0 < 0.9
    assert isinstance(rt.GetTimeoutError("x"), TimeoutError)
    assert rt.get(r, timeout=10) == 1


def test_get_timeout_inside_a_task(rt, caps):
    caps("async")
    @rt.remote
    def slow():
        time.sleep(1.0)

    @rt.remote
    def impatient():
        try:
            rt.get(slow.remote(), timeout=0.1)
        except rt.GetTimeoutError:
            return "timed out"

    assert rt.get(impatient.remote()) == "timed out"


def test_cancel_pending_and_running_tasks(rt, caps):
    caps("async")
    @rt.remote
    def sleeper(t):
        time.sleep(t)
        return t

    running = [sleeper.remote(2.0) for _ in range(2)]
    queued = sleeper.remote(0.0)
    time.sleep(0.3)
    rt.cancel(queued)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(queued, timeout=10)
    rt.cancel(running[0])
    with pytest.raises(rt.TaskCancelledError):
        rt.get(running[0], timeout=10)
    rt.cancel(running[1], force=True)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(running[1], timeout=10)
    assert rt.get(sleeper.remote(0.01), timeout=20) == 0.01  # the pool still serves


def test_get_of_a_non_ref_says_what_to_do(rt):
    with pytest.raises(TypeError, match="ObjectRef"):
        rt.get(3)
    with pytest.raises(TypeError, match="ObjectRef"):
        rt.get([rt.put(1), "x"])


def test_calling_remote_function_directly_says_use_remote(rt):
    f = rt.remote(lambda: 1)
    with pytest.raises(TypeError, match=r"\.remote\("):
        f()
    C = rt.remote(type("K", (), {"m": lambda self: 1}))
    with pytest.raises(TypeError, match=r"\.remote\("):
        C()
    with pytest.raises(TypeError, match=r"\.remote\("):
        C.remote().m()


def test_unpicklable_argument_is_a_clear_error(rt):
    f = rt.remote(lambda x: 1)
    with pytest.raises(TypeError, match="(?i)could not serialize the argument"):
        f.remote(threading.Lock())
    with pytest.raises(TypeError, match="(?i)could not serialize"):
        rt.put(threading.Lock())


def test_unpicklable_result_names_the_task(rt, backend):
    f = rt.remote(lambda: threading.Lock())
    with pytest.raises(TypeError, match="pickle") as info:
        rt.get(f.remote())
    if backend != "ray":  # Ray words it its own way
        assert "could not serialize the result of <lambda>" in str(info.value)


@pytest.mark.parametrize("what", [3, "f", None, object()])
def test_remote_on_something_not_callable_is_a_clear_error(what):
    import runtime
    for deco in (runtime.remote, runtime.remote(num_cpus=1)):
        with pytest.raises(TypeError, match="applies to a function or a class"):
            deco(what)


def test_remote_on_a_remote_function_is_a_clear_error():
    import runtime
    f = runtime.remote(lambda: 1)
    with pytest.raises(TypeError, match="already remote"):
        runtime.remote(num_cpus=1)(f)


def test_invalid_options_are_clear_errors(rt):
    f = rt.remote(lambda: 1)
    with pytest.raises(ValueError, match="num_cpus"):
        f.options(num_cpus=-1)
    with pytest.raises(ValueError, match="unknown option"):
        f.options(bogus=1)
    with pytest.raises(ValueError, match="max_retries"):
        rt.remote(max_retries="x")(lambda: 1)


def test_use_after_shutdown_says_what_to_do(backend):
    import runtime
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=1, backend=backend)
    r = runtime.put(1)
    runtime.shutdown()
    with pytest.raises(runtime.RuntimeBaseError, match="init"):
        runtime.get(r)
    assert not runtime.is_initialized()
