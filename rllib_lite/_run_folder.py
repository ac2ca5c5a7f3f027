"""The ``--out`` folder of a training run: checked, created, the old run set aside under
``--overwrite``, and put back as it was when the new run fails.

A run's files are ``config.json``, ``metrics.jsonl`` and ``checkpoint/``. An ``--out`` holding
any of them is refused unless ``--overwrite`` is given; then they move into a hidden
``.rllib_lite-replaced-*`` folder of ``--out`` and stay there until the new run has saved its
checkpoint. A run that is refused, or fails before it has saved its checkpoint, leaves
``--out`` as it found it: its own run files go, the old run comes back, and the folders it
created are removed again (while empty). Once the checkpoint is saved, the run's files stay
whatever happens next.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)


class UsageError(ValueError):
    """Bad command-line input."""


_RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint")


def check_out(path: str, overwrite: bool) -> list[str]:
    """Refuse an --out that is a file or already holds a run (unless ``overwrite``); returns the
    names of the run files it holds. Writes nothing: a run refused later leaves no trace."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {path} is a file, not a folder")
    held = [name for name in _RUN_FILES if (out / name).exists()]
    if held and not overwrite:
        raise UsageError(f"--out {path} already holds a run ({', '.join(held)}): choose another "
                         "folder, or pass --overwrite to replace it")
    return held


def make_out(path: str) -> list[tuple[str, int, int]]:
    """Create --out and its missing parents, one component at a time as ``mkdir -p`` does (a
    ``..`` after a new folder or a symlink steps up where the system resolves it, as the run's
    own writes will); returns the folders this call created, deepest first, for
    :func:`remove_created`. A failure part way removes them again."""
    out = Path(path).absolute()
    created: list[tuple[str, int, int]] = []
    at = Path(out.anchor)
    try:
        for part in out.parts[1:]:
            at = at / part
            if part == "..":
                continue                            # nothing to create: the system steps up
            try:
                os.mkdir(at)
            except FileExistsError:
                if not at.is_dir():
                    raise UsageError(f"--out {path}: {at} is not a folder") from None
                continue
            except OSError as err:
                raise UsageError(f"--out {path}: cannot create {at}: {err.strerror or err}") from None
            # by where it is and what it is: the path may hold a .. or a symlink that a later
            # change could point elsewhere, and rmdir must never meet a folder it did not make
            real = os.path.realpath(at)
            st = os.stat(real)
            created.append((real, st.st_dev, st.st_ino))
    except BaseException:
        remove_created(created[::-1])
        raise
    return created[::-1]


def check_writable(path: str) -> None:
    """Refuse an --out no file can be written in (read-only, another user's): the run would
    fail writing config.json once the algorithm is built. Probed with a file made and removed
    (not with tempfile: it normalizes a .. in the path, which the system resolves after a
    symlink, as the run's own writes will)."""
    probe = os.path.join(path, f".rllib_lite-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise UsageError(f"--out {path}: cannot write there: {err.strerror or err}") from None
    os.close(fd)
    os.unlink(probe)


def remove_created(created: list[tuple[str, int, int]]) -> None:
    """Undo ``make_out`` for a run that failed before it wrote anything: only folders this run
    created (the same folder still: device and inode), and only while empty (``rmdir`` refuses
    a folder someone has put a file in since, and then its parents)."""
    for real, dev, ino in created:
        try:
            st = os.lstat(real)
            if (st.st_dev, st.st_ino) == (dev, ino):
                os.rmdir(real)
        except OSError:
            continue


def set_old_run_aside(path: str, held: list[str]) -> Path | None:
    """``--overwrite``: move the old run's files into a hidden folder of ``--out`` (renames, no
    copy), where they stay until the new run has saved its checkpoint; ``None`` when there is
    no old run. A failure part way puts back what was moved."""
    if not held:
        return None
    aside = Path(path) / f".rllib_lite-replaced-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        aside.mkdir()
    except OSError as err:
        raise UsageError(f"--out {path}: cannot replace the run there: {err.strerror or err}") from None
    try:
        for name in held:
            os.rename(Path(path) / name, aside / name)
    except OSError as err:
        put_old_run_back(path, aside)
        raise UsageError(f"--out {path}: cannot replace {name}: {err.strerror or err}") from None
    return aside


def put_old_run_back(path: str, aside: Path) -> None:
    """Undo :func:`set_old_run_aside` for a new run that failed before its checkpoint: the new
    run's files of the same names go, the old run's come back."""
    for moved in aside.iterdir():
        target = Path(path) / moved.name
        _remove(target)
        os.rename(moved, target)
    aside.rmdir()


def undo_run(path: str, aside: Path | None) -> None:
    """Leave ``--out`` as a run found it that failed before saving its checkpoint: the run
    files there are all its own (:func:`check_out` refused a run where any were, or they were
    set aside), so they go, and the old run set aside (``aside``) comes back."""
    for name in _RUN_FILES:
        _remove(Path(path) / name)
    if aside is not None:
        put_old_run_back(path, aside)


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


def remove_old_run(aside: Path) -> None:
    """The new run has saved its checkpoint: the old run set aside goes."""
    try:
        shutil.rmtree(aside)
    except OSError as err:
        logger.warning("could not remove the replaced run in %s: %s", aside, err.strerror or err)
