"""A user's own env and model going wrong: empty masks, envs that raise or return NaN, model
outputs of the wrong shape, and NaN metrics; each gives one clear error (or valid JSON)."""
from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np
import pytest
from torch import nn

from rllib_lite import DQN, PPO, DQNConfig, NoValidActionError, PPOConfig
from rllib_lite.__main__ import main
from rllib_lite.policies import ModelOutputError
from rllib_lite.rollout import EnvError, EnvStepError, make_env

TINY_PPO = dict(rollout_steps=16, num_envs_per_worker=1, minibatch_size=16, num_epochs=1)
TINY_DQN = dict(learning_starts=0, train_freq=16, gradient_steps=1, batch_size=8, buffer_size=64,
                exploration_steps=1, epsilon_initial=0.0, epsilon_final=0.0)


class MaskEnv(gym.Env):
    """Dict obs with a Discrete leaf and an action mask, actions 5..7; from step ``empty_at`` on
    the mask allows nothing. ``fail`` makes step raise at step 3, or return a NaN reward."""

    def __init__(self, cfg=None):
        cfg = cfg or {}
        self.empty_at, self.fail = cfg.get("empty_at", 10**9), cfg.get("fail")
        self.action_space = gym.spaces.Discrete(3, start=5)
        self.observation_space = gym.spaces.Dict(
            {"obs": gym.spaces.Discrete(4), "action_mask": gym.spaces.MultiBinary(3)})
        self.t = 0

    def _obs(self):
        mask = np.zeros(3, np.int8) if self.t >= self.empty_at else np.ones(3, np.int8)
        return {"obs": self.t % 4, "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        assert 5 <= action <= 7
        self.t += 1
        if self.fail == "raise" and self.t == 3:
            raise RuntimeError("simulator crashed")
        reward = float("nan") if self.fail == "nan" and self.t == 3 else 1.0
        return self._obs(), reward, self.t >= 6, False, {}


def make_mask_env(cfg):
    return MaskEnv(cfg)


ALGOS = [(PPO, PPOConfig, TINY_PPO), (DQN, DQNConfig, TINY_DQN)]


@pytest.mark.parametrize("cls,cfg_cls,kw", ALGOS)
def test_an_empty_mask_is_one_error_naming_the_env_in_train_evaluate_and_compute_action(cls, cfg_cls, kw):
    algo = cls(cfg_cls(env=make_mask_env, env_config={"empty_at": 2}, seed=0, **kw))
    try:
        with pytest.raises(NoValidActionError, match="MaskEnv"):
            algo.train()
        # evaluation and compute_action used to take action 0 (argmax of all -inf) silently
        with pytest.raises(NoValidActionError, match="MaskEnv.*evaluation"):
            algo.evaluate(2)
        with pytest.raises(NoValidActionError, match="compute_action"):
            algo.compute_action({"obs": 1, "action_mask": np.zeros(3, np.int8)})
        with pytest.raises(NoValidActionError, match="compute_action"):
            algo.compute_action({"obs": 1, "action_mask": np.array([1, 0, 0], np.int8)},
                                action_mask=[False, True, True])
        assert algo.compute_action({"obs": 1, "action_mask": np.array([0, 1, 0], np.int8)}) == 6
    finally:
        algo.stop()


@pytest.mark.parametrize("workers", [0, 1])
def test_an_env_that_raises_in_step_is_one_error_naming_the_env(workers):
    algo = PPO(PPOConfig(env=make_mask_env, env_config={"fail": "raise"}, seed=0,
                         num_rollout_workers=workers, **TINY_PPO))
    try:
        with pytest.raises(EnvStepError, match=r"MaskEnv.*worker \d, env copy 0.*step\(\).*simulator crashed"):
            algo.train()
    finally:
        algo.stop()


def test_a_nan_reward_is_an_error_not_nan_weights():
    algo = PPO(PPOConfig(env=make_mask_env, env_config={"fail": "nan"}, seed=0, **TINY_PPO))
    try:
        with pytest.raises(EnvStepError, match="MaskEnv.*reward nan"):
            algo.train()
    finally:
        algo.stop()


class WrongWidth(nn.Module):
    def __init__(self, n, ppo):
        super().__init__()
        self.ppo = ppo
        self.q = nn.Linear(4, n)

    def forward(self, x):
        out = self.q(x)
        return (out, out[:, 0]) if self.ppo else out


@pytest.mark.parametrize("cls,cfg_cls,kw,pattern", [
    (PPO, PPOConfig, TINY_PPO, r"PPO model must return \(logits \(1, 2\), value \(1,\)\), got one output of shape \(1, 2\)"),
    (DQN, DQNConfig, TINY_DQN, r"DQN model must return q_values of shape \(1, 2\), got \(1, 3\)"),
])
def test_a_user_model_of_the_wrong_shape_names_expected_and_got(cls, cfg_cls, kw, pattern):
    # PPO's model returns only logits; DQN's has 3 outputs for CartPole's 2 actions
    model = WrongWidth(2, ppo=False) if cls is PPO else WrongWidth(3, ppo=False)
    algo = cls(cfg_cls(env="CartPole-v1", model=model, seed=0, **kw))
    try:
        with pytest.raises(ModelOutputError, match=pattern):
            algo.train()
    finally:
        algo.stop()


class ColumnValue(nn.Module):
    """The common slip: the value head's (batch, 1) not squeezed to (batch,)."""

    def __init__(self):
        super().__init__()
        self.pi, self.vf = nn.Linear(4, 2), nn.Linear(4, 1)

    def forward(self, x):
        return self.pi(x), self.vf(x)


def test_a_ppo_value_of_shape_batch_by_1_is_named_not_a_broadcasting_error():
    algo = PPO(PPOConfig(env="CartPole-v1", model=ColumnValue(), seed=0, **TINY_PPO))
    try:
        with pytest.raises(ModelOutputError, match=r"value \(1,\)\), got \(logits \(1, 2\), value \(1, 1\)\)"):
            algo.train()
    finally:
        algo.stop()


def test_a_model_output_error_in_a_remote_worker_is_raised_as_itself():
    # Old code: the runtime's TaskError(ModelOutputError), whose message was the worker's whole
    # remote traceback, where 0 workers raise the ModelOutputError itself (as for env errors)
    algo = PPO(PPOConfig(env="CartPole-v1", model=ColumnValue(), seed=0, num_rollout_workers=1,
                         **TINY_PPO))
    try:
        with pytest.raises(ModelOutputError) as err:
            algo.train()
    finally:
        algo.stop()
    assert type(err.value) is ModelOutputError
    assert str(err.value) == ("PPO model must return (logits (1, 2), value (1,)), "
                              "got (logits (1, 2), value (1, 1))")


def test_nan_metrics_are_written_as_valid_json(tmp_path):
    class NaNLoss(nn.Module):
        """Logits fine, value NaN: the value loss (and explained variance) is NaN."""

        def __init__(self):
            super().__init__()
            self.pi = nn.Linear(4, 2)

        def forward(self, x):
            return self.pi(x), self.pi(x)[:, 0] * float("nan")

    algo = PPO(PPOConfig(env="CartPole-v1", model=NaNLoss(), seed=0, output_dir=str(tmp_path),
                         **TINY_PPO))
    try:
        m = algo.train()
    finally:
        algo.stop()
    assert np.isnan(m["value_loss"])
    line = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]

    def refuse(constant):
        raise ValueError(f"bare {constant} is not JSON")

    row = json.loads(line, parse_constant=refuse)
    assert row["value_loss"] is None and row["env_steps"] == 16


def test_cli_a_registered_env_that_raises_is_exit_2_with_one_line_naming_it(tmp_path, capsys):
    env_id = "rllib_lite_test/Crashing-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=lambda **kw: MaskEnv({"fail": "raise"}))
    code = main(["train", "ppo", "--env", env_id, "--out", str(tmp_path / "r"), "--total-env-steps", "16",
                 "--rollout-steps", "16", "--num-envs-per-worker", "1", "--minibatch-size", "16"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert env_id in err and "simulator crashed" in err


class OneValidNested(gym.Env):
    """Nested Dict observations (MultiBinary, Discrete with start, Box) and actions -2..1 of
    which exactly one is valid, a different one each step; a masked action raises."""

    def __init__(self, cfg=None):
        self.action_space = gym.spaces.Discrete(4, start=-2)
        self.observation_space = gym.spaces.Dict({
            "a": gym.spaces.Dict({"bits": gym.spaces.MultiBinary(3), "d": gym.spaces.Discrete(5, start=1)}),
            "b": gym.spaces.Box(-1, 1, (2,)), "action_mask": gym.spaces.MultiBinary(4)})
        self.t = 0

    def _obs(self):
        mask = np.zeros(4, np.int8)
        mask[self.t % 4] = 1
        return {"a": {"bits": np.array([1, 0, self.t % 2], np.int8), "d": 1 + self.t % 5},
                "b": np.zeros(2, np.float32), "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        if action != self.t % 4 - 2:
            raise ValueError(f"action {action} is masked at step {self.t}")
        self.t += 1
        return self._obs(), 1.0, self.t >= 7, False, {}


class NestedNet(nn.Module):
    def __init__(self, observation_space, action_space, ppo):
        super().__init__()
        self.ppo = ppo
        self.pi = nn.Linear(10, action_space.n)
        self.vf = nn.Linear(10, 1)

    def forward(self, x):
        import torch

        h = torch.cat([x["a"]["bits"], x["a"]["d"], x["b"]], -1)
        return (self.pi(h), self.vf(h).squeeze(-1)) if self.ppo else self.pi(h)


@pytest.mark.parametrize("cls,cfg_cls,kw", [
    (PPO, PPOConfig, dict(rollout_steps=16, num_envs_per_worker=2, minibatch_size=16, num_epochs=1)),
    (DQN, DQNConfig, dict(learning_starts=0, train_freq=16, gradient_steps=1, batch_size=8, buffer_size=64)),
])
def test_nested_dict_observations_with_two_workers_and_a_user_model_factory(cls, cfg_cls, kw):
    # concat_batches joined only one level of Dict: two workers failed with
    # "zero-dimensional arrays cannot be concatenated"
    ppo = cls is PPO
    algo = cls(cfg_cls(env=lambda cfg: OneValidNested(cfg), seed=0, num_rollout_workers=2,
                       model=lambda o, a: NestedNet(o, a, ppo), **kw))
    try:
        m = algo.train()
        assert m["steps_this_iter"] == (64 if ppo else 16)
        assert algo.evaluate(2)["episode_return_mean"] == 7.0
        obs, _ = OneValidNested().reset()
        assert algo.compute_action(obs) == -2 and algo.compute_action(obs, explore=True) == -2
    finally:
        algo.stop()


class ResetFailsInWorkers(gym.Env):
    """Resets in the learner's process (the probe) but raises in a rollout worker's."""

    def __init__(self, cfg):
        self.main_pid = cfg["main_pid"]
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.spaces.Box(-1, 1, (2,))

    def reset(self, *, seed=None, options=None):
        import os

        if os.getpid() != self.main_pid:
            raise OSError("license server\nunreachable")
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


def test_an_env_that_raises_while_a_remote_worker_starts_is_an_env_step_error_and_stops_the_rest():
    # the runtime reported it as ActorDiedError (with a remote traceback) and the workers set up
    # so far, and the runtime they started, were left running
    import os

    import runtime

    was_running = runtime.is_initialized()
    with pytest.raises(EnvStepError, match=r"ResetFailsInWorkers.*reset\(\): OSError: license server unreachable"):
        PPO(PPOConfig(env=lambda cfg: ResetFailsInWorkers(cfg), env_config={"main_pid": os.getpid()},
                      seed=0, num_rollout_workers=2, **TINY_PPO))
    assert runtime.is_initialized() == was_running


class ShortMasks(gym.Env):
    """action_masks() holds one entry for 3 actions: numpy broadcast it, allowing every action."""

    def __init__(self, cfg=None):
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(-1, 1, (2,))

    def action_masks(self):
        return np.array([True])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


def test_an_action_masks_method_or_argument_of_the_wrong_length_is_an_error_not_broadcast():
    from rllib_lite import UnsupportedSpaceError

    with pytest.raises(UnsupportedSpaceError, match=r"ShortMasks.*action_masks\(\) has shape \(1,\), expected \(3,\)"):
        PPO(PPOConfig(env=lambda cfg: ShortMasks(cfg), seed=0, **TINY_PPO))
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, **TINY_PPO))
    try:
        with pytest.raises(UnsupportedSpaceError, match=r"action_mask has shape \(1,\), expected \(2,\)"):
            algo.compute_action(np.zeros(4, np.float32), action_mask=[True])
        assert algo.compute_action(np.zeros(4, np.float32), action_mask=[False, True]) == 1
    finally:
        algo.stop()



class MasksCrash(ShortMasks):
    """action_masks() raises on the 3rd step of an episode (a live one)."""

    def action_masks(self):
        if self.t == 2:
            raise RuntimeError("mask table missing")
        return np.ones(3, bool)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed)

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), 1.0, self.t == 5, False, {}


@pytest.mark.parametrize("workers", [0, 1])
def test_an_action_masks_method_that_raises_is_one_error_naming_the_env(workers):
    # Old code: the env's own RuntimeError (TaskError with a worker), where an env that raises
    # in step() is an EnvStepError naming the env, the worker and the env copy
    algo = PPO(PPOConfig(env=lambda cfg: MasksCrash(cfg), seed=0, num_rollout_workers=workers,
                         **TINY_PPO))
    try:
        with pytest.raises(EnvStepError) as err:
            algo.train()
    finally:
        algo.stop()
    assert type(err.value) is EnvStepError
    assert str(err.value) == ("env MasksCrash (from test_an_action_masks_method_that_raises_is_one_error_"
                              "naming_the_env.<locals>.<lambda>) (rollout worker 0, env copy 0) raised "
                              "in action_masks(): RuntimeError: mask table missing")


@pytest.mark.parametrize("make, call", [
    (lambda cfg: MaskEnv({"fail": "raise"}), "step(): RuntimeError: simulator crashed"),
    (lambda cfg: MasksCrash(cfg), "action_masks(): RuntimeError: mask table missing"),
])
def test_an_env_that_raises_in_evaluate_is_one_error_naming_the_env(make, call):
    # Old code: the env's own exception out of evaluate() (`train`'s final evaluation: "internal
    # error", exit 1), where the same env raising while sampling is an EnvStepError, exit 2
    algo = PPO(PPOConfig(env=make, seed=0, **TINY_PPO))
    try:
        with pytest.raises(EnvStepError) as err:
            algo.evaluate(2)
    finally:
        algo.stop()
    assert re.fullmatch(r"env \w+ \(from .*<lambda>\) \(evaluation, episode 0\) raised in "
                        + re.escape(call), str(err.value)), str(err.value)


OFF_SPACES = {"long": gym.spaces.Box(-1, 1, (4,)), "not_an_array": gym.spaces.Box(-1, 1, (4,)),
              "discrete_out_of_range": gym.spaces.Discrete(5),
              "discrete_negative": gym.spaces.Discrete(5),
              "dict_key_missing": gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)),
                                                   "action_mask": gym.spaces.MultiBinary(2)}),
              "mask_short": gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)),
                                             "action_mask": gym.spaces.MultiBinary(2)})}
OFF_OBS = {"long": np.zeros(5, np.float32), "not_an_array": {"x": 1}, "discrete_out_of_range": 7,
           "discrete_negative": -1, "dict_key_missing": {"action_mask": np.ones(2, np.int8)},
           "mask_short": {"a": np.zeros(2, np.float32), "action_mask": np.ones(1, np.int8)}}


class OffSpace(gym.Env):
    """Its third observation (``OFF_OBS[kind]``) does not fit its observation space."""

    def __init__(self, kind):
        self.kind, self.observation_space = kind, OFF_SPACES[kind]
        self.action_space = gym.spaces.Discrete(2)

    def _fitting(self):
        obs = self.observation_space.sample()
        if isinstance(obs, dict):
            obs["action_mask"][:] = 1
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._fitting(), {}

    def step(self, action):
        self.t += 1
        obs = OFF_OBS[self.kind] if self.t == 2 else self._fitting()
        return obs, 1.0, self.t == 4, False, {}


@pytest.mark.parametrize("kind, problem", [
    ("long", "ValueError: 5 values, not the 4 of Box(-1.0, 1.0, (4,), float32)"),
    ("not_an_array", "TypeError: float() argument must be a string or a real number, not 'dict'"),
    ("discrete_out_of_range", "ValueError: 7 is not in Discrete(5)"),
    ("discrete_negative", "ValueError: -1 is not in Discrete(5)"),
    ("dict_key_missing", "KeyError: 'a'"),
    ("mask_short", "ValueError: 1 values, not the 2 of the action mask"),
])
@pytest.mark.parametrize("cls, cfg_cls, kw", ALGOS)
def test_an_observation_off_its_space_is_one_error_naming_the_env(kind, problem, cls, cfg_cls, kw):
    # Old code: numpy's error from deep inside (internal error, exit 1 on the command line):
    # "matmul: Input operand 1 has a mismatch in its core dimension 0 ..." or "all input arrays
    # must have the same shape" for 5 values, "float() argument must be ..., not 'dict'", an
    # IndexError for Discrete 7, a silent one-hot of the last state for Discrete -1
    algo = cls(cfg_cls(env=lambda cfg: OffSpace(cfg["kind"]), env_config={"kind": kind}, seed=0, **kw))
    try:
        with pytest.raises(EnvStepError) as err:
            algo.train()
        space = str(OFF_SPACES[kind])
        assert str(err.value).endswith(
            f"(rollout worker 0, env copy 0) returned an observation that does not fit its "
            f"observation space {space}: {problem}"), str(err.value)
        with pytest.raises(EnvStepError) as err:
            algo.evaluate(1)
        assert str(err.value).endswith(
            f"(evaluation, episode 0) returned an observation that does not fit its observation "
            f"space {space}: {problem}"), str(err.value)
        with pytest.raises(ValueError, match=re.escape(f"the observation given to compute_action does not "
                                                       f"fit the observation space {space}: {problem}")):
            algo.compute_action(OFF_OBS[kind])
    finally:
        algo.stop()


class NaNAt(gym.Env):
    """Observations of 0.5 but NaN at step ``at`` of an episode, which ends at step 3 (``end``:
    terminated or truncated) or runs on (``end`` None)."""

    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, at, end):
        self.at, self.end = at, end

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        over = self.end is not None and self.t == 3
        obs = np.full(2, np.nan if self.t == self.at else 0.5, np.float32)
        return obs, 1.0, over and self.end == "terminated", over and self.end == "truncated", {}


@pytest.mark.parametrize("at, end, raises", [
    (3, "truncated", True),     # the final observation, bootstrapped from
    (16, None, True),           # the last one of the sample call: PPO's V(s_T), DQN's next state
    (3, "terminated", False),   # a terminal one: nothing reads it
])
@pytest.mark.parametrize("cls, cfg_cls, kw", ALGOS)
def test_a_nan_observation_the_update_reads_is_an_error_not_nan_weights(at, end, raises, cls, cfg_cls,
                                                                        kw):
    # Old code: only the observations acted on were checked, so a NaN final observation of a
    # truncated episode, or the last of a sample call, went into the targets: DQN's weights went
    # NaN silently, PPO's too (and the next rollout blamed the model for NaN logits)
    import torch

    algo = cls(cfg_cls(env=lambda cfg: NaNAt(cfg["at"], cfg["end"]), env_config={"at": at, "end": end},
                       seed=0, **kw))
    try:
        if raises:
            with pytest.raises(EnvStepError, match=r"NaNAt .*\(rollout worker 0\) returned an "
                                                   r"observation holding NaN or infinity"):
                algo.train()
        else:
            algo.train()
            assert all(torch.isfinite(p).all() for p in algo.model.parameters())
    finally:
        algo.stop()

def test_the_errors_are_importable_from_the_package():
    import rllib_lite

    for name in rllib_lite.__all__:  # every public name resolves (the lazy map names its module)
        getattr(rllib_lite, name)
    from rllib_lite import EnvStepError, ModelOutputError, NoValidActionError  # noqa: F401


def test_describe_error_is_one_line_and_names_the_type():
    from rllib_lite.rollout import describe_error

    assert describe_error(ValueError("bad\n  value\tthere")) == "ValueError: bad value there"
    assert describe_error(KeyError()) == "KeyError"  # no dangling ": " for an empty message
    assert describe_error(RuntimeError("x" * 500), limit=300) == "RuntimeError: " + "x" * 297 + "..."


@pytest.mark.parametrize("command", ["check-env", "train"])
def test_cli_an_env_config_value_the_env_cannot_take_is_exit_2_naming_env_and_error(tmp_path, capsys, command):
    # the old code: exit 1, "internal error: AttributeError: 'int' object has no attribute
    # 'endswith'" (gym.make reads render_mode as a string)
    args = (["check-env", "CartPole-v1"] if command == "check-env" else
            ["train", "ppo", "--env", "CartPole-v1", "--out", str(tmp_path / "r"), "--total-env-steps", "16"])
    code = main([*args, "--env-config", '{"render_mode": 3}'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0] == ("rllib_lite: error: env 'CartPole-v1' with env_config {\"render_mode\": 3}: "
                      "AttributeError: 'int' object has no attribute 'endswith'")
    assert not (tmp_path / "r").exists()


class _BrokenConstructor(gym.Env):
    def __init__(self, **kwargs):
        raise RuntimeError("constructor bug")


def test_an_env_constructor_raising_without_env_config_is_not_blamed_on_the_user():
    # only errors over a user's env_config are bad input; with none, the error stays as raised
    env_id = "rllib_lite_test/BrokenConstructor-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=_BrokenConstructor)
    with pytest.raises(RuntimeError, match="constructor bug"):
        make_env(env_id)
    with pytest.raises(EnvError, match=r"with env_config \{\"x\": 1\}: RuntimeError: constructor bug"):
        make_env(env_id, {"x": 1})


class CountsCloses(gym.Wrapper):
    closed = 0

    def close(self):
        CountsCloses.closed += 1
        super().close()


def test_stop_closes_the_evaluation_env_copies_too():
    # Old code: stop() closed the rollout workers' env copies only; evaluate()'s stayed open (a
    # simulator's processes or files held until the interpreter exited)
    algo = PPO(PPOConfig(env=lambda cfg: CountsCloses(gym.make("CartPole-v1")), seed=0, **TINY_PPO))
    CountsCloses.closed = 0
    algo.evaluate(3)
    algo.stop()
    assert CountsCloses.closed == 1 + 3  # the worker's env copy and the three evaluation copies
