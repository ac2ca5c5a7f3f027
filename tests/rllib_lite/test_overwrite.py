"""``train --overwrite`` and start-up refusals: the old run in --out stays whole until the new
run has saved its checkpoint, and a refused run writes nothing."""
from __future__ import annotations

import gymnasium as gym
import pytest

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.__main__ import main

from .test_user_errors import MaskEnv

_TINY = ("--total-env-steps", "16", "--num-envs-per-worker", "1", "--rollout-steps", "16",
         "--minibatch-size", "16", "--eval-episodes", "1")
# past every address space (128 TiB), so refused under any overcommit setting
_TOO_BIG = {"ppo": ("--rollout-steps", "10000000000000"), "dqn": ("--buffer-size", "100000000000000")}


def _old_run(folder):
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "metadata.json").write_text('{"old": true}')
    (folder / "config.json").write_text('{"seed": 1}')
    (folder / "metrics.jsonl").write_text('{"iteration": 1}\n')
    return _files(folder)


def _files(folder):
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def _run(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_overwrite_by_a_run_refused_for_memory_keeps_the_old_run_whole(tmp_path, capsys, algo):
    # the old code allocated the buffers in learn(), after config.json was rewritten and the
    # old metrics.jsonl and checkpoint removed: only the new config.json was left
    before = _old_run(tmp_path / "old")
    code, lines = _run(capsys, "train", algo, "--out", str(tmp_path / "old"), "--overwrite",
                       "--env", "CartPole-v1", "--total-env-steps", "64", *_TOO_BIG[algo])
    assert code == 2 and len(lines) == 1, lines
    assert "not enough memory" in lines[0] and _TOO_BIG[algo][0][2:].replace("-", "_") in lines[0]
    assert _files(tmp_path / "old") == before
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["checkpoint", "config.json", "metrics.jsonl"]


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_run_refused_for_memory_creates_no_folder(tmp_path, capsys, algo):
    # the old code created --out and left config.json there, so the corrected retry was refused
    code, lines = _run(capsys, "train", algo, "--out", str(tmp_path / "new" / "run"),
                       "--env", "CartPole-v1", "--total-env-steps", "64", *_TOO_BIG[algo])
    assert code == 2 and "not enough memory" in lines[0], lines
    assert not (tmp_path / "new").exists()


def test_storage_too_big_is_a_memory_error_naming_the_field_at_construction():
    with pytest.raises(MemoryError, match=r"rollout_steps=10000000000000 needs .* of memory"):
        PPO(PPOConfig(env="CartPole-v1", rollout_steps=10**13))
    with pytest.raises(MemoryError, match=r"buffer_size=100000000000000 needs .* of memory"):
        DQN(DQNConfig(env="CartPole-v1", buffer_size=10**14))


def test_overwrite_by_a_run_that_fails_in_training_puts_the_old_run_back(tmp_path, capsys):
    # the old code removed the old metrics.jsonl and checkpoint before training: an env that
    # raised at its third step left a new config.json and nothing else
    env_id = "rllib_lite_test/CrashingOverwrite-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=lambda **kw: MaskEnv({"fail": "raise"}))
    before = _old_run(tmp_path / "old")
    code, lines = _run(capsys, "train", "ppo", "--out", str(tmp_path / "old"), "--overwrite",
                       "--env", env_id, *_TINY)
    assert code == 2 and "simulator crashed" in lines[0], lines
    assert _files(tmp_path / "old") == before
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["checkpoint", "config.json", "metrics.jsonl"]


def test_overwrite_by_a_run_that_succeeds_replaces_the_old_run(tmp_path, capsys):
    _old_run(tmp_path / "old")
    code, lines = _run(capsys, "train", "ppo", "--out", str(tmp_path / "old"), "--overwrite",
                       "--env", "CartPole-v1", *_TINY)
    assert code == 0, lines
    folder = tmp_path / "old"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint", "config.json", "metrics.jsonl"]
    assert '"old"' not in (folder / "checkpoint" / "metadata.json").read_text()
    assert '"iteration": 1,' in (folder / "metrics.jsonl").read_text()
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1


def _crashing_env_id():
    env_id = "rllib_lite_test/CrashingOverwrite-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=lambda **kw: MaskEnv({"fail": "raise"}))
    return env_id


def test_a_run_that_fails_before_its_checkpoint_leaves_out_as_it_found_it(tmp_path, capsys):
    # the old code left config.json and the metrics of the iterations before the failure, so
    # the corrected retry was refused ('already holds a run') unless given --overwrite
    out = tmp_path / "runs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", _crashing_env_id(), *_TINY)
    assert code == 2 and "simulator crashed" in lines[0], lines
    assert _files(out) == {"notes.txt": "mine"}
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    assert code == 0, lines


def test_a_run_that_fails_before_its_checkpoint_removes_the_folders_it_created(tmp_path, capsys):
    code, lines = _run(capsys, "train", "dqn", "--out", str(tmp_path / "new" / "run"), "--env",
                       _crashing_env_id(), "--total-env-steps", "64", "--train-freq", "16",
                       "--learning-starts", "0", "--eval-episodes", "1")
    assert code == 2 and "simulator crashed" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_fails_never_removes_another_runs_files_started_in_the_same_out(tmp_path, capsys, monkeypatch):
    # two runs started on one --out together both found it free; the one that failed then
    # removed the run files there as its own: the other run's saved checkpoint, config.json and
    # metrics.jsonl, and the folder. Run B starts while run A is starting (between A's check of
    # --out and its first write), and runs to the end; then A fails in training
    from rllib_lite import __main__ as cli
    from rllib_lite.algorithm import Algorithm

    out = tmp_path / "runs"
    real_check = cli.check_writable
    second: list = []

    def check_writable_then_start_b(path):
        real_check(path)
        if not second:
            second.append("B starts")  # once: B's own check comes here too
            second[0] = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
            second.append(sorted(str(p.relative_to(out)) for p in out.rglob("*")))  # (state.pt is binary)

            def interrupted(self, *args, **kwargs):
                raise KeyboardInterrupt

            monkeypatch.setattr(Algorithm, "learn", interrupted)

    monkeypatch.setattr(cli, "check_writable", check_writable_then_start_b)
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    assert code == 1 and lines == ["rllib_lite: interrupted"], lines
    # B is refused while A holds --out (the old code: B trained and saved its checkpoint, and
    # A's failure removed all of it)
    (code_b, lines_b), files_b = second
    assert code_b == 2 and len(lines_b) == 1 and "another run is writing there" in lines_b[0], lines_b
    assert files_b == [] and not out.exists()


def test_a_run_that_saved_its_checkpoint_keeps_it_when_the_final_evaluation_fails(tmp_path, capsys):
    class FailsInEvaluation(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,))
        action_space = gym.spaces.Discrete(2)
        steps = 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.low * 0, {}

        def step(self, action):
            FailsInEvaluation.steps += 1
            if FailsInEvaluation.steps > 16:  # past training's 16 steps: the final evaluation
                raise RuntimeError("evaluation broke")
            return self.observation_space.low * 0, 1.0, False, False, {}

    env_id = "rllib_lite_test/FailsInEvaluation-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=lambda **kw: FailsInEvaluation())
    code, lines = _run(capsys, "train", "ppo", "--out", str(tmp_path / "run"), "--env", env_id, *_TINY)
    # the env's error, named as bad input (5cd9213; it was "internal error", exit 1)
    assert code == 2 and len(lines) == 1, lines
    assert "(evaluation, episode 0) raised in step(): RuntimeError: evaluation broke" in lines[0], lines
    names = {str(p.relative_to(tmp_path / "run")) for p in (tmp_path / "run").rglob("*")}
    assert {"config.json", "metrics.jsonl", "checkpoint/metadata.json", "checkpoint/state.pt"} <= names


def _killed_overwrite(folder, saved=False):
    """--out as an --overwrite run killed part way leaves it: the old run in a hidden folder of
    --out (as set_old_run_aside moves it), the killed run's config.json and metrics.jsonl in
    --out, and its checkpoint when ``saved``."""
    before = _old_run(folder)
    aside = folder / ".rllib_lite-replaced-4242-0123abcd"
    aside.mkdir()
    for name in ("checkpoint", "config.json", "metrics.jsonl"):
        (folder / name).rename(aside / name)
    (folder / "config.json").write_text('{"seed": 2}')
    (folder / "metrics.jsonl").write_text('{"iteration": 1, "killed": true}\n')
    if saved:
        (folder / "checkpoint").mkdir()
        (folder / "checkpoint" / "metadata.json").write_text('{"new": true}')
    return before, aside


def test_the_next_run_puts_back_the_old_run_a_killed_overwrite_run_set_aside(tmp_path, capsys):
    # the old code saw the killed run's files only ('already holds a run'): the user's old run
    # stayed hidden in .rllib_lite-replaced-*, and an --overwrite retry left it there for good
    out = tmp_path / "old"
    before, aside = _killed_overwrite(out)
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    assert code == 2, lines
    assert "put back the run an --overwrite run had set aside in .rllib_lite-replaced-4242" in lines[0]
    assert "already holds a run" in lines[-1]
    assert _files(out) == before and not aside.exists()


def test_an_overwrite_run_after_a_killed_one_replaces_the_old_run_and_leaves_nothing_aside(tmp_path, capsys):
    out = tmp_path / "old"
    _killed_overwrite(out)
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--overwrite", "--env", "CartPole-v1", *_TINY)
    assert code == 0, lines
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "config.json", "metrics.jsonl"]
    assert '"old"' not in (out / "checkpoint" / "metadata.json").read_text()


def test_a_run_set_aside_by_an_overwrite_run_that_saved_its_checkpoint_is_named_not_removed(tmp_path, capsys):
    out = tmp_path / "old"
    _killed_overwrite(out, saved=True)
    held = _files(out)
    for extra in ((), ("--overwrite",)):
        code, lines = _run(capsys, "train", "ppo", "--out", str(out), *extra, "--env", "CartPole-v1", *_TINY)
        assert code == 2 and len(lines) == 1, lines
        assert ".rllib_lite-replaced-4242-0123abcd holds the run that an --overwrite run replaced" in lines[0]
        assert "delete that folder, or move it out of --out to keep it" in lines[0]
        assert _files(out) == held


def test_an_old_run_set_aside_by_a_running_overwrite_run_is_left_alone(tmp_path, capsys):
    import fcntl
    import os

    out = tmp_path / "old"
    _, aside = _killed_overwrite(out)
    held = _files(out)
    fd = os.open(aside, os.O_RDONLY)  # the lock a live run holds (another open file: refused)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--overwrite", "--env", "CartPole-v1", *_TINY)
    finally:
        os.close(fd)
    assert code == 2 and len(lines) == 1 and "another run is replacing the run there" in lines[0], lines
    assert _files(out) == held


def test_a_sigkilled_overwrite_run_leaves_the_old_run_in_out_and_the_next_run_puts_it_back(tmp_path, capsys):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "old"
    before = _old_run(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rllib_lite", "train", "ppo", "--out", str(out), "--overwrite",
         "--env", "rllib_lite/SlowCartPole-v1", "--total-env-steps", "1000000", "--num-envs-per-worker", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists() or (out / "config.json").read_text() == '{"seed": 1}':
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # into training: metrics.jsonl may be written
        # while it runs, its lock on --out keeps another run from taking the old run back
        code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--overwrite", "--env", "CartPole-v1", *_TINY)
        assert code == 2 and "another run is writing there" in lines[0], lines
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    asides = [p.name for p in out.iterdir() if p.name.startswith(".rllib_lite-replaced-")]
    assert len(asides) == 1 and _files(out / asides[0]) == before  # in --out, not beside it
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    assert code == 2 and "put back the run" in lines[0] and "already holds a run" in lines[-1], lines
    assert _files(out) == before


def test_an_old_run_that_cannot_be_put_back_stays_set_aside_with_one_line(tmp_path, capsys, monkeypatch):
    import os

    from rllib_lite import _run_folder

    out = tmp_path / "old"
    before, aside = _killed_overwrite(out)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_run_folder.os, "rename", refuse)
    code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    monkeypatch.setattr(_run_folder.os, "rename", os.rename)
    assert code == 2 and len(lines) == 1, lines
    assert "cannot put back the run an --overwrite run had set aside in .rllib_lite-replaced-4242" in lines[0]
    assert {f"{aside.name}/{k}": v for k, v in before.items()} == _files(out)  # all of it, still aside


def test_an_out_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    # the lock on --out opens it: a FIFO opened for reading waits for a writer
    import os
    import subprocess
    import sys

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "rllib_lite", "train", "ppo", "--out", str(fifo), *_TINY],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().endswith("is a file, not a folder"), r.stderr


def test_a_run_refused_by_the_lock_leaves_the_folder_it_made_to_the_run_holding_it(tmp_path, capsys, monkeypatch):
    # both runs made --out together (this one's mkdir came first); the other holds it now: the
    # refused run must not remove the folder the other is about to write in
    import fcntl
    import os

    from rllib_lite import __main__ as cli

    out = tmp_path / "new" / "run"
    real_make_out = cli.make_out
    held = []

    def make_out_then_another_run_takes_it(path):
        created = real_make_out(path)
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(fd)
        return created

    monkeypatch.setattr(cli, "make_out", make_out_then_another_run_takes_it)
    try:
        code, lines = _run(capsys, "train", "ppo", "--out", str(out), "--env", "CartPole-v1", *_TINY)
    finally:
        for fd in held:
            os.close(fd)
    assert code == 2 and len(lines) == 1 and "another run is writing there" in lines[0], lines
    assert out.is_dir()


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:  # not yet written, or being set aside
        return ""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_stopped_by_sigterm_ends_as_after_ctrl_c(tmp_path, workers):
    """``kill``, ``timeout`` and batch schedulers stop a run with SIGTERM: it ends as Ctrl-C ends
    it (one line, exit 1), an --overwrite run puts the old run back, and a new --out is removed,
    so a retry needs no --overwrite; the rollout workers go too."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "old"
    before = _old_run(out)
    new = tmp_path / "new" / "run"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "rllib_lite", "train", "ppo", "--out", str(folder), *extra,
         "--env", "CartPole-v1", "--total-env-steps", "100000000", "--num-rollout-workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for folder, extra in ((out, ["--overwrite"]), (new, []))]
    try:
        deadline = time.monotonic() + 120
        for folder, proc in zip((out, new), procs):  # both into training
            while _text(folder / "metrics.jsonl") in ("", before["metrics.jsonl"]):
                assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
        results = [(proc.wait(timeout=60), proc.stderr.read()) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    for code, err in results:  # old code: -15 (killed by the signal), nothing said
        assert code == 1 and err.strip().splitlines() == ["rllib_lite: terminated"], (code, err)
    assert _files(out) == before and sorted(p.name for p in out.iterdir()) == ["checkpoint", "config.json", "metrics.jsonl"]
    assert not (tmp_path / "new").exists()
