"""Actors: state, call ordering, named actors, handles passed around, death."""
from __future__ import annotations

import os
import threading
import time

import pytest

from .gates import held, touch, wait_for_file


class Counter:
    def __init__(self, start=0):
        self.n = start
        self.log = []

    def add(self, k=1):
        self.n += k
        self.log.append(k)
        return self.n

    def history(self):
        return self.log

    def pid(self):
        return os.getpid()

    def fail(self):
        raise KeyError("nope")

    def pair(self):
        return 1, 2


def test_actor_keeps_state_in_one_process(rt, caps):
    caps("processes")
    C = rt.remote(Counter)
    c = C.remote(10)
    assert rt.get([c.add.remote() for _ in range(3)]) == [11, 12, 13]
    assert len(set(rt.get([c.pid.remote() for _ in range(5)]))) == 1
    assert rt.get(c.pid.remote()) != os.getpid()


class Guarded:
    """State that cannot be pickled (a lock, as env wrappers and sockets hold)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0

    def inc(self):
        with self.lock:
            self.n += 1
            return self.n


def test_actor_state_need_not_be_picklable(rt):
    g = rt.remote(Guarded).remote()
    assert rt.get([g.inc.remote() for _ in range(3)]) == [1, 2, 3]


def test_actor_calls_run_in_submission_order(rt):
    c = rt.remote(Counter).remote()
    refs = [c.add.remote(i) for i in range(200)]
    rt.get(refs)
    assert rt.get(c.history.remote()) == list(range(200))


def test_order_kept_when_an_earlier_call_waits_for_a_dependency(rt):
    @rt.remote
    def slow(x):
        time.sleep(0.3)
        return x

    c = rt.remote(Counter).remote()
    c.add.remote(slow.remote(5))
    c.add.remote(1)
    assert rt.get(c.history.remote()) == [5, 1]


def _adds_one(counter):
    import runtime
    return runtime.get(counter.add.remote(1), timeout=60)


def test_a_call_waiting_for_an_argument_holds_back_only_its_submitters_later_calls(rt):
    # Ray orders an actor's calls per submitter: "suppose an unfulfilled argument blocks a
    # previously submitted task. In this case, the actor can still execute tasks submitted by
    # a different worker". Here the driver's call waits for a task that waits for its own call
    # to the same actor: one queue for all submitters deadlocked (get timed out)
    c = rt.remote(Counter).remote(10)
    assert rt.get(c.add.remote(rt.remote(_adds_one).remote(c)), timeout=60) == 22
    assert rt.get(c.history.remote(), timeout=60) == [1, 11]


class _GetsInItsConstructor:
    def __init__(self, box):
        import runtime
        self.x = runtime.get(box[0], timeout=30)

    def value(self):
        return self.x


def test_an_actor_constructor_may_get_while_calls_queue_behind_it(rt):
    @rt.remote
    def one():
        time.sleep(0.2)  # the calls below reach the actor before the constructor's get
        return 1

    a = rt.remote(_GetsInItsConstructor).remote([one.remote()])
    refs = [a.value.remote() for _ in range(3)]
    # before: the constructor's get handed the queued calls back as pool tasks, and sending
    # one to a pool worker killed the dispatcher (KeyError), so every call raised RuntimeError
    assert rt.get(refs, timeout=30) == [1, 1, 1]
    assert rt.get(one.remote(), timeout=30) == 1  # and the pool still serves


def test_actor_method_error_keeps_the_actor_alive(rt):
    c = rt.remote(Counter).remote()
    with pytest.raises(KeyError):
        rt.get(c.fail.remote())
    assert rt.get(c.add.remote()) == 1


def test_method_num_returns(rt):
    @rt.remote
    class P:
        @rt.method(num_returns=2)
        def pair(self):
            return 1, 2

    p = P.remote()
    a, b = p.pair.remote()
    assert rt.get([a, b]) == [1, 2]
    x, y = rt.remote(Counter).remote().pair.options(num_returns=2).remote()
    assert rt.get(y) == 2


def test_named_actor_lookup(rt):
    C = rt.remote(Counter)
    c = C.options(name="counter-a").remote(5)
    again = rt.get_actor("counter-a")
    assert rt.get(again.add.remote()) == 6
    assert rt.get(c.add.remote()) == 7
    with pytest.raises(ValueError, match="already exists"):
        C.options(name="counter-a").remote()
    same = C.options(name="counter-a", get_if_exists=True).remote()
    assert rt.get(same.add.remote()) == 8
    with pytest.raises(ValueError, match="no-such"):
        rt.get_actor("no-such")


def test_a_task_looking_up_or_creating_an_actor_keeps_the_tasks_queued_behind_it(rt, backend):
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")
    keep = rt.remote(Counter).options(name="counter-q").remote()

    @rt.remote
    def look_up_with_a_task_queued():
        from runtime import worker
        w = worker._WORKER
        queued = ("task", 0)  # stands for a short task the driver sent behind this one
        w.queue.append(queued)
        try:
            rt.get_actor("counter-q")
            looked_up = queued in w.queue
            made = rt.remote(Counter).remote()
            created = queued in w.queue
            return looked_up, created, rt.get(made.add.remote(), timeout=30)  # a get hands it back
        finally:
            if queued in w.queue:
                w.queue.remove(queued)

    # before: both, answered by the driver at once, handed every queued task back as a get
    # does (which may wait for them); with short tasks pipelined, each was sent again
    assert rt.get(look_up_with_a_task_queued.remote(), timeout=60) == (True, True, 1)
    del keep


def test_a_failed_lookup_hands_the_tasks_queued_behind_it_back(rt, backend):
    # a task polling get_actor for a name that a task queued behind it registers: kept
    # queued, that task never ran while the poll went on (seen end to end: a poller with
    # its creator pipelined behind it gave up after 5 s, and the creator ran then)
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")

    @rt.remote
    def look_up_a_name_not_registered_yet():
        from runtime import worker
        w = worker._WORKER
        queued = ("task", 0)  # stands for a short task the driver sent behind this one
        w.queue.append(queued)
        try:
            try:
                rt.get_actor("registered-later-q")
            except ValueError:
                pass
            return queued in w.queue
        finally:
            if queued in w.queue:
                w.queue.remove(queued)

    assert rt.get(look_up_a_name_not_registered_yet.remote(), timeout=60) is False


def test_a_handle_a_task_looked_up_by_name_keeps_the_actor_alive(rt, tmp_path, backend):
    if backend == "ray":
        pytest.skip("Ray counts only the creator's handles: a lookup's does not keep it alive")
    import gc
    c = rt.remote(Counter).options(name="looked-up").remote()
    assert rt.get(c.add.remote()) == 1
    pid = rt.get(c.pid.remote())
    flag = tmp_path / "found"

    @rt.remote
    def look_up_then_call(flag):
        h = rt.get_actor("looked-up")
        open(flag, "w").close()
        time.sleep(0.5)  # the driver drops its handle meanwhile
        return rt.get(h.add.remote(), timeout=30)

    r = look_up_then_call.remote(str(flag))
    deadline = time.monotonic() + 30
    while not flag.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    del c
    gc.collect()
    rt.put(0)  # any API call processes released handles
    # before: the looked-up handle was reported after the lookup (at the task's next message),
    # so the driver's was the last: the actor exited and the call raised ActorDiedError
    assert rt.get(r, timeout=30) == 2
    if backend == "local":  # and the lookup is not counted twice: the actor exits now
        rt.put(0)
        assert _wait_gone(pid)


def test_handles_pass_to_tasks_and_actors_call_tasks(rt):
    c = rt.remote(Counter).remote()

    @rt.remote
    def bump(h, k):
        return rt.get(h.add.remote(k))

    assert rt.get(bump.remote(c, 5)) == 5

    @rt.remote
    class Caller:
        def run(self, h):
            sq = rt.remote(lambda x: x * x)
            return rt.get(h.add.remote(rt.get(sq.remote(3))))

    assert rt.get(Caller.remote().run.remote(c)) == 14


def test_killed_actor_raises_actor_died(rt):
    c = rt.remote(Counter).options(name="doomed").remote()
    assert rt.get(c.add.remote()) == 1
    rt.kill(c)
    with pytest.raises(rt.ActorDiedError):
        rt.get(c.add.remote(), timeout=10)
    with pytest.raises(ValueError):
        rt.get_actor("doomed")


def test_actor_process_death_raises_actor_died(rt, caps):
    caps("processes")
    c = rt.remote(Counter).remote()
    pid = rt.get(c.pid.remote())
    os.kill(pid, 9)
    with pytest.raises(rt.ActorDiedError):
        rt.get(c.add.remote(), timeout=10)


def test_constructor_error_kills_the_actor(rt):
    @rt.remote
    class Bad:
        def __init__(self):
            raise RuntimeError("ctor")

        def f(self):
            return 1

    b = Bad.remote()
    with pytest.raises(rt.ActorDiedError, match="ctor"):
        rt.get(b.f.remote(), timeout=10)


class CtorError(Exception):
    """A user's exception raised by an actor's constructor."""


class LockedError(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def test_actor_died_error_carries_the_constructors_exception_as_cause(rt):
    @rt.remote
    class Bad:
        def __init__(self, k):
            raise CtorError(f"ctor {k}", k)

        def f(self):
            return 1

    b = Bad.remote(7)
    for _ in range(2):  # the call that finds it dying, and one sent after it died
        with pytest.raises(rt.ActorDiedError) as info:
            rt.get(b.f.remote(), timeout=30)
        cause = info.value.cause
        assert type(cause) is CtorError
        assert cause.args == ("ctor 7", 7)


def test_actor_died_cause_of_a_locally_defined_exception_class(rt):
    class LocalError(ValueError):
        pass

    @rt.remote
    class Bad:
        def __init__(self):
            raise LocalError("made here")

        def f(self):
            return 1

    with pytest.raises(rt.ActorDiedError) as info:
        rt.get(Bad.remote().f.remote(), timeout=30)
    assert isinstance(info.value.cause, ValueError)
    assert type(info.value.cause).__name__ == "LocalError"
    assert str(info.value.cause) == "made here"


def test_actor_died_of_an_unpicklable_constructor_error_is_still_clear(rt, backend):
    @rt.remote
    class Bad:
        def __init__(self):
            raise LockedError()

        def f(self):
            return 1

    with pytest.raises(rt.ActorDiedError, match="holds a lock") as info:
        rt.get(Bad.remote().f.remote(), timeout=30)
    if backend != "ray":  # Ray's own handling of an unpicklable exception is Ray's
        cause = info.value.cause
        assert type(cause) is RuntimeError
        assert "LockedError: holds a lock (original exception not picklable)" in str(cause)


def test_an_actor_whose_constructor_argument_failed_dies_with_that_error(rt):
    @rt.remote
    def broken():
        raise CtorError("no argument")

    @rt.remote
    class Needs:
        def __init__(self, x):
            self.x = x

        def f(self):
            return self.x

    n = Needs.remote(broken.remote())
    with pytest.raises(rt.ActorDiedError, match="no argument") as info:
        rt.get(n.f.remote(), timeout=30)  # it waited forever: the actor never started
    assert type(info.value.cause) is CtorError


def test_an_actor_whose_constructor_argument_is_gone_dies_and_leaves_no_process(backend, stale_ref):
    import runtime

    @runtime.remote
    class Needs:
        def __init__(self, x):
            self.x = x

        def f(self):
            return self.x

    n = Needs.remote(stale_ref)  # a ref of the runtime shut down: its object is gone
    # before: the constructor failed as it was submitted, but its actor stayed alive and
    # never started: calls waited for ever, and its process ran until shutdown
    with pytest.raises(runtime.ActorDiedError, match="was freed") as info:
        runtime.get(n.f.remote(), timeout=30)
    assert isinstance(info.value.cause, runtime.ObjectLostError)
    if backend == "local":
        client = runtime.api._client
        deadline = time.monotonic() + 30
        while len(client.processes()) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(client.processes()) == 1


def test_actor_died_for_another_reason_has_no_cause(rt, caps):
    c = rt.remote(Counter).remote()
    assert rt.get(c.add.remote()) == 1
    rt.kill(c)
    with pytest.raises(rt.ActorDiedError) as info:
        rt.get(c.add.remote(), timeout=30)
    assert info.value.cause is None


def _wait_gone(pid, timeout=10.0):
    import psutil
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:  # gone between two looks, as pid_exists-then-Process raced
            return True
        time.sleep(0.05)
    return False


def test_actor_exits_when_its_last_handle_is_gone_after_pending_calls(rt, caps):
    caps("processes")
    import gc

    @rt.remote
    class Slow:
        def pid(self):
            return os.getpid()

        def work(self, t):
            time.sleep(t)
            return "done"

    a = Slow.remote()
    pid = rt.get(a.pid.remote())
    r = a.work.remote(0.5)
    del a
    gc.collect()
    assert rt.get(r, timeout=30) == "done"  # the pending call still ran
    rt.put(0)  # any API call processes released handles
    assert _wait_gone(pid)


class _SlowInit:
    def __init__(self, flag):
        with open(flag, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(0.5)  # the driver drops the handle meanwhile


def test_an_actor_dropped_while_its_constructor_runs_exits(rt, caps, tmp_path, backend):
    caps("processes")
    if backend == "ray":
        pytest.skip("Ray may drop the actor before its constructor runs at all")
    import gc
    flag = tmp_path / "pid"
    rt.remote(_SlowInit).remote(str(flag))  # the handle is gone at once
    gc.collect()
    rt.put(0)  # any API call processes released handles
    deadline = time.monotonic() + 30
    while not flag.exists() or not flag.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # before: the last handle went while the constructor ran (not idle), and nothing looked
    # again once it finished: the actor's process ran until shutdown
    assert _wait_gone(int(flag.read_text()))


def test_an_actor_dropped_with_a_call_whose_argument_fails_exits(rt, caps):
    caps("processes")
    import gc

    @rt.remote
    def fails():
        time.sleep(0.3)  # the handle is gone before the call's argument fails
        raise KeyError("no argument")

    c = rt.remote(Counter).remote()
    pid = rt.get(c.pid.remote())
    r = c.add.remote(fails.remote())
    del c
    gc.collect()
    rt.put(0)  # any API call processes released handles
    with pytest.raises(KeyError):
        rt.get(r, timeout=30)
    # before: the call failed in the actor's queue without running, and nothing looked again
    # whether the actor was idle: its process ran until shutdown
    assert _wait_gone(pid)


def test_handles_held_by_tasks_keep_the_actor_alive(rt, caps):
    caps("processes")
    import gc
    c = rt.remote(Counter).remote()
    pid = rt.get(c.pid.remote())

    @rt.remote
    def use_later(box):
        time.sleep(0.5)
        return rt.get(box[0].add.remote(3))

    r = use_later.remote([c])
    del c
    gc.collect()
    rt.put(0)
    assert rt.get(r, timeout=30) == 3
    rt.put(0)
    assert _wait_gone(pid)


class _Keeper:
    def keep(self, box):
        self.handle = box[0]
        time.sleep(0.3)  # the driver drops its handle meanwhile
        return True

    def add(self):
        import runtime
        return runtime.get(self.handle.add.remote(5), timeout=30)


def test_a_handle_an_actor_keeps_from_its_arguments_keeps_the_actor_alive(rt):
    import gc
    keeper = rt.remote(_Keeper).remote()
    c = rt.remote(Counter).remote()
    assert rt.get(c.add.remote(1)) == 1
    done = keeper.keep.remote([c])
    del c  # the call's arguments hold the handle now, then the handle the keeper kept
    gc.collect()
    assert rt.get(done, timeout=30)
    # before: the keeper's worker reported the handle it unpickled after the call's end, which
    # released the arguments first: the actor exited ("does not exist in this runtime")
    assert rt.get(keeper.add.remote(), timeout=30) == 6


def test_detached_and_named_lookups_keep_working(rt, caps):
    caps("processes")
    import gc
    C = rt.remote(Counter)
    C.options(name="keeper", lifetime="detached").remote()
    gc.collect()
    rt.put(0)
    time.sleep(0.2)
    assert rt.get(rt.get_actor("keeper").add.remote()) == 1
    rt.kill(rt.get_actor("keeper"))


class _Broken:
    def __init__(self):
        raise ValueError("no")

    def ping(self):
        return "pong"


def test_the_driver_forgets_dead_actors_once_no_handle_is_left(fresh, backend):
    if backend != "local":
        pytest.skip("reads the local driver's scheduler state")
    import gc
    rt = fresh
    sched = rt.api._client.sched
    for _ in range(3):
        killed = rt.remote(Counter).remote()
        assert rt.get(killed.add.remote()) == 1
        rt.kill(killed)
        dropped = rt.remote(Counter).remote()  # exits when its last handle goes
        assert rt.get(dropped.add.remote()) == 1
        broken = rt.remote(_Broken).remote()
        with pytest.raises(rt.ActorDiedError):
            rt.get(broken.ping.remote(), timeout=30)
        del killed, dropped, broken
        gc.collect()
    rt.put(0)  # any API call processes released handles
    # before: every actor's record (its process's, its constructor's) stayed until shutdown
    with sched.lock:
        assert sched.actors == {}
    client = rt.api._client
    deadline = time.monotonic() + 30
    while len(client.all_workers) > 2:  # the actors' processes are reaped, then forgotten
        assert time.monotonic() < deadline, f"{len(client.all_workers)} worker records kept"
        time.sleep(0.05)


def test_the_inline_backend_forgets_actors_once_no_handle_is_left(fresh, backend):
    if backend != "inline":
        pytest.skip("reads the inline client's state")
    import gc
    rt = fresh
    client = rt.api._client
    kept = rt.remote(Counter).options(name="kept").remote()
    for i in range(3):
        killed = rt.remote(Counter).options(name=f"killed-{i}").remote()
        assert rt.get(killed.add.remote()) == 1
        rt.kill(killed)
        dropped = rt.remote(Counter).options(name=f"dropped-{i}").remote()
        again = rt.get_actor(f"dropped-{i}")
        boxed = rt.put([dropped])  # a handle inside a stored object counts too
        del dropped, again
        gc.collect()
        rt.put(0)
        assert rt.get(rt.get(boxed)[0].add.remote()) == 1
        broken = rt.remote(_Broken).remote()
        with pytest.raises(rt.ActorDiedError):
            rt.get(broken.ping.remote())
        del killed, boxed, broken
        gc.collect()
    rt.put(0)  # any API call processes released handles
    # before: every actor's record and class metadata stayed until shutdown
    assert list(client.actors) == [kept._aid]
    assert list(client.meta) == [kept._aid]
    assert list(client.names) == ["kept"]
    with pytest.raises(ValueError, match="no live actor"):
        rt.get_actor("dropped-0")  # its name went with it
    assert rt.get(kept.add.remote()) == 1


def test_cancel_of_an_actor_call_queued_on_its_actor_stops_it_running(rt, caps, backend,
                                                                        tmp_path):
    # Ray's rule: a call that has not started never runs; a running one is not interrupted
    caps("parallel")
    gate, started = tmp_path / "go", tmp_path / "started"

    a = rt.remote(CallLog).remote()
    first = a.first.remote(str(gate), str(started))
    queued = [a.add.remote(i) for i in range(3)]  # sent to the actor, queued behind first
    wait_for_file(started, "the first call's start")
    rt.cancel(queued[1])
    if backend != "ray":
        rt.cancel(first)  # running: not interrupted, it keeps its result
    gate.write_text("")
    assert rt.get(first, timeout=60) == "first"
    assert rt.get(queued[0], timeout=60) == 0 and rt.get(queued[2], timeout=60) == 2
    with pytest.raises(rt.TaskCancelledError):
        rt.get(queued[1], timeout=60)
    # before: cancel did nothing once the call was sent to the actor; it ran
    assert rt.get(a.ran_calls.remote(), timeout=60) == ["first", 0, 2]


class CallLog:
    """An actor that logs the calls it runs; ``first`` holds until its gate opens."""

    def __init__(self):
        self.ran = []

    def first(self, gate, started):
        touch(started)
        self.ran.append(held(gate, "first"))
        return "first"

    def add(self, x):
        self.ran.append(x)
        return x

    def ran_calls(self):
        return self.ran


def _adds(log, x, marker):
    import runtime
    ref = log.add.remote(x)
    open(marker, "w").close()
    return runtime.get(ref, timeout=60)


def test_a_call_cancelled_while_queued_behind_another_submitters_later_call_never_runs(
        rt, caps, tmp_path):
    # another submitter's call, submitted later, may reach the actor first (Ray's order is per
    # submitter): the actor must not take the queued cancelled call for one that ran already
    caps("parallel")
    gate, started, arg_gate = tmp_path / "go", tmp_path / "started", tmp_path / "arg"
    submitted = tmp_path / "submitted"

    a = rt.remote(CallLog).remote()
    first = a.first.remote(str(gate), str(started))
    wait_for_file(started)
    arg = rt.remote(held).remote(str(arg_gate), "late")
    late = a.add.remote(arg)  # waits in the driver for its argument
    other = rt.remote(_adds).remote(a, "other", str(submitted))  # sent to the actor at once
    wait_for_file(submitted)
    time.sleep(0.5)  # the driver passes it on to the actor's process
    arg_gate.write_text("")
    rt.wait([arg], timeout=60)  # the late call goes to the actor, queued behind "other"
    rt.cancel(late)
    gate.write_text("")
    assert rt.get(first, timeout=60) == "first" and rt.get(other, timeout=60) == "other"
    with pytest.raises(rt.TaskCancelledError):
        rt.get(late, timeout=60)
    assert rt.get(a.ran_calls.remote(), timeout=60) == ["first", "other"]


def test_a_cancelled_actor_call_is_not_rerun_when_its_actor_restarts(rt, caps, tmp_path):
    caps("processes")
    started = tmp_path / "started"

    @rt.remote(max_restarts=1, max_task_retries=1)
    class Slow:
        def hang(self, started):
            if not os.path.exists(started):
                touch(started)
                time.sleep(60)
            return "hang"

        def add(self, x):
            return x

    a = Slow.remote()
    hang = a.hang.remote(str(started))
    queued = [a.add.remote(i) for i in range(2)]
    wait_for_file(started, "the first call's start")
    rt.cancel(queued[0])
    rt.kill(a, no_restart=False)  # restarted: the calls in flight are retried, not the cancelled
    assert rt.get(hang, timeout=60) == "hang" and rt.get(queued[1], timeout=60) == 1
    with pytest.raises(rt.TaskCancelledError):
        rt.get(queued[0], timeout=60)


def test_force_cancel_of_an_actor_call_is_refused_as_ray_refuses_it(rt, caps, backend, tmp_path):
    # Ray: "Only force=False is allowed for an Actor Task", else ValueError (kill the actor)
    caps("parallel")
    gate, started = tmp_path / "go", tmp_path / "started"

    @rt.remote
    class Gate:
        def first(self, gate, started):
            touch(started)
            return held(gate, "first")

        def add(self, x):
            return x

    @rt.remote
    def force_cancel(boxed):
        try:
            rt.cancel(boxed[0], force=True)
        except ValueError as e:
            return str(e)
        return "no error"

    a = Gate.remote()
    first = a.first.remote(str(gate), str(started))
    queued = a.add.remote(1)
    wait_for_file(started, "the first call's start")
    for ref in (first, queued):  # running, and queued behind it
        with pytest.raises(ValueError, match="force=True"):
            rt.cancel(ref, force=True)
    if backend != "ray":  # from inside a task: the same error there
        assert "force=True" in rt.get(force_cancel.remote([queued]), timeout=60)
    gate.write_text("")
    # before: no error, and the queued call was cancelled as with force=False
    assert rt.get(first, timeout=60) == "first" and rt.get(queued, timeout=60) == 1
    assert rt.get(a.add.remote(2), timeout=60) == 2  # the actor lives on


def test_an_actor_forgets_the_calls_cancelled_while_they_ran(rt, caps, backend, tmp_path):
    # each cancel of a running call left its id in the actor's process for ever
    caps("processes")
    if backend == "ray":
        pytest.skip("reads the local backend's actor process")

    @rt.remote
    class Slow:
        def wait_for(self, gate, started):
            touch(started)
            return held(gate, gate)

        def cancels_kept(self):
            from runtime import api
            return len(api._client.cancelled)

    a = Slow.remote()
    for i in range(5):
        gate, started = tmp_path / f"go{i}", tmp_path / f"started{i}"
        ref = a.wait_for.remote(str(gate), str(started))
        wait_for_file(started, "the call's start")
        rt.cancel(ref)  # running: not interrupted, it keeps its result
        gate.write_text("")
        assert rt.get(ref, timeout=60) == str(gate)
    assert rt.get(a.cancels_kept.remote(), timeout=60) == 0  # before: 5


def test_get_if_exists_from_tasks_at_once_gives_them_all_one_actor(rt, caps):
    # two tasks looked the name up, found nothing, and both created: one got "already exists"
    caps("parallel")

    @rt.remote
    class Named:
        def pid(self):
            return os.getpid()

    @rt.remote
    def get_or_create(name, at):
        time.sleep(max(0.0, at - time.time()))  # both look the name up at the same moment
        h = Named.options(name=name, get_if_exists=True).remote()
        return rt.get(h.pid.remote()), h  # the handle keeps the actor alive for the other

    for trial in range(5):
        at = time.time() + 0.3
        (pid1, h1), (pid2, h2) = rt.get([get_or_create.remote(f"shared-{trial}", at)
                                         for _ in range(2)], timeout=60)
        assert pid1 == pid2 and h1 == h2  # before: TaskError(ValueError: ... already exists)
        rt.kill(h1)


def test_get_actor_takes_rays_namespace_argument(rt):
    # ray.get_actor(name, namespace=None): code written for Ray passes it; it raised TypeError
    @rt.remote
    class Spaced:
        def ping(self):
            return "pong"

    a = Spaced.options(name="spaced", namespace="team").remote()
    h = rt.get_actor("spaced", namespace="team")  # before: TypeError (unexpected keyword)
    assert rt.get(h.ping.remote(), timeout=60) == "pong"
    with pytest.raises(TypeError, match="namespace"):
        rt.get_actor("spaced", namespace=3)
    rt.kill(a)


def test_get_actor_of_an_empty_name_raises_value_error_as_ray(rt):
    # ray.get_actor: "if not name: raise ValueError"; this raised TypeError
    for name in ("", None):
        with pytest.raises(ValueError, match="name"):
            rt.get_actor(name)
    with pytest.raises(TypeError, match="string"):
        rt.get_actor(3)


def test_kill_of_what_is_not_an_actor_raises_value_error_as_ray(rt):
    # ray.kill: "only supported for actors" is a ValueError; this raised TypeError
    @rt.remote
    def f():
        return 1

    for bad in (f.remote(), "actor", None):
        with pytest.raises(ValueError, match="actor handle"):
            rt.kill(bad)


def test_get_if_exists_without_a_name_is_refused_as_ray_refuses_it(rt):
    # Ray: "The actor name must be specified to use `get_if_exists`" (ValueError); this made a
    # new actor at each call, never getting the one that exists
    C = rt.remote(Counter)
    with pytest.raises(ValueError, match="get_if_exists"):
        C.options(get_if_exists=True).remote()
    with pytest.raises(ValueError, match="get_if_exists"):
        rt.remote(get_if_exists=True)(Counter)
    c = C.options(name="named-if-exists", get_if_exists=True).remote()
    assert rt.get(c.add.remote(), timeout=60) == 1
    rt.kill(c)
