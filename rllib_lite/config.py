"""The algorithms' settings: ``CommonConfig``, ``PPOConfig``, ``DQNConfig``, and the field checks
their ``__post_init__`` use.

Each algorithm's config extends ``CommonConfig`` with its own fields; all are frozen dataclasses
and every check names the field it rejects. This module imports neither torch nor the algorithms,
so the command line reads its flags (one per field) without paying for torch's import.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # annotations only: importing these would import torch
    from .models import ModelSpec
    from .rollout import EnvSpec


#: Seeds torch takes: ``torch.manual_seed`` overflows past an unsigned 64-bit integer.
SEED_LIMIT = 1 << 64


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
    problem = (f"must be in {bounds}" if high != float("inf")
               else f"must be a finite number {'>' if open_low else '>='} {low:g}")
    if optional:
        problem += " or None"
    for name in names:
        value = getattr(cfg, name)
        if value is None and optional:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
            (low < value if open_low else low <= value) and value <= high)
        check(ok, type(cfg).__name__, name, problem, value)


def check_choice(cfg: Any, name: str, *choices: str) -> None:
    """The named field is one of ``choices``."""
    value = getattr(cfg, name)
    check(value in choices, type(cfg).__name__, name,
          "must be " + " or ".join(f'"{c}"' for c in choices), value)


def linear(start: float, end: float, progress: float) -> float:
    """start + (end - start) * clip(progress, 0, 1)."""
    return start + (end - start) * min(max(progress, 0.0), 1.0)


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
        check(self.seed < SEED_LIMIT, n, "seed", "must be < 2**64 (torch.manual_seed's range)", self.seed)
        check_ints(self, 1, "num_envs_per_worker", "num_learner_threads", "metrics_window")
        # the windows are deques, whose maxlen is a C ssize_t (OverflowError past it)
        check(self.metrics_window < 1 << 63, n, "metrics_window", "must be < 2**63", self.metrics_window)
        cores = os.cpu_count() or 1
        # torch starts them all at once: 100000 crashed the process (SIGSEGV, no message)
        check(self.num_learner_threads <= cores, n, "num_learner_threads",
              f"must be at most the {cores} CPU cores here", self.num_learner_threads)
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


@dataclass(frozen=True)
class PPOConfig(CommonConfig):
    """PPO settings (defaults: rl-zoo's CartPole-v1 PPO, with 8 env copies)."""

    num_envs_per_worker: int = 8
    lr: float = 1e-3
    lr_schedule: str = "linear"
    gamma: float = 0.98
    rollout_steps: int = 32
    """Steps per env copy per iteration (SB3's n_steps)."""
    minibatch_size: int = 256
    """Samples per gradient step."""
    num_epochs: int = 20
    """Passes over each iteration's samples."""
    gae_lambda: float = 0.8
    """GAE lambda."""
    clip_range: float = 0.2
    """Surrogate clip epsilon (initial value when clip_schedule is "linear")."""
    clip_schedule: str = "linear"
    """"constant", or "linear" to 0 over schedule_steps env steps."""
    vf_clip_range: Optional[float] = None
    """Clip the value prediction to old value +- this; None: plain squared error."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    target_kl: Optional[float] = None
    """Stop the epochs when the approximate KL exceeds 1.5x this; None: never."""

    def __post_init__(self) -> None:
        self._validate_common()
        check_ints(self, 1, "rollout_steps", "num_epochs")
        check_ints(self, 2, "minibatch_size")
        check_range(self, 0.0, 1.0, "gae_lambda")
        check_range(self, 0.0, 1.0, "clip_range", open_low=True)
        check_choice(self, "clip_schedule", "constant", "linear")
        check_range(self, 0.0, float("inf"), "vf_coef", "ent_coef")
        check_range(self, 0.0, float("inf"), "vf_clip_range", "target_kl", open_low=True, optional=True)


@dataclass(frozen=True)
class DQNConfig(CommonConfig):
    """DQN settings (defaults: rl-zoo's CartPole-v1 DQN)."""

    lr: float = 2.3e-3
    hidden_sizes: tuple = (256, 256)
    activation: str = "relu"
    max_grad_norm: float = 10.0
    schedule_steps: int = 50_000
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    learning_starts: int = 1000
    """Env steps of pure exploration before the first update."""
    batch_size: int = 64
    """Transitions per gradient step."""
    train_freq: int = 256
    """Env steps sampled per iteration (across all env copies)."""
    gradient_steps: int = 128
    """Gradient steps per iteration."""
    target_update_interval: int = 10
    """Env steps between target updates."""
    tau: float = 1.0
    """Target update coefficient: 1 copies (hard), < 1 is Polyak averaging."""
    double_q: bool = False
    """Double DQN targets."""
    dueling: bool = False
    """Dueling value/advantage head on the default MLP."""
    n_step: int = 1
    """Steps per return before bootstrapping."""
    epsilon_initial: float = 1.0
    """Exploration epsilon at step 0."""
    epsilon_final: float = 0.04
    """Exploration epsilon after exploration_steps."""
    exploration_steps: int = 8000
    """Env steps over which epsilon decays linearly."""
    prioritized_replay: bool = False
    """Proportional prioritized replay."""
    prioritized_alpha: float = 0.6
    """Priority exponent alpha."""
    prioritized_beta: float = 0.4
    """Importance-sampling exponent beta at step 0; anneals to 1 over schedule_steps."""

    def __post_init__(self) -> None:
        self._validate_common()
        n = type(self).__name__
        check_ints(self, 1, "buffer_size", "batch_size", "train_freq", "target_update_interval", "n_step")
        check_ints(self, 0, "learning_starts", "gradient_steps", "exploration_steps")
        check_range(self, 0.0, 1.0, "tau", open_low=True)
        check_range(self, 0.0, 1.0, "epsilon_initial", "epsilon_final", "prioritized_alpha",
                    "prioritized_beta")
        check(self.train_freq >= self.num_envs_per_worker * max(self.num_rollout_workers, 1), n,
              "train_freq", "must be >= the number of env copies (one step each per iteration)",
              self.train_freq)
        check(self.buffer_size >= self.batch_size, n, "buffer_size", "must be >= batch_size",
              self.buffer_size)
        check(not (self.dueling and self.model is not None), n, "dueling",
              "applies to the default MLP only (a user model builds its own head)", self.dueling)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None: ``json.dumps`` would write
    them as bare ``NaN``/``Infinity``, which JSON readers (jq, pandas, JavaScript) reject."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
