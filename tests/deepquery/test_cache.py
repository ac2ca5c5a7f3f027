"""The caches (synthetic IMDb files, true cardinalities) never leave later commands with wrong
answers or a traceback: damaged, foreign or unwritable cache files are rebuilt, replaced or
worked around, each said in one line."""
from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
from sysml_datasets.imdb import (
    ImdbConfig,
    build_database,
    database_path,
    database_problem,
    generator,
)
from sysml_datasets.imdb.config import MIN_SCALE

from deepquery.__main__ import main
from deepquery._card_cache import CardinalityCache

from .dq_helpers import TINY, TINY_FLAGS, held_open_for_writing
from .dq_helpers import one_line as _one_line



@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    """A finished database of TINY, to copy into test cache folders."""
    folder = tmp_path_factory.mktemp("tiny")
    return build_database(database_path(TINY, folder), TINY)


# --- the database cache -------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "empty", "other seed"])
def test_data_build_rebuilds_a_cached_database_it_cannot_use(tmp_path, tiny_db, capsys, damage):
    path = database_path(TINY, tmp_path)
    if damage == "truncated":
        path.write_bytes(tiny_db.read_bytes()[:100_000])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a finished database, but of another seed, under this seed's name
        shutil.copy(tiny_db, path)
        other = ImdbConfig(scale=TINY.scale, seed=TINY.seed + 1, witnesses=False)
        assert database_problem(path, other) is not None
        path = database_path(other, tmp_path)
        shutil.copy(tiny_db, path)
    assert database_problem(path, ImdbConfig(scale=0.0005, seed=int(path.name.split("seed")[1]
                                                                   .split("_")[0]),
                                             witnesses=False)) is not None
    seed = "4" if damage == "other seed" else "3"
    flags = ["--scale", "0.0005", "--seed", seed, "--no-witnesses"]
    assert main(["data", "build", *flags, "--cache-dir", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"rebuilding {path}" in _one_line(captured.err)
    assert '"built": true' in captured.out
    config = ImdbConfig(scale=0.0005, seed=int(seed), witnesses=False)
    assert database_problem(path, config) is None
    assert main(["data", "build", *flags, "--cache-dir", str(tmp_path)]) == 0  # now kept
    assert capsys.readouterr().out.startswith("exists: ")


def test_a_finished_database_of_the_config_has_no_problem(tiny_db):
    assert database_problem(tiny_db, TINY) is None


def test_scales_that_print_alike_get_different_files(tmp_path):
    a = database_path(ImdbConfig(scale=0.01), tmp_path)
    b = database_path(ImdbConfig(scale=0.01000001), tmp_path)
    assert a.name == f"imdb_s0.01_seed0_{ImdbConfig(scale=0.01).fingerprint}.duckdb" and a != b


@pytest.mark.parametrize("scale", ["1e-300", "0.0002", "0", "nan", "1.5"])
def test_scale_outside_the_range_is_one_line_exit_2(tmp_path, capsys, scale):
    assert main(["data", "build", "--scale", scale, "--cache-dir", str(tmp_path)]) == 2
    assert f"scale must be in [{MIN_SCALE:g}, 1]" in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [
    duckdb.IOException('Could not write file "x.tmp.wal": No space left on device'),
    OSError(errno.EROFS, "Read-only file system"),
])
def test_a_full_or_read_only_cache_folder_is_one_line_exit_2(tmp_path, monkeypatch, capsys, error):
    def failing_write(tmp, *args):
        tmp.write_bytes(b"partial")  # what a real failed write leaves behind
        raise error
    monkeypatch.setattr(generator, "_write", failing_write)
    assert main(["data", "build", *TINY_FLAGS, "--cache-dir", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"deepquery: cannot write the database in {tmp_path}: ")
    assert ("No space left on device" in line) or ("Read-only file system" in line)
    assert list(tmp_path.iterdir()) == []  # no half-written file under any name


# --- the true-cardinality cache -----------------------------------------------------------------
def test_a_damaged_cardinality_cache_is_moved_aside_and_replaced(tmp_path, caplog):
    path = tmp_path / "true_cards.sqlite"
    path.write_bytes(b"not an sqlite file" * 100)
    cache = CardinalityCache(path)
    cache.put("fp", "SELECT 1", 5.0)
    cache.close()
    assert (tmp_path / "true_cards.sqlite.corrupt").read_bytes().startswith(b"not an sqlite")
    assert CardinalityCache(path).get("fp", "SELECT 1") == 5.0
    assert "moved to" in caplog.text


def test_a_cardinality_cache_that_cannot_be_opened_works_in_memory(tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = CardinalityCache(blocker / "true_cards.sqlite")  # its folder cannot exist
    cache.put("fp", "SELECT 1", 7.0)
    assert cache.get("fp", "SELECT 1") == 7.0 and not cache.persistent
    cache.close()
    assert "kept in memory" in caplog.text


def test_a_cardinality_cache_that_fails_mid_run_goes_on_in_memory(tmp_path, caplog):
    path = tmp_path / "true_cards.sqlite"
    cache = CardinalityCache(path, flush_every=1)
    cache.put("fp", "SELECT 1", 1.0)
    cache._con.close()  # the file becomes unwritable under it: reopen read-only
    cache._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cache.put("fp", "SELECT 2", 2.0)
    assert cache.get("fp", "SELECT 2") == 2.0 and not cache.persistent
    cache.close()
    assert "it failed" in caplog.text


def test_true_cards_through_the_cli_with_a_damaged_cache(tmp_path, tiny_db, capsys, caplog):
    shutil.copy(tiny_db, database_path(TINY, tmp_path))
    (tmp_path / "true_cards.sqlite").write_bytes(b"garbage" * 50)
    q = tmp_path / "q.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                 "WHERE t.id = mc.movie_id AND t.production_year > 2000")
    args = ["plan", str(q), "--cards", "true", "--db", str(database_path(TINY, tmp_path)),
            "--cache-dir", str(tmp_path), "--json"]
    assert main(args) == 0  # was: internal error: DatabaseError: file is not a database
    assert "moved to" in caplog.text and capsys.readouterr().err == ""
    caplog.clear()
    assert main(args) == 0
    assert caplog.records == []


def test_ensure_database_rebuilds_an_unusable_cached_file(tmp_path, tiny_db, caplog):
    from sysml_datasets.imdb import ensure_database
    path = database_path(TINY, tmp_path)
    path.write_bytes(tiny_db.read_bytes()[:50_000])
    assert ensure_database(TINY, tmp_path) == path
    assert database_problem(path, TINY) is None and "rebuilding" in caplog.text


# --- the fingerprint that keys both caches -------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]
_PRINT_FINGERPRINT = ("import sysml_datasets.imdb as m; from sysml_datasets.imdb import ImdbConfig; "
                      "print(m.__file__); print(ImdbConfig(scale=0.0005, seed=3).fingerprint); "
                      "print(m.database_path(ImdbConfig(scale=0.0005, seed=3), '.').name)")


def _fingerprint_in_a_new_process(package_parent: Path | None) -> tuple[str, str]:
    where, fp, _ = _fingerprint_and_file_in_a_new_process(package_parent)
    return where, fp


def _fingerprint_and_file_in_a_new_process(package_parent: Path | None) -> tuple[str, str, str]:
    import os
    import subprocess
    import sys
    env = dict(os.environ)
    if package_parent is not None:  # ahead of the installed (editable) package
        env["PYTHONPATH"] = str(package_parent)
    r = subprocess.run([sys.executable, "-c", _PRINT_FINGERPRINT], env=env, cwd=package_parent or REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    where, fp, name = r.stdout.split()
    return where, fp, name


def _copy_of_the_generator(folder: Path) -> Path:
    shutil.copytree(REPO / "datasets", folder / "sysml_datasets",
                    ignore=shutil.ignore_patterns("__pycache__", "classbench"))
    return folder / "sysml_datasets" / "imdb" / "generator.py"


def test_a_changed_generator_gets_another_fingerprint_and_an_unchanged_one_the_same(tmp_path):
    # The fingerprint was version, scale, seed and witnesses: a generator changed without
    # bumping GENERATOR_VERSION kept it, and the true-cardinality cache served stale counts.
    ours = ImdbConfig(scale=0.0005, seed=3).fingerprint
    same = _copy_of_the_generator(tmp_path / "same")
    where, fp = _fingerprint_in_a_new_process(tmp_path / "same")
    assert Path(where).parent == same.parent and fp == ours  # another run, another folder
    changed = _copy_of_the_generator(tmp_path / "changed")
    source = changed.read_text()
    assert '"cast_info": 0.65,' in source
    changed.write_text(source.replace('"cast_info": 0.65,', '"cast_info": 0.66,', 1))
    where, fp = _fingerprint_in_a_new_process(tmp_path / "changed")
    assert Path(where).parent == changed.parent and fp != ours


def test_a_checkout_with_windows_line_endings_gets_the_same_fingerprint(tmp_path):
    # git with core.autocrlf writes the same source with CRLF line ends: it got another
    # fingerprint, so the database was rebuilt and the true-cardinality cache went unused.
    ours = ImdbConfig(scale=0.0005, seed=3).fingerprint
    package = _copy_of_the_generator(tmp_path / "crlf").parent
    files = [f for f in package.iterdir() if f.suffix in (".py", ".json")]
    for f in files:
        f.write_bytes(f.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert all(b"\r\n" in f.read_bytes() for f in files)
    where, fp = _fingerprint_in_a_new_process(tmp_path / "crlf")
    assert Path(where).parent == package and fp == ours


def test_a_database_of_a_changed_generator_is_rebuilt_before_true_cards_use_it(
        tmp_path, monkeypatch, capsys):
    from sysml_datasets.imdb import config

    from deepquery.database import connect, fingerprint
    config_ = ImdbConfig(scale=0.0005, seed=3)  # plan plants witnesses
    path = database_path(config_, tmp_path)
    with monkeypatch.context() as m:
        m.setattr(config, "source_hash", lambda: "the generator before a change")
        build_database(path, config_)
    con = connect(path)
    stale = fingerprint(con, path)
    con.close()
    assert stale != config_.fingerprint
    q = tmp_path / "q.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                 "WHERE t.id = mc.movie_id")
    assert main(["plan", str(q), "--cards", "true", "--json", "--cache-dir", str(tmp_path),
                 "--scale", "0.0005", "--seed", "3"]) == 0
    assert "rebuilding" in capsys.readouterr().err
    con = connect(path)
    assert fingerprint(con, path) == config_.fingerprint
    con.close()


def test_checkouts_with_other_generator_code_name_their_databases_apart(tmp_path):
    # The file was named by GENERATOR_VERSION only: two checkouts with other generator code
    # sharing a cache folder rebuilt each other's file, back and forth.
    ours = database_path(ImdbConfig(scale=0.0005, seed=3), ".").name
    changed = _copy_of_the_generator(tmp_path / "changed")
    changed.write_text(changed.read_text().replace('"cast_info": 0.65,', '"cast_info": 0.66,', 1))
    _, fp, name = _fingerprint_and_file_in_a_new_process(tmp_path / "changed")
    assert name != ours and name == f"imdb_s0.0005_seed3_{fp}.duckdb"
    _copy_of_the_generator(tmp_path / "same")
    assert _fingerprint_and_file_in_a_new_process(tmp_path / "same")[2] == ours


@pytest.mark.parametrize("library", ["pandas", "duckdb", "numpy"])
def test_the_fingerprint_and_file_name_hold_the_library_versions(monkeypatch, library):
    from importlib import metadata

    import numpy as np
    from sysml_datasets.imdb import config
    before = (TINY.fingerprint, database_path(TINY, ".").name)
    if library == "pandas":
        real = metadata.version
        monkeypatch.setattr(config.metadata, "version",
                            lambda name: "0.0.1" if name == "pandas" else real(name))
    else:
        monkeypatch.setattr(duckdb if library == "duckdb" else np, "__version__", "0.0.1")
    after = (TINY.fingerprint, database_path(TINY, ".").name)
    assert after[0] != before[0] and after[1] != before[1]


# --- pruning the true-cardinality cache ---------------------------------------------------------
def _fingerprints_in(path: Path) -> set[str]:
    con = sqlite3.connect(str(path))
    try:
        return {r[0] for r in con.execute("SELECT DISTINCT fingerprint FROM cards")}
    finally:
        con.close()


def test_counts_of_fingerprints_not_used_lately_are_pruned(tmp_path):
    path = tmp_path / "true_cards.sqlite"
    for i in range(5):  # one run per database, each a later one
        cache = CardinalityCache(path, keep=3)
        cache.put(f"fp{i}", "SELECT 1", float(i))
        cache.close()
    assert _fingerprints_in(path) == {"fp2", "fp3", "fp4"}
    cache = CardinalityCache(path, keep=3)
    assert cache.get("fp2", "SELECT 1") == 2.0  # used again: now the most recent
    cache.put("fp5", "SELECT 1", 5.0)
    cache.close()
    assert _fingerprints_in(path) == {"fp2", "fp4", "fp5"}
    cache = CardinalityCache(path, keep=3)
    assert cache.get("fp3", "SELECT 1") is None and cache.get("fp2", "SELECT 1") == 2.0
    cache.close()


def test_the_default_cache_keeps_the_documented_number_of_databases(tmp_path):
    from deepquery._card_cache import KEEP_FINGERPRINTS
    path = tmp_path / "true_cards.sqlite"
    cache = CardinalityCache(path)
    for i in range(KEEP_FINGERPRINTS + 2):
        cache.put(f"fp{i}", "SELECT 1", float(i))
    cache.close()
    assert _fingerprints_in(path) == {f"fp{i}" for i in range(2, KEEP_FINGERPRINTS + 2)}


def test_a_cache_file_of_the_old_layout_is_emptied_and_used(tmp_path):
    path = tmp_path / "true_cards.sqlite"
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE cards (key TEXT PRIMARY KEY, rows REAL)")
    con.execute("INSERT INTO cards VALUES (?, 9.0)", (CardinalityCache.key("fp", "SELECT 1"),))
    con.commit()
    con.close()
    cache = CardinalityCache(path)
    assert cache.persistent and cache.get("fp", "SELECT 1") is None  # no fingerprint: dropped
    cache.put("fp", "SELECT 1", 4.0)
    cache.close()
    cache = CardinalityCache(path)
    assert cache.get("fp", "SELECT 1") == 4.0 and len(cache) == 1
    cache.close()


def test_ensure_database_leaves_a_file_another_process_writes_to(tmp_path, tiny_db):
    # The lock error was taken for a damaged file, and the database was rebuilt under the writer.
    import hashlib

    from sysml_datasets.imdb import ensure_database
    path = database_path(TINY, tmp_path)
    shutil.copy(tiny_db, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with held_open_for_writing(path), pytest.raises(duckdb.IOException, match="lock"):
        ensure_database(TINY, tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_counts_written_after_another_process_pruned_their_fingerprint_stay_prunable(tmp_path):
    path = tmp_path / "true_cards.sqlite"
    running = CardinalityCache(path, keep=2)
    running.put("fp-running", "SELECT 1", 1.0)
    running.flush()
    for i in range(3):  # other databases meanwhile: the running one's fingerprint is pruned
        other = CardinalityCache(path, keep=2)
        other.put(f"fp{i}", "SELECT 1", 0.0)
        other.close()
    running.put("fp-running", "SELECT 2", 2.0)
    running.close()
    con = sqlite3.connect(str(path))
    listed = {r[0] for r in con.execute("SELECT fingerprint FROM fingerprints")}
    counted = {r[0] for r in con.execute("SELECT DISTINCT fingerprint FROM cards")}
    con.close()
    assert counted <= listed and "fp-running" in counted


def test_a_cache_opens_and_reads_while_another_process_holds_a_batch_of_puts(tmp_path):
    # Opening took the write lock (BEGIN IMMEDIATE) and the first get marked its fingerprint
    # (a write): both waited for the other process's batch to commit, 30 s, then the whole run
    # went on in memory.
    import subprocess
    import sys
    path = tmp_path / "true_cards.sqlite"
    cache = CardinalityCache(path)
    cache.put("fp-done", "SELECT 1", 7.0)
    cache.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from deepquery._card_cache import CardinalityCache; "
                                "c = CardinalityCache(sys.argv[1]); c.put('fp-busy', 'SELECT 1', 1.0); "
                                "print('ready', flush=True); sys.stdin.read(); c.close()"),
         str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"  # its put is pending: it holds the lock
        cache = CardinalityCache(path)
        assert cache.get("fp-done", "SELECT 1") == 7.0 and cache.persistent
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    cache.close()  # the lock is free now: the get's fingerprint is marked used
    con = sqlite3.connect(str(path))
    listed = {r[0] for r in con.execute("SELECT fingerprint FROM fingerprints")}
    con.close()
    assert listed == {"fp-done", "fp-busy"} and _fingerprints_in(path) == {"fp-done", "fp-busy"}


class _LockHolder:
    """Another process holding the cache file's write lock until ``release``: ``batch`` is a
    CardinalityCache with a put not yet written, ``raw`` an SQLite connection inside BEGIN
    IMMEDIATE (a writer that keeps the lock, e.g. an older deepquery's uncommitted batch)."""

    SCRIPTS: ClassVar[dict[str, str]] = {
        "batch": ("import sys; from deepquery._card_cache import CardinalityCache; "
                  "c = CardinalityCache(sys.argv[1]); c.put('fp-busy', 'SELECT 1', 1.0); "
                  "print('ready', flush=True); sys.stdin.read(); c.close()"),
        "raw": ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                "c.execute('BEGIN IMMEDIATE'); print('ready', flush=True); sys.stdin.read(); "
                "c.execute('ROLLBACK'); c.close()"),
    }

    def __init__(self, path: Path, kind: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPTS[kind], str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.fixture()
def short_waits(monkeypatch):
    """Reads wait 1 s, not 30, for another process's lock: on the old code a put waited that
    long for the other process's batch, then the whole run went on in memory."""
    import deepquery._card_cache as cc
    monkeypatch.setattr(cc, "_BUSY_TIMEOUT_S", 1)


@pytest.mark.parametrize("kind", ["batch", "raw"])
def test_puts_never_wait_on_another_process_and_are_written_once_it_lets_go(tmp_path, short_waits,
                                                                            kind):
    path = tmp_path / "true_cards.sqlite"
    CardinalityCache(path).close()
    holder = _LockHolder(path, kind)
    try:
        cache = CardinalityCache(path, flush_every=2)
        for i in range(5):  # two flushes come and go while the lock is held
            cache.put("fp-second", f"SELECT {i}", float(i))
        cache.flush()
        assert cache.persistent  # before: the first put waited, failed and went in memory
        assert [cache.get("fp-second", f"SELECT {i}") for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    finally:
        holder.release()
    cache.close()
    again = CardinalityCache(path)
    assert [again.get("fp-second", f"SELECT {i}") for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    again.close()
    expected = {"fp-second", "fp-busy"} if kind == "batch" else {"fp-second"}
    assert _fingerprints_in(path) == expected


def test_counts_still_queued_at_close_behind_a_held_lock_are_dropped(tmp_path, short_waits, caplog):
    path = tmp_path / "true_cards.sqlite"
    CardinalityCache(path).close()
    holder = _LockHolder(path, "raw")
    try:
        cache = CardinalityCache(path)
        cache.put("fp", "SELECT 1", 1.0)
        assert cache.persistent
        with caplog.at_level(logging.INFO, logger="deepquery._card_cache"):
            cache.close()  # returns: the counts are only a cache
    finally:
        holder.release()
    assert "1 counts were not saved" in caplog.text
    again = CardinalityCache(path)
    assert again.persistent and again.get("fp", "SELECT 1") is None
    again.close()


@pytest.mark.parametrize("layout", ["old", "none"])
def test_opening_a_file_to_create_does_not_wait_on_another_process_that_keeps_the_lock(
        tmp_path, caplog, layout):
    # Creating the tables (an old-layout file, or a new one another process has locked) waited
    # 30 s for the write lock, then the run went on in memory; now it waits as briefly as a put.
    import threading
    path = tmp_path / "true_cards.sqlite"
    con = sqlite3.connect(str(path))
    if layout == "old":
        con.execute("CREATE TABLE cards (key TEXT PRIMARY KEY, rows REAL)")
        con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    holder = _LockHolder(path, "raw")
    seen = []

    def use_a_cache() -> None:  # in one thread: an SQLite connection stays in its thread
        cache = CardinalityCache(path)
        cache.put("fp", "SELECT 1", 1.0)
        seen.append((cache.persistent, cache.get("fp", "SELECT 1")))
        cache.close()

    try:
        with caplog.at_level(logging.WARNING, logger="deepquery._card_cache"):
            opening = threading.Thread(target=use_a_cache)
            opening.start()
            opening.join(timeout=20)  # the old code waited 30 s
            assert not opening.is_alive(), "the open waited for the other process's lock"
    finally:
        holder.release()
        opening.join()
    assert seen == [(False, 1.0)]
    warning = (f"true-cardinality cache {path}: cannot open it (another process holds the write "
               "lock needed to create its tables); counts are kept in memory for this run")
    assert [r.getMessage() for r in caplog.records] == [warning]
    again = CardinalityCache(path)  # the lock is free: the file is created and used
    assert again.persistent and again.get("fp", "SELECT 1") is None
    again.close()
