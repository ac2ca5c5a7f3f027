"""The argument parser of ``python -m deepquery`` and of the deepquery benchmarks.

A mistake on the command line is bad input: one line on stderr and exit code 2, not argparse's
usage block (``--help`` still prints it in full).
"""
from __future__ import annotations

from typing import Any, NoReturn

import sysml_cli


class OneLineParser(sysml_cli.OneLineParser):
    """An ArgumentParser whose errors are one line. With ``error_name`` (a benchmark's name):
    ``NAME: error: MESSAGE (see --help)``; without it (the CLI and its subcommands, which
    inherit the class): ``deepquery: error: MESSAGE (see PROG --help)``."""

    def __init__(self, *args: Any, error_name: str | None = None, **kwargs: Any) -> None:
        self.error_name = error_name
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if self.error_name is not None:
            self.exit(2, f"{self.error_name}: error: {message} (see --help)\n")
        self.exit(2, f"deepquery: error: {message} (see {self.prog} --help)\n")
