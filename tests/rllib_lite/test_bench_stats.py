"""The statistics benchmarks/rl_cartpole.py prints over many seeds."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "rl_cartpole.py"
_spec = importlib.util.spec_from_file_location("rl_cartpole_bench", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_mann_whitney_matches_the_asymptotic_reference_values():
    # scipy.stats.mannwhitneyu(..., method="asymptotic") gives these (continuity-corrected)
    assert bench.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(0.012186, abs=1e-6)
    assert bench.mann_whitney_p([3, 1, 2], [2, 3, 1]) == 1.0
    # ties get mid-ranks; the order of the samples does not matter
    a, b = [8192, 8192, 20480, 30720, 30720], [20480, 20480, 30720, 30720, 30720, 8192]
    assert bench.mann_whitney_p(a, b) == pytest.approx(bench.mann_whitney_p(b, a))
    assert 0.0 < bench.mann_whitney_p(a, b) <= 1.0


def test_bootstrap_interval_brackets_the_median_ratio():
    ours, ref = [10, 20, 30, 40, 50], [20, 40, 60, 80, 100]
    lo, hi = bench.bootstrap_ratio_ci(ours, ref)
    assert lo <= 0.5 <= hi
    assert bench.bootstrap_ratio_ci([7] * 5, [14] * 5) == (0.5, 0.5)


def test_time_repeats_report_the_median_seconds_and_refuse_a_run_that_changes(monkeypatch, capsys):
    """--time-repeats reruns each (algo, seed) and reports the median seconds; the reruns must take
    the same steps (runs are deterministic), else the benchmark stops instead of mixing runs."""
    seconds = iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(bench, "solve_ours", lambda algo, seed, every: {
        "solved": True, "steps": 4096, "seconds": next(seconds), "score": 500.0})
    assert bench.main(["--part", "solve", "--algos", "PPO", "--seeds", "0", "--no-sb3",
                       "--time-repeats", "3", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["solve"]["PPO/rllib_lite"]
    assert run["seconds"] == 2.0 and run["seconds_each"] == [3.0, 1.0, 2.0] and run["steps"] == 4096

    steps = iter([4096, 5120])
    monkeypatch.setattr(bench, "solve_ours", lambda algo, seed, every: {
        "solved": True, "steps": next(steps), "seconds": 1.0, "score": 500.0})
    with pytest.raises(RuntimeError, match="not deterministic"):
        bench.main(["--part", "solve", "--algos", "PPO", "--seeds", "0", "--no-sb3", "--time-repeats", "2"])


@pytest.mark.parametrize("argv, needle", [
    (["--from-json", "nosuch.json"], "--from-json nosuch.json: No such file or directory"),
    (["--time-repeats", "0"], "--time-repeats must be >= 1"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--eval-every", "0", "--part", "solve", "--no-sb3"], "--eval-every must be >= 1, got 0"),
    (["--seeds", "0", "-1", "--part", "solve", "--no-sb3"], "--seeds must be >= 0, got -1"),
])
def test_bad_arguments_are_one_line_exit_2_not_the_usage_block(argv, needle, capsys):
    # argparse's error printed the whole usage block (5 lines) before the error line
    with pytest.raises(SystemExit) as stop:
        bench.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and needle in lines[0], lines


def test_from_json_prints_the_throughput_part_of_the_reports_it_reads(tmp_path, capsys):
    # --from-json read only the solve part: a full run's report lost its throughput table, and a
    # throughput run's printed an empty solve table
    row = {"raw_floor": 900.0, "workers_0": 800.0, "workers_1": 820.0, "workers_2": 1600.0}
    run = {"solved": True, "steps": 4096, "seconds": 2.0, "score": 500.0}
    full, thr = tmp_path / "full.json", tmp_path / "thr.json"
    full.write_text(json.dumps({"solve": {"PPO/rllib_lite": [run], "PPO/sb3": [run]},
                                "throughput": {"rllib_lite/SlowCartPole-v1": row}}))
    thr.write_text(json.dumps({"throughput": {"rllib_lite/SlowCartPole-v1": row}}))
    assert bench.main(["--from-json", str(full)]) == 0
    out = capsys.readouterr().out
    assert "PPO: steps ratio rllib_lite/SB3 = 1.00" in out
    assert "| rllib_lite/SlowCartPole-v1 | 900 | 800 | 820 | 1600 | 1.02 | 2.00 | 0.89 |" in out
    assert bench.main(["--from-json", str(thr)]) == 0
    out = capsys.readouterr().out
    assert "| rllib_lite/SlowCartPole-v1 | 900 |" in out and "## Steps" not in out
    with pytest.raises(SystemExit) as stop:  # two throughput runs of one env: which to print?
        bench.main(["--from-json", str(full), str(thr)])
    assert stop.value.code == 2
    assert "a second throughput run of rllib_lite/SlowCartPole-v1" in capsys.readouterr().err
