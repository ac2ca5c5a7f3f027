"""benchmarks/neurocuts_build_speed.py: argument handling, and a tiny side-by-side run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "neurocuts_build_speed.py"

RULES = "".join(
    f"@10.{i}.0.0/16\t20.0.{i}.0/24\t0 : 65535\t{1000 + i} : {1000 + i}\t0x06/0xFF\t0x0000/0x0000\n"
    for i in range(40)
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_rules"
    path.write_text(RULES)
    return path


@pytest.mark.parametrize("args, says", [
    (["--baseline", "no-such-rev-or-folder"], "neither a folder nor a git revision"),
    (["--baseline", "{tmp}"], "has no neurocuts/ package"),  # a folder, but no checkout
    (["--baseline", "HEAD", "--algos", "nocuts"], "invalid choice"),
    (["--baseline", "HEAD", "--repeats", "0"], "--repeats"),
])
def test_bad_arguments_are_one_line_and_exit_2(rules, tmp_path, args, says):
    r = run(*[a.format(tmp=tmp_path) for a in args], "--sets", str(rules))
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_missing_rule_file_is_one_line_and_exit_2(tmp_path):
    r = run("--baseline", str(REPO), "--sets", "no_such_set", "--shared", str(tmp_path))
    assert r.returncode == 2
    assert "no rule file no_such_set" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_tiny_run_times_both_and_finds_the_trees_identical(rules):
    r = run("--baseline", str(REPO), "--sets", str(rules), "--algos", "hicuts", "hypercuts", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    rows = [x for x in r.stdout.splitlines() if x.startswith("| tiny_rules |")]
    assert len(rows) == 2 and all(x.rstrip().endswith("| identical |") for x in rows)


def test_a_baseline_building_other_trees_is_reported_and_exits_1(rules, tmp_path):
    # A copy of the package whose builds use binth 8: other trees, which the run must notice.
    shutil.copytree(REPO / "neurocuts", tmp_path / "old" / "neurocuts")
    builders = tmp_path / "old" / "neurocuts" / "builders.py"
    text = builders.read_text()
    assert "binth: int = 16" in text
    builders.write_text(text.replace("binth: int = 16", "binth: int = 8"))
    r = run("--baseline", str(tmp_path / "old"), "--sets", str(rules), "--algos", "hicuts", "--repeats", "1")
    assert r.returncode == 1, r.stderr
    assert "| DIFFER |" in r.stdout


def test_sets_and_algos_are_comma_separated_as_the_baselines_benchmark_takes_them(rules, tmp_path):
    # neurocuts_baselines.py takes --sets a,b --algos x,y; this benchmark took only spaces, so
    # the same words were one unknown name. A name is looked up under --shared's classbench/, as
    # there (the default was this machine's /work/shared/classbench).
    (tmp_path / "classbench").mkdir()
    shutil.copy(rules, tmp_path / "classbench" / "tiny_a")
    shutil.copy(rules, tmp_path / "classbench" / "tiny_b")
    r = run("--baseline", str(REPO), "--sets", "tiny_a,tiny_b", "--algos", "cutsplit,efficuts",
            "--repeats", "1", "--shared", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [x.split("|")[1:3] for x in r.stdout.splitlines() if x.startswith("| tiny_")]
    assert [[c.strip() for c in row] for row in rows] == [
        ["tiny_a", "cutsplit"], ["tiny_a", "efficuts"], ["tiny_b", "cutsplit"], ["tiny_b", "efficuts"]]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP"])
def test_a_killed_run_leaves_no_worktree_or_temp_folder(rules, tmp_path, how):
    # A git revision as baseline is checked out with `git worktree add` into a temporary folder;
    # killed (SIGTERM: a job's kill or timeout; SIGHUP: its terminal closed) while it times the
    # builds, the run must still remove both. Before, a signal's default action skipped the
    # clean-up: the folder stayed in /tmp and git kept listing the worktree.
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("needs a git checkout")
    scratch = (tmp_path / "tmp").resolve()
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--baseline", "HEAD", "--sets", str(rules),
                             "--algos", "cutsplit", "--repeats", "100"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 120
        while not list(scratch.glob("nc_speed_*/baseline/neurocuts/__init__.py")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(0.5)  # the builds have started
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=60)
        assert list(scratch.iterdir()) == []
        listed = subprocess.run(["git", "-C", str(REPO), "worktree", "list", "--porcelain"], capture_output=True,
                                text=True, check=True).stdout
        assert str(scratch) not in listed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for line in subprocess.run(["git", "-C", str(REPO), "worktree", "list", "--porcelain"], capture_output=True,
                                   text=True, check=False).stdout.splitlines():
            if line.startswith("worktree ") and line[9:].startswith(str(scratch)):
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", line[9:]], check=False,
                               capture_output=True)


def test_a_baseline_that_cannot_build_the_algo_is_one_line_and_exit_2(rules, tmp_path):
    # A baseline checkout without the builder asked for (an older revision's BUILDERS) is a bad
    # --baseline for these --algos. Before, RuntimeError's traceback, exit 1.
    shutil.copytree(REPO / "neurocuts", tmp_path / "old" / "neurocuts")
    builders = tmp_path / "old" / "neurocuts" / "builders.py"
    text = builders.read_text()
    assert '    "cutsplit": (build_cutsplit, CutSplitConfig),\n' in text
    builders.write_text(text.replace('    "cutsplit": (build_cutsplit, CutSplitConfig),\n', ""))
    r = run("--baseline", str(tmp_path / "old"), "--sets", str(rules), "--algos", "cutsplit", "--repeats", "1")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "cutsplit on tiny_rules under" in r.stderr and "algo must be one of" in r.stderr
