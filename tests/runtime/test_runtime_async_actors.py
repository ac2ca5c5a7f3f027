"""Async actors: a class with an ``async def`` method runs its calls on one asyncio event loop."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from .gates import held, peak_of_gated_calls, touch, wait_for_file


class Meeting:
    """Calls that can only finish together: each waits for the others to arrive."""

    def __init__(self, n):
        self.n = n
        self.arrived = 0
        self.all_here = asyncio.Event()

    async def meet(self, i):
        self.arrived += 1
        if self.arrived == self.n:
            self.all_here.set()
        await asyncio.wait_for(self.all_here.wait(), 60)
        return i

    def arrivals(self):  # a sync method of an async actor runs on the same loop
        return self.arrived


def test_calls_of_an_async_actor_overlap_on_its_event_loop(rt, caps):
    caps("async")
    a = rt.remote(Meeting).remote(20)
    # one call at a time, the first would wait for the others for ever (60 s, then TimeoutError)
    assert rt.get([a.meet.remote(i) for i in range(20)], timeout=60) == list(range(20))
    assert rt.get(a.arrivals.remote(), timeout=60) == 20


class Calc:
    def __init__(self):
        self.total = 0

    async def add(self, k):
        await asyncio.sleep(0)
        self.total += k
        return self.total

    def total_now(self):
        return self.total

    async def fail(self):
        await asyncio.sleep(0)
        raise KeyError("async nope")

    async def pair(self):
        await asyncio.sleep(0)
        return "a", "b"


def test_async_actor_calls_return_their_awaited_results_and_errors(rt):
    C = rt.remote(Calc)
    c = C.remote()
    # each call's result is the total after its add; Ray does not promise an async actor's
    # calls run in the order sent (this runtime starts them in that order), so the totals
    # are those of some order of the three adds
    got = rt.get([c.add.remote(k) for k in (1, 2, 3)], timeout=60)
    assert max(got) == 6 and len(set(got)) == 3 and set(got) <= {1, 2, 3, 4, 5, 6}
    assert rt.get(c.total_now.remote(), timeout=60) == 6
    with pytest.raises(rt.TaskError) as info:
        rt.get(c.fail.remote(), timeout=60)
    assert isinstance(info.value.cause, KeyError) and "async nope" in str(info.value)
    first, second = c.pair.options(num_returns=2).remote()
    assert rt.get([first, second], timeout=60) == ["a", "b"]
    assert rt.get(c.add.remote(c.add.remote(1)), timeout=60) == 14  # a ref argument: 7, then 14


class Sleeper:
    def __init__(self):
        self.seen = []

    async def sleep_forever(self, started):
        touch(started)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.seen.append("cancelled")
            raise
        return "woke"

    def seen_now(self):
        return self.seen


def test_cancel_of_a_running_async_call_cancels_its_coroutine(rt, caps, tmp_path):
    # Ray: cancelling a running call of an async actor cancels its asyncio task (the coroutine
    # gets CancelledError at its await), and get raises TaskCancelledError; the actor lives on
    caps("async")
    s = rt.remote(Sleeper).remote()
    started = tmp_path / "started"
    r = s.sleep_forever.remote(str(started))
    wait_for_file(started)
    rt.cancel(r)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(r, timeout=60)
    assert rt.get(s.seen_now.remote(), timeout=60) == ["cancelled"]


class Gated:
    def __init__(self):
        self.now = 0
        self.peak = 0

    async def run(self, i, folder):
        self.now += 1
        self.peak = max(self.peak, self.now)
        touch(os.path.join(folder, f"started-{i}"))
        while not os.path.exists(os.path.join(folder, "go")):
            await asyncio.sleep(0.01)
        self.now -= 1
        return i

    def peak_now(self):
        return self.peak


def test_an_async_actor_runs_at_most_max_concurrency_calls_at_once(rt, caps, tmp_path):
    caps("async")
    g = rt.remote(Gated).options(max_concurrency=2).remote()
    assert peak_of_gated_calls(rt, g, 6, 2, tmp_path) == 2


def test_max_concurrency_below_1_is_refused(rt):
    # above 1 without async methods: a threaded actor (test_runtime_threaded_actors)
    class Plain:
        def f(self):
            return 1

    with pytest.raises(ValueError, match="max_concurrency"):
        rt.remote(Calc).options(max_concurrency=0)
    assert rt.get(rt.remote(Plain).options(max_concurrency=1).remote().f.remote(), timeout=60) == 1


class Holder:
    def __init__(self):
        self.pid = os.getpid()

    async def hold(self, marker):
        if not os.path.exists(marker):  # the first run waits until its process is killed
            touch(marker)
            await asyncio.Event().wait()
        return self.pid

    def pid_now(self):
        return self.pid


def test_calls_in_flight_on_an_async_actor_retry_after_its_restart(rt, caps, tmp_path):
    caps("processes")
    a = rt.remote(Holder).options(max_restarts=1, max_task_retries=1).remote()
    pid = rt.get(a.pid_now.remote(), timeout=60)
    markers = [str(tmp_path / f"m{i}") for i in range(2)]
    refs = [a.hold.remote(m) for m in markers]
    for m in markers:  # both run at once, each in its own await
        wait_for_file(m)
    os.kill(pid, signal.SIGKILL)
    pids = rt.get(refs, timeout=60)  # rerun in the new process, by a new instance
    assert pids[0] == pids[1] != pid
    os.kill(pids[0], signal.SIGKILL)  # no restart left: it dies
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.hold.remote(markers[0]), timeout=60)


class Relay:
    def __init__(self):
        self.started = asyncio.Event()

    async def second(self):
        await self.started.wait()
        return "second"

    async def first(self, boxed):
        self.started.set()
        return await boxed[0]  # a blocking get here would hold the loop: second never ends

    async def square_of(self, square, x):
        return await square.remote(x)

    async def error_of(self, fails):
        try:
            await fails.remote()
        except ValueError as e:  # the task's error: a TaskError that is a ValueError too
            return type(e.cause).__name__, str(e.cause)
        return "no error"


def _square(x):
    return x * x


def _fails():
    raise ValueError("from a task")


def test_await_of_a_ref_in_an_async_actor_gives_its_value_or_its_error(rt):
    r = rt.remote(Relay).remote()
    assert rt.get(r.square_of.remote(rt.remote(_square), 7), timeout=60) == 49
    assert rt.get(r.error_of.remote(rt.remote(_fails)), timeout=60) == ("ValueError",
                                                                         "from a task")


def test_await_of_a_ref_lets_the_other_calls_of_an_async_actor_run(rt, caps):
    caps("async")
    r = rt.remote(Relay).remote()
    second = r.second.remote()
    assert rt.get(r.first.remote([second]), timeout=60) == "second"


class Napper:
    async def nap(self, x):
        await asyncio.sleep(0.05)
        return x


def test_a_call_cancelled_as_it_reaches_an_async_actor_reports_back(rt, caps):
    # a call whose asyncio task was cancelled before its first step never ran a line of it, so
    # reported nothing: get hung (about half of these)
    caps("async")
    n = rt.remote(Napper).remote()
    assert rt.get(n.nap.remote(-1), timeout=60) == -1
    for i in range(20):
        r = n.nap.remote(i)
        rt.cancel(r)
        try:
            assert rt.get(r, timeout=30) == i  # it may have finished before the cancel came
        except rt.TaskCancelledError:
            pass
    assert rt.get(n.nap.remote(20), timeout=60) == 20


class Awaiter:
    async def await_gated(self, gated, gate):
        return await gated.remote(gate)

    def turns(self):  # how often the actor's event loop has looked for work so far
        from runtime import worker
        return worker._WORKER.aio.turns


def test_an_async_actor_awaiting_a_ref_does_not_poll_its_socket(rt, caps, tmp_path):
    # while a thread of the actor waited for the ref (reading the socket), the loop looked
    # whether it could read every millisecond: about 1,000 turns a second, 6 % of a core
    caps("shm")  # the local backend's worker processes
    a = rt.remote(Awaiter).remote()
    gate = tmp_path / "gate"
    before = rt.get(a.turns.remote(), timeout=60)
    r = a.await_gated.remote(rt.remote(held), str(gate))
    time.sleep(1.0)
    gate.write_text("")
    assert rt.get(r, timeout=60) == "held"
    # with threads alive the loop still reports their refs every 0.1 s: about 10 turns
    assert rt.get(a.turns.remote(), timeout=60) - before < 60
