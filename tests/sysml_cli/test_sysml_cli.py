"""sysml_cli: what the command lines share (each CLI's own tests check their messages)."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading

import pytest

from sysml_cli import (
    OneLineParser,
    Terminated,
    interrupt_line,
    is_output_failure,
    name_too_long,
    one_line,
    run_main,
    sigterm_as_interrupt,
)


def test_argument_errors_are_one_line_naming_the_program(capsys):
    p = OneLineParser(prog="python -m tool sub")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as exit_:
        p.parse_args(["--n", "x"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "tool sub: error: argument --n: invalid int value: 'x' (see --help)\n"


def test_sigterm_raises_terminated_in_the_block_and_the_default_comes_back():
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever runs the tests may set one
    try:
        with pytest.raises(Terminated) as raised, sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert isinstance(raised.value, KeyboardInterrupt)  # every Ctrl-C clean-up runs for it
    assert interrupt_line("tool", raised.value) == "tool: terminated"
    assert interrupt_line("tool", KeyboardInterrupt()) == "tool: interrupted"


def test_a_callers_own_sigterm_handler_is_kept():
    def mine(signum, frame):
        pass
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_main_returns_the_bodys_code_and_makes_an_escaping_sigterm_one_line(capsys):
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    names = []

    def prog():  # called only when an interrupt escapes
        names.append("asked")
        return "tool"

    def terminated():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        return 0
    try:
        assert run_main(prog, lambda: 3) == 3
        assert names == []
        assert run_main(prog, terminated) == 1
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert run_main("other", lambda: (_ for _ in ()).throw(KeyboardInterrupt())) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err.splitlines() == ["tool: terminated", "other: interrupted"]


def test_off_the_main_thread_nothing_is_set():
    seen = []

    def run():
        with sigterm_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        t = threading.Thread(target=run)
        t.start()
        t.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIG_DFL]


@pytest.mark.parametrize("err, failure", [
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EFBIG, "File too large"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (ValueError("x"), False),
])
def test_output_failures_are_a_reader_gone_or_a_full_disk(err, failure):
    assert is_output_failure(err) is failure


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [
    ["-c", "from sysml_cli import OneLineParser; OneLineParser(prog='python -m tool')"
           ".parse_args(['--help'])"],
    ["-m", "neurocuts", "build", "--help"],
    ["-m", "rllib_lite", "--help"],
])
def test_help_that_stdout_cannot_take_is_one_line_exit_1(argv):
    # argparse drops the write error: the old code exited 0, having written nothing
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert line.endswith(": cannot write the output: No space left on device"), line
    assert not line.startswith("python -m"), line


def test_help_to_a_working_stdout_is_unchanged(capsys):
    with pytest.raises(SystemExit) as done:
        OneLineParser(prog="tool", description="what it does").parse_args(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tool [-h]") and "what it does" in out


def test_a_name_too_long_is_one_short_line_and_other_errors_are_not_it():
    err = OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/" + "b" * 300 + ".sql")
    assert name_too_long(err) == (f"/tmp/{'b' * 35}...{'b' * 16}.sql (309 characters): "
                                  "file name too long")
    assert name_too_long(OSError(errno.ENAMETOOLONG, "File name too long", "x.sql")) == \
        "x.sql: file name too long"
    assert name_too_long(OSError(errno.ENOENT, "No such file", "x")) is None
    assert name_too_long(ValueError("x")) is None


_LONG = "/tmp/" + "b" * 300 + "/q"


@pytest.mark.parametrize("argv, line", [
    (["deepquery", "plan", _LONG + ".sql"], "deepquery: "),
    (["deepquery", "plan", "-", "--db", _LONG], "deepquery: "),
    (["deepquery", "data", "list", "--cache-dir", _LONG], "deepquery: "),
    (["autopandas", "synth", _LONG + ".csv", "out.csv"], "autopandas: error: "),
    (["rllib_lite", "evaluate", _LONG], "rllib_lite: error: "),
])
def test_a_path_too_long_for_the_system_is_bad_input_in_every_cli(argv, line):
    # Old code: "internal error: OSError: [Errno 36] File name too long: '/tmp/bbb...'" with the
    # whole path, exit 1 (Path.exists() and is_dir() raise ENAMETOOLONG, they do not say False).
    r = subprocess.run([sys.executable, "-m", *argv], input="SELECT 1", capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(line + "/tmp/bbb") and r.stderr.count("\n") == 1, r.stderr
    assert "characters): file name too long" in r.stderr and len(r.stderr) < 200, r.stderr


def test_one_line_writes_line_breaks_as_python_shows_them():
    assert one_line("/tmp/a\nb.sql: no such file") == "/tmp/a\\nb.sql: no such file"
    assert one_line("a\r\nb") == "a\\r\\nb" and one_line("plain") == "plain"


_BROKEN = "/tmp/no such\nfolder/q"


@pytest.mark.parametrize("argv, line", [
    (["deepquery", "plan", _BROKEN + ".sql"],
     "deepquery: /tmp/no such\\nfolder/q.sql: no such file"),
    (["neurocuts", "build", _BROKEN + ".txt"],
     "neurocuts: error: /tmp/no such\\nfolder/q.txt: no such file"),
    (["autopandas", "synth", _BROKEN + ".csv", "out.csv"],
     "autopandas: error: /tmp/no such\\nfolder/q.csv: no such file"),
    (["rllib_lite", "evaluate", _BROKEN],
     "rllib_lite: error: /tmp/no such\\nfolder/q: no such checkpoint folder"),
])
def test_a_file_name_with_a_line_break_is_named_on_one_line_in_every_cli(argv, line):
    # Old code printed the name as it is: the message went on over two lines.
    r = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 2 and r.stderr == line + "\n", r.stderr


def test_a_warning_under_warnings_as_lines_is_one_line_naming_the_program():
    # gymnasium's warnings: "WARN: " and yellow colour codes in the text; Python shows the file,
    # line and source line after it (old: two lines, the codes written to stderr as they are)
    code = (
        "import warnings, sysml_cli\n"
        "with sysml_cli.warnings_as_lines('tool'):\n"
        "    warnings.warn('\\x1b[33mWARN: a Box is\\nunbounded.\\x1b[0m', UserWarning)\n"
        "    warnings.simplefilter('ignore', FutureWarning)\n"
        "    warnings.warn('filtered out', FutureWarning)\n"
        "warnings.warn('after the block', UserWarning)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["tool: warning: a Box is\\nunbounded.",
                                     "<string>:6: UserWarning: after the block"]  # Python's own way again
