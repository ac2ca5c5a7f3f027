"""Bad input to `neurocuts`: one line on stderr, exit 2, checked before any work, no file harmed.

Most cases call `main()` in-process (fast); the prog name and the benchmark's parser run as
subprocesses, as a user would.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import sys
from pathlib import Path

import pytest

import neurocuts.__main__ as cli
from sysml_datasets.classbench import GeneratorConfig, generate_text

REPO = Path(__file__).resolve().parents[2]
ERR = "neurocuts: error: "  # how the CLI's one-line bad-input messages start


def call(capsys, *args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `neurocuts *args` run in-process."""
    try:
        rc = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse's errors and --help exit
        rc = exc.code
    got = capsys.readouterr()
    return rc, got.out, got.err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def rules(tmp_path) -> Path:
    path = tmp_path / "rules.txt"
    path.write_text(generate_text(GeneratorConfig("acl", 50, 1)))
    return path


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test if the command gets as far as building a tree."""
    def refuse(*a, **k):
        raise AssertionError("built a tree before checking its input")
    monkeypatch.setattr(cli, "build", refuse)


@pytest.mark.parametrize("args, option, allowed", [
    (["gen", "--size", "5", "--seed", "-1"], "--seed", ">= 0"),
    (["gen", "--size", "0"], "--size", "1..10000000"),
    (["gen", "--size", "10000000000"], "--size", "1..10000000"),
    (["packets", "RULES", "--count", "5", "--seed", "-1"], "--seed", ">= 0"),
    (["packets", "RULES", "--count", "-3"], "--count", "1..100000000"),
    (["packets", "RULES", "--count", "100000000000"], "--count", "1..100000000"),
    (["build", "RULES", "--binth", "0"], "--binth", ">= 1"),
    (["compare", "RULES", "--binth", "-2"], "--binth", ">= 1"),
])
def test_out_of_range_integer_exits_2_naming_option_and_range(capsys, rules, no_build, args, option, allowed):
    rc, out, err = call(capsys, *[rules if a == "RULES" else a for a in args])
    line = one_line(err)
    assert rc == 2 and out == ""
    assert f"argument {option}:" in line and allowed in line


@pytest.mark.parametrize("cmd", ["build", "compare"])
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf"])
def test_time_limit_must_be_finite_and_positive(capsys, rules, no_build, cmd, value):
    rc, out, err = call(capsys, cmd, rules, f"--time-limit={value}")
    line = one_line(err)
    assert rc == 2 and out == ""
    assert "argument --time-limit:" in line and "> 0" in line


def test_out_in_missing_folder_is_rejected_before_building(capsys, rules, no_build, tmp_path):
    out = tmp_path / "nodir" / "sub" / "tree.json"
    rc, _, err = call(capsys, "build", rules, "--out", out)
    assert rc == 2 and one_line(err) == ERR + f"--out {out}: folder {out.parent} does not exist"


def test_out_under_a_file_is_rejected_before_building(capsys, rules, no_build):
    out = rules / "tree.json"
    rc, _, err = call(capsys, "build", rules, "--out", out)
    assert rc == 2 and one_line(err) == ERR + f"--out {out}: {rules} is not a folder"


def test_empty_out_is_rejected_before_building(capsys, rules, no_build):
    rc, _, err = call(capsys, "build", rules, "--out", "")
    assert rc == 2 and one_line(err) == ERR + "--out: empty path"


def test_out_that_is_a_folder_is_rejected_before_building(capsys, rules, no_build, tmp_path):
    (tmp_path / "bad" / "adir").mkdir(parents=True)
    rc, _, err = call(capsys, "build", rules, "--out", tmp_path / "bad" / "adir")
    assert rc == 2 and one_line(err) == ERR + f"--out {tmp_path / 'bad' / 'adir'}: is a folder"


@pytest.mark.parametrize("spelling", ["rules.txt", "./rules.txt", "../{dir}/rules.txt", "{abs}", "link.txt"])
def test_out_that_is_the_rules_file_is_refused_and_the_rules_survive(capsys, rules, no_build, tmp_path,
                                                                     monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.txt").symlink_to(rules)
    before = rules.read_bytes()
    out = spelling.format(dir=tmp_path.name, abs=rules)
    rc, _, err = call(capsys, "build", "rules.txt", "--out", out)
    assert rc == 2 and one_line(err) == ERR + f"--out {out}: is the input rules file"
    assert rules.read_bytes() == before


def test_out_may_overwrite_an_earlier_tree(capsys, rules, tmp_path):
    out = tmp_path / "t.json"
    out.write_text("old")
    rc, _, err = call(capsys, "build", rules, "--out", out, "--json")
    assert rc == 0, err
    assert out.read_text().startswith("{")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


@pytest.mark.parametrize("algo", ["hicuts", "hypercuts", "efficuts", "cutsplit"])
@pytest.mark.parametrize("limit, message", [
    (["--time-limit", "1e-9"], "{algo} build passed its 1e-09 s limit"),
    # Before --max-nodes a build that blows up (HiCuts on a 3,000-rule fw set) ran for many minutes,
    # past a million nodes and a GB, with no bound but --time-limit, which is off by default.
    (["--max-nodes", "1"], "{algo} exceeded 1 nodes on this rule set; raise --max-nodes or try another --algo"),
], ids=["time-limit", "max-nodes"])
def test_build_past_its_limit_exits_2_and_keeps_the_earlier_tree(capsys, rules, tmp_path, algo, limit, message):
    out = tmp_path / "t.json"
    out.write_text("earlier tree\n")
    rc, stdout, err = call(capsys, "build", rules, "--algo", algo, *limit, "--out", out)
    assert rc == 2 and stdout == ""
    assert one_line(err) == ERR + f"{rules}: " + message.format(algo=algo)
    assert out.read_text() == "earlier tree\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.txt", "t.json"]


def test_compare_shows_a_builder_past_its_node_budget_and_runs_the_others(capsys, rules):
    rc, out, err = call(capsys, "compare", rules, "--max-nodes", "1", "--json")
    assert rc == 0, err
    assert json.loads(out) == [{"algo": a, "rules": 50, "error": "over 1 nodes"} for a in cli.BUILDERS]


@pytest.mark.parametrize("cmd", ["build", "compare"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_nodes_must_be_positive(capsys, rules, no_build, cmd, value):
    rc, out, err = call(capsys, cmd, rules, f"--max-nodes={value}")
    line = one_line(err)
    assert rc == 2 and out == ""
    assert "argument --max-nodes:" in line and ">= 1" in line


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc, where no file can be created")
def test_out_where_no_file_can_be_created_is_rejected_before_building(capsys, rules, no_build):
    rc, _, err = call(capsys, "build", rules, "--out", "/proc/tree.json")
    assert rc == 2 and one_line(err) == ERR + "--out /proc/tree.json: cannot write there (No such file or directory)"


def test_a_write_that_fails_after_the_build_is_one_line_exit_2(capsys, rules, tmp_path, monkeypatch):
    def full_disk(tree, path):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(cli, "save", full_disk)
    out = tmp_path / "t.json"
    out.write_text("earlier tree\n")
    rc, stdout, err = call(capsys, "build", rules, "--out", out)
    assert rc == 2 and stdout == ""
    assert one_line(err) == ERR + f"--out {out}: cannot write (No space left on device); nothing written"
    assert out.read_text() == "earlier tree\n"


def test_failed_tree_write_leaves_the_earlier_file_whole(tmp_path):
    # A write cut short (here by a file-size limit, as a full disk would) must not truncate the old tree.
    out = tmp_path / "t.json"
    out.write_text("old tree\n")
    script = (
        "import resource, signal, sys\n"
        "from neurocuts import build\n"
        "from neurocuts.rules import parse_rules\n"
        "from neurocuts.tree import save\n"
        "from sysml_datasets.classbench import GeneratorConfig, generate_text\n"
        "tree = build(parse_rules(generate_text(GeneratorConfig('acl', 300, 1))), 'hicuts')\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    save(tree, sys.argv[1])\n"
        "except OSError as exc:\n"
        "    print('failed', exc.errno)\n"
    )
    r = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("failed"), r.stdout + r.stderr
    assert out.read_text() == "old tree\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


@pytest.mark.parametrize("args, name", [
    (["build", "{tmp}/nope.txt"], "nope.txt"),
    (["packets", "{tmp}/nope.txt"], "nope.txt"),
    (["classify", "{tmp}/nope.json", "{tmp}/p.txt"], "nope.json"),
    (["classify", "{tmp}/t.json", "{tmp}/nope.txt"], "nope.txt"),
])
def test_missing_file_is_named_without_a_line_number(capsys, rules, tmp_path, args, name):
    cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")])
    (tmp_path / "p.txt").write_text("1 2 3 4 5\n")
    capsys.readouterr()
    rc, _, err = call(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert rc == 2 and one_line(err) == ERR + f"{tmp_path / name}: no such file"


@pytest.mark.parametrize("text", ["", "\n  \n\t\n"])
def test_classify_of_a_file_with_no_packets_exits_2_as_build_of_one_with_no_rules(capsys, rules, tmp_path, text):
    # It printed nothing and exited 0, as if the packets had been classified.
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    empty = tmp_path / "p.txt"
    empty.write_text(text)
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", empty)
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{empty}:1: no packets found"
    rc, out, err = call(capsys, "build", empty)
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{empty}:1: no rules found"


def test_folder_and_binary_rule_files_are_one_clear_line(capsys, tmp_path):
    rc, _, err = call(capsys, "build", tmp_path)
    assert rc == 2 and one_line(err) == ERR + f"{tmp_path}: is a folder, not a file"
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"@1.2.3.4/32\n\n\xff\xfe\n")
    rc, _, err = call(capsys, "build", binary)
    assert rc == 2 and one_line(err) == ERR + f"{binary}:3: not UTF-8 text"


@pytest.mark.parametrize("corrupt", ["child back to the root", "child shared by two parents", "nested too deep"])
def test_tree_file_that_is_not_a_tree_exits_2(rules, tmp_path, corrupt):
    # Before the check, a cycle made classify loop forever (the subprocess timeout catches that).
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    parents = [d for d in doc["nodes"] if d.get("children")]
    if corrupt == "child back to the root":
        parents[-1]["children"][0] = 0
    elif corrupt == "child shared by two parents":
        parents[-1]["children"][0] = parents[-2]["children"][-1]
    text = json.dumps(doc) if corrupt != "nested too deep" else "[" * 100_000 + "]" * 100_000
    (tmp_path / "t.json").write_text(text)
    (tmp_path / "p.txt").write_text("".join(f"{i} {i} {i} {i} 6\n" for i in range(0, 65536, 97)))
    r = subprocess.run([sys.executable, "-m", "neurocuts", "classify", tmp_path / "t.json", tmp_path / "p.txt"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and one_line(r.stderr).startswith(ERR + f"{tmp_path / 't.json'}: not a tree file")


@pytest.mark.parametrize("args, wanted", [
    (["build", "r.txt", "--algo", "foo"], "argument --algo: invalid choice: 'foo'"),
    (["build"], "the following arguments are required: rules"),
    (["build", "r.txt", "--binth", "x"], "argument --binth: invalid int value: 'x'"),
    (["compare", "--time-limit", "soon"], "argument --time-limit: invalid float value: 'soon'"),
    (["gen", "--kind", "web"], "argument --kind: invalid choice: 'web'"),
    (["frobnicate"], "argument cmd: invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: cmd"),
])
def test_argparse_errors_are_one_line(capsys, args, wanted):
    rc, out, err = call(capsys, *args)
    line = one_line(err)
    assert rc == 2 and out == ""
    # the program named as the other CLIs name themselves: without "python -m "
    assert line.split(": error: ")[0] in ("neurocuts", f"neurocuts {args[0] if args else ''}"), line
    assert wanted in line and line.endswith("(see --help)")


def test_help_still_prints_the_usage_block(capsys):
    rc, out, _ = call(capsys, "build", "--help")
    assert rc == 0 and out.startswith("usage: python -m neurocuts build") and "--time-limit" in out


def test_console_script_names_itself_neurocuts():
    exe = Path(sys.executable).with_name("neurocuts")
    if not exe.exists():
        pytest.skip("the neurocuts console script is not installed next to this python")
    r = subprocess.run([exe, "build", "r.txt", "--algo", "foo"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert one_line(r.stderr).startswith("neurocuts build: error: argument --algo: invalid choice")
    r = subprocess.run([sys.executable, "-m", "neurocuts", "gen", "--size", "-1"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and one_line(r.stderr).startswith("neurocuts gen: error: argument --size")
    r = subprocess.run([exe, "build", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("usage: neurocuts build")


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_benchmark_rejects_bad_time_limit_at_parsing(tmp_path, value):
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "neurocuts_baselines.py"), "--shared",
                        str(tmp_path), f"--time-limit={value}"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and "argument --time-limit:" in r.stderr and "> 0" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
@pytest.mark.parametrize("sig, said", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_ctrl_c_is_one_line_not_a_traceback(tmp_path, sig, said):
    # SIGTERM (kill, timeout) ends the command as Ctrl-C does; its default killed it, exit -15
    # The signal must land past the imports, inside the command. It was sent once the process had used 5 s
    # of CPU, counting on a hicuts build of 3000 fw rules to outlast that: on a fast machine the build
    # ended first (exit 0). Here `build` reads its rules from a named pipe that the test holds open, so
    # the command waits inside main() for as long as the test needs, however fast the machine; were the
    # interrupt lost, the 20 rules would build and exit 0.
    fifo = tmp_path / "rules.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "neurocuts", "build", fifo, "--algo", "hicuts"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None and proc.poll() is None and time.monotonic() < deadline:
            try:  # succeeds once the command has opened the pipe to read its rules (ENXIO before)
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
        assert writer is not None, "the command never opened its rules file"
        os.write(writer, generate_text(GeneratorConfig("fw", 20, 1)).encode())  # and no end of file yet
        proc.send_signal(sig)
        # End the file only now. A signal that lands just before the command's read() blocks is only noted
        # there; read() then returns at this end of file, and the interrupt is raised at the next step.
        os.close(writer)
        writer = None
        out, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1 and one_line(err) == f"neurocuts: {said}" and out == "", (proc.returncode, err)


@pytest.mark.parametrize("args, wanted", [
    (["--check-packets=0"], "argument --check-packets: must be in 1..100000000, got 0"),
    (["--check-packets=-5"], "argument --check-packets: must be in 1..100000000, got -5"),
    (["--throughput-packets=0"], "argument --throughput-packets: must be in 1..100000000, got 0"),
    (["--throughput-packets=1e9"], "argument --throughput-packets: invalid int value: '1e9'"),
    (["--time-limit=inf"], "argument --time-limit: must be a finite number of seconds > 0, got inf"),
    (["--algos=hicuts,foo"], "argument --algos: unknown 'foo'"),
    (["--algos=,"], "argument --algos: no builder given"),
    (["--sets=acl1_1k,acl9_1k"], "argument --sets: unknown 'acl9_1k'"),
])
def test_benchmark_rejects_bad_options_on_one_line(tmp_path, args, wanted):
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "neurocuts_baselines.py"), "--shared",
                        str(tmp_path), *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and r.stdout == "" and wanted in one_line(r.stderr), r.stderr


def test_benchmark_and_cli_share_one_seconds_type():
    import importlib.util

    import neurocuts.argtypes
    spec = importlib.util.spec_from_file_location("neurocuts_baselines", REPO / "benchmarks" / "neurocuts_baselines.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.positive_seconds is neurocuts.argtypes.positive_seconds is cli.positive_seconds


def test_benchmark_says_when_the_shared_data_or_rows_are_missing(tmp_path):
    def bench(*args):
        return subprocess.run([sys.executable, str(REPO / "benchmarks" / "neurocuts_baselines.py"), *args],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})

    r = bench("--shared", str(tmp_path / "nowhere"))  # ran with no sets, printing an empty table
    assert r.returncode == 2 and r.stdout == ""
    assert f"argument --shared: no folder {tmp_path / 'nowhere' / 'classbench'}" in one_line(r.stderr)
    (tmp_path / "classbench").mkdir()
    r = bench("--shared", str(tmp_path), "--sets", "acl1_1k")
    assert r.returncode == 2 and f"argument --sets: no file {tmp_path / 'classbench' / 'acl1_1k'}" in one_line(r.stderr)
    r = bench("--from-rows", str(tmp_path / "rows.jsonl"))  # a traceback before
    assert r.returncode == 2 and "argument --from-rows: not rows written by --out" in one_line(r.stderr)


def test_an_endless_or_huge_params_file_is_refused_not_read_forever(capsys, tmp_path):
    from sysml_datasets.classbench._params import MAX_PARAMS_BYTES

    rc, out, err = call(capsys, "gen", "--params", "/dev/zero", "--size", "10")
    assert rc == 2 and out == "" and "/dev/zero: larger than 16 MiB" in one_line(err)
    big = tmp_path / "big_seed"
    big.write_bytes(b"#" * (MAX_PARAMS_BYTES + 1))
    rc, _, err = call(capsys, "gen", "--params", big, "--size", "10")
    assert rc == 2 and one_line(err).startswith(ERR + f"{big}: larger than 16 MiB")


def test_generation_benchmark_compares_against_a_baseline_folder_and_refuses_a_bad_one(tmp_path):
    def bench(*args):
        return subprocess.run([sys.executable, str(REPO / "benchmarks" / "neurocuts_gen.py"), *args],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})

    r = bench("--baseline", str(REPO), "--kinds", "ipc", "--sizes", "50", "--repeats", "1")  # this checkout vs itself
    assert r.returncode == 0, r.stderr
    assert "| ipc 50 |" in r.stdout and r.stdout.split("| ipc 50 |")[1].split("\n")[0].endswith("| True | True |")
    r = bench("--baseline", str(REPO), "--kinds", "fw", "--sizes", "50", "--repeats", "1", "--text-only")
    assert r.returncode == 0, r.stderr
    assert "text formatting only" in r.stdout
    assert r.stdout.split("| fw 50 |")[1].split("\n")[0].endswith("| True | True |")
    r = bench("--baseline", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert f"argument --baseline: no {tmp_path / 'datasets' / 'classbench' / '__init__.py'}" in one_line(r.stderr)


def test_gen_refuses_kind_beside_params(capsys, tmp_path):
    # --kind was silently ignored: the output was the parameter file's mix, byte for byte
    rc, out, err = call(capsys, "gen", "--kind", "fw", "--params", tmp_path / "acl1_seed", "--size", "10")
    assert rc == 2 and out == ""
    assert one_line(err) == ERR + "--kind and --params exclude each other: --params FILE draws that file's own mix"



def test_gen_without_kind_still_draws_acl(capsys):
    rc, out, _ = call(capsys, "gen", "--size", "20", "--seed", "3")
    rc2, out2, _ = call(capsys, "gen", "--kind", "acl", "--size", "20", "--seed", "3")
    assert rc == rc2 == 0 and out == out2 and len(out.splitlines()) == 20


def test_benchmark_compares_against_the_anchors_of_the_sets_it_ran(tmp_path, capsys):
    # with --sets acl1_1k the anchor column was the median over every set the reference ran (n=3
    # here), not over acl1_1k alone
    import importlib.util
    spec = importlib.util.spec_from_file_location("neurocuts_baselines", REPO / "benchmarks" / "neurocuts_baselines.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "baseline_anchors_1k.jsonl").write_text("\n".join(json.dumps(a) for a in [
        {"file": "acl1_1k", "alg": "HiCuts", "memory_access": 14, "bytes_per_rule": 280.0},
        {"file": "acl2_1k", "alg": "HiCuts", "memory_access": 30, "bytes_per_rule": 900.0},
        {"file": "fw1_1k", "alg": "HiCuts", "memory_access": 40, "bytes_per_rule": 990.0},
    ]) + "\n")
    rows = [{"set": "acl1_1k", "algo": "hicuts", "time": 20, "bytes_per_rule": 500.0, "exact": True}]
    bench.summarize(rows, tmp_path, ["hicuts"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| hicuts "))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5] == "14 (n=1)" and cells[8] == "280" and cells[9] == "worse", line


def test_benchmark_reads_the_shared_folder_from_sysml_shared(tmp_path):
    # --shared's default ignored $SYSML_SHARED (the other benchmarks and the tests honour it)
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "neurocuts_baselines.py"), "--sets", "acl1_1k"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO), "SYSML_SHARED": str(tmp_path / "elsewhere")})
    assert r.returncode == 2 and f"no folder {tmp_path / 'elsewhere' / 'classbench'}" in one_line(r.stderr)


@pytest.mark.parametrize("line, message", [
    # past int64: numpy's OverflowError fell to the per-line parse, which caught only ValueError
    ("1 2 3 4 99999999999999999999999", "field 5 (proto) 99999999999999999999999 is out of range 0..255"),
    ("1 2 3 4 " + "9" * 5000, "field 5 (proto) 9999999999...9999 (5000 digits) is out of range 0..255"),
    ("1 -99999999999999999999999 3 4 5", "field 2 (dst_ip) -99999999999999999999999 is out of range 0..4294967295"),
    ("1 2 3 4 300", "field 5 (proto) 300 is out of range 0..255"),
    ("1 2 3 4 300 extra", "field 5 (proto) 300 is out of range 0..255"),
])
def test_classify_of_a_packet_out_of_range_names_file_line_field_and_range(capsys, rules, tmp_path, line, message):
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    packets = tmp_path / "p.txt"
    packets.write_text(f"1 2 3 4 5\n{line}\n")
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", packets)
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{packets}:2: {message}"


def test_a_packet_with_leading_zeros_is_its_value(capsys, rules, tmp_path):
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    packets = tmp_path / "p.txt"
    packets.write_text("1 2 3 4 5\n1 2 3 4 00000000000000000000000006 x\n")
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", packets)
    assert rc == 0, err


@pytest.mark.parametrize("port", ["99999999999999999999999", "9" * 5000])
def test_build_of_a_rule_with_a_huge_port_names_the_line(capsys, tmp_path, port):
    # 5000 digits: int() refused past 4300 digits with a ValueError, exit 1 "internal error"
    path = tmp_path / "r.txt"
    path.write_text(f"@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\n"
                    f"@0.0.0.0/0\t0.0.0.0/0\t0 : {port}\t0 : 65535\t0x06/0xFF\n")
    rc, out, err = call(capsys, "build", path)
    shown = port if len(port) < 24 else "9999999999...9999 (5000 digits)"
    assert rc == 2 and one_line(err) == (
        ERR + f"{path}:2: source port range 0 : {shown} is not within 0..65535 with lo <= hi")


@pytest.mark.parametrize("args, label", [
    (["build", ""], "rule file"),
    (["packets", ""], "rule file"),
    (["compare", ""], "rule file"),
    (["classify", "{tmp}/t.json", ""], "packet file"),
    (["classify", "", "{tmp}/p.txt"], "tree file"),
    (["gen", "--params", ""], "--params"),
])
def test_an_empty_file_name_is_refused_as_the_other_clis_do(capsys, rules, tmp_path, args, label):
    # build "" and classify said ': is a folder, not a file' (Path("") is the working folder),
    # gen --params "" said ': no such file'
    cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")])
    (tmp_path / "p.txt").write_text("1 2 3 4 5\n")
    capsys.readouterr()
    rc, out, err = call(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{label}: empty path"


@pytest.mark.parametrize("command", [[], ["gen"], ["packets"], ["build"], ["classify"], ["compare"]])
def test_help_is_plain_text_and_lists_the_exit_codes(capsys, command):
    # --help's description was the docstring's line with its markup (`python -m neurocuts
    # {gen,...}`), and no help named the exit codes
    rc, out, _ = call(capsys, *command, "--help")
    text = " ".join(out.split())
    assert rc == 0 and "`" not in out, out
    assert "exit codes: 0 done; 1 internal error or interrupted (Ctrl-C, SIGTERM); 2 bad input" in text


def test_packet_files_skip_comment_and_blank_lines_as_rule_files_do(capsys, rules, tmp_path):
    # a '#' line was "expected 5 integers, found 2", exit 2, while rule files skip them
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    plain, commented = tmp_path / "plain.txt", tmp_path / "commented.txt"
    plain.write_text("1 2 3 4 5\n167772161 3232235777 80 443 6\n")
    commented.write_text("# packets for t.json\n1 2 3 4 5\n\n  # src dst sport dport proto\n"
                         "167772161 3232235777 80 443 6\n#\n")
    rc, want, _ = call(capsys, "classify", tmp_path / "t.json", plain)
    assert rc == 0 and len(want.splitlines()) == 2
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", commented)
    assert rc == 0 and out == want, err
    # line numbers in errors count the skipped lines, as an editor does
    commented.write_text("# header\n1 2 3 4 5\n# note\n\n1 2 3 4 300\n")
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", commented)
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{commented}:5: field 5 (proto) 300 is out of range 0..255"
    commented.write_text("# header\n1 2 3 4 5\n# note\n1 2\n")
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", commented)
    assert rc == 2 and one_line(err) == ERR + f"{commented}:4: expected 5 integers, found 2"
    commented.write_text("# only a comment\n\n")
    rc, out, err = call(capsys, "classify", tmp_path / "t.json", commented)
    assert rc == 2 and one_line(err) == ERR + f"{commented}:1: no packets found"


def _endless_fifo(path: Path, block: bytes) -> tuple[threading.Thread, list[int]]:
    """A FIFO at ``path`` fed ``block`` up to 64 MiB (standing for /dev/zero or /dev/urandom,
    which never end) by a daemon thread; the list returned grows by one per MiB written."""
    os.mkfifo(path)
    written: list[int] = []

    def write() -> None:
        try:
            with open(path, "wb") as f:
                for _ in range(64):
                    f.write((block * ((1 << 20) // len(block) + 1))[:1 << 20])
                    written.append(1)
        except BrokenPipeError:  # the reader stopped: what the test wants
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer, written


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
@pytest.mark.parametrize("block, problem", [(b"\0", "1: NUL byte: not a text file"),
                                            (b"0 0 0 0 6\n\xff", "2: not UTF-8 text")])
@pytest.mark.parametrize("command", ["build", "classify-tree", "classify-packets"])
def test_a_file_that_never_ends_is_refused_at_its_first_binary_chunk(capsys, rules, tmp_path, block,
                                                                     problem, command):
    # Old code read rule, packet and tree files to their end before any check: `build /dev/zero`
    # grew until memory ran out ("internal error: out of memory" under a ulimit, else the
    # kernel's kill, exit 137). Here the FIFO's 64 MiB were all read before the refusal.
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    fifo = tmp_path / "endless"
    writer, written = _endless_fifo(fifo, block)
    args = {"build": ["build", fifo], "classify-tree": ["classify", fifo, rules],
            "classify-packets": ["classify", tmp_path / "t.json", fifo]}[command]
    rc, out, err = call(capsys, *args)
    assert rc == 2 and out == "" and one_line(err) == ERR + f"{fifo}:{problem}"
    writer.join(60)
    assert len(written) < 64


def test_a_nul_byte_is_refused_at_its_line_whatever_chunk_it_is_in(capsys, tmp_path, monkeypatch):
    import neurocuts.rules as rules_module
    monkeypatch.setattr(rules_module, "_CHUNK", 7)  # chunks end inside 'é' and inside lines
    path = tmp_path / "r.txt"
    path.write_bytes("# é\r\n# éé\n@1.2.3.4/32\t1.2.3.4/32\t0 : 65535\t0 : 65535\t0x06/0xFF\n"
                     "# a comment \0\n".encode())
    rc, _, err = call(capsys, "build", path)
    assert rc == 2 and one_line(err) == ERR + f"{path}:4: NUL byte: not a text file"
    path.write_bytes("# é\r# é\r\n@1.2.3.4/32\t1.2.3.4/32\t0 : 65535\t0 : 65535\t0x06/0xFF\n"
                     .encode())
    rc, out, err = call(capsys, "build", path, "--json")
    assert rc == 0 and json.loads(out)["rules"] == 1


_RULE = ["1.2.3.4/32", "1.2.3.4/32", "0 : 65535", "0 : 65535", "0x06/0xFF", "0x0000/0x0000"]


@pytest.mark.parametrize("field, what", [(0, "source prefix"), (3, "destination port range"),
                                         (4, "protocol"), (5, "flags")])
def test_a_huge_malformed_field_is_shown_cut_in_a_short_error_line(capsys, tmp_path, field, what):
    # Old code put the whole field in the message: a 1 MB field was a 1 MB error line.
    fields = list(_RULE)
    fields[field] = "0x" + "7" * 1_000_000 + "/0xFF" if field == 4 else "7" * 1_000_000
    path = tmp_path / "r.txt"
    path.write_text("@" + "\t".join(fields) + "\n")
    rc, _, err = call(capsys, "build", path)
    line = one_line(err)
    assert rc == 2 and len(line) < 200, line[:300]
    assert line.startswith(ERR + f"{path}:1: {what} '")
    assert f"({len(fields[field])} characters)" in line


def test_a_huge_packet_field_that_is_not_a_number_is_shown_cut(capsys, rules, tmp_path):
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    packets = tmp_path / "p.txt"
    packets.write_text("1 2 3 4 " + "x" * 1_000_000 + "\n")
    rc, _, err = call(capsys, "classify", tmp_path / "t.json", packets)
    line = one_line(err)
    assert rc == 2 and len(line) < 200, line[:300]
    assert line == ERR + (f"{packets}:1: not an integer among ['1', '2', '3', '4', "
                          f"'xxxxxxxxxxxxxxxx'...'xxxxxxxx' (1000000 characters)]")


@pytest.mark.parametrize("field, text, what", [
    (0, "\u0661.2.3.4/32", "source prefix"),           # Arabic-Indic one
    (1, "1.2.3.4/\uff13\uff12", "destination prefix"),  # fullwidth 32
    (2, "\u0661 : 65535", "source port range"),
])
def test_a_rule_written_in_other_scripts_digits_is_malformed(capsys, tmp_path, field, text, what):
    # Old code: \d and int() read '١.2.3.4/32' as 1.2.3.4/32 (exit 0).
    fields = list(_RULE)
    fields[field] = text
    path = tmp_path / "r.txt"
    path.write_text("@" + "\t".join(fields) + "\n")
    rc, _, err = call(capsys, "build", path)
    assert rc == 2 and one_line(err) == ERR + f"{path}:1: {what} {text!r} is malformed"


@pytest.mark.parametrize("bad", ["1_000", "\u0661\u0662", "\uff15"])
def test_a_packet_field_is_an_integer_only_in_ascii_digits(capsys, rules, tmp_path, bad):
    # Old code: numpy and int() read '1_000' as 1000 and '١٢' as 12: packets classified as
    # numbers the file does not hold.
    assert cli.main(["build", str(rules), "--out", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    packets = tmp_path / "p.txt"
    packets.write_text(f"1 2 3 4 5\n1 2 {bad} 4 6\n")
    rc, _, err = call(capsys, "classify", tmp_path / "t.json", packets)
    assert rc == 2
    assert one_line(err) == ERR + f"{packets}:2: not an integer among ['1', '2', {bad!r}, '4', '6']"
