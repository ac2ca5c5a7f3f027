"""``data list`` and ``data clean``: the cache folder's files, which ones this code can use, and
removing the stale ones (never a file another process has open, never a file we did not write)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sysml_datasets.imdb import ImdbConfig, build_database, database_path

from deepquery.__main__ import main

from .dq_helpers import TINY, TINY_FLAGS, deepquery_cli, held_open_for_writing, one_line

OTHER = ImdbConfig(scale=0.0005, seed=4, witnesses=False)


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    return build_database(database_path(TINY, folder), TINY)


@pytest.fixture()
def folder(tmp_path, tiny_db) -> Path:
    """A cache folder with one file of each kind (database contents are TINY's: only names
    matter here)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    current = database_path(TINY, cache)
    shutil.copy(tiny_db, current)
    shutil.copy(tiny_db, database_path(OTHER, cache))  # usable: another seed
    shutil.copy(tiny_db, current.with_name(current.name.rsplit("_", 1)[0] + "_0123456789abcdef.duckdb"))
    shutil.copy(tiny_db, cache / "imdb_s0.01_seed0_v1.duckdb")
    (cache / "imdb_s0.01_seed0_v1.duckdb.wal").write_bytes(b"w" * 10)
    (cache / "true_cards.sqlite").write_bytes(b"c" * 10)
    (cache / "true_cards.sqlite.corrupt").write_bytes(b"x" * 10)
    (cache / "notes.txt").write_text("mine")
    (cache / "imdb_s0.01_seed0_v2.duckdb.bak").write_text("not our name")
    (cache / "imdb_s0.01_seed0_v3.duckdb").symlink_to(cache / "notes.txt")
    return cache


def _statuses(cache: Path, capsys, *flags: str) -> dict[str, str]:
    assert main(["data", "list", "--cache-dir", str(cache), "--json", *flags]) == 0
    out = json.loads(capsys.readouterr().out)
    return {Path(f["path"]).name: f["status"] for f in out["files"]}


def test_data_list_says_which_files_this_code_can_use(folder, capsys):
    current = database_path(TINY, folder).name
    fp_stale = current.rsplit("_", 1)[0] + "_0123456789abcdef.duckdb"
    assert _statuses(folder, capsys, *TINY_FLAGS) == {
        current: "current",
        database_path(OTHER, folder).name: "usable",
        fp_stale: "stale",
        "imdb_s0.01_seed0_v1.duckdb": "stale",
        "imdb_s0.01_seed0_v1.duckdb.wal": "stale",
        "true_cards.sqlite": "cache",
        "true_cards.sqlite.corrupt": "stale",
    }  # notes.txt, the .bak and the link are not ours: never listed
    assert _statuses(folder, capsys)[current] == "usable"  # other settings given


def test_data_list_human_output_names_the_current_file(folder, capsys):
    assert main(["data", "list", "--cache-dir", str(folder), *TINY_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "current" in out and database_path(TINY, folder).name in out
    assert "stale: 4 files" in out and "data clean" in out


def test_data_clean_removes_only_stale_files_and_dry_run_none(folder, capsys):
    before = sorted(p.name for p in folder.iterdir())
    assert main(["data", "clean", "--cache-dir", str(folder), "--dry-run"]) == 0
    assert "would remove 4 files" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == before
    assert main(["data", "clean", "--cache-dir", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["removed"]) == 4 and out["kept"] == [] and out["bytes_freed"] > 0
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        database_path(TINY, folder).name, database_path(OTHER, folder).name, "true_cards.sqlite",
        "notes.txt", "imdb_s0.01_seed0_v2.duckdb.bak", "imdb_s0.01_seed0_v3.duckdb"])
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("mode", ["read-write", "read-only"])
def test_data_clean_keeps_a_stale_file_another_process_has_open(folder, capsys, mode):
    stale = folder / "imdb_s0.01_seed0_v1.duckdb"
    if mode == "read-write":
        holder = held_open_for_writing(stale)
    else:
        holder = _held_read_only(stale)
    with holder:
        assert main(["data", "clean", "--cache-dir", str(folder)]) == 0
        out = capsys.readouterr().out
        assert stale.is_file() and f"kept {stale.name}: another process has it open" in out
    assert not (folder / "true_cards.sqlite.corrupt").exists()  # the others went
    assert main(["data", "clean", "--cache-dir", str(folder)]) == 0  # let go: now it goes
    assert not stale.exists() and not stale.with_name(stale.name + ".wal").exists()


class _held_read_only:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                                    "print('ready', flush=True); sys.stdin.read()"), str(self.path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def test_data_clean_leaves_a_live_build_s_temporary_file(folder, capsys):
    live = folder / f".{database_path(TINY, folder).name}.{socket.gethostname()}.{os.getpid()}.tmp"
    dead = folder / f".imdb_s0.01_seed0_v1.duckdb.{socket.gethostname()}.999999999.tmp"
    live.write_bytes(b"t")
    dead.write_bytes(b"t")
    assert main(["data", "clean", "--cache-dir", str(folder)]) == 0
    assert live.exists() and not dead.exists()


# Before: exit 0, 'removed 0 files' (list: '0 deepquery files'), for a mistyped folder too.
@pytest.mark.parametrize("command", [["list"], ["clean"], ["clean", "--dry-run"], ["list", "--json"]])
def test_a_missing_cache_folder_is_one_line_exit_2_and_creates_nothing(tmp_path, capsys, command):
    missing = tmp_path / "typo" / "cache"
    assert main(["data", *command, "--cache-dir", str(missing)]) == 2
    out = capsys.readouterr()
    assert one_line(out.err) == f"deepquery: --cache-dir {missing}: the folder does not exist"
    assert out.out == "" and not missing.parent.exists()


def test_a_missing_sysml_cache_folder_is_named_as_such(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SYSML_CACHE", str(tmp_path / "nothing here"))
    assert main(["data", "list"]) == 2
    assert "$SYSML_CACHE" in one_line(capsys.readouterr().err)


# Before: 'removed 1 files', 'stale: 1 files', '1 deepquery files'.
def test_one_file_is_one_file(tmp_path, capsys):
    (tmp_path / "true_cards.sqlite.corrupt").write_bytes(b"x")
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 deepquery file, 1 B" in out and "stale: 1 file, 1 B" in out
    assert main(["data", "clean", "--cache-dir", str(tmp_path)]) == 0
    assert f"removed 1 file, 1 B, in {tmp_path}" in capsys.readouterr().out
    assert main(["data", "clean", "--cache-dir", str(tmp_path)]) == 0
    assert f"removed 0 files, 0 B, in {tmp_path}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["list", "clean"])
def test_a_cache_dir_that_is_a_file_is_one_line_exit_2(tmp_path, capsys, command):
    f = tmp_path / "f"
    f.write_text("")
    assert main(["data", command, "--cache-dir", str(f)]) == 2
    assert "not a directory" in one_line(capsys.readouterr().err)


def test_data_clean_keeps_a_stale_file_it_cannot_open_to_check(folder, capsys, monkeypatch):
    # Without write access the lock cannot be taken: it was "another process has it open".
    import deepquery._cache_files as cf
    real = os.open

    def no_write(path, flags, *args):
        if Path(path).name == "true_cards.sqlite.corrupt":
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *args)
    monkeypatch.setattr(cf.os, "open", no_write)
    assert main(["data", "clean", "--cache-dir", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(Path(k["path"]).name, k["why"]) for k in out["kept"]] == [
        ("true_cards.sqlite.corrupt", "cannot open it to check it is unused (Permission denied)")]
    assert (folder / "true_cards.sqlite.corrupt").exists() and len(out["removed"]) == 3


def test_data_list_json_gives_a_name_that_is_not_utf8_as_text_and_exactly(tmp_path, capsys):
    # A build's temporary file names its host: one with a byte 0xff was printed as the lone
    # surrogate "\udcff", which jq reads as U+FFFD without a word and other readers refuse
    cache = tmp_path / "cache"
    cache.mkdir()
    name = b".imdb_s0.01_seed0_0123456789abcdef.duckdb.h\xffst.999999999.tmp"
    with open(os.fsencode(cache) + b"/" + name, "wb"):
        pass
    assert main(["data", "list", "--cache-dir", str(cache), "--json"]) == 0
    text = capsys.readouterr().out
    (f,) = json.loads(text)["files"]
    json.dumps(f, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    assert f["path"] == str(cache) + "/" + name.decode("utf-8", "replace")
    assert base64.b64decode(f["path_base64"]) == os.fsencode(cache) + b"/" + name
    assert "cache_dir_base64" not in json.loads(text)  # only where a path is not UTF-8


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_a_name_that_is_not_utf8_is_printed_as_text(tmp_path, imdb_db, encoding):
    # On a stdout that refuses what it cannot encode (PYTHONIOENCODING=utf-8, or a UTF-8
    # locale other than C.UTF-8), data list and plan said "'utf-8' codec can't encode
    # character '\udcff' ...: surrogates not allowed" and exited 2 on a file name with a byte
    # 0xff (a build's host name, a query file's)
    cache = tmp_path / "cache"
    cache.mkdir()
    name = b".imdb_s0.01_seed0_0123456789abcdef.duckdb.h\xffst.999999999.tmp"
    with open(os.fsencode(cache) + b"/" + name, "wb"):
        pass
    r = deepquery_cli("data", "list", cache=cache, PYTHONIOENCODING=encoding)
    assert r.returncode == 0 and r.stderr == ""
    assert ".duckdb.h\\xffst.999999999.tmp  (temporary file of a build" in r.stdout
    query = os.fsencode(tmp_path) + b"/q\xff.sql"
    with open(query, "w") as f:
        f.write("SELECT count(*) FROM kind_type AS kt")
    r = deepquery_cli("plan", os.fsdecode(query), "--db", str(imdb_db), cache=cache,
                      PYTHONIOENCODING=encoding)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stdout.startswith("query q\\xff: 1 relations")
