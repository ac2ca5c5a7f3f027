"""The ``--out`` folder of a training run: checked, created, the old run set aside under
``--overwrite``, and put back as it was when the new run fails.

A run's files are ``config.json``, ``metrics.jsonl`` and ``checkpoint/``. An ``--out`` holding
any of them is refused unless ``--overwrite`` is given; then they move into a hidden
``.rllib_lite-replaced-*`` folder of ``--out`` and stay there until the new run has saved its
checkpoint. While a run holds them there it holds an exclusive ``flock`` on that folder, which
the system releases when the process ends, however it ends. A run killed (SIGKILL, a power cut)
before it saved its checkpoint or removed the old run leaves the folder behind, unlocked; the
next run on that ``--out`` finds it (:func:`recover_replaced`). A run that is refused, or fails before it has saved its checkpoint, leaves
``--out`` as it found it: its own run files go, the old run comes back, and the folders it
created are removed again (while empty). Once the checkpoint is saved, the run's files stay
whatever happens next. So that the run files a run finds are its own, it holds a ``flock`` on
``--out`` itself (:class:`OutLock`) from its first look there to its end: a second run on that
``--out`` meanwhile is refused.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # no flock (Windows): a folder set aside is taken for a killed run's
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_ASIDE_PREFIX = ".rllib_lite-replaced-"
# descriptors holding the locks on the folders this process has set old runs aside in
_LOCKS: dict[Path, int] = {}


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
    copy), locked, where they stay until the new run has saved its checkpoint; ``None`` when
    there is no old run. A failure part way puts back what was moved. The checkpoint moves
    first and comes back last, so a complete checkpoint in ``--out`` beside such a folder is
    always the new run's (see :func:`recover_replaced`)."""
    if not held:
        return None
    aside = Path(path) / f"{_ASIDE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        aside.mkdir()
    except OSError as err:
        raise UsageError(f"--out {path}: cannot replace the run there: {err.strerror or err}") from None
    fd = _try_lock(aside)
    if fd is not None:
        _LOCKS[aside] = fd
    try:
        for name in sorted(held, key=lambda n: n != "checkpoint"):
            os.rename(Path(path) / name, aside / name)
    except OSError as err:
        put_old_run_back(path, aside)
        raise UsageError(f"--out {path}: cannot replace {name}: {err.strerror or err}") from None
    return aside


def put_old_run_back(path: str, aside: Path) -> None:
    """Undo :func:`set_old_run_aside` for a new run that failed before its checkpoint: the new
    run's files of the same names go, the old run's come back (its checkpoint last)."""
    for moved in sorted(aside.iterdir(), key=lambda p: p.name == "checkpoint"):
        target = Path(path) / moved.name
        _remove(target)
        os.rename(moved, target)
    aside.rmdir()
    _unlock(aside)


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
    _unlock(aside)


def recover_replaced(path: str) -> str | None:
    """Deal with the old runs that ``--overwrite`` runs killed part way left set aside in
    ``--out`` (unlocked ``.rllib_lite-replaced-*`` folders), before ``--out`` is checked:

    * the killed run had not saved its checkpoint (no ``checkpoint/metadata.json`` in ``--out``):
      its files go and the old run comes back, as when a run fails, so the user's old run is
      where they left it (returns a line saying so, for the user); a run without ``--overwrite`` is then refused as
      for any run held there;
    * it had saved it: the old run was due to go, but is not removed unasked; refused, saying
      to delete the folder or move it out to keep it;
    * several such folders (left by the older code, which did not put them back): refused,
      saying which to keep.

    Refuses a folder another process holds locked: a run replacing the run there right now.
    Empty ones (a run killed before it moved anything) are removed."""
    out = Path(path)
    try:
        found = sorted(p for p in out.iterdir()
                       if p.name.startswith(_ASIDE_PREFIX) and p.is_dir() and not p.is_symlink())
    except OSError:  # no folder (yet), or one not to be read: check_out says what is wrong
        return None
    fds = []
    try:
        for aside in found:
            fd = _try_lock(aside)
            if fd is None:
                raise UsageError(f"--out {path}: another run is replacing the run there (the old run "
                                 f"is set aside in {aside.name}): wait for it to end, or choose another folder")
            fds.append(fd)
        left = []
        for aside in found:
            if any(aside.iterdir()):
                left.append(aside)
            else:
                aside.rmdir()
        if not left:
            return None
        names = ", ".join(str(a) for a in left)
        if (out / "checkpoint" / "metadata.json").is_file():
            raise UsageError(f"--out {path}: {names} holds the run that an --overwrite run replaced; "
                             "that run saved its checkpoint but was stopped before removing the old one: "
                             "delete that folder, or move it out of --out to keep it")
        if len(left) > 1:
            raise UsageError(f"--out {path}: runs set aside by --overwrite runs stopped before their "
                             f"checkpoint are in {names}: keep one (move its files back into --out, "
                             "after removing those there) and delete the others")
        try:
            undo_run(path, left[0])
        except OSError as err:  # a read-only --out: what was not moved is still in the folder
            raise UsageError(f"--out {path}: cannot put back the run an --overwrite run had set aside "
                             f"in {left[0].name}: {err.strerror or err}") from None
        return (f"--out {path}: put back the run an --overwrite run had set aside in {left[0].name}: "
                "that run was stopped before it saved its checkpoint (its own files were removed)")
    finally:
        for fd in fds:
            if fd >= 0:
                os.close(fd)


class OutLock:
    """An exclusive ``flock`` on ``--out`` held by a run from before it checks the folder until
    it ends (the system releases it however the process ends), so that two runs never share an
    ``--out``: a run that fails removes the run files there as its own (:func:`undo_run`), and
    two runs started there together both found it free. Taken once ``--out`` exists."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def take(self) -> None:
        """Hold the lock if ``--out`` exists and it is not held yet; refuse an ``--out``
        another run holds."""
        if self.fd >= 0:
            return
        fd = _try_lock(Path(self.path))
        if fd is None:
            raise UsageError(f"--out {self.path}: another run is writing there: wait for it to end, "
                             "or choose another folder")
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _try_lock(folder: Path) -> int | None:
    """A descriptor of ``folder`` holding an exclusive flock on it; None when another process
    holds one; -1 where the system or the file system has no flock (nothing is held)."""
    if fcntl is None:
        return -1
    try:  # a folder only: opening a FIFO for reading would wait for a writer
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # a file system without flock
        return fd
    return fd


def _unlock(aside: Path) -> None:
    fd = _LOCKS.pop(aside, -1)
    if fd >= 0:
        os.close(fd)
