"""CLI smoke tests, run for real as subprocesses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurocuts.rules import linear_scan, load_packets, load_rules


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "neurocuts", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_gen_build_classify_end_to_end(tmp_path):
    # ipc: a 300-rule fw set (seed 3) makes efficuts build 15k nodes; this one 662 nodes, depth 8.
    g = run("gen", "--kind", "ipc", "--size", "300", "--seed", "3")
    assert g.returncode == 0, g.stderr
    (tmp_path / "rules.txt").write_text(g.stdout)
    p = run("packets", tmp_path / "rules.txt", "--count", "2000", "--seed", "2")
    assert p.returncode == 0, p.stderr
    (tmp_path / "packets.txt").write_text(p.stdout)
    b = run("build", tmp_path / "rules.txt", "--algo", "efficuts", "--binth", "8", "--out", tmp_path / "t.json",
            "--json")
    assert b.returncode == 0, b.stderr
    m = json.loads(b.stdout)
    assert m["algo"] == "efficuts" and m["rules"] == 300
    assert {"time", "bytes", "bytes_per_rule", "depth", "nodes", "build_s"} <= set(m)
    c = run("classify", tmp_path / "t.json", tmp_path / "packets.txt")
    assert c.returncode == 0, c.stderr
    got = np.array([int(x) for x in c.stdout.split()])
    want = linear_scan(load_rules(tmp_path / "rules.txt"), load_packets(tmp_path / "packets.txt"))
    assert np.array_equal(got, want)


def test_compare_without_rules_uses_generated_default_and_says_so():
    r = run("compare", "--json")
    assert r.returncode == 0, r.stderr
    assert "generated acl rules (1000 rules, seed 1)" in r.stderr
    rows = json.loads(r.stdout)
    assert [row["algo"] for row in rows] == ["hicuts", "hypercuts", "efficuts", "cutsplit"]
    assert all(row["rules"] == 1000 for row in rows)


def test_malformed_rule_file_exits_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t80 : 80\t0x06/0xFF\t\n@1.2.3.4/40\t5.6.7.8/32\t0 : 1\t1 : 1\t0x06/0xFF\t\n")
    out = tmp_path / "t.json"
    r = run("build", bad, "--out", out)
    assert r.returncode == 2
    assert r.stderr.strip() == f"neurocuts: error: {bad}:2: source prefix: prefix length 40 above 32"
    assert "Traceback" not in r.stderr and not out.exists()


def test_bad_tree_and_missing_file_exit_2(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    (tmp_path / "p.txt").write_text("1 2 3 4 5\n")
    r = run("classify", tmp_path / "t.json", tmp_path / "p.txt")
    assert r.returncode == 2 and "not a tree file" in r.stderr
    r = run("build", tmp_path / "missing.txt")
    assert r.returncode == 2 and "missing.txt" in r.stderr and "Traceback" not in r.stderr


def _run_into(stdout, *args):
    return subprocess.run([sys.executable, "-m", "neurocuts", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_a_reader_that_went_away_ends_the_command_quietly():
    # `neurocuts gen ... | head -0`: the pipe's reader is gone before anything is written.
    read, write = os.pipe()
    os.close(read)
    try:
        r = _run_into(write, "gen", "--kind", "acl", "--size", "2000", "--seed", "1")
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (1, "")  # no traceback, no "Exception ignored" line


def test_a_stdout_that_cannot_be_written_is_one_line():
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    with open("/dev/full", "w") as full:
        r = _run_into(full, "gen", "--kind", "acl", "--size", "100", "--seed", "1")
    # was "neurocuts: internal error: OSError: [Errno 28] No space left on device"
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["neurocuts: cannot write the output: No space left on device"]
