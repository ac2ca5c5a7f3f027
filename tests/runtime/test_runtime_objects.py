"""The object store: put/get, zero-copy reads of large arrays, wait, and freeing."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from .gates import held


def _mapping_of(addr: int) -> str | None:
    """The file mapped at address ``addr`` in this process, per /proc/self/maps."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                return parts[5] if len(parts) > 5 else ""
    return None


def test_put_get_roundtrip_of_various_objects(rt):
    for obj in [1, "s", None, {"a": [1, 2]}, (1, 2.5), b"x" * 10, list(range(1000))]:
        assert rt.get(rt.put(obj)) == obj


def test_large_array_get_is_zero_copy_and_read_only(rt, caps):
    caps("shm")
    arr = np.arange(4_000_000, dtype=np.float64)  # 32 MB
    r = rt.put(arr)
    a = rt.get(r)
    b = rt.get(r)
    np.testing.assert_array_equal(a, arr)
    assert not a.flags.writeable
    assert not a.flags.owndata
    assert np.shares_memory(a, b)  # both reads see the one stored buffer: nothing was copied
    where = _mapping_of(a.ctypes.data)
    assert where and where.startswith("/dev/shm/")  # the buffer lies in a shared-memory mapping
    with pytest.raises(ValueError):
        a[0] = 1.0


def test_large_task_result_is_zero_copy(rt, caps):
    caps("shm")
    @rt.remote
    def make():
        return np.ones((1000, 1000))

    a = rt.get(make.remote())
    assert a.sum() == 1e6 and not a.flags.writeable
    assert (_mapping_of(a.ctypes.data) or "").startswith("/dev/shm/")


def test_pandas_frame_roundtrip(rt):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": np.arange(100_000), "y": np.random.default_rng(0).random(100_000)})
    out = rt.get(rt.put(df))
    pd.testing.assert_frame_equal(out, df)


def test_wait_semantics(rt, caps):
    caps("async")
    @rt.remote
    def sleep_then(t):
        time.sleep(t)
        return t

    fast = [sleep_then.remote(0.0) for _ in range(3)]
    slow = sleep_then.remote(2.0)
    ready, rest = rt.wait(fast + [slow], num_returns=3, timeout=10)
    assert len(ready) == 3 and rest == [slow]
    ready, rest = rt.wait([slow], timeout=0.05)
    assert ready == [] and rest == [slow]
    ready, rest = rt.wait(fast, num_returns=len(fast))
    assert ready == fast and rest == []
    with pytest.raises(ValueError):
        rt.wait(fast, num_returns=4)
    with pytest.raises(TypeError):
        rt.wait(fast[0])


def test_wait_edge_cases_follow_ray(rt):
    # an empty list is answered at once (Ray's rule), whatever num_returns says; num_returns
    # must be between 1 and len(refs), as Ray checks (num_returns=0 is an error there)
    assert rt.wait([]) == ([], [])
    assert rt.wait([], num_returns=3, timeout=0) == ([], [])
    r = rt.put(1)
    for bad in (0, 2, -1, True, 1.0):
        with pytest.raises(ValueError, match="num_returns"):
            rt.wait([r], num_returns=bad)
    assert rt.wait([r], num_returns=1) == ([r], [])


def test_wait_drains_many_tasks(rt):
    f = rt.remote(lambda i: i)
    pending = [f.remote(i) for i in range(300)]
    seen = []
    while pending:
        ready, pending = rt.wait(pending, num_returns=1)
        seen.extend(rt.get(ready))
    assert sorted(seen) == list(range(300))


def test_wait_sees_every_computed_ref_wherever_it_stands(rt, caps, tmp_path):
    # a look at each wake-up stops early (waiting for all: at the first ref not computed);
    # a wait that times out still answers with every computed ref, and waiting for all
    # returns once the last one is computed, whatever order they finish in
    caps("async")
    gate = tmp_path / "go"
    first = rt.remote(held).remote(str(gate))
    rest = [rt.remote(lambda i: i).remote(i) for i in range(1, 40)]
    assert rt.get(rest, timeout=60) == list(range(1, 40))
    refs = [first, *rest]
    ready, not_ready = rt.wait(refs, num_returns=len(refs), timeout=0.2)
    assert ready == rest and not_ready == [first]
    ready, not_ready = rt.wait(refs, num_returns=20, timeout=30)
    assert len(ready) == 20 and first not in ready
    gate.write_text("")
    ready, not_ready = rt.wait(refs, num_returns=len(refs), timeout=60)
    assert ready == refs and not_ready == []


def test_wait_raises_for_a_ref_not_in_this_runtime_behind_a_pending_one(stale_ref, caps,
                                                                        tmp_path):
    caps("async")
    import threading

    import runtime
    pending = runtime.remote(held).remote(str(tmp_path / "go"))
    raised = []

    def wait() -> None:
        try:
            runtime.wait([pending, stale_ref], num_returns=2)
        except runtime.ObjectLostError as err:
            raised.append(err)

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    try:
        # the looks stop at the pending ref (the stale one cannot make up num_returns
        # without it): the stale one is still found before the wait sleeps, not once the
        # pending one is done
        t.join(timeout=30)
        assert raised and "not in this runtime" in str(raised[0])
    finally:
        (tmp_path / "go").write_text("")
        t.join(timeout=60)


def _fails_after(t: float) -> None:
    time.sleep(t)
    raise ValueError("late")


def test_wait_wakes_for_errors_and_cancels_as_for_values(rt, caps, tmp_path):
    # the driver's wait hears of each object given a value while it sleeps; an error value
    # (a task that raised, one cancelled) makes the ref ready as a result does
    caps("async")
    import threading
    pending = rt.remote(held).remote(str(tmp_path / "go"))
    bad = rt.remote(_fails_after).remote(0.3)

    def wait(refs: list) -> list:
        out: list = []  # without a timeout: a wait that missed the value would never return
        t = threading.Thread(target=lambda: out.append(rt.wait(refs)), daemon=True)
        t.start()
        t.join(timeout=30)
        return out

    try:
        assert wait([pending, bad]) == [([bad], [pending])]
        threading.Timer(0.3, rt.cancel, (pending,)).start()
        assert wait([pending]) == [([pending], [])]
        with pytest.raises(rt.TaskCancelledError):
            rt.get(pending, timeout=30)
    finally:
        (tmp_path / "go").write_text("")


def test_the_driver_polling_a_pending_object_with_timeouts_leaves_no_waiters(rt, backend):
    if backend != "local":
        pytest.skip("reads the local driver's object table")
    entries = rt.api._client.sched.store.entries

    @rt.remote
    def slow():
        time.sleep(60)

    s = slow.remote()
    n = 300
    assert sum(len(rt.wait([s], timeout=0.001)[0]) for _ in range(n)) == 0
    # each timed-out wait leaves its (answered) waiter on the object's list; they are dropped
    # as the list grows, not kept until the object is ready
    assert len(entries[s._id].waiters or ()) < n // 2
    rt.cancel(s, force=True)


def test_driver_and_workers_place_an_object_at_the_inline_limit_alike(rt, backend):
    if backend != "local":
        pytest.skip("reads the local driver's object table")
    from runtime.serialization import INLINE_MAX, dumps, shm_size
    for k in range(INLINE_MAX - 1024, INLINE_MAX):  # pickle and buffer sum to the limit,
        data, bufs, _ = dumps(np.zeros(k, np.uint8))  # the aligned segment passes it
        if len(data) + k == INLINE_MAX and shm_size(data, [b.raw() for b in bufs]) > INLINE_MAX:
            break
    else:
        pytest.fail("no array size at the inline limit")

    @rt.remote
    def put_there(n):
        return [rt.put(np.zeros(n, np.uint8))]

    [in_worker] = rt.get(put_there.remote(k))
    in_driver = rt.put(np.zeros(k, np.uint8))
    entries = rt.api._client.sched.store.entries
    # one placement rule (serialization.value_path); the driver's put had its own before
    assert entries[in_driver._id].value[0] == entries[in_worker._id].value[0] == "i"
    assert rt.get(in_driver).nbytes == rt.get(in_worker).nbytes == k


def test_a_task_polling_a_pending_object_with_timeouts_leaves_no_waiters(fresh, backend):
    if backend != "local":
        pytest.skip("reads the local driver's object table")
    rt = fresh
    entries = rt.api._client.sched.store.entries

    @rt.remote
    def slow():
        time.sleep(60)

    @rt.remote
    def poll(refs, n):
        return sum(len(rt.wait(refs, timeout=0.001)[0]) for _ in range(n))

    s = slow.remote()
    n = 300
    assert rt.get(poll.remote([s], n), timeout=60) == 0
    # before: each timed-out wait stayed on the object's waiter list until it was ready
    assert len(entries[s._id].waiters or ()) < n // 2
    rt.cancel(s, force=True)


def test_objects_are_freed_when_refs_die(rt, shm_files):
    gc.collect()
    rt.get(rt.put(0))
    base = len(shm_files())
    refs = [rt.put(np.zeros(200_000)) for _ in range(5)]
    assert len(shm_files()) == base + 5
    del refs
    gc.collect()
    rt.get(rt.put(0))  # any API call processes released refs
    assert len(shm_files()) == base


def test_refs_held_by_a_task_keep_objects_alive(rt):
    @rt.remote
    def later(box):
        time.sleep(0.3)
        return float(rt.get(box[0]).sum())

    r = rt.put(np.ones(100_000))
    out = later.remote([r])
    del r
    gc.collect()
    assert rt.get(out) == 100_000.0


def test_refs_an_actor_keeps_from_its_arguments_stay_alive(rt):
    @rt.remote
    class Keeper:
        def keep(self, box):
            self.ref = box[0]
            time.sleep(0.3)  # the driver drops its ref meanwhile
            return True

        def read(self):
            return float(rt.get(self.ref, timeout=30).sum())

    k = Keeper.remote()
    r = rt.put(np.ones(100_000))
    done = k.keep.remote([r])
    del r  # the call's arguments hold it now, then the ref the actor kept
    gc.collect()
    assert rt.get(done, timeout=30)
    # before: the worker reported the ref it unpickled after the call's end, which released
    # the arguments first: the object was freed and read() raised ObjectLostError
    assert rt.get(k.read.remote(), timeout=30) == 100_000.0


def test_a_put_from_a_thread_of_a_task_leaves_the_tasks_ref_reports_alone(rt, caps):
    caps("processes")

    @rt.remote
    def put_from_a_thread_while_reporting(box):
        import threading

        from runtime import worker
        w = worker._WORKER
        made = []
        started = []

        class Interleaved(dict):
            """The worker's pending ref reports; a thread puts while they are read."""

            def items(self):
                it = iter(dict.items(self))
                for kv in it:
                    yield kv
                    if not started:  # the task's thread is reading: another one puts now
                        started.append(1)
                        t = threading.Thread(target=lambda: made.append(
                            rt.put(np.ones(1 << 17))))  # 1 MiB: sent at once
                        t.start()
                        t.join()

        w.deltas = Interleaved(w.deltas)
        inner = box[0]  # unpickled: a report to send
        total = float(rt.get(inner).sum())  # sends it, reading the reports
        return total + float(rt.get(made[0]).sum())

    # before: the thread's put sent the worker's ref reports too, from that thread: the
    # reports read by the task's thread were cleared under it, or lost
    r = rt.put(np.ones(1000))
    assert rt.get(put_from_a_thread_while_reporting.remote([r]), timeout=60) == 1000 + (1 << 17)


def test_refs_inside_stored_objects_keep_them_alive(rt):
    inner = rt.put(np.ones(50_000))
    outer = rt.put({"inner": inner})
    del inner
    gc.collect()
    rt.get(rt.put(0))
    assert rt.get(rt.get(outer)["inner"]).sum() == 50_000


def test_worker_held_refs_are_released(rt, shm_files):
    @rt.remote
    class Holder:
        def __init__(self):
            self.refs = []

        def hold(self, box):
            self.refs.append(box[0])

        def drop(self):
            self.refs.clear()
            import gc as _gc
            _gc.collect()
            return True

    h = Holder.remote()
    r = rt.put(np.ones(300_000))
    rt.get(h.hold.remote([r]))
    base_files = len(shm_files())
    del r
    gc.collect()
    rt.get(rt.put(0))
    assert len(shm_files()) == base_files  # the actor still holds it
    rt.get(h.drop.remote())
    rt.get(h.drop.remote())  # a second round trip flushes the worker's released refs
    deadline = time.time() + 5
    while len(shm_files()) >= base_files and time.time() < deadline:
        time.sleep(0.05)
        rt.get(rt.put(0))
    assert len(shm_files()) == base_files - 1


def test_memory_stays_flat_in_a_loop_that_creates_and_drops_refs(rt, shm_files):
    import psutil

    f = rt.remote(lambda a: a + 1)
    proc = psutil.Process(os.getpid())

    def run(n):
        for _ in range(n):
            r = rt.put(np.zeros(20_000))
            rt.get(f.remote(r))
            del r

    run(200)
    gc.collect()
    before_rss, before_files = proc.memory_info().rss, len(shm_files())
    run(1000)
    gc.collect()
    rt.get(rt.put(0))
    assert len(shm_files()) <= before_files + 1
    assert proc.memory_info().rss - before_rss < 30 * 2**20


def test_arrays_read_after_their_ref_died_never_change(rt):
    """Freed memory may be reused for new objects, but never while a reader still maps it."""
    r = rt.put(np.full(500_000, 7.0))
    kept = rt.get(r)
    del r
    gc.collect()
    for v in range(5):
        x = rt.put(np.full(500_000, float(v)))
        del x
        gc.collect()
    assert (kept == 7.0).all()

    @rt.remote
    def total(a):
        return float(a.sum())

    r = rt.put(np.full(500_000, 3.0))
    assert rt.get(total.remote(r)) == 1_500_000.0
    kept = rt.get(r)
    del r
    gc.collect()
    for v in range(5):
        x = rt.put(np.full(500_000, float(v)))
        del x
        gc.collect()
    assert (kept == 3.0).all()


def test_an_array_read_twice_at_once_never_changes_after_the_other_copy_dies(rt, backend):
    """Two reads of one object at once (one list naming it twice; two threads) each map it:
    the array of either must keep its data when the other and the ref are gone."""
    r = rt.put(np.full(500_000, 7.0))
    kept, other = rt.get([r, r])
    del other, r
    gc.collect()
    news = [rt.put(np.full(500_000, float(v))) for v in range(3)]
    # before: only the second mapping was the entry's, so the file was reused for a new
    # object once that copy died: kept read 0.0 (the first new object)
    assert (kept == 7.0).all()
    del news

    if backend != "local":
        return
    from runtime import driver
    real_map = driver.map_shm
    entries = rt.api._client.sched.store.entries
    held = [rt.put(np.full(500_000, 5.0))]
    oid = held[0]._id
    both = threading.Barrier(2)
    second = threading.local()

    def map_in_step(value):
        mm = real_map(value)
        both.wait(timeout=30)  # both threads map it, neither has filed its mapping yet
        if getattr(second, "yes", False):  # this one files its mapping after the other
            deadline = time.monotonic() + 30
            while entries[oid].mm is None and time.monotonic() < deadline:
                time.sleep(0.001)
        return mm

    def read(k):
        second.yes = k == 1
        got[k] = rt.get(held[0])

    got = [None, None]
    driver.map_shm = map_in_step
    try:
        threads = [threading.Thread(target=read, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        driver.map_shm = real_map
    kept = got[0]
    got.clear()
    held.clear()
    gc.collect()
    news = [rt.put(np.full(500_000, float(v))) for v in range(3)]
    # before: the second thread's mapping replaced the first's as the entry's, so the
    # file was reused while the first thread's array still read it
    assert (kept == 5.0).all()
    del news


def test_store_spills_past_object_store_memory_and_restores_transparently(backend, caps):
    caps("shm")
    import glob

    import runtime
    if runtime.is_initialized():
        runtime.shutdown()
    runtime.init(num_cpus=2, backend=backend, object_store_memory=8 * 2**20)
    try:
        arrays = [np.full(250_000, float(i)) for i in range(12)]  # 2 MB each, 24 MB in all
        refs = [runtime.put(a) for a in arrays]
        s = runtime.memory_summary()
        assert s["shm_bytes"] <= 8 * 2**20 and s["spilled_bytes"] >= 14 * 2**20
        assert s["by_owner"]["driver"]["objects"] == 12
        for i, r in enumerate(refs):
            assert (runtime.get(r) == float(i)).all()
        total = runtime.remote(lambda a: float(a[0]))
        assert runtime.get([total.remote(r) for r in refs]) == [float(i) for i in range(12)]
        spill_dirs = glob.glob(f"/tmp/rt-spill-{os.getpid()}-*")
        assert spill_dirs and os.listdir(spill_dirs[0])
        del refs, r
        gc.collect()
        s = runtime.memory_summary()
        assert s["spilled_bytes"] == 0 and s["objects"] == 0
    finally:
        runtime.shutdown()
    assert not glob.glob(f"/tmp/rt-spill-{os.getpid()}-*")


def test_large_puts_into_reused_memory_read_back_exactly(rt):
    """Puts past 16 MB are copied in slices on threads into recycled segments: every value
    reads back whole, and arrays still read never change."""
    kept = None
    for v in range(4):
        a = np.arange(3_000_000, dtype=np.float64) + v  # 24 MB
        r = rt.put(a)
        b = rt.get(r)
        assert np.array_equal(b, a)
        if kept is None:
            kept = b
        del r, b
        gc.collect()
    assert np.array_equal(kept, np.arange(3_000_000, dtype=np.float64))


TOO_BIG = textwrap.dedent("""
    import glob, json, os, resource, signal
    import numpy as np
    import runtime
    # every write past 8 MiB fails (EFBIG), in this driver and in its workers, as a full
    # /dev/shm would (ENOSPC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))
    runtime.init(num_cpus=1)

    @runtime.remote
    def big():
        return np.ones(2 << 20)  # 16 MiB

    @runtime.remote(num_returns=2)
    def small_then_big():
        return np.ones(1 << 17), np.ones(2 << 20)  # 1 MiB is written, 16 MiB fails

    out = {}
    try:
        runtime.put(np.ones(2 << 20))
    except runtime.ObjectStoreFullError as e:
        out["put"] = str(e)
    for name, ref in (("task", big.remote()), ("second", small_then_big.remote()[0])):
        try:
            runtime.get(ref)
        except runtime.ObjectStoreFullError as e:
            out[name] = str(e).splitlines()[0]
    out["files"] = [p for p in glob.glob(f"/dev/shm/rt-{os.getpid()}-*/*") if os.path.isfile(p)]
    out["ok_after"] = float(runtime.get(runtime.put(np.ones(1 << 16))).sum())
    runtime.shutdown()
    print(json.dumps(out))
""")


def test_object_too_big_for_shared_memory_is_one_clear_error_and_leaves_nothing(backend, caps):
    caps("shm")
    proc = subprocess.run([sys.executable, "-c", TOO_BIG], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert "could not store an object of 16.0 MiB" in out["put"], out
    assert "File too large" in out["put"]
    assert "could not store an object" in out["task"], out
    assert "could not store an object" in out["second"], out
    assert out["ok_after"] == float(1 << 16)
    assert out["files"] == []  # no partial segment, and no orphaned first output


def test_the_drivers_ids_past_32_bits_of_count_never_take_a_workers(fresh, backend):
    if backend != "local":
        pytest.skip("the local backend's object ids")
    import itertools

    from runtime.object_ref import wid_of
    rt = fresh
    inner = rt.get(rt.remote(lambda: [rt.put("the worker's")]).remote(), timeout=60)[0]
    wid = wid_of(inner._id)
    assert wid != 0
    driver = rt.api._client
    # as if the driver had made 2**32 ids (a long session): its count is at the worker's
    # id's bits; an id is epoch << 48 | worker id << 32 | count (0 is the driver's worker id)
    driver._ids = itertools.count((wid << 32) | (inner._id & 0xFFFFFFFF))
    mine = rt.put("the driver's")
    # before: the count ran into the worker id's bits, so the driver made the worker's id,
    # and the worker's object read back as the driver's
    assert wid_of(mine._id) == 0 and mine._id != inner._id
    assert rt.get(inner) == "the worker's" and rt.get(mine) == "the driver's"
    more = [rt.put(i) for i in range(3)]
    assert len({r._id for r in more}) == 3 and all(wid_of(r._id) == 0 for r in more)
    assert rt.get(more) == [0, 1, 2]

    @rt.remote
    def past_32_bits():
        w = rt.api._client
        early = rt.put("early")
        # as if this worker had made 2**32 ids since: the count is at early's again, one up
        w._ids = itertools.count((1 << 32) | (early._id & 0xFFFFFFFF))
        refs = [rt.put(i) for i in range(3)]
        ids = {r._id for r in refs} | {early._id}
        return (w.wid, [wid_of(r._id) for r in refs], len(ids), rt.get(refs),
                rt.get(early))

    wid, wids, distinct, values, early = rt.get(past_32_bits.remote(), timeout=60)
    # before: the ids past the count's bits carried the next worker's id (an even worker id)
    # or the worker's own earlier ids (an odd one: early read back 0)
    assert wids == [wid] * 3 and distinct == 4 and values == [0, 1, 2] and early == "early"


def test_a_control_frames_length_may_pass_4_gib():
    # a frame past 4 GiB (a task's get() of 45,000 small objects of 99 KB is one reply frame)
    # needs more than 32 bits of length; before, its header raised struct.error as the driver's
    # dispatcher thread sent it, and every later runtime call raised. A real one needs ~16 GB
    # of memory: here the receiver reads such a header, then a frame of the same channel
    import socket

    from runtime import protocol

    a, b = socket.socketpair()
    try:
        reader, writer = protocol.Channel(a), protocol.Channel(b)
        big = 2**32 + 3
        b.sendall(protocol._HDR.pack(big) + b"abc")  # the start of a frame past 4 GiB
        assert reader.recv(block=False) == []  # not complete: nothing is read from its bytes
        assert protocol._HDR.unpack_from(bytes(reader._buf))[0] == big
        reader._buf.clear()
        writer.send([("reply", 1, ("ok", ["x" * 10]))])
        assert reader.recv() == [[("reply", 1, ("ok", ["x" * 10]))]]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("writer", ["write_shm", "write_mapped"])  # a new or a reused segment
def test_a_put_interrupted_by_ctrl_c_leaves_no_segment(fresh, shm_files, monkeypatch, writer):
    # a Ctrl-C in a driver's put (a REPL, a notebook) left the object's segment in /dev/shm,
    # belonging to nothing, until shutdown
    from runtime import driver

    rt = fresh
    if writer == "write_mapped":  # a freed segment, kept for reuse: the next put writes it
        x = rt.put(np.zeros(1_000_000))
        del x
        gc.collect()
        rt.put(0)  # any API call processes released refs
    base = sorted(shm_files())
    objects = rt.memory_summary()["objects"]
    real = getattr(driver, writer)

    def write_then_interrupt(*args):
        real(*args)
        raise KeyboardInterrupt  # as a Ctrl-C landing just after the segment was written

    monkeypatch.setattr(driver, writer, write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        rt.put(np.zeros(1_000_000))
    monkeypatch.undo()
    assert sorted(shm_files()) == base  # before: one 8 MB segment more, until shutdown
    assert rt.memory_summary()["objects"] == objects
    assert rt.get(rt.put(np.ones(1_000_000)), timeout=60).sum() == 1_000_000
