"""Learning tests (marker ``learning``): PPO and DQN solve CartPole-v1 on 0 and 2 rollout workers.

Solved: mean return >= 475 over 10 greedy evaluation episodes, checked every 1024 env steps, within
an env-step budget (rl-zoo's: 100k for PPO, 50k for DQN). Fixed seeds; no wall-time assertions.
The config defaults are rl-zoo's CartPole-v1 hyperparameters (as in benchmarks/rl_cartpole.py).
"""
from __future__ import annotations

import pytest

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig

BUDGET = {"PPO": 100_000, "DQN": 50_000}


@pytest.mark.learning
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", ["PPO", "DQN"])
def test_solves_cartpole(name, workers):
    if workers:
        pytest.importorskip("runtime")
    if name == "PPO":  # 8 env copies in total, as rl-zoo's n_envs
        algo = PPO(PPOConfig(seed=0, num_rollout_workers=workers, num_envs_per_worker=8 // max(workers, 1)))
    else:
        algo = DQN(DQNConfig(seed=0, num_rollout_workers=workers))
    score, next_eval = 0.0, 1024
    try:
        while algo.env_steps < BUDGET[name]:
            algo.train()
            if algo.env_steps >= next_eval:
                next_eval += 1024
                score = algo.evaluate(10)["episode_return_mean"]
                if score >= 475:
                    break
    finally:
        algo.stop()
    assert score >= 475, f"{name} with {workers} workers: eval return {score} after {algo.env_steps} steps"
