"""What the command lines of the toolkits (``python -m deepquery``, ``neurocuts``, ``autopandas``,
``rllib_lite``) and the benchmarks share, so each reports a mistake and a failed output alike.

- :class:`OneLineParser`: argparse's errors as one line on stderr, exit code 2, not the usage
  block (``--help`` still prints it in full): ``PROG: error: MESSAGE (see --help)``.
- :func:`output_failed` (and :func:`is_output_failure`): the exit of a command whose stdout
  cannot take its output: a reader that went away (``| head``) ends it quietly, as Unix tools do;
  a full disk (``> /dev/full``) is one line, ``PROG: cannot write the output: No space left on
  device``. Exit code 1 both ways.
- :func:`sigterm_as_interrupt`: SIGTERM (``kill``, ``timeout``, a batch scheduler's stop) raised
  as :class:`Terminated`, a KeyboardInterrupt, so a command stopped that way cleans up as after
  Ctrl-C (temporary files, half-written runs, worker processes) and says ``PROG: terminated``
  (:func:`interrupt_line`); Python's default dies at once and leaves them. :func:`run_main`
  runs a command's body so, with the one line and exit 1 for an interrupt that escapes it.
- :func:`name_too_long`: a path the system refuses for its length alone, as bad input;
  :func:`one_line`: a bad-input message on one line, whatever file names it holds.
- :func:`warnings_as_lines`: a warning a library gives while a command runs is one line,
  ``PROG: warning: MESSAGE``, not Python's two (file, line and source) with the library's
  terminal colour codes; :func:`run_main` runs the body so.

The toolkits do not import each other; this module is the one piece they share (no dependencies
beyond the standard library).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any, NoReturn, TypeGuard

__all__ = ["OUTPUT_FULL", "OneLineParser", "Terminated", "interrupt_line", "is_output_failure",
           "name_too_long", "one_line", "output_failed", "run_main", "sigterm_as_interrupt",
           "stdout_to_devnull", "warnings_as_lines"]

OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""Why stdout cannot take the output: a full disk or quota, a file past its size limit."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``PROG: error: MESSAGE (see --help)``, with
    ``PROG`` without a leading ``python -m `` (subparsers given ``parser_class=OneLineParser``
    inherit it: ``neurocuts build: error: ...``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog.removeprefix('python -m ')}: error: {message} (see --help)\n")

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        """argparse's (``--help``, ``--version``, usage), but a stdout that cannot take it ends
        as a command's output does (:func:`output_failed`: exit 1, one line for a full disk);
        argparse drops the error and ``--help > /dev/full`` exits 0 with nothing written."""
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
            file.flush()
        except OSError as err:
            if file is sys.stdout and is_output_failure(err):
                sys.exit(output_failed(self.prog.removeprefix("python -m "), err))
        except AttributeError:  # no stream (pythonw): as argparse
            pass


def stdout_to_devnull() -> None:
    """Send what Python would still flush to stdout at exit to /dev/null, so that a stdout that
    failed adds no 'Exception ignored' lines (Python docs, "Note on SIGPIPE")."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def is_output_failure(err: BaseException) -> TypeGuard[OSError]:
    """Whether ``err`` is what a stdout that cannot take output raises: a reader that went away
    (BrokenPipeError) or a full disk, quota or file size limit (:data:`OUTPUT_FULL`). For a
    ``try`` that does other I/O too; the files a command writes itself report their own errors."""
    return isinstance(err, BrokenPipeError) or (isinstance(err, OSError) and err.errno in OUTPUT_FULL)


def output_failed(prog: str, err: OSError) -> int:
    """The exit code (1) of a command whose stdout failed with ``err``: quiet for a reader that
    went away, one line otherwise (``PROG: cannot write the output: No space left on device``);
    what Python would still flush goes to /dev/null."""
    if not isinstance(err, BrokenPipeError):
        print(f"{prog}: cannot write the output: {err.strerror or err}", file=sys.stderr)
    stdout_to_devnull()
    return 1


def one_line(message: str) -> str:
    """``message`` with its line breaks written ``\\n`` and ``\\r``, as a Python string shows
    them: a file name may hold one (``$'a\\nb.sql'``), and a bad-input message is one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def name_too_long(err: BaseException) -> str | None:
    """``PATH: file name too long`` for an OSError the system raises for a path that it takes
    whatever the path names (ENAMETOOLONG: a name past 255 bytes, a path past 4096), a long
    path cut in the middle; None for any other error. Only a path the user gave is that long,
    so it is bad input (exit 2) wherever the command first looks at it, not an internal error."""
    if not (isinstance(err, OSError) and err.errno == errno.ENAMETOOLONG):
        return None
    name = os.fsdecode(err.filename) if err.filename is not None else "a path"
    if len(name) > 80:
        name = f"{name[:40]}...{name[-20:]} ({len(name)} characters)"
    return one_line(f"{name}: file name too long")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread under :func:`sigterm_as_interrupt`: every ``except
    KeyboardInterrupt`` and ``finally`` that cleans up after Ctrl-C runs for it too."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread. Only over
    Python's default (a handler a library caller set is kept) and only in the main thread (the
    only one a handler can be set from); the default comes back when the block ends."""
    catch = (threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if catch:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if catch:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def interrupt_line(prog: str, err: BaseException | None = None) -> str:
    """``PROG: terminated`` for SIGTERM (:class:`Terminated`), else ``PROG: interrupted``."""
    return f"{prog}: {'terminated' if isinstance(err, Terminated) else 'interrupted'}"


#: A terminal's colour and style codes (gymnasium colours its warnings yellow).
_ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
#: A library's own prefix on a warning's text (gymnasium's "WARN: "), which the line says already.
_WARN_PREFIX = re.compile(r"^(?:WARN|WARNING)\s*:\s*", re.IGNORECASE)


@contextlib.contextmanager
def warnings_as_lines(prog: str | Callable[[], str]) -> Iterator[None]:
    """Within the block, a warning shown on stderr is one line, ``PROG: warning: MESSAGE`` (colour
    codes dropped, line breaks written as :func:`one_line` writes them). Python's filters still
    decide which warnings show; the way they showed before comes back when the block ends."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: IO[str] | None = None, line: str | None = None) -> None:
        text = one_line(_WARN_PREFIX.sub("", _ANSI_STYLE.sub("", str(message)).strip()))
        name = prog() if callable(prog) else prog
        try:
            print(f"{name}: warning: {text}", file=file if file is not None else sys.stderr)
        except OSError:
            pass  # as Python's own: a warning that cannot be written is dropped

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def run_main(prog: str | Callable[[], str], body: Callable[[], int]) -> int:
    """Run a command line's ``body`` (it returns the exit code) with SIGTERM taken as Ctrl-C and
    warnings as one line each (:func:`warnings_as_lines`); an interrupt that escapes it (one
    between the command's end and its output) is the one line of :func:`interrupt_line` and
    exit 1. ``prog`` may be a function, called only when a line names it."""
    try:
        with sigterm_as_interrupt(), warnings_as_lines(prog):
            return body()
    except KeyboardInterrupt as err:
        print(interrupt_line(prog() if callable(prog) else prog, err), file=sys.stderr)
        return 1
