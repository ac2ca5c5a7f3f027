"""Benchmark: this runtime vs Ray (when importable) vs ProcessPoolExecutor, side by side.

Usage: ``python benchmarks/runtime_bench.py [--num-cpus 2] [--reps 5] [--no-ray] [--json]``

Every workload runs in this one process, one system after another, and the table prints the
medians with the ratios runtime/pool and runtime/Ray next to the issue's targets. The floor rows
time a raw pipe ping-pong between two processes and a memcpy of 100 MB.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed
from concurrent.futures import wait as futures_wait
from typing import Any, Callable

import numpy as np
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_WAIT_ALL = 20_000  # tasks in the wait-for-all row (a look per wake-up over them all was quadratic)


def noop(x: Any = None) -> Any:
    return x


def inc(x: int) -> int:
    return x + 1


class Actor:
    def __init__(self) -> None:
        self.n = 0

    def call(self, x: Any = None) -> Any:
        self.n += 1
        return x


_NESTED: dict[str, Any] = {}  # the API module and the remote fib, set by bench_system


def fib(n: int) -> int:
    """README's nested example: every task waits in get() for two subtasks (177 for n=10)."""
    if n < 2:
        return n
    api, f = _NESTED["api"], _NESTED["fib"]
    return sum(api.get([f.remote(n - 1), f.remote(n - 2)]))


def _median(fn: Callable[[], float], reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def _latency(call: Callable[[], Any], n: int) -> float:
    """Median seconds of one ``call`` over ``n`` calls, after 20 warm-up calls."""
    for _ in range(20):
        call()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _footprint() -> tuple[int, float]:
    """(processes started by this driver, their total resident MB, USS where readable)."""
    procs = psutil.Process().children(recursive=True)
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().uss
        except (psutil.Error, OSError):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    return len(procs), total / 2**20


# --- the systems under test, behind one small interface ---
class RuntimeSys:
    name = "runtime"

    def __init__(self, num_cpus: int) -> None:
        import runtime
        self.rt = runtime
        self.num_cpus = num_cpus
        self.init_kwargs: dict[str, Any] = {}

    def init(self) -> None:
        self.rt.init(num_cpus=self.num_cpus, **self.init_kwargs)
        self.f_noop = self.rt.remote(noop)
        self.f_inc = self.rt.remote(inc)
        self.actor_cls = self.rt.remote(Actor)

    def shutdown(self) -> None:
        self.rt.shutdown()

    def submit(self, x: Any = None) -> Any:
        return self.f_noop.remote(x)

    def submit_inc(self, x: Any) -> Any:
        return self.f_inc.remote(x)

    def get(self, r: Any) -> Any:
        return self.rt.get(r)

    def put(self, v: Any) -> Any:
        return self.rt.put(v)

    def wait(self, refs: list, n: int) -> tuple[list, list]:
        return self.rt.wait(refs, num_returns=n)

    def actor(self) -> Any:
        return self.actor_cls.remote()


class RaySys(RuntimeSys):
    name = "ray"

    def __init__(self, num_cpus: int) -> None:
        import ray
        self.rt = ray
        self.num_cpus = num_cpus
        self.init_kwargs: dict[str, Any] = {}

    def init(self) -> None:
        self.rt.init(num_cpus=self.num_cpus, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False, **self.init_kwargs)
        self.f_noop = self.rt.remote(noop)
        self.f_inc = self.rt.remote(inc)
        self.actor_cls = self.rt.remote(Actor)


def bench_system(s: RuntimeSys, reps: int, n_sync: int) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    s.init()
    out["init_s"] = time.perf_counter() - t0
    s.get(s.submit())
    out["sync_task_us"] = _latency(lambda: s.get(s.submit()), n_sync) * 1e6

    def async_tp() -> float:
        t = time.perf_counter()
        s.get([s.submit() for _ in range(2000)])
        return 2000 / (time.perf_counter() - t)
    out["async_tasks_per_s"] = _median(async_tp, reps)

    a = s.actor()
    s.get(a.call.remote())
    out["actor_sync_us"] = _latency(lambda: s.get(a.call.remote()), n_sync) * 1e6

    def actor_tp() -> float:
        t = time.perf_counter()
        s.get([a.call.remote() for _ in range(2000)])
        return 2000 / (time.perf_counter() - t)
    out["actor_async_calls_per_s"] = _median(actor_tp, reps)

    arr = np.random.default_rng(0).random(100 * 2**20 // 8)  # 100 MB

    def put_gbs() -> float:
        t = time.perf_counter()
        r = s.put(arr)
        dt = time.perf_counter() - t
        del r
        gc.collect()
        return arr.nbytes / dt / 1e9
    out["put_100mb_first_gb_per_s"] = put_gbs()  # into fresh memory
    put_gbs()  # a store that reuses freed memory (plasma, ours) warms up here
    out["put_100mb_gb_per_s"] = _median(put_gbs, reps)
    r = s.put(arr)

    def get_ms() -> float:
        t = time.perf_counter()
        v = s.get(r)
        dt = time.perf_counter() - t
        del v
        return dt * 1e3
    out["get_100mb_ms"] = _median(get_ms, reps)
    v = s.get(r)
    out["get_zero_copy"] = float((not v.flags.writeable) and (not v.flags.owndata)
                                 and np.shares_memory(v, s.get(r)))
    del v, r
    gc.collect()

    def small_puts() -> float:
        t = time.perf_counter()
        refs = [s.put(i) for i in range(10_000)]
        dt = time.perf_counter() - t
        del refs
        return 10_000 / dt
    out["small_puts_per_s"] = _median(small_puts, reps)

    def one_chain() -> Any:
        return s.get(s.submit_inc(s.submit_inc(s.submit_inc(0))))
    out["chain3_ms"] = _latency(one_chain, max(20, n_sync // 5)) * 1e3

    def chains() -> float:
        t = time.perf_counter()
        ends = [s.submit_inc(s.submit_inc(s.submit_inc(i))) for i in range(100)]
        assert s.get(ends) == [i + 3 for i in range(100)]
        return (time.perf_counter() - t) * 1e3
    out["chains100_ms"] = _median(chains, reps)

    def drain() -> float:
        t = time.perf_counter()
        pending = [s.submit(i) for i in range(1000)]
        while pending:
            _, pending = s.wait(pending, 1)
        return (time.perf_counter() - t) * 1e3
    out["wait_drain_1000_ms"] = _median(drain, max(1, reps // 2))

    def wait_all() -> float:
        t = time.perf_counter()
        refs = [s.submit(i) for i in range(_WAIT_ALL)]
        ready, _ = s.wait(refs, len(refs))
        assert len(ready) == _WAIT_ALL
        return (time.perf_counter() - t) * 1e3
    out["wait_all_ms"] = _median(wait_all, max(1, reps // 2))

    def wait_half() -> float:  # the wait alone: submitting them takes most of the row above
        refs = [s.submit(i) for i in range(_WAIT_ALL)]
        t = time.perf_counter()
        ready, _ = s.wait(refs, len(refs) // 2)
        assert len(ready) == _WAIT_ALL // 2
        took = (time.perf_counter() - t) * 1e3
        s.get(refs)  # the rest finish before the next workload starts
        return took
    out["wait_half_ms"] = _median(wait_half, max(1, reps // 2))

    del a
    gc.collect()
    time.sleep(1.0)
    out["idle_processes"], out["idle_mb"] = _footprint()

    # after the idle footprint: the workers nested tasks need stay a while
    _NESTED.update(api=s.rt, fib=s.rt.remote(fib))
    t0 = time.perf_counter()
    assert s.get(_NESTED["fib"].remote(10)) == 55
    out["fib10_first_s"] = time.perf_counter() - t0  # the pool grows (or not) for it

    def fib10() -> float:
        t = time.perf_counter()
        assert s.get(_NESTED["fib"].remote(10)) == 55
        return time.perf_counter() - t
    out["fib10_s"] = _median(fib10, reps)
    t0 = time.perf_counter()
    s.shutdown()
    out["shutdown_s"] = time.perf_counter() - t0
    out["init_shutdown_s"] = out["init_s"] + out["shutdown_s"]
    return out


def crash_once(marker: str) -> str:
    """First run: write this worker's pid to ``marker`` and hang; a retry returns at once."""
    if not os.path.exists(marker):
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(marker + ".tmp", marker)
        time.sleep(60)
    return "recovered"


def sleep_leaf(i: int) -> int:
    time.sleep(0.001)
    return i


def sleep_add(a: int, b: int) -> int:
    time.sleep(0.001)
    return a + b


def _worker_procs(system: str = "runtime") -> list[psutil.Process]:
    """The task worker processes under this driver: ours run ``runtime.worker``; Ray's set
    their title to ``ray::<task>`` (or ``ray::IDLE``). Ray's raylet, GCS and agents (titled
    ``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) are left alone: their death takes the
    node down rather than one worker."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        if system == "ray":
            if cmd and cmd[0].startswith("ray::") and not cmd[0].endswith("Agent"):
                out.append(p)
        elif "runtime.worker" in " ".join(cmd):
            out.append(p)
    return out


def bench_faults(s: RuntimeSys, reps: int) -> dict[str, float]:
    """Recovery after a worker kill, a task DAG with and without workers killed, spilling."""
    import random
    import tempfile
    import threading
    out: dict[str, float] = {}
    s.init()
    crash = s.rt.remote(max_retries=3)(crash_once)
    times = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "pid")
            ref = crash.remote(marker)
            while not os.path.exists(marker):
                time.sleep(0.001)
            pid = int(open(marker).read())
            t0 = time.perf_counter()
            os.kill(pid, 9)
            assert s.get(ref) == "recovered"
            times.append(time.perf_counter() - t0)
    out["recovery_ms"] = statistics.median(times) * 1e3
    kill_counts: list[int] = []
    leaf = s.rt.remote(max_retries=-1)(sleep_leaf)
    add = s.rt.remote(max_retries=-1)(sleep_add)

    def dag(kill_every: float | None) -> float:
        stop = threading.Event()
        rng = random.Random(0)
        kills = [0]

        def killer() -> None:
            while kills[0] < 1023 // 100 and not stop.wait(kill_every):
                procs = _worker_procs(s.name)
                if procs:
                    try:
                        rng.choice(procs).kill()
                        kills[0] += 1
                    except psutil.Error:
                        pass
        t = threading.Thread(target=killer)
        t0 = time.perf_counter()
        if kill_every is not None:
            t.start()
        level = [leaf.remote(i) for i in range(512)]
        while len(level) > 1:
            level = [add.remote(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        assert s.get(level[0]) == sum(range(512))
        dt = time.perf_counter() - t0
        stop.set()
        if kill_every is not None:
            t.join()
            kill_counts.append(kills[0])
        return 1023 / dt
    out["dag_tasks_per_s"] = _median(lambda: dag(None), reps)
    # one kill per ~100 tasks' worth of undisturbed run time, 10 kills at most (a run that the
    # kills slow down must not get more of them): about 1% of the tasks see their worker die
    per_task = 1.0 / out["dag_tasks_per_s"]
    out["dag_killed_tasks_per_s"] = _median(lambda: dag(100 * per_task), reps)
    out["dag_kills"] = statistics.median(kill_counts)
    s.shutdown()
    time.sleep(0.5)

    s.init_kwargs = {"object_store_memory": 200 * 2**20}
    s.init()
    chunk = np.random.default_rng(1).random(20 * 2**20 // 8)  # 20 MB, 20 of them: 2x the cap
    t0 = time.perf_counter()
    refs = [s.put(chunk) for _ in range(20)]
    dt = time.perf_counter() - t0
    out["spill_gb_per_s"] = 20 * chunk.nbytes / dt / 1e9
    assert float(s.get(refs[0])[0]) == float(chunk[0])
    del refs
    s.shutdown()
    s.init_kwargs = {}
    return out


def bench_pool(num_cpus: int, reps: int, n_sync: int) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    ex = ProcessPoolExecutor(num_cpus)
    ex.submit(noop).result()
    out["init_s"] = time.perf_counter() - t0
    out["sync_task_us"] = _latency(lambda: ex.submit(noop).result(), n_sync) * 1e6

    def async_tp() -> float:
        t = time.perf_counter()
        fs = [ex.submit(noop) for _ in range(2000)]
        for f in fs:
            f.result()
        return 2000 / (time.perf_counter() - t)
    out["async_tasks_per_s"] = _median(async_tp, reps)

    def one_chain() -> Any:
        return ex.submit(inc, ex.submit(inc, ex.submit(inc, 0).result()).result()).result()
    out["chain3_ms"] = _latency(one_chain, max(20, n_sync // 5)) * 1e3

    def wait_all() -> float:
        t = time.perf_counter()
        fs = [ex.submit(noop) for _ in range(_WAIT_ALL)]
        done, _ = futures_wait(fs)
        assert len(done) == _WAIT_ALL
        return (time.perf_counter() - t) * 1e3
    out["wait_all_ms"] = _median(wait_all, max(1, reps // 2))

    def wait_half() -> float:  # concurrent.futures.wait has no count: as_completed counts
        fs = [ex.submit(noop) for _ in range(_WAIT_ALL)]
        t = time.perf_counter()
        for i, _ in enumerate(as_completed(fs), 1):
            if i == _WAIT_ALL // 2:
                break
        took = (time.perf_counter() - t) * 1e3
        futures_wait(fs)
        return took
    out["wait_half_ms"] = _median(wait_half, max(1, reps // 2))
    time.sleep(1.0)
    out["idle_processes"], out["idle_mb"] = _footprint()
    t0 = time.perf_counter()
    ex.shutdown()
    out["shutdown_s"] = time.perf_counter() - t0
    out["init_shutdown_s"] = out["init_s"] + out["shutdown_s"]
    return out


def _pong(r: int, w: int) -> None:
    while True:
        b = os.read(r, 1)
        if not b:
            os._exit(0)
        os.write(w, b)


def bench_floor(n: int) -> dict[str, float]:
    """A raw 1-byte pipe round trip between two processes, and memcpy bandwidth."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(a_w)
        os.close(b_r)
        _pong(a_r, b_w)
    os.close(a_r)
    os.close(b_w)

    def ping() -> None:
        os.write(a_w, b"x")
        os.read(b_r, 1)
    us = _latency(ping, n) * 1e6
    os.close(a_w)
    os.waitpid(pid, 0)
    os.close(b_r)
    src = np.random.default_rng(0).random(100 * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)

    def cp() -> float:
        t = time.perf_counter()
        np.copyto(dst, src)
        return src.nbytes / (time.perf_counter() - t) / 1e9
    return {"pipe_roundtrip_us": us, "memcpy_gb_per_s": _median(cp, 5)}


# (key, label, unit, better, target ratio vs pool, target ratio vs ray)
ROWS = [
    ("sync_task_us", "sync no-op task round trip", "us", "low", 1.5, 0.2),
    ("async_tasks_per_s", "async throughput (2000 no-op tasks)", "tasks/s", "high", 0.7, 4.0),
    ("actor_sync_us", "actor sync call", "us", "low", None, 0.2),
    ("actor_async_calls_per_s", "actor async throughput (2000 calls)", "calls/s", "high", None,
     None),
    ("put_100mb_first_gb_per_s", "first put of 100 MB (fresh memory)", "GB/s", "high", None,
     None),
    ("put_100mb_gb_per_s", "put 100 MB numpy array (warm store)", "GB/s", "high", None, 2.0),
    ("get_100mb_ms", "get 100 MB numpy array", "ms", "low", None, None),
    ("get_zero_copy", "get is zero-copy (1 = yes)", "", "high", None, None),
    ("small_puts_per_s", "10k small puts", "puts/s", "high", None, None),
    ("chain3_ms", "one chain of 3 dependent tasks", "ms", "low", None, None),
    ("chains100_ms", "100 chains of 3 tasks passing refs", "ms", "low", None, None),
    ("wait_drain_1000_ms", "wait() draining 1000 tasks", "ms", "low", None, None),
    ("wait_all_ms", "wait() for all of 20,000 tasks", "ms", "low", None, None),
    ("wait_half_ms", "wait() for half of 20,000 tasks (the wait)", "ms", "low", None, None),
    ("fib10_first_s", "nested fib(10), first run (pool ramp-up)", "s", "low", None, None),
    ("fib10_s", "nested fib(10), later runs", "s", "low", None, None),
    ("init_shutdown_s", "init + shutdown", "s", "low", None, 0.05),
    ("idle_processes", "idle processes", "", "low", None, None),
    ("idle_mb", "idle footprint (USS of started processes)", "MB", "low", None, 0.25),
    ("recovery_ms", "recovery: worker kill to retried result", "ms", "low", None, None),
    ("dag_tasks_per_s", "DAG of 1023 tasks (1 ms each)", "tasks/s", "high", None, None),
    ("dag_killed_tasks_per_s", "same DAG, a worker killed per ~100 tasks", "tasks/s", "high",
     None, None),
    ("dag_kills", "workers killed during that DAG (median)", "", "", None, None),
    ("spill_gb_per_s", "puts of 2x object_store_memory (spilling)", "GB/s", "high", None, None),
]


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _verdict(ratio: float | None, target: float | None, better: str) -> str:
    if ratio is None or target is None:
        return ""
    ok = ratio <= target if better == "low" else ratio >= target
    sign = "<=" if better == "low" else ">="
    return f"{sign}{target:g} {'ok' if ok else 'MISS'}"


class _OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (a flag it does not know, a value that is not a number) as one line
    on stderr, exit 2, as the other benchmarks print them, not the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"runtime_bench: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    p = _OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-cpus", type=int, default=2, help="workers per system (default: 2)")
    p.add_argument("--reps", type=int, default=5, help="repetitions of each throughput "
                   "workload; the median is reported (default: 5)")
    p.add_argument("--sync-calls", type=int, default=500, help="calls timed for each latency "
                   "figure (default: 500)")
    p.add_argument("--no-ray", action="store_true", help="skip Ray even when importable")
    p.add_argument("--no-faults", action="store_true", help="skip the fault-tolerance and "
                   "spilling workloads (recovery, DAG with kills, spill)")
    p.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    a = p.parse_args(argv)
    if a.num_cpus < 1 or a.reps < 1 or a.sync_calls < 1:
        p.error("--num-cpus, --reps and --sync-calls must be >= 1")
    results: dict[str, dict[str, float]] = {}
    results["floor"] = bench_floor(a.sync_calls)
    results["runtime"] = bench_system(RuntimeSys(a.num_cpus), a.reps, a.sync_calls)
    if not a.no_faults:
        results["runtime"].update(bench_faults(RuntimeSys(a.num_cpus), max(1, a.reps // 2)))
    results["pool"] = bench_pool(a.num_cpus, a.reps, a.sync_calls)
    have_ray = False
    if not a.no_ray:
        try:
            import ray  # noqa: F401
            have_ray = True
        except ImportError:
            pass
    if have_ray:
        results["ray"] = bench_system(RaySys(a.num_cpus), a.reps, a.sync_calls)
        if not a.no_faults:
            try:
                results["ray"].update(bench_faults(RaySys(a.num_cpus), max(1, a.reps // 2)))
            except Exception as e:  # noqa: BLE001 - report the rest; these rows show "-"
                print(f"warning: Ray fault workloads failed: {type(e).__name__}: {e}",
                      file=sys.stderr)
                import ray
                ray.shutdown()
    if a.json:
        print(json.dumps(results, indent=2))
        return 0
    rt, pool, ray = results["runtime"], results["pool"], results.get("ray", {})
    head = (f"{'workload':44} {'unit':8} {'runtime':>10} {'pool':>10} {'ray':>10} "
            f"{'rt/pool':>8} {'target':>11} {'rt/ray':>8} {'target':>11}")
    print(f"# python benchmarks/runtime_bench.py {' '.join(argv or sys.argv[1:])}")
    print(f"# {a.num_cpus} workers each, {os.cpu_count()} CPUs; ray "
          f"{'included' if have_ray else 'not installed (or --no-ray)'}")
    print(head)
    print("-" * len(head))
    for key, label, unit, better, t_pool, t_ray in ROWS:
        r, pv, yv = rt.get(key), pool.get(key), ray.get(key)
        rp, ry = _ratio(r, pv), _ratio(r, yv)
        print(f"{label:44} {unit:8} {_fmt(r):>10} {_fmt(pv):>10} {_fmt(yv):>10} "
              f"{_fmt(rp):>8} {_verdict(rp, t_pool, better):>11} {_fmt(ry):>8} "
              f"{_verdict(ry, t_ray, better):>11}")
    fl = results["floor"]
    print(f"{'floor: raw pipe ping-pong, 2 processes':44} {'us':8} "
          f"{_fmt(fl['pipe_roundtrip_us']):>10}")
    print(f"{'floor: memcpy 100 MB':44} {'GB/s':8} {_fmt(fl['memcpy_gb_per_s']):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
