"""Threaded actors: an actor without async methods and max_concurrency N > 1 runs up to N of its
calls at once, each on a thread of a pool in its process (Ray's threaded actors)."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import runtime

from .gates import held, peak_of_gated_calls, touch, wait_for_file


class Meeting:
    """Calls that can only finish together: each waits at a barrier for the others."""

    def __init__(self, n):
        self.barrier = threading.Barrier(n)

    def meet(self, i):
        self.barrier.wait(timeout=60)  # one call at a time: BrokenBarrierError after 60 s
        return i


def test_calls_of_a_threaded_actor_overlap_on_its_threads(rt, caps):
    caps("parallel")
    a = rt.remote(max_concurrency=4)(Meeting).remote(4)  # the decorator's option
    assert rt.get([a.meet.remote(i) for i in range(4)], timeout=90) == list(range(4))
    b = rt.remote(Meeting).options(max_concurrency=8).remote(8)  # and options()
    assert rt.get([b.meet.remote(i) for i in range(8)], timeout=90) == list(range(8))


class Gated:
    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def run(self, i, folder):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        touch(os.path.join(folder, f"started-{i}"))
        held(os.path.join(folder, "go"))
        with self.lock:
            self.now -= 1
        return i

    def peak_now(self):
        return self.peak


def test_a_threaded_actor_runs_at_most_max_concurrency_calls_at_once(rt, caps, tmp_path):
    caps("parallel")
    g = rt.remote(Gated).options(max_concurrency=3).remote()
    assert peak_of_gated_calls(rt, g, 8, 3, tmp_path) == 3


class Account:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0

    def add(self, k):
        with self.lock:
            self.total += k
            return self.total

    def total_now(self):
        return self.total

    def fail(self):
        raise KeyError("threaded nope")

    def pair(self):
        return "a", "b"


def test_threaded_actor_calls_return_their_results_and_errors(rt):
    c = rt.remote(Account).options(max_concurrency=4).remote()
    # Ray does not promise the order of a threaded actor's calls: the totals are those of some
    # order of the three adds
    got = rt.get([c.add.remote(k) for k in (1, 2, 3)], timeout=60)
    assert max(got) == 6 and len(set(got)) == 3 and set(got) <= {1, 2, 3, 4, 5, 6}
    assert rt.get(c.total_now.remote(), timeout=60) == 6
    with pytest.raises(rt.TaskError) as info:
        rt.get(c.fail.remote(), timeout=60)
    assert isinstance(info.value.cause, KeyError) and "threaded nope" in str(info.value)
    first, second = c.pair.options(num_returns=2).remote()
    assert rt.get([first, second], timeout=60) == ["a", "b"]
    assert rt.get(c.add.remote(c.add.remote(1)), timeout=60) == 14  # a ref argument: 7, then 14


class Log:
    def __init__(self):
        self.ran = []

    def hold(self, name, started, gate):
        touch(started)
        self.ran.append(held(gate, name))
        return name

    def add(self, x):
        self.ran.append(x)
        return x

    def ran_calls(self):
        return sorted(self.ran, key=str)


def test_a_queued_call_of_a_threaded_actor_cancelled_never_runs(rt, caps, backend, tmp_path):
    # Ray: a call that has not started never runs; a running one of a threaded actor is not
    # interrupted
    caps("parallel")
    a = rt.remote(Log).options(max_concurrency=2).remote()
    gate = str(tmp_path / "go")
    started = [str(tmp_path / f"s{i}") for i in range(2)]
    holding = [a.hold.remote(f"h{i}", started[i], gate) for i in range(2)]
    for s in started:  # both threads busy: the calls below wait in the actor's queue
        wait_for_file(s)
    queued = [a.add.remote(i) for i in range(3)]
    rt.cancel(queued[1])
    if backend != "ray":
        rt.cancel(holding[0])  # running: not interrupted, it keeps its result
    touch(gate)
    assert rt.get(holding, timeout=60) == ["h0", "h1"]
    assert rt.get(queued[0], timeout=60) == 0 and rt.get(queued[2], timeout=60) == 2
    with pytest.raises(rt.TaskCancelledError):
        rt.get(queued[1], timeout=60)
    assert rt.get(a.ran_calls.remote(), timeout=60) == [0, 2, "h0", "h1"]


class Holder:
    def __init__(self):
        self.pid = os.getpid()

    def hold(self, marker):
        if not os.path.exists(marker):  # the first run waits until its process is killed
            touch(marker)
            threading.Event().wait()
        return self.pid

    def pid_now(self):
        return self.pid


def test_calls_in_flight_on_a_threaded_actor_retry_after_its_restart(rt, caps, tmp_path):
    caps("processes")
    a = rt.remote(Holder).options(max_concurrency=2, max_restarts=1, max_task_retries=1).remote()
    pid = rt.get(a.pid_now.remote(), timeout=60)
    markers = [str(tmp_path / f"m{i}") for i in range(2)]
    refs = [a.hold.remote(m) for m in markers]
    for m in markers:  # both run at once, each on a thread
        wait_for_file(m)
    os.kill(pid, signal.SIGKILL)
    pids = rt.get(refs, timeout=60)  # rerun in the new process, by a new instance
    assert pids[0] == pids[1] != pid
    markers = [str(tmp_path / f"n{i}") for i in range(2)]
    refs = [a.hold.remote(m) for m in markers]
    for m in markers:
        wait_for_file(m)
    os.kill(pids[0], signal.SIGKILL)  # no restart left: it dies with both calls in flight
    for r in refs:
        with pytest.raises(rt.ActorDiedError):
            rt.get(r, timeout=60)


def _child(started):
    touch(started)
    time.sleep(60)
    return "child finished"


class Parent:
    def spawn(self, child, started):
        return runtime.get(child.remote(started), timeout=90)


def test_cancel_of_a_running_threaded_call_cancels_the_tasks_it_submitted(rt, caps, tmp_path):
    # Ray: cancel(recursive=True), the default, cancels the call's children even when the call
    # itself, running, is not interrupted; here its get of the child then raises
    caps("parallel")
    child = rt.remote(_child)
    a = rt.remote(Parent).options(max_concurrency=2).remote()
    started = str(tmp_path / "child")
    r = a.spawn.remote(child, started)
    wait_for_file(started)
    rt.cancel(r)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(r, timeout=30)  # the child would sleep 60 s
