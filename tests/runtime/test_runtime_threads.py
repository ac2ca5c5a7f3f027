"""Threads of one task calling the runtime: each gets the answers to its own requests."""
from __future__ import annotations


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
