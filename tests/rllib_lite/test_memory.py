"""The memory check at construction: it covers what a run allocates (env copies, rollout and
replay storage, the priority sum tree, sampled batches, the model with its gradients and Adam
moments, evaluation env copies), refuses before allocating or building env copies, and names
the setting behind the largest part."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.__main__ import main

# past every address space (128 TiB), so refused under any overcommit setting
_COPIES = 10**7  # of a 64 MiB env: 640 TiB
_HEAVY_ID = "rllib_lite_test/Heavy-v0"


class HeavyEnv(gym.Env):
    """A CartPole-sized env holding 64 MiB (allocated, never touched: no physical memory);
    refuses to be built more than ``limit`` times (the probe, one copy, one more built to size a
    copy before refusing, one evaluation copy), so a run that builds its copies anyway fails
    at once instead of filling memory."""

    built = 0
    limit = 4

    def __init__(self, cfg=None):
        HeavyEnv.built += 1
        if HeavyEnv.built > HeavyEnv.limit:
            raise RuntimeError(f"env copy #{HeavyEnv.built} built: the memory check let it through")
        self.ballast = np.zeros(64 << 20, dtype=np.uint8)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        return np.zeros(4, np.float32), 1.0, True, False, {}


@pytest.fixture
def heavy():
    HeavyEnv.built = 0
    if _HEAVY_ID not in gym.registry:
        gym.register(id=_HEAVY_ID, entry_point=lambda **kw: HeavyEnv())
    return HeavyEnv


def _cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


def test_env_copies_that_cannot_fit_are_refused_naming_the_field_before_any_copy_is_built(heavy):
    # the old check sized the rollout only (450 MB here) and let the worker build its copies
    with pytest.raises(MemoryError, match=rf"num_envs_per_worker={_COPIES} needs .* \(env copies "):
        PPO(PPOConfig(env=lambda cfg: HeavyEnv(), num_envs_per_worker=_COPIES, rollout_steps=1))
    assert heavy.built == 2  # the probe, which every run builds to read the spaces, and one more to size a copy


def test_cli_env_copies_that_cannot_fit_are_one_line_exit_2_and_leave_no_folder(tmp_path, capsys, heavy):
    code, lines = _cli(capsys, "train", "ppo", "--out", str(tmp_path / "run"), "--env", _HEAVY_ID,
                       "--total-env-steps", "16", "--num-envs-per-worker", str(_COPIES),
                       "--rollout-steps", "1")
    assert code == 2 and len(lines) == 1, lines
    assert "not enough memory" in lines[0] and f"num_envs_per_worker={_COPIES}" in lines[0], lines
    assert heavy.built == 2 and not (tmp_path / "run").exists()  # the probe, and a copy measured


def test_evaluation_env_copies_that_cannot_fit_are_refused_before_they_are_built(heavy):
    algo = PPO(PPOConfig(env=lambda cfg: HeavyEnv(), num_envs_per_worker=1, rollout_steps=16,
                         minibatch_size=16, num_epochs=1))
    try:
        assert heavy.built == 2  # the probe and the one copy
        with pytest.raises(MemoryError, match=rf"episodes={_COPIES} needs .* \(evaluation env copies "):
            algo.evaluate(_COPIES)
        # learn checks before training, not at its first evaluation
        with pytest.raises(MemoryError, match=rf"eval_episodes={_COPIES} needs "):
            algo.learn(64, stop_eval_return=1.0, eval_episodes=_COPIES)
        assert heavy.built == 3 and algo.env_steps == 0  # and one more built to size a copy
        assert algo.evaluate(1)["episode_return_mean"] == 1.0  # a size that fits still runs
    finally:
        algo.stop()


def test_the_priority_sum_tree_is_sized_before_it_is_allocated():
    # the old code allocated the tree (2 PiB) in _setup, before its check: numpy's "Unable to
    # allocate" message, without the setting
    with pytest.raises(MemoryError, match=r"buffer_size=100000000000000 .*priority sum tree 2 PiB"):
        DQN(DQNConfig(env="CartPole-v1", buffer_size=10**14, prioritized_replay=True))


@pytest.mark.parametrize("field", ["buffer_size", "n_step"])
def test_a_size_past_int64_with_prioritized_replay_is_a_memory_error_naming_it(field):
    # the sum tree's leaves came from numpy's log2, which refuses a Python int past int64:
    # "TypeError: loop of ufunc does not support argument 0 of type int" (CLI: internal error, exit 1)
    with pytest.raises(MemoryError, match=rf"^{field}={10**30} needs .*priority sum tree "):
        DQN(DQNConfig(env="CartPole-v1", prioritized_replay=True, **{field: 10**30}))


@pytest.mark.parametrize("cls,cfg_cls,field,part", [(PPO, PPOConfig, "num_rollout_workers", "model"),
                                                    (DQN, DQNConfig, "n_step", "minibatches")])
def test_the_error_names_the_setting_that_made_the_largest_part_large(cls, cfg_cls, field, part):
    # the model's copies grow with the workers and the minibatches with n_step, but the old
    # code named the part's other settings: 'hidden_sizes=64,64 needs ...' (workers=10**30),
    # 'gradient_steps=128 and batch_size=64 need ...' (n_step=10**30)
    with pytest.raises(MemoryError, match=rf"^{field}={10**30} needs .* of memory in all \({part} "):
        cls(cfg_cls(env="CartPole-v1", **{field: 10**30}))


@pytest.mark.parametrize("cls,cfg_cls", [(PPO, PPOConfig), (DQN, DQNConfig)])
def test_hidden_sizes_too_large_for_memory_are_refused_before_torch_allocates(cls, cfg_cls):
    # the old code: torch's RuntimeError "DefaultCPUAllocator: can't allocate memory"
    with pytest.raises(MemoryError, match=r"hidden_sizes=10000000000000 needs .* \(model "):
        cls(cfg_cls(env="CartPole-v1", hidden_sizes=(10**13,)))


def test_cli_hidden_sizes_too_large_for_memory_is_one_line_exit_2_naming_the_field(tmp_path, capsys):
    # the old code: "internal error: RuntimeError: [enforce fail at alloc_cpu.cpp...", exit 1
    code, lines = _cli(capsys, "train", "dqn", "--out", str(tmp_path / "run"), "--total-env-steps", "16",
                       "--hidden-sizes", "64,10000000000000")
    assert code == 2 and len(lines) == 1, lines
    assert "not enough memory" in lines[0] and "hidden_sizes=64,10000000000000 needs" in lines[0], lines
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("prioritized", [False, True])
def test_replay_and_model_needs_are_the_sizes_allocated(prioritized):
    algo = DQN(DQNConfig(env="rllib_lite/MaskedPick-v0", num_envs_per_worker=2, buffer_size=100,
                         n_step=3, learning_starts=0, train_freq=16, gradient_steps=1, batch_size=8,
                         prioritized_replay=prioritized, dueling=True, hidden_sizes=(16, 8)))
    try:
        algo.train()
        needs = {n.what: n.size for n in algo._memory_needs()}
        stored = sum(a.nbytes for v in algo.buffer._data.values()
                     for a in (v.values() if isinstance(v, dict) else [v]))
        assert needs["replay buffer"] == stored
        if prioritized:
            assert needs["priority sum tree"] == algo.buffer.tree.tree.nbytes
        params = sum(p.numel() for p in algo.model.parameters())
        assert algo._default_model_params() == params
        assert needs["model"] == 4 * params * 6  # weights, gradients, 2 moments, pickled, target
    finally:
        algo.stop()


def test_ppo_model_needs_count_the_default_models_parameters():
    algo = PPO(PPOConfig(env="rllib_lite/MaskedPick-v0", num_envs_per_worker=1, hidden_sizes=(16, 8)))
    try:
        assert algo._default_model_params() == sum(p.numel() for p in algo.model.parameters())
    finally:
        algo.stop()


def test_a_user_model_is_not_sized_before_it_is_built():
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs_per_worker=1,
                         model=lambda obs, act: _TwoHeads()))
    try:
        assert "model" not in {n.what for n in algo._memory_needs()}
    finally:
        algo.stop()


class _TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.pi, self.vf = torch.nn.Linear(4, 2), torch.nn.Linear(4, 1)

    def forward(self, obs):
        return self.pi(obs), self.vf(obs).squeeze(-1)


@pytest.mark.parametrize("cls,cfg_cls", [(PPO, PPOConfig), (DQN, DQNConfig)])
def test_default_runs_need_little_so_the_check_refuses_no_normal_run(cls, cfg_cls):
    algo = cls(cfg_cls(env="CartPole-v1"))
    try:
        assert sum(n.size for n in algo._memory_needs(10)) < 32 << 20
    finally:
        algo.stop()


def test_cli_evaluation_env_copies_that_cannot_fit_are_refused_before_training(tmp_path, capsys, heavy):
    # the old code trained, saved the checkpoint and only then built the evaluation's copies
    out = tmp_path / "run"
    code, lines = _cli(capsys, "train", "ppo", "--out", str(out), "--env", _HEAVY_ID, "--total-env-steps",
                       "16", "--num-envs-per-worker", "1", "--rollout-steps", "16", "--minibatch-size", "16",
                       "--eval-episodes", str(_COPIES))
    assert code == 2 and len(lines) == 1, lines
    assert f"eval_episodes={_COPIES} needs" in lines[0], lines
    assert heavy.built == 3 and not out.exists()


class CachingEnv(HeavyEnv):
    """The first build fills a 1 GiB cache (never touched) that every later copy shares."""

    cache = None

    def __init__(self, cfg=None):
        HeavyEnv.built += 1
        if HeavyEnv.built > HeavyEnv.limit:
            raise RuntimeError(f"env copy #{HeavyEnv.built} built: the memory check let it through")
        if CachingEnv.cache is None:
            CachingEnv.cache = np.zeros(1 << 30, dtype=np.uint8)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)


def test_a_cache_the_first_env_fills_is_not_counted_for_every_copy(heavy):
    # 200,000 copies of the first build's 1 GiB (195 TiB) would be refused; a second build
    # takes a few KiB, so the check lets the copies be built (here: until the env refuses)
    CachingEnv.cache = None
    try:
        with pytest.raises(RuntimeError, match="the memory check let it through"):
            PPO(PPOConfig(env=lambda cfg: CachingEnv(), num_envs_per_worker=200_000, rollout_steps=1))
    finally:
        CachingEnv.cache = None


def test_worker_processes_are_checked_against_what_is_available():
    from rllib_lite._memory import check_worker_processes

    check_worker_processes(4, 100, 300)  # the first is running: three more of 100 fit in 300
    check_worker_processes(10**6, 100, None)  # memory unknown (not Linux): no check
    with pytest.raises(MemoryError, match=r"num_rollout_workers=4 needs 400 B for its worker "
                                          r"processes \(100 B each, measured on the first\)"):
        check_worker_processes(4, 100, 299)


def _small_machine(monkeypatch, size):
    from rllib_lite import _memory
    from rllib_lite._memory import process_bytes

    if process_bytes() is None:
        pytest.skip("process memory is read from /proc (Linux)")
    monkeypatch.setattr(_memory, "available_bytes", lambda: size)


def test_worker_processes_that_cannot_fit_are_refused_once_the_first_is_measured(monkeypatch):
    # a worker process (torch, gymnasium, the env) holds about 150 MB; the old code started as
    # many as asked: --num-rollout-workers 400 on a 24 GiB machine ran it out of memory
    runtime = pytest.importorskip("runtime")
    _small_machine(monkeypatch, 64 << 20)
    started = runtime.is_initialized()
    with pytest.raises(MemoryError, match=r"^num_rollout_workers=4 needs .* for its worker processes "
                                          r"\(.* each, measured on the first\)") as raised:
        PPO(PPOConfig(env="CartPole-v1", num_rollout_workers=4, rollout_steps=8))
    each = raised.value.args[0].split("(")[1].split(" each")[0]
    assert each.endswith("MiB") and float(each.split()[0]) > 8, each  # a real process, measured
    assert runtime.is_initialized() == started  # the runtime it started is shut down again


def test_cli_worker_processes_that_cannot_fit_are_one_line_exit_2_and_leave_no_folder(
        tmp_path, capsys, monkeypatch):
    pytest.importorskip("runtime")
    _small_machine(monkeypatch, 64 << 20)
    code, lines = _cli(capsys, "train", "ppo", "--out", str(tmp_path / "run"), "--env",
                       "CartPole-v1", "--total-env-steps", "16", "--num-rollout-workers", "3")
    assert code == 2 and len(lines) == 1, lines
    assert "not enough memory" in lines[0] and "num_rollout_workers=3 needs" in lines[0], lines
    assert not (tmp_path / "run").exists()
