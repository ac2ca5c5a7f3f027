"""Lineage reconstruction and the bounded store: task outputs evicted under memory pressure (or
whose segment vanished) are rebuilt by running their tasks again, recursively; ``put`` objects
are never evicted but spilled; lineage is freed with the last ref that could need it."""
from __future__ import annotations

import contextlib
import gc
import os
import signal
import time

import numpy as np
import pytest

from .conftest import STORE_CAP, started

MB2 = 250_000  # float64s: 2 MB, so four fill the 8 MB store


def _runs(log_dir) -> list[str]:
    """The names the tasks wrote to the run log, one per run."""
    path = os.path.join(log_dir, "runs")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


def _logged(rt, log_dir):
    """Remote functions that append their name to a run log before returning 2 MB arrays."""
    path = os.path.join(str(log_dir), "runs")

    def note(name):
        with open(path, "a") as f:  # O_APPEND: concurrent short writes stay whole lines
            f.write(f"{name}\n")

    @rt.remote
    def make(i):
        note(f"make{i}")
        return np.full(MB2, float(i))

    @rt.remote
    def inc(a, step):
        note(f"inc{step}")
        return a + 1.0

    @rt.remote
    def add(a, b, name):
        note(name)
        return a + b

    return make, inc, add


def test_evicted_task_outputs_are_rebuilt_on_get(small_store, tmp_path):
    rt = small_store
    make, _, _ = _logged(rt, tmp_path)
    refs = [make.remote(i) for i in range(12)]  # 24 MB of outputs, 8 MB of store
    rt.wait(refs, num_returns=12)
    s = rt.memory_summary()
    assert s["shm_bytes"] <= STORE_CAP
    assert s["evicted"] >= 8 and s["spilled_bytes"] == 0  # evicted, not spilled
    assert s["by_owner"]["driver"]["evicted"] >= 8
    for i, r in enumerate(refs):
        a = rt.get(r)
        assert a.shape == (MB2,) and (a == float(i)).all()
    del a
    runs = _runs(tmp_path)
    assert len(runs) > 12 and sorted(set(runs)) == sorted(f"make{i}" for i in range(12))
    assert rt.memory_summary()["reconstructed"] == len(runs) - 12


def test_dependent_task_rebuilds_its_evicted_arguments(small_store, tmp_path):
    rt = small_store
    make, _, _ = _logged(rt, tmp_path)
    refs = [make.remote(i) for i in range(10)]
    rt.wait(refs, num_returns=10)
    first = rt.memory_summary()["reconstructed"]

    @rt.remote
    def head(a):
        return float(a[0])

    assert rt.get([head.remote(r) for r in refs]) == [float(i) for i in range(10)]
    assert rt.memory_summary()["reconstructed"] > first

    @rt.remote
    def total(nested):  # refs inside a container: the task gets them itself
        return sum(float(rt.get(r)[-1]) for r in nested)

    assert rt.get(total.remote(refs)) == float(sum(range(10)))


def test_lost_arguments_are_rebuilt_recursively(small_store, tmp_path):
    """Only the end of a chain is referenced: its intermediate values are dropped at once
    (their lineage stays), so rebuilding the end re-runs the whole chain."""
    rt = small_store
    make, inc, _ = _logged(rt, tmp_path)
    x = make.remote(0)
    for step in range(5):
        x = inc.remote(x, step)
    assert (rt.get(x) == 5.0).all()
    s = rt.memory_summary()
    assert s["lineage_only_objects"] == 5  # make0 and inc0..inc3: values gone, lineage kept
    fill = [make.remote(i) for i in range(100, 106)]  # evicts the chain's end
    rt.wait(fill, num_returns=6)
    before = _runs(tmp_path)
    assert (rt.get(x) == 5.0).all()
    rerun = _runs(tmp_path)[len(before):]
    assert sorted(rerun) == sorted(["make0"] + [f"inc{i}" for i in range(5)])
    del x, fill
    gc.collect()
    s = rt.memory_summary()
    assert s["objects"] == 0 and s["lineage_only_objects"] == 0  # lineage freed with its refs


def test_tree_of_tasks_larger_than_the_store_is_correct(small_store, tmp_path):
    """Every node of a reduction tree stays referenced (30 MB): nodes are evicted while the
    tree runs, never the arguments of a task still to run, and every node reads back right."""
    rt = small_store
    make, _, add = _logged(rt, tmp_path)
    levels = [[make.remote(i) for i in range(8)]]
    n = 0
    while len(levels[-1]) > 1:
        lv = levels[-1]
        levels.append([add.remote(lv[i], lv[i + 1], f"add{n + i}") for i in range(0, len(lv), 2)])
        n += 100
    assert (rt.get(levels[-1][0]) == float(sum(range(8)))).all()
    s = rt.memory_summary()
    assert s["shm_bytes"] <= STORE_CAP and s["evicted"] > 0
    for lv in levels:  # leaves hold i; a node holds the sum of its leaves
        width = 8 // len(lv)
        want = [float(sum(range(k * width, (k + 1) * width))) for k in range(len(lv))]
        assert [float(rt.get(r)[0]) for r in lv] == want


def test_put_objects_spill_and_are_never_lost(small_store, tmp_path):
    rt = small_store
    make, _, _ = _logged(rt, tmp_path)
    puts = [rt.put(np.full(MB2, -float(i))) for i in range(3)]  # 6 of the 8 MB
    refs = [make.remote(i) for i in range(6)]
    rt.wait(refs, num_returns=6)
    s = rt.memory_summary()
    assert s["evicted"] >= 4 and s["spilled"] == 0  # task outputs made room: no put spilled
    more = [rt.put(np.full(MB2, -float(i))) for i in range(3, 8)]  # puts past the cap spill
    s = rt.memory_summary()
    assert s["spilled"] >= 3 and s["shm_bytes"] <= STORE_CAP
    for i, r in enumerate(puts + more):
        assert (rt.get(r) == -float(i)).all()
    for i, r in enumerate(refs):
        assert (rt.get(r) == float(i)).all()


def test_memory_stays_bounded_while_outputs_pile_up(small_store, tmp_path, shm_files):
    rt = small_store
    make, _, _ = _logged(rt, tmp_path)
    refs = []
    for i in range(30):  # 60 MB of live task outputs
        refs.append(make.remote(i))
        if i % 5 == 4:
            rt.wait(refs, num_returns=len(refs))
            assert rt.memory_summary()["shm_bytes"] <= STORE_CAP
            on_disk = sum(os.path.getsize(p) for p in shm_files())
            assert on_disk <= STORE_CAP + 2 * MB2 * 8  # a segment being written may overshoot
    assert [float(rt.get(r)[0]) for r in refs] == [float(i) for i in range(30)]


def test_a_worker_death_loses_no_finished_object(small_store, tmp_path):
    """Values live in the driver's store, not in the worker that computed them."""
    rt = small_store

    @rt.remote
    def made_by():
        with open(os.path.join(str(tmp_path), "runs"), "a") as f:
            f.write("made_by\n")
        return os.getpid(), np.full(MB2, 3.0)

    r = made_by.remote()
    pid, _ = rt.get(r)
    os.kill(pid, signal.SIGKILL)
    pid2, a = rt.get(r)
    assert pid2 == pid and (a == 3.0).all()
    assert _runs(tmp_path) == ["made_by"]


def test_object_whose_segment_vanished_with_its_worker_is_rebuilt(small_store, tmp_path,
                                                                    shm_files):
    """The shared-memory segment of a finished output disappears along with the worker that
    wrote it, before anyone read it: ``get``, and a task that takes it as an argument, rebuild
    it on another worker."""
    rt = small_store
    log = os.path.join(str(tmp_path), "runs")

    @rt.remote
    def made_by():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return np.full(MB2, 4.0)

    @rt.remote
    def head(a):
        return float(a[0])

    for reader in ("driver", "task"):
        r = made_by.remote()
        rt.wait([r])
        pid = int(_runs(tmp_path)[-1])
        os.kill(pid, signal.SIGKILL)
        for path in shm_files():  # the only segment this runtime holds
            os.unlink(path)
        if reader == "driver":
            assert (rt.get(r, timeout=60) == 4.0).all()
        else:
            assert rt.get(head.remote(r), timeout=60) == 4.0
        assert int(_runs(tmp_path)[-1]) != pid  # ran again, on another worker
        del r
        gc.collect()
    assert len(_runs(tmp_path)) == 4
    assert rt.memory_summary()["lost"] == 2


def test_a_put_object_whose_segment_vanished_raises_object_lost(small_store, shm_files):
    rt = small_store
    r = rt.put(np.full(MB2, 1.0))
    for path in shm_files():
        os.unlink(path)
    with pytest.raises(rt.ObjectLostError, match="put"):
        rt.get(r)


def test_lineage_is_bounded_in_a_long_chain(backend, caps, monkeypatch):
    """Only the end of a 300-task chain is referenced; it could need the whole chain, but
    past RUNTIME_MAX_LINEAGE_TASKS the oldest lineage is forgotten, so memory stays flat."""
    caps("lineage")
    monkeypatch.setenv("RUNTIME_MAX_LINEAGE_TASKS", "50")
    with contextlib.contextmanager(started)(backend) as rt:
        f = rt.remote(lambda x: x + 1)
        x = rt.put(0)
        for _ in range(300):
            x = f.remote(x)
        assert rt.get(x) == 300
        s = rt.memory_summary()
        assert s["lineage_tasks"] <= 50 and s["lineage_only_objects"] <= 51
        assert s["lineage_forgotten"] >= 250
        del x
        gc.collect()
        s = rt.memory_summary()
        assert s["objects"] == s["lineage_only_objects"] == s["lineage_tasks"] == 0


def test_an_output_whose_lineage_was_forgotten_raises_object_lost(backend, caps, monkeypatch,
                                                                  tmp_path):
    caps("lineage")
    monkeypatch.setenv("RUNTIME_MAX_LINEAGE_TASKS", "5")
    with contextlib.contextmanager(started)(backend, object_store_memory=STORE_CAP) as rt:
        make, inc, _ = _logged(rt, tmp_path)
        x = make.remote(0)
        for step in range(5):  # six tasks: the lineage of make(0) is forgotten
            x = inc.remote(x, step)
        assert (rt.get(x) == 5.0).all()
        assert rt.memory_summary()["lineage_forgotten"] == 1
        fill = [rt.put(np.zeros(MB2)) for _ in range(4)]  # evicts the chain's end
        assert rt.memory_summary()["evicted"] >= 1
        with pytest.raises(rt.ObjectLostError, match="lineage was dropped"):
            rt.get(x)


def test_actor_results_are_spilled_never_evicted(small_store):
    """An actor call's result depends on the actor's state, so it cannot be rebuilt by running
    the call again: like a put, it spills to disk under pressure and is never lost."""
    rt = small_store

    @rt.remote
    class Maker:
        def __init__(self):
            self.n = 0

        def make(self):
            self.n += 1
            return np.full(MB2, float(self.n))

    m = Maker.remote()
    refs = [m.make.remote() for _ in range(8)]  # 16 MB of results, 8 MB of store
    rt.wait(refs, num_returns=8)
    s = rt.memory_summary()
    assert s["evicted"] == 0 and s["spilled"] >= 4 and s["shm_bytes"] <= STORE_CAP
    assert [float(rt.get(r)[0]) for r in refs] == [float(i) for i in range(1, 9)]


def test_objects_larger_than_the_store_go_to_disk_not_shared_memory(small_store, shm_files):
    rt = small_store
    n = (2 * STORE_CAP) // 8  # float64s: twice object_store_memory

    @rt.remote
    def big(v):
        return np.full(n, v)

    @rt.remote
    def first(a):
        return float(a[0])

    objs = [rt.put(np.full(n, 1.0)), big.remote(2.0)]
    assert [float(rt.get(r)[-1]) for r in objs] == [1.0, 2.0]
    assert not rt.get(objs[0]).flags.writeable
    assert rt.get([first.remote(r) for r in objs]) == [1.0, 2.0]  # workers read them too
    s = rt.memory_summary()
    # shared memory stays under the cap: both objects were written straight to the spill folder
    assert s["shm_bytes"] <= STORE_CAP and s["spilled_bytes"] >= 2 * 2 * STORE_CAP, s
    assert sum(os.path.getsize(p) for p in shm_files()) <= STORE_CAP
    del objs
    gc.collect()
    assert rt.memory_summary()["spilled_bytes"] == 0  # freed from disk with their last ref


def test_a_ref_a_worker_got_inside_an_evicted_value_stays_alive(small_store, tmp_path):
    # The worker counts the ref inside a value it gets only at its next report to the driver;
    # until then what keeps that ref alive is the value's hold on it. Evicting the value (its
    # holders still hold its ref) must not release that hold: the handshake below evicts it
    # while the worker, between its get and its next report, runs user code.
    rt = small_store
    got, go = tmp_path / "got", tmp_path / "go"

    @rt.remote
    def make():
        return np.full(MB2, 1.0), rt.put("inner")  # 2 MB: shared memory, evictable

    @rt.remote
    def use(box):
        _, inner = rt.get(box[0])
        got.write_text("")
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # no request: the ref to "inner" is not reported yet
        return rt.get(inner, timeout=30)

    outer = make.remote()
    rt.wait([outer])
    out = use.remote([outer])  # inside a list: no dependency, so not pinned against eviction
    deadline = time.monotonic() + 60
    while not got.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    evicted = rt.memory_summary()["evicted"]
    fill = [make.remote() for _ in range(4)]  # 8 MB more: the outer value is the oldest
    rt.wait(fill, num_returns=4)
    assert rt.memory_summary()["evicted"] > evicted
    go.write_text("")
    assert rt.get(out, timeout=60) == "inner"


def test_a_put_into_a_reused_segment_counts_the_whole_segment_against_the_cap(small_store):
    rt = small_store
    session = rt.api._client.session_dir

    def real_bytes():  # what the session holds in shared memory, reuse pool included
        total = 0
        for folder, _, files in os.walk(session):
            if os.path.basename(folder) == "started":  # each worker's last task id, 8 bytes
                continue
            total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return total

    kept = []
    for _ in range(8):
        freed = rt.put(np.ones(200_000))  # 1.5 MiB, kept for reuse once freed
        del freed
        gc.collect()
        kept.append(rt.put(np.ones(100_000)))  # 0.8 MiB, written into that 1.5 MiB file
        s = rt.memory_summary()
        # before: only the 0.8 MiB counted, so the store held 1.7 x its cap of 8 MiB in
        # shared memory (14 MiB after 8 rounds) while it reported 6.4 MiB
        assert s["shm_bytes"] + s["recycled_bytes"] == real_bytes() <= STORE_CAP
    assert all(float(rt.get(k).sum()) == 100_000 for k in kept)


def test_a_spilled_object_from_a_reused_segment_takes_its_own_size_on_disk(small_store):
    rt = small_store
    store = rt.api._client.sched.store
    freed = rt.put(np.ones(200_000))  # 1.5 MiB, kept for reuse once freed
    del freed
    gc.collect()
    kept = rt.put(np.ones(100_000))  # 0.8 MiB, written into that 1.5 MiB file
    size = store.entries[kept._id].value[2]
    fill = [rt.put(np.ones(300_000)) for _ in range(4)]  # 9.6 MB of puts: the oldest spill
    path = store.entries[kept._id].value[1]
    assert store.is_spilled(store.entries[kept._id].value)
    # before: the whole reused file was copied, 1.6 MB on disk for a 0.8 MB object, while
    # spilled_bytes counted 0.8 MB
    assert os.path.getsize(path) == size
    spilled = [v[1] for e in store.entries.values() if (v := e.value) and store.is_spilled(v)]
    assert rt.memory_summary()["spilled_bytes"] == sum(os.path.getsize(p) for p in spilled)
    assert float(rt.get(kept).sum()) == 100_000
    assert all(float(rt.get(f).sum()) == 300_000 for f in fill)
