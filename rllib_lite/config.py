"""Settings shared by every algorithm, and the field checks their ``__post_init__`` use.

Each algorithm's config (``PPOConfig``, ``DQNConfig``) extends ``CommonConfig`` with its own fields;
all are frozen dataclasses and every check names the field it rejects.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from .models import ModelSpec
from .rollout import EnvSpec


class ConfigError(ValueError):
    """A config field is out of range or of the wrong kind."""


def check(ok: bool, cls_name: str, name: str, problem: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{cls_name}.{name} {problem}, got {value!r}")


@dataclass(frozen=True)
class CommonConfig:
    """Fields every algorithm has."""

    env: EnvSpec = "CartPole-v1"
    """A registered gymnasium id, or a function ``env_config -> gymnasium.Env``."""
    env_config: dict = field(default_factory=dict)
    """Keyword arguments for ``gymnasium.make`` or the env function."""
    seed: int = 0
    """Seeds model init, env copies (per worker and restart) and all sampling."""
    num_rollout_workers: int = 0
    """Runtime actors that sample; 0 samples in the learner's process."""
    num_envs_per_worker: int = 1
    """Env copies each worker steps in lock step (one batched forward per step)."""
    model: ModelSpec = None
    """A torch.nn.Module or a factory (obs_space, action_space) -> Module; None: default MLP."""
    hidden_sizes: tuple = (64, 64)
    """Hidden layer widths of the default MLP."""
    activation: str = "tanh"
    """Activation of the default MLP: "tanh" or "relu"."""
    gamma: float = 0.99
    """Discount factor."""
    lr: float = 3e-4
    """Adam learning rate (initial value when lr_schedule is "linear")."""
    lr_schedule: str = "constant"
    """"constant", or "linear" to 0 over schedule_steps env steps."""
    schedule_steps: int = 100_000
    """Env steps over which linear schedules run."""
    max_grad_norm: Optional[float] = 0.5
    """Clip the global gradient norm to this; None: no clipping."""
    num_learner_threads: int = 1
    """torch intra-op threads in the learner; 1 is fastest for small MLPs on a few cores."""
    metrics_window: int = 100
    """Episodes over which the return mean/min/max are reported."""
    output_dir: Optional[str] = None
    """Where config.json and metrics.jsonl go; None writes nothing."""
    sample_timeout_s: Optional[float] = None
    """A remote worker that takes longer than this for one sample call is replaced."""
    max_worker_restarts: int = 100
    """Give up after this many worker replacements in total."""

    def _validate_common(self) -> None:
        n = type(self).__name__
        check(isinstance(self.env, str) or callable(self.env), n, "env",
              "must be a gymnasium id or a function returning an env", self.env)
        check(isinstance(self.env_config, dict), n, "env_config", "must be a dict", self.env_config)
        check(isinstance(self.seed, int) and self.seed >= 0, n, "seed", "must be an int >= 0", self.seed)
        check(isinstance(self.num_rollout_workers, int) and self.num_rollout_workers >= 0, n,
              "num_rollout_workers", "must be an int >= 0", self.num_rollout_workers)
        check(isinstance(self.num_envs_per_worker, int) and self.num_envs_per_worker >= 1, n,
              "num_envs_per_worker", "must be an int >= 1", self.num_envs_per_worker)
        check(all(isinstance(h, int) and h > 0 for h in self.hidden_sizes), n, "hidden_sizes",
              "must be positive ints", self.hidden_sizes)
        check(self.activation in ("tanh", "relu"), n, "activation", 'must be "tanh" or "relu"',
              self.activation)
        check(0.0 <= self.gamma <= 1.0, n, "gamma", "must be in [0, 1]", self.gamma)
        check(self.lr > 0, n, "lr", "must be > 0", self.lr)
        check(self.lr_schedule in ("constant", "linear"), n, "lr_schedule",
              'must be "constant" or "linear"', self.lr_schedule)
        check(self.schedule_steps >= 1, n, "schedule_steps", "must be >= 1", self.schedule_steps)
        check(self.max_grad_norm is None or self.max_grad_norm > 0, n, "max_grad_norm",
              "must be > 0 or None", self.max_grad_norm)
        check(self.num_learner_threads >= 1, n, "num_learner_threads", "must be >= 1",
              self.num_learner_threads)
        check(self.metrics_window >= 1, n, "metrics_window", "must be >= 1", self.metrics_window)
        check(self.sample_timeout_s is None or self.sample_timeout_s > 0, n, "sample_timeout_s",
              "must be > 0 or None", self.sample_timeout_s)
        check(self.max_worker_restarts >= 0, n, "max_worker_restarts", "must be >= 0",
              self.max_worker_restarts)
        if self.model is not None:
            import torch

            check(isinstance(self.model, torch.nn.Module) or callable(self.model), n, "model",
                  "must be a torch.nn.Module or a factory returning one", self.model)

    def to_json_dict(self) -> dict[str, Any]:
        """The config as JSON values; functions and modules become their qualified names."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                json.dumps(value)
            except TypeError:
                value = f"<{type(value).__module__}.{getattr(value, '__qualname__', type(value).__qualname__)}>"
            out[f.name] = value
        return out


def linear(start: float, end: float, progress: float) -> float:
    """start + (end - start) * clip(progress, 0, 1)."""
    return start + (end - start) * min(max(progress, 0.0), 1.0)
