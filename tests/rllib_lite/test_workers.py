"""Rollout workers as runtime actors: same batches as in-process, replacement of dead workers."""
from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.models import state_dict_numpy

runtime = pytest.importorskip("runtime")


def test_two_workers_sample_train_and_a_killed_one_is_replaced():
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_rollout_workers=2, num_envs_per_worker=2,
                         rollout_steps=16, minibatch_size=32, num_epochs=2))
    try:
        m = algo.train()
        assert m["steps_this_iter"] == 2 * 2 * 16 and algo.env_steps == 64
        assert m["policy_loss"] is not None
        runtime.kill(algo.workers.remote[1])
        assert algo.train()["steps_this_iter"] == 64
        assert algo.workers.restarts == [0, 1]
    finally:
        algo.stop()


def test_worker_weights_follow_the_learner():
    algo = DQN(DQNConfig(env="CartPole-v1", seed=0, num_rollout_workers=1, hidden_sizes=(8,),
                         learning_starts=0, train_freq=16, gradient_steps=2))
    try:
        algo.train()
        algo.train()  # the learner's weights changed after the last sample call
        worker = algo.workers.remote[0]
        before = runtime.get(worker.get_weights.remote())
        mine = state_dict_numpy(algo.model)
        assert any(not np.array_equal(before[k], mine[k]) for k in mine)
        algo._sample(4, {"epsilon": 0.0})  # one put of the weights, then the worker loads them
        after = runtime.get(worker.get_weights.remote())
        assert all(np.array_equal(after[k], mine[k]) for k in mine)
    finally:
        algo.stop()


class CrashOnce(gym.Wrapper):
    """CartPole whose worker process dies at step 5, the first time only (a marker file)."""

    def __init__(self, marker):
        super().__init__(gym.make("CartPole-v1"))
        self.marker, self.t = marker, 0

    def step(self, action):
        self.t += 1
        if self.t == 5 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return self.env.step(action)


def test_a_worker_that_dies_is_replaced_and_sampling_continues(tmp_path):
    marker = str(tmp_path / "crashed")
    algo = PPO(PPOConfig(env=lambda cfg: CrashOnce(cfg["marker"]), env_config={"marker": marker},
                         seed=0, num_rollout_workers=1, num_envs_per_worker=2, rollout_steps=16,
                         minibatch_size=32, num_epochs=1))
    try:
        m = algo.train()
        assert os.path.exists(marker)
        assert m["steps_this_iter"] == 32
        assert sum(algo.workers.restarts) == 1
        assert np.isfinite(algo.train()["policy_loss"])
    finally:
        algo.stop()


def test_exact_resume_with_a_remote_worker(tmp_path):
    config = PPOConfig(env="CartPole-v1", seed=4, num_rollout_workers=1, num_envs_per_worker=2,
                       rollout_steps=16, minibatch_size=16, num_epochs=2)
    algo = PPO(config)
    try:
        algo.train()
        algo.save(tmp_path / "ckpt")
        expected = algo.train()
    finally:
        algo.stop()
    resumed = PPO.restore(tmp_path / "ckpt")
    try:
        got = resumed.train()
    finally:
        resumed.stop()
    for key in ("env_steps", "episodes", "episode_return_mean", "policy_loss", "value_loss", "approx_kl"):
        assert expected[key] == got[key], key


def _not_an_env_in_workers(cfg):
    """An env creator that works in the driver and returns no env in a worker process."""
    if os.getpid() != cfg["main_pid"]:
        return 42
    return gym.make("CartPole-v1")


def _start_failing_workers():
    from rllib_lite import EnvError

    with pytest.raises(EnvError, match="env function returned int, not a gymnasium.Env") as info:
        PPO(PPOConfig(env=_not_an_env_in_workers, env_config={"main_pid": os.getpid()}, seed=0,
                      num_rollout_workers=2, num_envs_per_worker=1, rollout_steps=16,
                      minibatch_size=16, num_epochs=1))
    assert type(info.value) is EnvError  # the worker's own exception (the actor error's cause)


def test_a_worker_constructor_env_error_is_raised_as_itself():
    was_running = runtime.is_initialized()
    _start_failing_workers()
    assert runtime.is_initialized() == was_running


_ON_RAY = pytest.mark.skipif("ray" not in os.environ.get("RUNTIME_TEST_BACKENDS", ""),
                             reason="Ray runs only when RUNTIME_TEST_BACKENDS names it (CI's Ray "
                                    "step)")


@_ON_RAY
def test_a_worker_constructor_env_error_is_raised_as_itself_on_ray():
    # Ray words an actor's constructor failure its own way: only the ActorDiedError's cause
    # (not its text) gives the EnvError back
    pytest.importorskip("ray")
    runtime.init(backend="ray", num_cpus=2)
    try:
        _start_failing_workers()
    finally:
        runtime.shutdown()


@_ON_RAY
def test_rollout_workers_on_ray(tmp_path):
    """The same rollout workers as Ray actors: batches as on the local runtime, and a worker whose
    process dies (os._exit) or that is killed is replaced."""
    pytest.importorskip("ray")
    runtime.init(backend="ray", num_cpus=2)
    try:
        config = PPOConfig(env="CartPole-v1", seed=3, num_rollout_workers=2, num_envs_per_worker=2,
                           rollout_steps=16, minibatch_size=32, num_epochs=2)
        algo = PPO(config)
        try:
            got = [algo.train() for _ in range(2)]
            runtime.kill(algo.workers.remote[0])
            assert algo.train()["steps_this_iter"] == 64 and algo.workers.restarts == [1, 0]
        finally:
            algo.stop()
        marker = str(tmp_path / "crashed")
        crashy = PPO(PPOConfig(env=lambda cfg: CrashOnce(cfg["marker"]), env_config={"marker": marker},
                               seed=0, num_rollout_workers=1, num_envs_per_worker=2, rollout_steps=16,
                               minibatch_size=32, num_epochs=1))
        try:
            assert crashy.train()["steps_this_iter"] == 32 and os.path.exists(marker)
            assert crashy.workers.restarts == [1]
        finally:
            crashy.stop()
    finally:
        runtime.shutdown()
    # the runtime's own actors give the same iterations: seeds, not the backend, decide them
    local = PPO(config)
    try:
        expected = [local.train() for _ in range(2)]
    finally:
        local.stop()
    for e, g in zip(expected, got):
        for key in ("env_steps", "episode_return_mean", "policy_loss", "value_loss"):
            assert e[key] == g[key], key


def _crash_once_then_unbuildable(cfg):
    """CrashOnce, whose replacement cannot be built: its env creator raises once the marker exists."""
    if os.path.exists(cfg["marker"]):
        raise OSError("simulator licence server unreachable")
    return CrashOnce(cfg["marker"])


def test_a_replacement_worker_whose_constructor_fails_is_not_retried_over_and_over(tmp_path):
    algo = PPO(PPOConfig(env=_crash_once_then_unbuildable, env_config={"marker": str(tmp_path / "crashed")},
                         seed=0, num_rollout_workers=1, num_envs_per_worker=1, rollout_steps=16,
                         minibatch_size=16, num_epochs=1, max_worker_restarts=5))
    try:
        with pytest.raises(Exception, match="simulator licence server unreachable") as info:
            algo.train()
        assert "died 6 times" not in str(info.value)  # the old way: every restart tried
        assert algo.workers.restarts == [1]
    finally:
        algo.stop()


def _window_of_the_old_streams_last_step(algo, row):
    """The n-step sample starting at buffer row ``row`` (env column 0), and that row's own
    next observation: the old env stream ends there."""
    sample = algo.buffer.gather(np.array([row * algo.buffer.num_envs]))
    return sample, algo.buffer._data["next_obs"][row, 0]


def test_n_step_windows_stop_where_a_replaced_worker_s_env_stream_ends():
    # the replacement's envs start new episodes: a window from the dead worker's last steps must
    # not run on into them as if it were the same episode
    algo = DQN(DQNConfig(env="CartPole-v1", seed=2, num_rollout_workers=1, hidden_sizes=(8,),
                         learning_starts=10**6, train_freq=8, n_step=3, gamma=0.5))
    try:
        algo.train()
        assert not algo.buffer._data["dones"][:8, 0].any()  # one episode, still running at step 8
        runtime.kill(algo.workers.remote[0])
        algo.train()
        assert algo.workers.restarts == [1]
        sample, next_obs = _window_of_the_old_streams_last_step(algo, 7)
        assert sample["discounts"][0] == 0.5  # one step, then bootstrap from the old env's obs
        assert not sample["terminated"][0]
        np.testing.assert_array_equal(sample["next_obs"][0], next_obs)
        assert algo.buffer.gather(np.array([6]))["discounts"][0] == 0.25  # two steps
    finally:
        algo.stop()


def test_n_step_windows_stop_where_a_restore_on_another_worker_count_starts_fresh_envs(tmp_path):
    # 2 workers of 1 env copy restored as 1 worker of 2: the buffer's layout (2 columns) fits, but
    # the envs start fresh (the checkpoint has 2 worker states for 1 worker)
    config = DQNConfig(env="CartPole-v1", seed=2, num_rollout_workers=2, hidden_sizes=(8,),
                       learning_starts=10**6, train_freq=16, n_step=3, gamma=0.5)
    algo = DQN(config)
    try:
        algo.train()
        assert not algo.buffer._data["dones"][:8, 0].any()
        algo.save(tmp_path / "ckpt")
    finally:
        algo.stop()
    resumed = DQN.restore(tmp_path / "ckpt", num_rollout_workers=1, num_envs_per_worker=2)
    try:
        assert len(resumed.buffer) == 16
        resumed.train()
        sample, next_obs = _window_of_the_old_streams_last_step(resumed, 7)
        assert sample["discounts"][0] == 0.5
        np.testing.assert_array_equal(sample["next_obs"][0], next_obs)
    finally:
        resumed.stop()


def test_a_constructor_that_fails_after_starting_its_workers_stops_them(tmp_path):
    # Old code: an output_dir that cannot be made (under a file) raised after the rollout
    # workers had started, and the caller, with no algorithm to stop, was left with the
    # workers and the runtime they had started
    was_running = runtime.is_initialized()
    (tmp_path / "a_file").write_text("")
    with pytest.raises(NotADirectoryError):
        PPO(PPOConfig(env="CartPole-v1", seed=0, num_rollout_workers=1, num_envs_per_worker=1,
                      rollout_steps=8, minibatch_size=8, num_epochs=1,
                      output_dir=str(tmp_path / "a_file" / "run")))
    assert runtime.is_initialized() == was_running


def test_stopping_one_of_two_algorithms_leaves_the_runtime_to_the_other():
    # Old code: the first algorithm's workers started the runtime and its stop() shut it down
    # under the second, whose worker died ("rollout worker 0 died ...; starting replacement #1",
    # its env copies lost) and whose replacement started a runtime nothing shut down
    if runtime.is_initialized():
        pytest.skip("a runtime the algorithms did not start is never shut down by them")
    config = PPOConfig(env="CartPole-v1", seed=0, num_rollout_workers=1, num_envs_per_worker=1,
                       rollout_steps=8, minibatch_size=8, num_epochs=1)
    first, second = PPO(config), PPO(config)
    try:
        first.train()
        second.train()
        first.stop()
        assert runtime.is_initialized()
        second.train()
        assert second.workers.restarts == [0]
    finally:
        first.stop()
        second.stop()
    assert not runtime.is_initialized()  # the last one to stop shuts it down
