"""Shared test fixtures: where ../shared lives, and skipping cleanly when it is absent."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A shell starts background jobs (`pytest ... &`, nohup in a script) with SIGINT ignored, and
# children inherit that across exec: the Ctrl-C tests' CLIs would then never see their SIGINT.
# Give the test run, and through it those children, the disposition a terminal user's have.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared data folder beside the repo; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED
