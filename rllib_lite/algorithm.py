"""The parts PPO and DQN share: setup, the train() loop around an iteration, metrics,
evaluation, compute_action, and checkpoints.

A checkpoint is a folder (RLlib's layout):

* ``metadata.json``: algorithm name, format version, iteration, env steps, library version;
* ``config.json``: the config for people to read;
* ``config.pkl``: the config for ``restore`` (cloudpickle: it may hold env functions and models);
* ``state.pt``: weights, optimizer, counters, RNG states (learner and every worker, with the
  workers' env copies) and algorithm extras (target net, replay buffer), so a restored run's next
  iteration is the one the original would have run.

Only load checkpoints you trust: ``config.pkl`` and ``state.pt`` are pickles.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import pickle
import stat
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle
import numpy as np
import torch
from torch import nn

from ._memory import Need, check_needs, make_env_measured, settings
from .config import CommonConfig, json_safe, linear
from .masking import check_masks
from .models import build_user_model, state_dict_numpy
from .optim import flush_denormals
from .preprocessing import Preprocessor, extra_mask, tree_stack
from .rollout import (
    WorkerSet,
    WorkerSpec,
    action_masks_method,
    describe_env,
    describe_error,
    env_error,
    make_env,
    observe,
)

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
__version__ = "0.1.0"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, corrupt, or from another algorithm."""


class Algorithm:
    """Base class: subclasses set ``name``, ``config_cls`` and implement the hooks."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type] = CommonConfig

    def __init__(self, config: CommonConfig) -> None:
        if not isinstance(config, self.config_cls):
            raise TypeError(f"{type(self).__name__} needs a {self.config_cls.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config
        torch.set_num_threads(config.num_learner_threads)
        torch.manual_seed(config.seed)
        # the one env built before the memory check: it gives the spaces, and what a copy takes
        probe, self._env_bytes = make_env_measured(config.env, config.env_config)
        self._env_bytes_confirmed = False
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        structured = config.model is not None
        self.preprocessor = Preprocessor(self.observation_space, self.action_space, structured)
        self.num_actions = self.preprocessor.num_actions
        self._eval_envs: list[Any] = []
        # before the model, the buffers, the env copies and output_dir: sized from the config
        self._check_memory()
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7919]))
        self.iteration = 0
        self.env_steps = 0
        self.episodes = 0
        self.recent_returns: collections.deque = collections.deque(maxlen=config.metrics_window)
        self.recent_lengths: collections.deque = collections.deque(maxlen=config.metrics_window)
        self._setup()
        spec = WorkerSpec(
            env=config.env, env_config=config.env_config, num_envs=config.num_envs_per_worker,
            seed=config.seed, structured_obs=structured, policy_factory=self._remote_policy_factory(),
        )
        self.workers = WorkerSet(spec, config.num_rollout_workers, self._make_policy(self.model),
                                 config.sample_timeout_s, config.max_worker_restarts)
        if config.output_dir:
            try:
                out = Path(config.output_dir)
                out.mkdir(parents=True, exist_ok=True)
                (out / "config.json").write_text(
                    json.dumps({"algorithm": self.name, **config.to_json_dict()}, indent=2) + "\n")
            except BaseException:
                self.stop()  # the caller gets no algorithm to stop the workers (or the runtime) with
                raise

    # ---- hooks -------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Build self.model, optimizers and buffers."""
        raise NotImplementedError

    def _make_policy(self, model: nn.Module) -> Any:
        raise NotImplementedError

    def _storage_needs(self) -> list[Need]:
        """The storage a run fills (the rollout, the replay buffer and its sum tree, sampled
        batches), sized from the config before any of it is allocated."""
        return []

    def _default_model_params(self) -> int | None:
        """Parameters of the default model this config builds; None for a user model."""
        return None

    def _model_copies(self) -> int:
        """Copies of the model's parameters a run holds: the weights, their gradients, Adam's
        two moments, the pickled copy the rollout workers are built from; with remote
        workers, each worker's, and the weights sent each iteration (a numpy copy, and its
        copy in the object store)."""
        workers = self.config.num_rollout_workers
        return 5 + (workers + 2 if workers else 0)

    def _train_iteration(self) -> dict[str, Any]:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ---- building blocks ---------------------------------------------------------------------
    def _step_bytes(self) -> int:
        """Bytes one env step's observation and action mask take in storage (float32 features,
        bool mask; the same for flat and structured observations)."""
        return 4 * self.preprocessor.flat_dim + self.num_actions

    def _memory_needs(self, eval_episodes: int = 0, eval_setting: str = "eval_episodes") -> list[Need]:
        """What this run will allocate (see ``_memory``), with ``eval_episodes`` greedy
        evaluation env copies."""
        c = self.config
        copies = c.num_envs_per_worker * max(c.num_rollout_workers, 1)
        # each copy: the env, and its worker's current observation, mask and episode counters
        needs = [Need("env copies", settings(c, "num_envs_per_worker", "num_rollout_workers"),
                      copies * (self._env_bytes + self._step_bytes() + 16)),
                 *self._storage_needs()]
        params = self._default_model_params()
        if params is not None:
            needs.append(Need("model", settings(c, "hidden_sizes", "num_rollout_workers"),  # copies per worker
                              4 * params * self._model_copies()))
        if eval_episodes > len(self._eval_envs):
            # each copy: the env, its current observation and mask, and their stacked copy
            needs.append(Need("evaluation env copies", (f"{eval_setting}={eval_episodes}",),
                              eval_episodes * (self._env_bytes + 2 * self._step_bytes() + 16)))
        return needs

    def _check_memory(self, eval_episodes: int = 0, eval_setting: str = "eval_episodes") -> None:
        try:
            check_needs(self._memory_needs(eval_episodes, eval_setting))
        except MemoryError:
            if self._env_bytes_confirmed:
                raise
            # before refusing: the probe, the first env built, may have filled a cache that
            # later copies share; a second build measures what one more copy takes
            env, size = make_env_measured(self.config.env, self.config.env_config)
            env.close()
            self._env_bytes, self._env_bytes_confirmed = min(self._env_bytes, size), True
            check_needs(self._memory_needs(eval_episodes, eval_setting))

    def check_memory(self, eval_episodes: int = 0) -> None:
        """Raise ``MemoryError``, naming the settings behind the largest part, when what this
        run will allocate, with ``eval_episodes`` greedy evaluation env copies (``learn``'s and
        ``evaluate``'s), is more than this system can allocate. Construction checks it without
        the evaluation copies; ``evaluate`` checks before it builds more."""
        self._check_memory(eval_episodes)

    def _build_model(self, default: Any) -> nn.Module:
        if self.config.model is None:
            return default()
        return build_user_model(self.config.model, self.observation_space, self.action_space)

    def _remote_policy_factory(self) -> Any:
        model_bytes = cloudpickle.dumps(self.model)
        make_policy = type(self._make_policy(self.model))

        def factory() -> Any:
            return make_policy(pickle.loads(model_bytes))

        return factory

    def _progress(self) -> float:
        return self.env_steps / self.config.schedule_steps

    def _current_lr(self) -> float:
        if self.config.lr_schedule == "linear":
            return linear(self.config.lr, 0.0, self._progress())
        return self.config.lr

    def _sample(self, num_steps: int, act_kwargs: dict[str, Any]) -> dict[str, Any]:
        weights = state_dict_numpy(self.model) if self.workers.local is None else None
        batch = self.workers.sample(weights, num_steps, act_kwargs)
        self.env_steps += int(batch["rewards"].size)
        self.episodes += len(batch["episode_returns"])
        self.recent_returns.extend(batch["episode_returns"])
        self.recent_lengths.extend(batch["episode_lengths"])
        return batch

    # ---- public API --------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Run one iteration (sample, then learn); returns and logs its metrics."""
        out = self._iterate()
        self._log_metrics(out)
        return out

    def _iterate(self) -> dict[str, Any]:
        """One iteration, and its metrics (not yet logged)."""
        t0 = time.perf_counter()
        with flush_denormals(self.config.flush_denormals):
            metrics = self._train_iteration()
        self.iteration += 1
        seconds = time.perf_counter() - t0
        returns = list(self.recent_returns)
        out: dict[str, Any] = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "episode_return_mean": float(np.mean(returns)) if returns else None,
            "episode_return_min": float(np.min(returns)) if returns else None,
            "episode_return_max": float(np.max(returns)) if returns else None,
            "episode_length_mean": float(np.mean(self.recent_lengths)) if returns else None,
            **metrics,
            "iteration_seconds": seconds,
            "steps_per_second": metrics["steps_this_iter"] / seconds if seconds > 0 else None,
        }
        return out

    def _log_metrics(self, metrics: dict[str, Any]) -> None:
        """One line of ``output_dir/metrics.jsonl`` (NaN and infinities as null)."""
        if self.config.output_dir:
            with open(Path(self.config.output_dir) / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(json_safe(metrics)) + "\n")

    def learn(self, total_env_steps: int, stop_return: float | None = None,
              progress: bool | None = None, stop_eval_return: float | None = None,
              eval_every: int = 1024, eval_episodes: int = 10,
              eval_seed: int = 10_000) -> list[dict[str, Any]]:
        """Train until ``total_env_steps``, or until the windowed training return reaches
        ``stop_return``, or until a greedy evaluation (``evaluate(eval_episodes, eval_seed)``, each
        time once another ``eval_every`` env steps have been trained on) has a mean return of at
        least ``stop_eval_return``; with a tqdm bar on stderr when it is a terminal. An iteration
        followed by an evaluation has ``eval_return_mean`` in its history entry and in its line
        of ``metrics.jsonl``."""
        from tqdm import tqdm

        if eval_every < 1 or eval_episodes < 1:
            raise ValueError(f"eval_every and eval_episodes must be >= 1, got {eval_every} and {eval_episodes}")
        if stop_eval_return is not None:  # before training, not at the first evaluation
            self.check_memory(eval_episodes)
        show = sys.stderr.isatty() if progress is None else progress
        history = []
        next_eval = self.env_steps + eval_every
        # a restored run's bar starts at the env steps it has already taken
        with tqdm(total=total_env_steps, initial=self.env_steps, disable=not show, unit="step",
                  desc=self.name) as bar:
            while self.env_steps < total_env_steps:
                before = self.env_steps
                m = self._iterate()
                history.append(m)
                bar.update(self.env_steps - before)
                stop = False
                if m["episode_return_mean"] is not None:
                    bar.set_postfix(ret=f"{m['episode_return_mean']:.1f}")
                    stop = stop_return is not None and m["episode_return_mean"] >= stop_return
                if not stop and stop_eval_return is not None and self.env_steps >= next_eval:
                    next_eval = self.env_steps + eval_every
                    m["eval_return_mean"] = self.evaluate(eval_episodes, eval_seed)["episode_return_mean"]
                    bar.set_postfix(ret=f"{m['episode_return_mean'] or 0.0:.1f}",
                                    eval=f"{m['eval_return_mean']:.1f}")
                    stop = m["eval_return_mean"] >= stop_eval_return
                self._log_metrics(m)  # after the evaluation, so the line holds eval_return_mean
                if stop:
                    break
        return history

    def evaluate(self, episodes: int = 10, seed: int = 10_000) -> dict[str, Any]:
        """Greedy (masked argmax) returns of ``episodes`` episodes, run side by side."""
        if episodes > len(self._eval_envs):
            self._check_memory(episodes, "episodes")
        while len(self._eval_envs) < episodes:
            self._eval_envs.append(make_env(self.config.env, self.config.env_config))
        envs = self._eval_envs[:episodes]
        policy = self._make_policy(self.model)
        mask_fns = [action_masks_method(e) for e in envs]
        name = describe_env(self.config.env, envs[0])  # for errors; once, not at every step

        mask_source = f"{name}'s action_masks()"

        def where(i: int) -> str:
            return f"{name} (evaluation, episode {i})"

        def env_call(i: int, call: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
            # the env's own error, named as a rollout worker names it (EnvStepError)
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                raise env_error(where(i), call, err) from err

        def process(i: int, obs: Any) -> tuple[Any, np.ndarray]:
            return observe(self.preprocessor, envs[i], mask_fns[i], obs, lambda: where(i), mask_source)

        current = [process(i, env_call(i, "reset", env.reset, seed=seed + i)[0]) for i, env in enumerate(envs)]
        returns = np.zeros(episodes)
        lengths = np.zeros(episodes, dtype=np.int64)
        live = list(range(episodes))
        rng = np.random.default_rng(seed)
        while live:
            x = tree_stack([current[i][0] for i in live])
            masks = np.stack([current[i][1] for i in live])
            check_masks(masks, f"{name} (evaluation)")
            actions, _ = policy.act(x, masks, rng, 0.0, explore=False)
            still = []
            for a, i in zip(actions, live):
                obs, r, term, trunc, _ = env_call(i, "step", envs[i].step, int(a) + self.preprocessor.action_start)
                returns[i] += r
                lengths[i] += 1
                if term or trunc:
                    continue
                current[i] = process(i, obs)
                still.append(i)
            live = still
        return {"episode_return_mean": float(returns.mean()), "episode_return_min": float(returns.min()),
                "episode_return_max": float(returns.max()), "episode_length_mean": float(lengths.mean()),
                "episode_returns": returns.tolist()}

    def compute_action(self, obs: Any, explore: bool = False, action_mask: Any = None) -> int:
        """The action for one raw observation, greedy unless ``explore``; masked by the
        observation's "action_mask" and by ``action_mask`` (for envs with ``action_masks()``)."""
        try:
            x, mask = self.preprocessor(obs)
        except Exception as err:
            raise ValueError(f"the observation given to compute_action does not fit the observation "
                             f"space {self.observation_space}: {describe_error(err, 300)}") from err
        if action_mask is not None:
            mask = extra_mask(mask, action_mask, "compute_action's action_mask")
        check_masks(mask[None], "the observation given to compute_action (with its action_mask argument)")
        x = tree_stack([x])
        policy = self._make_policy(self.model)
        if explore:
            policy.configure(epsilon=getattr(self, "epsilon", 0.0))
        actions, _ = policy.act(x, mask[None], self.rng, 0.0, explore=explore)
        return int(actions[0]) + self.preprocessor.action_start

    def stop(self) -> None:
        """Shut the rollout workers down and close the evaluation env copies (a later
        ``evaluate`` builds new ones)."""
        self.workers.stop()
        envs, self._eval_envs = self._eval_envs, []
        for env in envs:
            env.close()

    # ---- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint folder at ``path``; returns it."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "counters": {"iteration": self.iteration, "env_steps": self.env_steps,
                         "episodes": self.episodes},
            "recent": (list(self.recent_returns), list(self.recent_lengths)),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "workers": self.workers.get_state(),
            "num_workers": self.config.num_rollout_workers,
            "extra": self._extra_state(),
        }
        tmp = folder / "state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, folder / "state.pt")
        (folder / "config.pkl").write_bytes(cloudpickle.dumps(self.config))
        (folder / "config.json").write_text(
            json.dumps({"algorithm": self.name, **self.config.to_json_dict()}, indent=2) + "\n")
        meta = {"algorithm": self.name, "format_version": CHECKPOINT_FORMAT,
                "rllib_lite_version": __version__, "iteration": self.iteration,
                "env_steps": self.env_steps, "saved_at": time.time()}
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def restore(cls, path: str | os.PathLike, **overrides: Any) -> Algorithm:
        """Rebuild an algorithm from a checkpoint folder; ``overrides`` replace config fields
        (e.g. ``num_rollout_workers``, ``output_dir``). Restored into an ``output_dir`` whose
        ``metrics.jsonl`` goes past the checkpoint, the later lines move to
        ``metrics.superseded.jsonl``, so no iteration is logged twice."""
        import dataclasses

        folder = Path(path)
        meta = read_metadata(folder)
        algo_cls = _registry().get(meta["algorithm"])
        if algo_cls is None:
            raise CheckpointError(f"{folder}: unknown algorithm {meta['algorithm']!r} in metadata.json")
        if cls is not Algorithm and algo_cls is not cls:
            raise CheckpointError(
                f"{folder} is a {meta['algorithm']} checkpoint, not {cls.name}: "
                f"restore it with {meta['algorithm']}.restore")
        try:
            with _open_regular(folder / "config.pkl") as fh:
                config = pickle.loads(fh.read())
            with _open_regular(folder / "state.pt") as fh:
                state = torch.load(fh, weights_only=False)
        except CheckpointError:
            raise
        except FileNotFoundError as err:
            raise CheckpointError(f"{folder}: checkpoint is incomplete, {Path(err.filename).name} is missing") from None
        except Exception as err:  # unpickling garbage raises many kinds of errors
            raise CheckpointError(f"{folder}: checkpoint is corrupt ({type(err).__name__}: {err})") from None
        if not isinstance(config, algo_cls.config_cls):  # another run's file, or no config at all
            held = "None" if config is None else f"a {type(config).__name__}"
            raise CheckpointError(f"{folder / 'config.pkl'}: holds {held}, not the "
                                  f"{algo_cls.config_cls.__name__} of a {algo_cls.name} checkpoint")
        if overrides:
            config = dataclasses.replace(config, **overrides)
        algo = algo_cls(config)
        try:
            algo.model.load_state_dict(state["model"])
            c = state["counters"]
            algo.iteration, algo.env_steps, algo.episodes = c["iteration"], c["env_steps"], c["episodes"]
            algo.recent_returns.extend(state["recent"][0])
            algo.recent_lengths.extend(state["recent"][1])
            algo.rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            algo.workers.set_state(state["workers"])
            algo._load_extra_state(state["extra"])
        except (KeyError, TypeError, ValueError, RuntimeError, pickle.UnpicklingError, EOFError,
                AttributeError, IndexError) as err:
            # e.g. state.pt from another run or algorithm, a user model whose code changed, or
            # worker states (pickles) that do not read
            algo.stop()
            raise CheckpointError(f"{folder}: state.pt does not match config.pkl "
                                  f"({describe_error(err, limit=300)})") from None
        if algo.config.output_dir:
            _rewind_metrics(Path(algo.config.output_dir), algo.iteration)
        return algo


def _rewind_metrics(out: Path, iteration: int) -> None:
    """Make ``out/metrics.jsonl`` end at ``iteration``, a restored run's, so the iterations it
    runs next are not logged twice: the lines of later iterations (a run that went on past the
    checkpoint, then stopped) and a torn last line (one cut off mid-write, which the next line
    would be glued to) move to ``metrics.superseded.jsonl`` beside it, nothing is dropped."""
    path = out / "metrics.jsonl"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    keep: list[str] = []
    moved: list[str] = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):  # torn mid-write
            moved.append(line + "\n")
            continue
        try:
            later = json.loads(line)["iteration"] > iteration
        except (ValueError, KeyError, TypeError, RecursionError):  # not ours: keep it there
            later = False
        (moved if later else keep).append(line)
    if not moved:
        return
    with open(out / "metrics.superseded.jsonl", "a") as fh:
        fh.writelines(moved)
    tmp = out / "metrics.jsonl.tmp"
    tmp.write_text("".join(keep))
    os.replace(tmp, path)
    logger.warning("%s: moved %d line(s) past iteration %d (the restored checkpoint's) to %s",
                   path, len(moved), iteration, out / "metrics.superseded.jsonl")


def _open_regular(path: Path) -> Any:
    """``path`` opened for reading (binary) if it is a regular file; a device, pipe or folder
    there (or a symlink to one) is a CheckpointError: ``/dev/zero`` would be read until memory
    ran out, and a FIFO would block ``open`` forever waiting for a writer."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: not a regular file (a checkpoint file must be one)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_metadata(folder: Path) -> dict[str, Any]:
    """metadata.json of a checkpoint folder, checked."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{folder}: not a checkpoint (no metadata.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except OSError as err:  # a file that fails to read (an I/O error, a special file)
        raise CheckpointError(f"{meta_path}: cannot read it ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_path}: corrupt metadata ({err})") from None
    except RecursionError:
        raise CheckpointError(f"{meta_path}: corrupt metadata (JSON nested too deep)") from None
    except ValueError:  # past Python's limit on the digits of an integer it converts
        raise CheckpointError(f"{meta_path}: corrupt metadata (an integer of more than "
                              f"{sys.get_int_max_str_digits()} digits)") from None
    if not isinstance(meta, dict) or "algorithm" not in meta:
        raise CheckpointError(f"{meta_path}: corrupt metadata (no 'algorithm' field)")
    if not isinstance(meta["algorithm"], str):
        raise CheckpointError(f"{meta_path}: corrupt metadata ('algorithm' is not a name: "
                              f"{json.dumps(meta['algorithm'])[:60]})")
    if meta.get("format_version") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{meta_path}: unsupported checkpoint format {meta.get('format_version')!r}")
    return meta


def _registry() -> dict[str, type]:
    from .dqn import DQN
    from .ppo import PPO

    return {"PPO": PPO, "DQN": DQN}
