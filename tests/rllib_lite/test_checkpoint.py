"""save/restore: round trip, exact resume, and clear errors for wrong or corrupt checkpoints."""
from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import threading

import gymnasium as gym
import pytest
import torch

from rllib_lite import DQN, PPO, Algorithm, CheckpointError, DQNConfig, PPOConfig

CONFIGS = {
    "PPO": lambda: PPO(PPOConfig(env="CartPole-v1", seed=5, num_envs_per_worker=4, rollout_steps=16,
                                 minibatch_size=32, num_epochs=2)),
    "DQN": lambda: DQN(DQNConfig(env="CartPole-v1", seed=5, hidden_sizes=(16,), learning_starts=32,
                                 train_freq=32, gradient_steps=4, n_step=2, prioritized_replay=True)),
}

COMPARED = ("env_steps", "episodes", "episode_return_mean", "policy_loss", "value_loss", "loss", "q_mean")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_restored_run_continues_exactly_like_the_uninterrupted_one(name, tmp_path):
    straight = CONFIGS[name]()
    for _ in range(3):
        straight.train()
    straight.save(tmp_path / "ckpt")
    expected = [straight.train() for _ in range(2)]
    straight.stop()

    resumed = type(straight).restore(tmp_path / "ckpt")
    assert resumed.iteration == 3
    got = [resumed.train() for _ in range(2)]
    for e, g in zip(expected, got):
        for key in COMPARED:
            assert e.get(key) == g.get(key), key
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    resumed.stop()


def test_checkpoint_folder_has_metadata_and_config(tmp_path):
    algo = CONFIGS["PPO"]()
    algo.train()
    folder = algo.save(tmp_path / "c")
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["algorithm"] == "PPO" and meta["iteration"] == 1 and meta["env_steps"] == 64
    assert json.loads((folder / "config.json").read_text())["rollout_steps"] == 16
    # Algorithm.restore dispatches on the metadata
    assert isinstance(Algorithm.restore(folder), PPO)
    algo.stop()


def test_restoring_a_checkpoint_of_the_other_algorithm_names_both(tmp_path):
    algo = CONFIGS["DQN"]()
    algo.save(tmp_path / "d")
    with pytest.raises(CheckpointError, match="is a DQN checkpoint, not PPO"):
        PPO.restore(tmp_path / "d")
    algo.stop()


def test_corrupt_and_missing_checkpoints_give_one_clear_error(tmp_path):
    algo = CONFIGS["PPO"]()
    folder = algo.save(tmp_path / "p")
    algo.stop()
    (folder / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="corrupt"):
        PPO.restore(folder)
    (folder / "metadata.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="corrupt metadata"):
        PPO.restore(folder)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        PPO.restore(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no metadata.json"):
        PPO.restore(tmp_path / "empty")


@pytest.mark.parametrize("text, said", [
    ('{"algorithm": "PPO", "format_version": 1, "iteration": ' + "9" * 5000 + "}",
     "corrupt metadata (an integer of more than 4300 digits)"),
    ("[" * 100_000 + "]" * 100_000, "corrupt metadata (JSON nested too deep)"),
    ('{"algorithm": ["PPO"], "format_version": 1}',
     """corrupt metadata ('algorithm' is not a name: ["PPO"])"""),
])
def test_metadata_json_python_cannot_read_or_use_is_a_checkpoint_error(tmp_path, capsys, text,
                                                                       said):
    # Old code: `evaluate` said "internal error: ValueError: Exceeds the limit (4300 digits)
    # ...", "internal error: RecursionError: ..." and "internal error: TypeError: unhashable
    # type: 'list'", exit 1.
    from rllib_lite.__main__ import main

    algo = CONFIGS["PPO"]()
    folder = algo.save(tmp_path / "p")
    algo.stop()
    (folder / "metadata.json").write_text(text)
    with pytest.raises(CheckpointError) as err:
        PPO.restore(folder)
    assert str(err.value) == f"{folder / 'metadata.json'}: {said}"
    assert main(["evaluate", str(folder), "--episodes", "1"]) == 2
    assert capsys.readouterr().err == f"rllib_lite: error: {folder / 'metadata.json'}: {said}\n"


def test_a_state_file_from_another_run_is_a_checkpoint_error_not_a_traceback(tmp_path):
    # a PPO folder whose state.pt was overwritten by a DQN one: load_state_dict's RuntimeError
    # used to escape (the CLI printed "internal error", exit 1)
    ppo, dqn = CONFIGS["PPO"](), CONFIGS["DQN"]()
    folder = ppo.save(tmp_path / "p")
    dqn.save(tmp_path / "d")
    ppo.stop()
    dqn.stop()
    shutil.copy(tmp_path / "d" / "state.pt", folder / "state.pt")
    with pytest.raises(CheckpointError, match=r"state.pt does not match config.pkl .*Missing key"):
        PPO.restore(folder)


@pytest.mark.parametrize("other, held", [("dqn", "a DQNConfig"), ({"lr": 1.0}, "a dict"),
                                         (None, "None")])
def test_a_config_file_that_holds_no_config_of_the_algorithm_is_a_checkpoint_error(
        tmp_path, capsys, other, held):
    # Old code: "internal error: TypeError: PPO needs a PPOConfig, got DQNConfig" and "TypeError:
    # replace() should be called on dataclass instances" (with an override), exit 1 in `evaluate`
    from rllib_lite.__main__ import main

    ppo = CONFIGS["PPO"]()
    folder = ppo.save(tmp_path / "p")
    ppo.stop()
    if other == "dqn":
        other = CONFIGS["DQN"]().config
    (folder / "config.pkl").write_bytes(pickle.dumps(other))
    said = f"{folder / 'config.pkl'}: holds {held}, not the PPOConfig of a PPO checkpoint"
    for overrides in ({}, {"num_rollout_workers": 0}):
        with pytest.raises(CheckpointError) as err:
            Algorithm.restore(folder, **overrides)
        assert str(err.value) == said
    assert main(["evaluate", str(folder), "--episodes", "1"]) == 2
    assert capsys.readouterr().err == f"rllib_lite: error: {said}\n"


def test_metrics_and_config_files_are_written(tmp_path):
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs_per_worker=2, rollout_steps=8, minibatch_size=8,
                         num_epochs=1, output_dir=str(tmp_path / "run")))
    algo.learn(48, progress=False)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    row = json.loads(lines[-1])
    for key in ("env_steps", "episodes", "episode_return_mean", "policy_loss", "value_loss",
                "sample_seconds", "learn_seconds", "steps_per_second"):
        assert key in row
    assert json.loads((tmp_path / "run" / "config.json").read_text())["algorithm"] == "PPO"
    algo.stop()


def test_restore_into_the_same_output_dir_does_not_log_iterations_twice(tmp_path):
    run = tmp_path / "run"
    cfg = PPOConfig(env="CartPole-v1", num_envs_per_worker=2, rollout_steps=8, minibatch_size=8,
                    num_epochs=1, output_dir=str(run))
    algo = PPO(cfg)
    algo.learn(32, progress=False)  # iterations 1-2
    algo.save(tmp_path / "ckpt")
    algo.learn(64, progress=False)  # iterations 3-4, then the run "crashes" mid-write
    algo.stop()
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    torn = lines[-1][:20]
    (run / "metrics.jsonl").write_text("".join(lines[:-1]) + torn)
    again = PPO.restore(tmp_path / "ckpt")
    assert again.config.output_dir == str(run)
    again.learn(64, progress=False)  # redoes iterations 3-4
    again.stop()
    kept = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in kept] == [1, 2, 3, 4]
    superseded = (run / "metrics.superseded.jsonl").read_text().splitlines()
    assert superseded == [lines[2].rstrip("\n"), torn]  # nothing lost: iteration 3 and the torn line


def test_restore_leaves_metrics_alone_when_nothing_ran_past_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs_per_worker=2, rollout_steps=8, minibatch_size=8,
                         num_epochs=1, output_dir=str(run)))
    algo.learn(32, progress=False)
    algo.save(tmp_path / "ckpt")
    algo.stop()
    before = (run / "metrics.jsonl").read_text()
    PPO.restore(tmp_path / "ckpt").stop()
    assert (run / "metrics.jsonl").read_text() == before
    assert not (run / "metrics.superseded.jsonl").exists()


def test_restore_keeps_metrics_lines_python_cannot_read_where_they_are(tmp_path):
    # A line nested past Python's recursion limit (not one of ours) made restore raise
    # RecursionError out of _rewind_metrics; now it is kept in place as other foreign lines are.
    run = tmp_path / "run"
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs_per_worker=2, rollout_steps=8,
                         minibatch_size=8, num_epochs=1, output_dir=str(run)))
    algo.save(tmp_path / "ckpt")
    algo.stop()
    foreign = "[" * 5000 + "\n"
    (run / "metrics.jsonl").write_text(foreign)
    PPO.restore(tmp_path / "ckpt").stop()
    assert (run / "metrics.jsonl").read_text() == foreign


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc/self/mem")
def test_a_metadata_file_that_fails_to_read_is_a_checkpoint_error(tmp_path, capsys):
    # /proc/self/mem is a file whose read fails (EIO at offset 0): `evaluate` said "internal
    # error: OSError: [Errno 5] Input/output error", exit 1.
    from rllib_lite.__main__ import main

    algo = CONFIGS["PPO"]()
    folder = algo.save(tmp_path / "p")
    algo.stop()
    (folder / "metadata.json").unlink()
    (folder / "metadata.json").symlink_to("/proc/self/mem")
    said = f"{folder / 'metadata.json'}: cannot read it (Input/output error)"
    with pytest.raises(CheckpointError, match=re.escape(said)):
        PPO.restore(folder)
    assert main(["evaluate", str(folder), "--episodes", "1"]) == 2
    assert capsys.readouterr().err == f"rllib_lite: error: {said}\n"


@pytest.mark.parametrize("name", ["config.pkl", "state.pt"])
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_checkpoint_file_that_is_no_regular_file_is_refused_before_reading(tmp_path, name, kind):
    # Old code read config.pkl with read_bytes and state.pt with torch.load(path): a symlink to
    # /dev/zero was read until memory ran out, a FIFO blocked in open() until some writer came
    # (here the helper thread, after which it said "corrupt"), /dev/null was "corrupt (EOFError".
    import threading
    import time

    algo = CONFIGS["PPO"]()
    folder = algo.save(tmp_path / "p")
    algo.stop()
    target = folder / name
    target.unlink()
    done = threading.Event()
    if kind == "device":
        target.symlink_to(os.devnull)
    else:
        os.mkfifo(target)

        def unblock_old_code():  # open the write end once a reader waits, then close it
            deadline = time.monotonic() + 5
            while not done.is_set() and time.monotonic() < deadline:
                try:
                    os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
                    return
                except OSError:
                    time.sleep(0.01)
        threading.Thread(target=unblock_old_code, daemon=True).start()
    try:
        with pytest.raises(CheckpointError) as err:
            PPO.restore(folder)
    finally:
        done.set()
    assert str(err.value) == f"{target}: not a regular file (a checkpoint file must be one)"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_restore_with_another_number_of_env_copies_per_worker_starts_fresh_envs(name, tmp_path):
    # the checkpoint's worker state holds 4 env copies; the restored worker steps 2 fresh ones
    algo = CONFIGS[name]()
    try:
        algo.train()
        algo.save(tmp_path / "ckpt")
    finally:
        algo.stop()
    resumed = type(algo).restore(tmp_path / "ckpt", num_envs_per_worker=2)
    try:
        steps = resumed.env_steps
        m = resumed.train()
        assert m["steps_this_iter"] == resumed.env_steps - steps > 0
        assert len(resumed.workers.local.envs) == 2
    finally:
        resumed.stop()


def test_the_progress_bar_of_a_restored_run_counts_the_env_steps_before_the_checkpoint(tmp_path, capsys):
    # Old code: the bar started at 0 whatever env_steps the run had: a run restored at 256 env
    # steps and trained to 512 ended with its bar at "256/512", 50%
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_envs_per_worker=2, rollout_steps=64,
                         minibatch_size=64, num_epochs=1))
    algo.learn(256, progress=False)
    algo.save(tmp_path / "ckpt")
    algo.stop()
    resumed = PPO.restore(tmp_path / "ckpt")
    try:
        capsys.readouterr()
        resumed.learn(512, progress=True)
    finally:
        resumed.stop()
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    assert "256/512" in bar[0] and "| 512/512 " in bar[-1], bar


class _HoldsALock(gym.Wrapper):
    """CartPole holding what pickle refuses (a lock; a simulator's handle, a socket)."""

    def __init__(self, env):
        super().__init__(env)
        self.lock = threading.Lock()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_run_whose_env_cannot_be_pickled_saves_and_restores_with_fresh_envs(tmp_path, caplog,
                                                                               workers):
    # Old code: save() raised "TypeError: cannot pickle '_thread.lock' object" (TaskError with
    # a worker), so `train` lost the whole run at its end (no checkpoint: --out put back)
    config = DQNConfig(env=lambda cfg: _HoldsALock(gym.make("CartPole-v1")), seed=1,
                       num_rollout_workers=workers, hidden_sizes=(8,), learning_starts=8,
                       train_freq=16, gradient_steps=2, batch_size=8, n_step=3)
    algo = DQN(config)
    try:
        algo.train()
        assert not algo.buffer._data["dones"][15, 0]  # an episode still running
        with caplog.at_level(logging.WARNING, logger="rllib_lite"):
            algo.save(tmp_path / "ckpt")
        if workers == 0:  # a remote worker's warning is on its process's stderr
            assert "env copies cannot be saved (TypeError: cannot pickle '_thread.lock' object)" in caplog.text
        weights = [p.detach().clone() for p in algo.model.parameters()]
    finally:
        algo.stop()
    resumed = DQN.restore(tmp_path / "ckpt")
    try:
        assert resumed.env_steps == 16 and len(resumed.buffer) == 16
        assert all(torch.equal(p, q) for p, q in zip(weights, resumed.model.parameters()))
        resumed.train()
        # the envs started fresh: no n-step window runs from the old streams into the new ones
        assert resumed.buffer._data["dones"][15, 0]
    finally:
        resumed.stop()


class _CountsOpen(gym.Wrapper):
    """CartPole counting the copies made (built or unpickled) and not yet closed."""

    open = 0

    def __init__(self, env):
        super().__init__(env)
        _CountsOpen.open += 1

    def __setstate__(self, state):
        self.__dict__.update(state)
        _CountsOpen.open += 1

    def close(self):
        _CountsOpen.open -= 1
        super().close()


def test_restore_closes_the_env_copies_the_checkpoint_s_replace(tmp_path):
    # Old code: the rollout worker built its env copies, then set them aside for the
    # checkpoint's without closing them: each restore left one open per copy (a simulator's
    # process or file)
    config = PPOConfig(env=lambda cfg: _CountsOpen(gym.make("CartPole-v1")), seed=0,
                       num_envs_per_worker=2, rollout_steps=8, minibatch_size=16, num_epochs=1)
    _CountsOpen.open = 0
    algo = PPO(config)
    algo.train()
    algo.save(tmp_path / "ckpt")
    algo.stop()
    assert _CountsOpen.open == 0
    resumed = PPO.restore(tmp_path / "ckpt")
    resumed.train()
    resumed.stop()
    assert _CountsOpen.open == 0


def test_a_state_file_with_unreadable_worker_states_is_a_checkpoint_error(tmp_path):
    # Old code: pickle's UnpicklingError out of restore ("internal error", exit 1, in `evaluate`)
    algo = CONFIGS["PPO"]()
    folder = algo.save(tmp_path / "p")
    algo.stop()
    state = torch.load(folder / "state.pt", weights_only=False)
    state["workers"] = [b"\x80\x04garbage"]
    torch.save(state, folder / "state.pt")
    with pytest.raises(CheckpointError, match=r"state.pt does not match config.pkl \(UnpicklingError: "):
        PPO.restore(folder)
