"""``data clean`` never removes a file a build put at a stale file's name after the check: the
removal is by name, the lock on the file opened, so the name must still be the locked file."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from deepquery import _cache_files
from deepquery.__main__ import main

STALE = "imdb_s0.01_seed0_v1.duckdb"
"""Named the old way: stale for every version of this code."""


@pytest.fixture()
def cache(tmp_path) -> Path:
    """A cache folder with one stale database and its log, and a new file ready to take the
    database's name (contents do not matter: only names and inodes do)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / STALE).write_bytes(b"old database")
    (folder / (STALE + ".wal")).write_bytes(b"old log")
    (tmp_path / "new").write_bytes(b"new database")
    return folder


def _replace_after(monkeypatch, module, name: str, cache: Path, when=lambda *a: True) -> list:
    """Wrap ``module.name`` so that, right after its first call for which ``when`` holds, a
    build's ``os.replace`` puts the new file at the stale database's name."""
    real = getattr(module, name)
    done: list[bool] = []

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        if not done and when(*args):
            os.replace(cache.parent / "new", cache / STALE)
            done.append(True)
        return out
    monkeypatch.setattr(module, name, wrapped)
    return done


def test_a_database_replaced_right_after_the_lock_is_kept(cache, monkeypatch, capsys):
    # Old code: the lock was taken on the old file, then the name was unlinked: the new
    # database went, and its name's log with it ("removed imdb_s0.01_seed0_v1.duckdb").
    done = _replace_after(monkeypatch, fcntl, "lockf", cache)
    assert main(["data", "clean", "--cache-dir", str(cache), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert done
    assert (cache / STALE).read_bytes() == b"new database"
    assert [(Path(k["path"]).name, k["why"]) for k in out["kept"]] == [
        (STALE, "replaced meanwhile by another file of that name")]
    # The old log is a stale file of its own, removed under its own lock (DuckDB locks a log
    # it writes); a build leaves none at a database's name.
    assert [Path(r["path"]).name for r in out["removed"]] == [STALE + ".wal"]


def test_the_human_output_says_the_file_was_replaced(cache, monkeypatch, capsys):
    _replace_after(monkeypatch, fcntl, "lockf", cache)
    assert main(["data", "clean", "--cache-dir", str(cache)]) == 0
    assert f"kept {STALE}: replaced meanwhile by another file of that name" in \
        capsys.readouterr().out
    assert (cache / STALE).read_bytes() == b"new database"


def test_a_database_replaced_while_its_log_goes_is_kept(cache, monkeypatch):
    # The name is checked again after the log is removed, right before the database is.
    done = _replace_after(monkeypatch, Path, "unlink", cache,
                          when=lambda p, *a: p.name.endswith(".wal"))
    why = _cache_files.remove_unless_held(cache / STALE)
    assert done and why == "replaced meanwhile by another file of that name"
    assert (cache / STALE).read_bytes() == b"new database"
    assert not (cache / (STALE + ".wal")).exists()  # the old database's, removed while it was


def test_removing_a_database_replaced_after_the_lock_leaves_its_log(cache, monkeypatch):
    # The database is checked before its log goes: whose log it is cannot be told then.
    _replace_after(monkeypatch, fcntl, "lockf", cache)
    assert _cache_files.remove_unless_held(cache / STALE) == \
        "replaced meanwhile by another file of that name"
    assert (cache / STALE).read_bytes() == b"new database"
    assert (cache / (STALE + ".wal")).read_bytes() == b"old log"


def test_a_dry_run_says_a_replaced_file_would_be_kept(cache, monkeypatch):
    _replace_after(monkeypatch, fcntl, "lockf", cache)
    assert _cache_files.remove_unless_held(cache / STALE, dry_run=True) == \
        "replaced meanwhile by another file of that name"
    assert (cache / STALE).read_bytes() == b"new database"


def test_a_file_not_replaced_is_still_removed_with_its_log(cache):
    assert _cache_files.remove_unless_held(cache / STALE) is None
    assert not (cache / STALE).exists() and not (cache / (STALE + ".wal")).exists()


def test_a_database_replaced_after_it_was_listed_is_kept_when_the_listing_is_given(cache):
    # Between data clean's scan and the open, a build may replace the file too: the lock is
    # then on the new one. With the identity the scan saw, it is kept (old code: no identity).
    listed = {f.path.name: f for f in _cache_files.scan(cache)}[STALE]
    assert listed.status == "stale"
    os.replace(cache.parent / "new", cache / STALE)
    assert _cache_files.remove_unless_held(listed.path, listed=listed.identity) == \
        "replaced meanwhile by another file of that name"
    assert (cache / STALE).read_bytes() == b"new database"
    # Not replaced: removed as before.
    again = {f.path.name: f for f in _cache_files.scan(cache)}[STALE]
    assert _cache_files.remove_unless_held(again.path, listed=again.identity) is None
    assert not (cache / STALE).exists()


def test_data_clean_keeps_a_database_a_build_put_there_after_the_listing(cache, monkeypatch, capsys):
    # The command passes each file's listed identity: before, it did not, so a build's replace
    # between the listing and the open had the lock land on the new file, and it was removed.
    import deepquery.__main__ as cli

    real_scan = cli._scan

    def scan_then_build(*args, **kwargs):
        files = real_scan(*args, **kwargs)
        os.replace(cache.parent / "new", cache / STALE)
        return files
    monkeypatch.setattr(cli, "_scan", scan_then_build)
    assert main(["data", "clean", "--cache-dir", str(cache), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (cache / STALE).read_bytes() == b"new database"
    assert [Path(k["path"]).name for k in out["kept"]] == [STALE]
