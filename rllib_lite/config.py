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


# The field checks every config runs, each over several fields: "each of these is an int >= 1",
# "each of these is in [0, 1]", ... The error names the config class and the field.

def check_ints(cfg: Any, minimum: int, *names: str) -> None:
    """Each named field is an int >= ``minimum``."""
    for name in names:
        value = getattr(cfg, name)
        check(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
              type(cfg).__name__, name, f"must be an int >= {minimum}", value)


def check_range(cfg: Any, low: float, high: float, *names: str, open_low: bool = False,
                optional: bool = False) -> None:
    """Each named field is a number in [low, high] (``(low, high]`` with ``open_low``; None
    allowed with ``optional``); ``high`` may be ``inf``."""
    bounds = f"{'(' if open_low else '['}{low:g}, {high:g}]"
    problem = f"must be in {bounds}" if high != float("inf") else f"must be {'>' if open_low else '>='} {low:g}"
    if optional:
        problem += " or None"
    for name in names:
        value = getattr(cfg, name)
        if value is None and optional:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            (low < value if open_low else low <= value) and value <= high)
        check(ok, type(cfg).__name__, name, problem, value)


def check_choice(cfg: Any, name: str, *choices: str) -> None:
    """The named field is one of ``choices``."""
    value = getattr(cfg, name)
    check(value in choices, type(cfg).__name__, name,
          "must be " + " or ".join(f'"{c}"' for c in choices), value)


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
    flush_denormals: bool = True
    """Treat float subnormals (below 1.2e-38) as zero in the learner's thread while training: the
    Adam moments of dead ReLU units decay there and make x86 arithmetic 10-100x slower; False
    keeps strict IEEE arithmetic."""
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
        check_ints(self, 0, "seed", "num_rollout_workers", "max_worker_restarts")
        check_ints(self, 1, "num_envs_per_worker", "num_learner_threads", "metrics_window")
        check_range(self, 1.0, float("inf"), "schedule_steps")
        check(all(isinstance(h, int) and h > 0 for h in self.hidden_sizes), n, "hidden_sizes",
              "must be positive ints", self.hidden_sizes)
        check_choice(self, "activation", "tanh", "relu")
        check(isinstance(self.flush_denormals, bool), n, "flush_denormals", "must be a bool",
              self.flush_denormals)
        check_choice(self, "lr_schedule", "constant", "linear")
        check_range(self, 0.0, 1.0, "gamma")
        check_range(self, 0.0, float("inf"), "lr", open_low=True)
        check_range(self, 0.0, float("inf"), "max_grad_norm", "sample_timeout_s", open_low=True,
                    optional=True)
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
