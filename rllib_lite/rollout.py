"""Sampling: a rollout worker steps E env copies with a policy; a worker set runs N of them.

``num_rollout_workers=0`` keeps one worker in the learner's process, sharing the learner's model
(no weight copies, debuggable with pdb). ``N > 0`` makes N runtime actors; each iteration the
learner puts its weights in the object store once and passes the same ref to every worker's
``sample``. A worker whose actor died (or timed out) is killed, replaced by a fresh actor whose
seeds derive from (seed, worker index, restart count), and asked again, so an iteration always
returns the same number of steps.

Batches are time-major ``(T, E, ...)``; the worker set concatenates workers along the env axis.
A batch's ``fresh`` (E,) says which env copies began new env streams in this call instead of
going on from the previous call's last step (a new or replaced worker, or a restore whose worker
states were not used): DQN's replay buffer must not join the two in one n-step window.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import re
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import cloudpickle
import gymnasium as gym
import numpy as np
import torch

from .masking import NoValidActionError, check_masks
from .models import load_state_dict_numpy, state_dict_numpy
from .policies import ModelOutputError
from .preprocessing import Preprocessor, extra_mask, tree_map, tree_stack, tree_zip_map

logger = logging.getLogger(__name__)

EnvCreator = Callable[[dict], gym.Env]
EnvSpec = Union[str, EnvCreator]


class EnvError(ValueError):
    """An env id that is not registered or whose code cannot be imported, or env_config it does
    not accept."""


class EnvStepError(RuntimeError):
    """An env raised in reset or step, or returned a non-finite reward or observation, while a
    rollout worker sampled; the message names the env, the worker and the env copy."""


def describe_env(env: EnvSpec, made: gym.Env | None = None) -> str:
    """``env 'Id-v0'`` for a registered id; the env class and creator function otherwise."""
    if isinstance(env, str):
        return f"env {env!r}"
    creator = getattr(env, "__qualname__", type(env).__name__)
    if made is None:
        return f"env from {creator}"
    return f"env {type(made.unwrapped).__name__} (from {creator})"


def describe_error(err: BaseException, limit: int | None = None) -> str:
    """``Type: message`` on one line, whatever line breaks the message has (``Type`` alone for an
    empty one), cut to ``limit`` characters of message."""
    text = " ".join(str(err).split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def action_masks_method(env: gym.Env) -> Callable[[], Any] | None:
    """The env's ``action_masks`` method, or None: the outermost wrapper's that defines one
    (sb3-contrib's ``ActionMasker`` puts it on a wrapper), else the unwrapped env's. Each layer
    is asked for its own attribute only: gymnasium 0.29's wrappers forward unknown ones inward
    with a deprecation warning, 1.x's not at all."""
    layer: Any = env
    while True:
        fn = vars(layer).get("action_masks") if hasattr(layer, "__dict__") else None
        if fn is None and any("action_masks" in vars(k) for k in type(layer).__mro__):
            fn = layer.action_masks
        if callable(fn):
            return fn
        if not isinstance(layer, gym.Wrapper):
            return None
        layer = layer.env


def env_error(where: str, call: str, err: Exception) -> EnvStepError:
    """The env copy ``where`` raised ``err`` in ``call`` (reset, step, action_masks)."""
    return EnvStepError(f"{where} raised in {call}(): {describe_error(err)}")


def observe(pre: Preprocessor, env: gym.Env, mask_fn: Callable[[], Any] | None, obs: Any,
            where: Callable[[], str], mask_source: str) -> tuple[Any, np.ndarray]:
    """``(x, mask)`` of ``env``'s observation ``obs``, masked by ``mask_fn()`` too when given;
    an EnvStepError naming the env copy (``where()``, formatted only then) for an observation
    that does not fit the env's space or an ``action_masks()`` that raises."""
    try:
        x, mask = pre(obs)
    except Exception as err:
        raise EnvStepError(f"{where()} returned an observation that does not fit its observation "
                           f"space {env.observation_space}: {describe_error(err, 300)}") from err
    if mask_fn is not None:
        try:
            extra = mask_fn()
        except Exception as err:
            raise env_error(where(), "action_masks", err) from err
        mask = extra_mask(mask, extra, mask_source)
    return x, mask


def _all_finite(tree: Any) -> bool:
    if isinstance(tree, dict):
        return all(_all_finite(v) for v in tree.values())
    return bool(np.isfinite(tree).all())


def make_env(env: EnvSpec, env_config: dict[str, Any] | None = None) -> gym.Env:
    """An env from a registered gymnasium id or a creator function ``f(env_config) -> Env``."""
    env_config = dict(env_config or {})
    if isinstance(env, str):
        from . import envs as _examples  # noqa: F401  (registers the example envs)

        try:
            return _make_registered(env, env_config)
        except gym.error.Error as err:
            raise EnvError(f"env {env!r}: {err}") from None
        except (TypeError, ValueError) as err:
            # a malformed id: "a:b:c", or a module part that is no module name ("../x:Y-v0",
            # which importlib refuses with a TypeError about relative imports)
            if not _is_env_id(env):
                raise EnvError(f"env {env!r} is not a gymnasium env id "
                               "(expected [module:][namespace/]name[-vN])") from None
            if isinstance(err, TypeError):
                raise EnvError(f"env {env!r} does not accept env_config {env_config}: {err}") from None
            raise EnvError(f"env {env!r}: {err}") from None  # a value the env refuses
        except ImportError as err:
            # the module a module:Id names, or one that it, the entry point or the env imports:
            # the env cannot be built here, as for gymnasium's own envs without their package
            # (DependencyNotInstalled, an Error above)
            missing = _missing_module(err)
            if _names_env_module(env, missing):
                raise EnvError(f"env {env!r}: no module named {missing!r}") from None
            while err.__cause__ is not None:  # gymnasium's own, around the import's
                err = err.__cause__
            raise EnvError(f"env {env!r}: importing its code failed: {describe_error(err, 300)}") from err
        except Exception as err:
            if not env_config:
                raise
            # raised by gym.make or the env's constructor on a value of the user's env_config
            # (gym.make calls render_mode.endswith): bad input, as an unknown keyword is
            raise EnvError(f"env {env!r} with env_config {json.dumps(env_config, default=repr)}: "
                           f"{describe_error(err, 300)}") from None
    made = env(env_config)
    if not isinstance(made, gym.Env):
        raise EnvError(f"env function returned {type(made).__name__}, not a gymnasium.Env")
    return made


def _make_registered(env_id: str, env_config: dict[str, Any]) -> gym.Env:
    """``gym.make``, whose warnings come after it returns and not at all when it raises: an id
    of a version not registered (``SlowCartPole-v0``) warns that it is out of date, then fails,
    and the failure names the version to use."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = gym.make(env_id, **env_config)
    for w in caught:  # the filters decide again; a warning shown once per place stays so
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_MAKE_WARNED,
                               source=w.source)
    return made


#: What `_make_registered` has shown, for the filters' once-per-place actions (the registry
#: Python keeps for the module that warned is out of reach once the warning is recorded).
_MAKE_WARNED: dict[Any, Any] = {}


def _missing_module(err: BaseException | None) -> str | None:
    """The module an import did not find: gymnasium raises its own ModuleNotFoundError, without
    a ``name``, from the import's."""
    while err is not None:
        if isinstance(err, ModuleNotFoundError) and err.name:
            return err.name
        err = err.__cause__
    return None


def _names_env_module(env: str, missing: str | None) -> bool:
    """Whether ``missing``, the module an import did not find, is (a package of) the module an
    env id names (``module:Env-v0``): the id then names no module."""
    if ":" not in env or not missing:
        return False
    module = env.partition(":")[0]
    return module == missing or module.startswith(missing + ".")


#: A module's dotted name, as ``module:`` in an env id names one (``my_pkg.envs``).
_MODULE_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")


def _is_env_id(text: str) -> bool:
    """Whether ``text`` has gymnasium's id syntax, ``[module:][namespace/]name[-vN]``."""
    module, colon, env_id = text.rpartition(":")
    if text.count(":") > 1 or (colon and not _MODULE_NAME.fullmatch(module)):
        return False
    try:
        gym.envs.registration.parse_env_id(env_id)
    except Exception:
        return False
    return True


@dataclass
class WorkerSpec:
    """Everything a worker needs to build itself, picklable for a remote actor."""

    env: EnvSpec
    env_config: dict[str, Any]
    num_envs: int
    seed: int
    structured_obs: bool
    policy_factory: Callable[[], Any] = field(repr=False)


def worker_seeds(seed: int, worker_index: int, restart: int, num_envs: int) -> tuple[list[int], np.random.Generator]:
    """Env reset seeds and the action RNG for a worker incarnation."""
    ss = np.random.SeedSequence([seed, worker_index, restart])
    env_ss, rng_ss = ss.spawn(2)
    return [int(s) for s in env_ss.generate_state(num_envs)], np.random.default_rng(rng_ss)


class RolloutWorker:
    """Steps ``num_envs`` env copies in lock step with one batched policy forward per step."""

    def __init__(
        self, spec: WorkerSpec, worker_index: int = 0, restart: int = 0,
        policy: Any = None, remote: bool = True,
    ) -> None:
        if remote:
            torch.set_num_threads(1)
        self.spec = spec
        self.worker_index = worker_index
        self.envs = [make_env(spec.env, spec.env_config) for _ in range(spec.num_envs)]
        env0 = self.envs[0]
        self.pre = Preprocessor(env0.observation_space, env0.action_space, spec.structured_obs)
        self.policy = policy if policy is not None else spec.policy_factory()
        self._weights_version = -1
        self._find_mask_methods()
        self.env_name = describe_env(spec.env, env0)
        self._mask_source = f"{self.env_name}'s action_masks()"
        seeds, self.rng = worker_seeds(spec.seed, worker_index, restart, spec.num_envs)
        self.xs: list[Any] = []
        self.masks: list[np.ndarray] = []
        for i, env in enumerate(self.envs):
            try:
                obs, _ = env.reset(seed=seeds[i])
            except Exception as err:
                raise self._env_error(i, "reset", err) from err
            x, m = self._process(i, obs)
            self.xs.append(x)
            self.masks.append(m)
        self.ep_return = np.zeros(spec.num_envs)
        self.ep_len = np.zeros(spec.num_envs, dtype=np.int64)
        # whether the next sample call starts new env streams (a new or replaced worker, or one
        # whose checkpointed state was not restored): see the batch's "fresh"
        self._fresh = True
        self._all_valid = np.ones((spec.num_envs, self.pre.num_actions), dtype=bool)

    def _find_mask_methods(self) -> None:
        """Each env copy's ``action_masks`` method (or None), looked up once per set of envs."""
        self._mask_fns = [action_masks_method(e) for e in self.envs]
        # envs that never mask (CartPole) skip stacking and checking a mask every step
        self._static_masks = not self.pre.has_mask_key and all(fn is None for fn in self._mask_fns)

    def _process(self, i: int, obs: Any, ask_env: bool = True) -> tuple[Any, np.ndarray]:
        """``(x, mask)`` of env copy ``i``'s observation; without ``ask_env`` its
        ``action_masks()`` is not called (the observation's own mask, or all allowed)."""
        return observe(self.pre, self.envs[i], self._mask_fns[i] if ask_env else None, obs,
                       lambda: self._where(i), self._mask_source)

    def _where(self, i: int) -> str:
        return f"{self.env_name} (rollout worker {self.worker_index}, env copy {i})"

    def _env_error(self, i: int, call: str, err: Exception) -> EnvStepError:
        return env_error(self._where(i), call, err)

    def ping(self) -> int:
        return self.worker_index

    def footprint(self) -> tuple[str, int, int | None]:
        """``(host, pid, bytes)``: where this worker runs and the memory its process holds
        (``_memory.process_bytes``)."""
        from ._memory import process_bytes

        return socket.gethostname(), os.getpid(), process_bytes()

    def get_weights(self) -> dict[str, Any]:
        return state_dict_numpy(self.policy.model)

    def sample(
        self, weights: tuple[int, dict] | None, num_steps: int, act_kwargs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Step every env ``num_steps`` times; returns a (T, E) batch and finished episodes."""
        t0 = time.perf_counter()
        if weights is not None and weights[0] != self._weights_version:
            load_state_dict_numpy(self.policy.model, weights[1])
            self._weights_version = weights[0]
        self.policy.configure(**(act_kwargs or {}))
        E, T = len(self.envs), num_steps
        next_obs = self.policy.needs_next_obs
        obs_steps, mask_steps, action_steps, extra_steps = [], [], [], []
        next_x_steps, next_mask_steps = [], []
        rewards = np.zeros((T, E), dtype=np.float32)
        terminated = np.zeros((T, E), dtype=bool)
        truncated = np.zeros((T, E), dtype=bool)
        final_xs: list[Any] = []
        final_at: list[tuple[int, int]] = []
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        for t in range(T):
            x = tree_stack(self.xs)
            if self._static_masks:
                masks = self._all_valid
            else:
                masks = np.stack(self.masks)
                check_masks(masks, self.env_name)
            actions, extras = self.policy.act(x, masks, self.rng, t / T)
            obs_steps.append(x)
            mask_steps.append(masks)
            action_steps.append(actions)
            extra_steps.append(extras)
            step_next_x = []
            step_next_m = []
            for i, env in enumerate(self.envs):
                try:
                    obs, r, term, trunc, _ = env.step(int(actions[i]) + self.pre.action_start)
                except Exception as err:
                    raise self._env_error(i, "step", err) from err
                rewards[t, i] = r
                terminated[t, i] = term
                truncated[t, i] = trunc and not term
                self.ep_return[i] += r
                self.ep_len[i] += 1
                # a terminated episode's mask is never used (no bootstrap from it), and PPO
                # bootstraps a truncated one from V alone: action_masks() is asked of live
                # episodes only, as sb3-contrib asks it (its vector envs reset finished ones
                # first), so an env may refuse it once its episode is over
                x_i, m_i = self._process(i, obs, ask_env=not (term or trunc) or (next_obs and not term))
                if next_obs:
                    step_next_x.append(x_i)
                    step_next_m.append(m_i)
                if term or trunc:
                    if truncated[t, i] and not next_obs:
                        final_xs.append(x_i)
                        final_at.append((t, i))
                    ep_returns.append(float(self.ep_return[i]))
                    ep_lengths.append(int(self.ep_len[i]))
                    self.ep_return[i] = 0.0
                    self.ep_len[i] = 0
                    try:
                        obs, _ = env.reset()
                    except Exception as err:
                        raise self._env_error(i, "reset", err) from err
                    x_i, m_i = self._process(i, obs)
                self.xs[i] = x_i
                self.masks[i] = m_i
            if next_obs:
                next_x_steps.append(tree_stack(step_next_x))
                next_mask_steps.append(np.stack(step_next_m))
        if not np.isfinite(rewards).all():
            t, i = np.argwhere(~np.isfinite(rewards))[0]
            raise EnvStepError(f"{self._where(int(i))} returned reward {rewards[t, i]} "
                               f"({int(t) + 1} steps into this sample call)")
        batch: dict[str, Any] = {
            "obs": tree_stack(obs_steps),
            "masks": np.stack(mask_steps),
            "actions": np.stack(action_steps),
            "rewards": rewards,
            "terminated": terminated,
            "dones": terminated | truncated,
        }
        self._check_finite(batch["obs"])
        for key in extra_steps[0]:
            batch[key] = np.stack([e[key] for e in extra_steps])
        # the observations the update reads besides those acted on: those bootstrapped from
        # (not a terminated episode's last one, which nothing reads)
        if next_obs:
            batch["next_obs"] = tree_stack(next_x_steps)
            batch["next_masks"] = np.stack(next_mask_steps)
            self._check_finite(tree_map(lambda a: a[~terminated], batch["next_obs"]))
        else:
            # PPO bootstraps truncated episodes with V(s_final) and the rollout end with V(s_T)
            final_values = np.zeros((T, E), dtype=np.float32)
            if final_xs:
                finals = tree_stack(final_xs)
                self._check_finite(finals)
                vals = self.policy.values(finals)
                for (t, i), v in zip(final_at, vals):
                    final_values[t, i] = v
            batch["final_values"] = final_values
            last = tree_stack(self.xs)
            self._check_finite(last)
            batch["last_values"] = self.policy.values(last)
        batch["episode_returns"] = ep_returns
        batch["episode_lengths"] = ep_lengths
        batch["fresh"] = np.full(E, self._fresh)
        self._fresh = False
        batch["sample_seconds"] = time.perf_counter() - t0
        return batch

    def _check_finite(self, obs: Any) -> None:
        if not _all_finite(obs):
            raise EnvStepError(f"{self.env_name} (rollout worker {self.worker_index}) returned an "
                               "observation holding NaN or infinity")

    def get_state(self) -> bytes:
        """Envs, current observations, episode counters and the action RNG, pickled; envs that
        cannot be pickled (a simulator's handle, a lock) are left out, and a restore starts
        fresh ones."""
        state = {"xs": self.xs, "masks": self.masks, "ep_return": self.ep_return,
                 "ep_len": self.ep_len, "rng": self.rng.bit_generator.state}
        try:
            return cloudpickle.dumps({"envs": self.envs, **state})
        except (TypeError, AttributeError, ValueError, RecursionError, pickle.PicklingError) as err:
            logger.warning("rollout worker %d: its env copies cannot be saved (%s); the checkpoint "
                           "holds the rest, and a restore starts fresh env copies",
                           self.worker_index, describe_error(err, 200))
            return cloudpickle.dumps({"envs": None, **state})

    def set_state(self, blob: bytes) -> None:
        state = pickle.loads(blob)
        if state["envs"] is None:
            logger.info("checkpoint has no env copies for rollout worker %d (they could not be "
                        "saved): envs start fresh", self.worker_index)
            return
        if len(state["envs"]) != len(self.envs):
            # a restore with another num_envs_per_worker: this worker's fresh envs stay
            logger.info("checkpoint has %d env copies for rollout worker %d's %d: envs start fresh",
                        len(state["envs"]), self.worker_index, len(self.envs))
            for env in state["envs"]:
                env.close()
            return
        for env in self.envs:  # the fresh copies the checkpoint's replace
            env.close()
        self.envs = state["envs"]
        self._find_mask_methods()
        self.xs, self.masks = state["xs"], state["masks"]
        self.ep_return, self.ep_len = state["ep_return"], state["ep_len"]
        self.rng.bit_generator.state = state["rng"]
        self._fresh = False  # the envs go on where the checkpointed ones were

    def close(self) -> None:
        for env in self.envs:
            env.close()


def concat_batches(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Join worker batches along the env axis (axis 1; axis 0 for last_values and fresh); always
    copies, so the result is writable even when the batches are read-only object-store views."""
    out: dict[str, Any] = {}
    for key, first in batches[0].items():
        if key in ("episode_returns", "episode_lengths"):
            out[key] = [v for b in batches for v in b[key]]
        elif key == "sample_seconds":
            out[key] = max(b[key] for b in batches)
        elif key in ("last_values", "fresh"):
            out[key] = np.concatenate([b[key] for b in batches])
        else:  # an array, or a (nested) dict of them for Dict observations
            out[key] = tree_zip_map(lambda *parts: np.concatenate(parts, axis=1), *(b[key] for b in batches))
    return out


class WorkerSet:
    """The local worker (N=0) or N remote rollout actors, with replacement of dead ones."""

    def __init__(
        self, spec: WorkerSpec, num_workers: int, local_policy: Any,
        sample_timeout_s: float | None = None, max_restarts: int = 100,
    ) -> None:
        self.spec = spec
        self.num_workers = num_workers
        self.sample_timeout_s = sample_timeout_s
        self.max_restarts = max_restarts
        self.restarts = [0] * num_workers
        self._version = 0
        self.local: RolloutWorker | None = None
        self.remote: list[Any] = []
        self._owns_runtime = False
        if num_workers == 0:
            self.local = RolloutWorker(spec, 0, 0, policy=local_policy, remote=False)
            return
        import runtime

        global _runtime_users
        # a runtime worker sets start is shut down by the stop() of the last one using it: other
        # algorithms' workers may have joined it since (a runtime the user started: never)
        if _runtime_ready(runtime):
            self._owns_runtime = _runtime_users > 0
        else:
            runtime.init()
            _runtime_users = 0
            self._owns_runtime = True
        _runtime_users += self._owns_runtime
        self._runtime = runtime
        self._actor_cls = runtime.remote(RolloutWorker)
        try:
            if _may_not_fit(num_workers):  # the first alone, measured, before the others start
                self.remote.append(self._new_actor(0))
                self._check_processes(runtime.get(self.remote[0].footprint.remote()))
            self.remote += [self._new_actor(i) for i in range(len(self.remote), num_workers)]
            # fail fast (and wait for construction) so env errors surface here, not mid-training
            runtime.get([w.ping.remote() for w in self.remote])
        except Exception as err:
            self.stop()  # the caller gets no handle to stop the other workers (or the runtime) with
            # a worker's constructor failing is an ActorDiedError whose cause is its exception
            _raise_own(err, (EnvStepError, EnvError))
            raise

    def _check_processes(self, footprint: tuple[str, int, int | None]) -> None:
        """Refuse (``MemoryError``) worker processes that would not fit in this machine's
        memory, from the first one's ``footprint``; one on another machine (a Ray cluster) or
        in this process (the inline backend) is not checked."""
        from ._memory import available_bytes, check_worker_processes

        host, pid, size = footprint
        if host == socket.gethostname() and pid != os.getpid() and size is not None:
            check_worker_processes(self.num_workers, size, available_bytes())

    @property
    def total_envs(self) -> int:
        return self.spec.num_envs * max(self.num_workers, 1)

    def _new_actor(self, index: int) -> Any:
        return self._actor_cls.remote(self.spec, index, self.restarts[index])

    def _replace(self, index: int, error: BaseException) -> None:
        self.restarts[index] += 1
        if sum(self.restarts) > self.max_restarts:
            raise RuntimeError(
                f"rollout workers died {sum(self.restarts)} times (max_worker_restarts="
                f"{self.max_restarts}); last error: {error}"
            ) from error
        logger.warning("rollout worker %d died (%s); starting replacement #%d",
                       index, error, self.restarts[index])
        try:
            self._runtime.kill(self.remote[index])
        except Exception:  # already gone
            pass
        self.remote[index] = self._new_actor(index)

    def sample(self, weights: dict[str, Any] | None, num_steps: int, act_kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.local is not None:
            return self.local.sample(None, num_steps, act_kwargs)
        rt = self._runtime
        self._version += 1
        weights_ref = rt.put((self._version, weights))
        refs = [w.sample.remote(weights_ref, num_steps, act_kwargs) for w in self.remote]
        batches: list[dict[str, Any] | None] = [None] * self.num_workers
        for i in range(self.num_workers):
            while batches[i] is None:
                try:
                    batches[i] = rt.get(refs[i], timeout=self.sample_timeout_s)
                except (rt.ActorDiedError, rt.GetTimeoutError) as err:
                    cause = getattr(err, "cause", None)
                    if cause is not None:
                        # its constructor raised (a replacement's env failing to build): starting
                        # another would fail the same way, max_worker_restarts times over
                        _raise_own(err, (EnvStepError, EnvError))
                        raise RuntimeError(f"rollout worker {i} could not be restarted: its "
                                           f"constructor raised {describe_error(cause)}") from cause
                    self._replace(i, err)
                    refs[i] = self.remote[i].sample.remote(weights_ref, num_steps, act_kwargs)
                except Exception as err:
                    # an env's own error (or its empty mask), or a user model's output of the
                    # wrong kind: the same exception as with 0 workers
                    _raise_own(err, (EnvStepError, NoValidActionError, ModelOutputError))
                    raise
        return concat_batches(batches)  # type: ignore[arg-type]

    def get_state(self) -> list[bytes]:
        if self.local is not None:
            return [self.local.get_state()]
        return self._runtime.get([w.get_state.remote() for w in self.remote])

    def set_state(self, states: list[bytes]) -> None:
        if len(states) != max(self.num_workers, 1):
            # expected when a run resumes on another worker count (e.g. evaluation on 0)
            logger.info("checkpoint has %d worker states for %d workers: envs start fresh",
                        len(states), self.num_workers)
            return
        if self.local is not None:
            self.local.set_state(states[0])
            return
        self._runtime.get([w.set_state.remote(s) for w, s in zip(self.remote, states)])

    def stop(self) -> None:
        global _runtime_users
        if self.local is not None:
            self.local.close()
            return
        for w in self.remote:
            try:
                self._runtime.kill(w)
            except Exception:
                pass
        self.remote = []
        if self._owns_runtime:
            self._owns_runtime = False
            _runtime_users -= 1
            if _runtime_users == 0:
                self._runtime.shutdown()


#: How many worker sets use the runtime running now, started by worker sets (0: none, or the
#: user started it).
_runtime_users = 0


def _raise_own(err: BaseException, kinds: tuple[type[BaseException], ...]) -> None:
    """Raise the worker's own exception that the runtime's ``err`` carries as its ``cause``
    (a failed task's, or an actor constructor's) when it is one of ``kinds``."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, kinds):
        raise cause from None


def _may_not_fit(num_workers: int) -> bool:
    """Whether ``num_workers`` worker processes might not fit in memory, each counted as large
    as this process (which holds more: the learner's model, optimizer and buffers). Only then
    is the first started alone and measured: a few workers start together, without the wait."""
    from ._memory import available_bytes, process_bytes

    each, available = process_bytes(), available_bytes()
    return each is not None and available is not None and num_workers * each > available


def _runtime_ready(runtime: Any) -> bool:
    check = getattr(runtime, "is_initialized", None)
    return bool(check()) if callable(check) else False
