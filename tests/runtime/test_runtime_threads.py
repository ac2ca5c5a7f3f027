"""Threads of one task calling the runtime: each gets the answers to its own requests."""
from __future__ import annotations

import numpy as np
import pytest


def test_threads_of_a_task_each_get_their_own_values(fresh):
    rt = fresh

    @rt.remote
    def slow(i):
        import time
        time.sleep(0.02 * (i % 4))
        return ("slow", i, "x" * (i * 997))  # several sizes: replies of different lengths

    @rt.remote
    def fetch_in_threads(n_threads, rounds):
        import threading
        import time

        refs = []
        want = []
        for i in range(n_threads):
            if i % 2:  # pending for a while when the threads start
                refs.append(slow.remote(i))
                want.append(("slow", i, "x" * (i * 997)))
            else:  # ready at once
                refs.append(rt.put(("put", i, list(range(i * 50)))))
                want.append(("put", i, list(range(i * 50))))
        errors = []
        done = [0] * n_threads

        def fetch(i):
            try:
                for r in range(rounds):
                    if r % 5 == 4:
                        ready, _ = rt.wait([refs[i]], num_returns=1, timeout=10)
                        if ready != [refs[i]]:
                            errors.append((i, "wait", ready))
                            return
                    got = rt.get(refs[i], timeout=10)
                    if got != want[i]:
                        errors.append((i, "got", got[:2]))
                        return
                    done[i] += 1
            except BaseException as e:  # noqa: BLE001 - reported to the test below
                errors.append((i, "raised", repr(e)))

        threads = [threading.Thread(target=fetch, args=(i,), daemon=True)
                   for i in range(n_threads)]
        for t in threads:
            t.start()
        # the task's own thread asks too, meanwhile
        mine = [rt.get(slow.remote(j), timeout=10)[1] for j in range(4)]
        deadline = time.monotonic() + 20
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        hung = [i for i, t in enumerate(threads) if t.is_alive()]
        return errors, hung, done, mine

    for _ in range(3):
        errors, hung, done, mine = rt.get(fetch_in_threads.remote(8, 40), timeout=60)
        # before: the threads read the worker's socket at once; replies went to the wrong
        # thread (a value of another ref), frames were torn (unpickling errors), or a thread
        # waited for a reply another had taken and hung
        assert errors == []
        assert hung == []
        assert done == [40] * 8
        assert mine == [0, 1, 2, 3]



def test_nested_tasks_whose_side_threads_get_finish(fresh):
    rt = fresh

    @rt.remote
    def fib(n):
        import threading

        if n < 2:
            return n
        a, b = fib.remote(n - 1), fib.remote(n - 2)
        side = []
        t = threading.Thread(target=lambda: side.append(rt.get(b)), daemon=True)
        t.start()
        x = sum(rt.get([a, b]))
        t.join(20)
        return x if side == [x - rt.get(a)] else -1

    # before: the driver kept each worker's gets as one stack, as if it had one thread: a side
    # thread's answered get stayed on top and hid the main thread's open get below it (the
    # worker looked busy), and a help task finishing took other threads' open gets and running
    # help tasks off the stack; with every worker in such a state no task ran, and this timed out
    for n in (8, 9):
        assert rt.get(fib.remote(n), timeout=60) == [21, 34][n - 8]


def _interleaved_reports(worker, side):
    """Replace ``worker``'s pending ref reports by a dict that, while the task's thread reads
    them (``items``), runs ``side`` on another thread and waits for it. Returns the thread's
    outcome list (``"ok"`` or the exception it raised) and the thread, once started."""
    import threading

    outcome = []

    def run_side():
        try:
            side()
            outcome.append("ok")
        except BaseException as e:  # noqa: BLE001 - reported to the test
            outcome.append(e)

    class Interleaved(dict):
        def items(self):
            for kv in dict.items(self):
                yield kv
                if threading.current_thread() is threading.main_thread() and not started:
                    started.append(threading.Thread(target=run_side, daemon=True))
                    started[0].start()
                    started[0].join(10)

    started = []
    worker.deltas = Interleaved(worker.deltas)
    return outcome, started


def test_a_thread_of_a_task_submitting_leaves_the_tasks_ref_reports_alone(rt, backend):
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")

    @rt.remote
    def one():
        return 1

    @rt.remote
    def submit_from_a_thread_while_reporting(box):
        from runtime import worker
        made = []
        outcome, started = _interleaved_reports(worker._WORKER,
                                                lambda: made.append(one.remote()))
        total = float(rt.get(box[0]).sum())  # box[0] was unpickled: a report to send
        started[0].join(10)
        return total + rt.get(made[0], timeout=30), outcome

    # before: the thread's submit sent the worker's ref reports from that thread, clearing
    # them while the task's thread read them: RuntimeError (dictionary changed size)
    r = rt.put(np.ones(1000))
    total, outcome = rt.get(submit_from_a_thread_while_reporting.remote([r]), timeout=60)
    assert (total, outcome) == (1001.0, ["ok"])


def test_refs_a_thread_of_a_task_makes_while_the_task_reports_are_counted(rt, backend):
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")
    import pickle

    @rt.remote
    def unpickle_a_ref_in_a_thread_while_reporting(box, blob):
        from runtime import worker
        made = []
        outcome, started = _interleaved_reports(worker._WORKER,
                                                lambda: made.append(pickle.loads(blob)))
        total = float(rt.get(box[0]).sum())
        started[0].join(10)
        return total + float(rt.get(made[0], timeout=30).sum()), outcome

    # before: the thread's new ref went into the reports while the task's thread read them
    # (RuntimeError: dictionary changed size during iteration)
    r, other = rt.put(np.ones(1000)), rt.put(np.ones(10))
    total, outcome = rt.get(unpickle_a_ref_in_a_thread_while_reporting.remote(
        [r], pickle.dumps(other)), timeout=60)
    assert (total, outcome) == (1010.0, ["ok"])


def test_a_thread_of_a_task_submitting_as_it_returns_a_fresh_ref_keeps_the_ref(rt, backend):
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")

    @rt.remote
    def one():
        return 1

    @rt.remote
    def return_a_fresh_ref_while_a_thread_submits():
        import threading

        from runtime import worker
        w = worker._WORKER
        real = w._done

        def done_after_a_thread_submits(msg):
            del w._done  # once
            t = threading.Thread(target=one.remote, daemon=True)
            t.start()
            t.join(10)
            real(msg)

        w._done = done_after_a_thread_submits
        return [rt.put(np.ones(1000))]  # the worker's ref is dropped once the list is pickled

    # before: the thread's submit also sent the release of the returned ref, which the task's
    # thread had queued to follow its done; the object was freed before the done held it
    inner = rt.get(return_a_fresh_ref_while_a_thread_submits.remote(), timeout=60)[0]
    assert float(rt.get(inner, timeout=30).sum()) == 1000.0


def _bounce_before_the_next_read(worker, side, how):
    """Replace ``worker``'s task queue by one that, the first time the worker's main thread
    takes a task from it (``how="popleft"``) or looks at the next (``"__getitem__"``), first
    runs ``side`` on another thread and waits for it."""
    import threading
    from collections import deque

    class Racy(deque):
        fired = False

        def _race(self):
            if not self.fired and threading.current_thread() is threading.main_thread():
                self.fired = True
                t = threading.Thread(target=side, daemon=True)
                t.start()
                t.join(10)

        def popleft(self):
            if how == "popleft":
                self._race()
            return deque.popleft(self)

        def __getitem__(self, i):
            if how == "__getitem__":
                self._race()
            return deque.__getitem__(self, i)

    if type(worker.queue) is deque:
        worker.queue = Racy(worker.queue)


@pytest.mark.parametrize("how", ["popleft", "__getitem__"])
def test_a_thread_of_a_finished_task_bouncing_the_queue_leaves_the_worker_running(fresh,
                                                                                 backend, how):
    if backend != "local":
        pytest.skip("reaches into the local backend's worker")
    rt = fresh

    @rt.remote
    def pid(race, box):
        import os

        from runtime import worker
        if race:  # a thread of this task gets (so bounces the queued tasks) as the worker's
            # main thread, having seen a task queued, is about to take it or look at it
            _bounce_before_the_next_read(worker._WORKER, lambda: rt.get(box[0], timeout=10),
                                         how)
        return os.getpid()

    @rt.remote
    def sleep_pid(s):
        import os
        import time
        time.sleep(s)
        return os.getpid()

    box = [rt.put(1)]
    rt.get([pid.remote(False, box) for _ in range(20)], timeout=60)  # short: pipelined now
    client = rt.api._client
    spawned = client.workers_spawned
    rt.get([pid.remote(True, box) for _ in range(40)], timeout=60)
    rt.get([sleep_pid.remote(0.3) for _ in range(2)], timeout=60)
    # before: the worker's main thread found a task queued, the thread took it (bounce), and
    # the main thread's popleft (loop) or queue[0] (_next_is_short) raised IndexError: the
    # worker died and another was started
    assert [w.pid for w in client.all_workers if w.dead] == []
    assert client.workers_spawned == spawned


@pytest.mark.parametrize("where", ["actor", "finished task"])
def test_refs_a_left_thread_drops_while_its_worker_idles_are_released(rt, shm_files, where):
    # a thread an actor or a finished task left running puts objects (shared-memory segments)
    # and drops them while the worker's main thread, which alone reports its refs, waits for
    # the next message: before, the segments stayed until a message came (here none does)
    import time

    def put_and_drop(n):
        import threading

        def run():
            time.sleep(0.3)  # the worker's main thread is waiting by now
            for _ in range(n):
                r = rt.put(np.ones(100_000))
                del r
        threading.Thread(target=run).start()
        return True

    @rt.remote
    class Left:
        def start(self, n):
            return put_and_drop(n)

        def ping(self):
            return 1

    before = set(shm_files())
    if where == "actor":
        a = Left.remote()
        assert rt.get(a.start.remote(3), timeout=60)
    else:
        assert rt.get(rt.remote(put_and_drop).remote(3), timeout=60)
    time.sleep(0.5)  # the thread's puts are done
    deadline = time.monotonic() + 5
    while set(shm_files()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(shm_files()) - before == set()
    if where == "actor":
        assert rt.get(a.ping.remote(), timeout=60) == 1


def test_a_call_read_by_an_actors_waiting_thread_runs_at_once(rt, caps):
    # the actor's thread waits (holding the socket's reading role) when a call comes: it
    # reads the call and queues it, and the idle main thread, which waited for the role,
    # then blocked in the socket's read; before, the call ran only when the next message
    # came (here the thread's answer, 60 s later), so the get below timed out
    caps("processes")

    @rt.remote
    class Sleeper:
        def sleep(self, s):
            import time
            time.sleep(s)

    @rt.remote
    class Waits:
        def start(self, box):
            import threading
            threading.Thread(target=lambda: rt.wait(box, timeout=60), daemon=True).start()
            return True

        def ping(self):
            return 1

    sleeper = Sleeper.remote()
    a = Waits.remote()
    assert rt.get(a.start.remote([sleeper.sleep.remote(60)]), timeout=60)
    for _ in range(5):
        assert rt.get(a.ping.remote(), timeout=20) == 1
    rt.kill(a)
    rt.kill(sleeper)
