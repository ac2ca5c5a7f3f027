"""rllib_lite on CartPole-v1 beside Stable-Baselines3, and sampling throughput with rollout workers.

Part 1, solve: for PPO and DQN (rl-zoo's CartPole-v1 hyperparameters, the same on both sides),
train with 3 seeds; before each iteration (SB3: each rollout) once another ``--eval-every`` env
steps have been trained on, evaluate 10 greedy episodes; the run is solved when their mean return
is >= 475. Both sides are evaluated at the same env-step checkpoints (iterations and rollouts are
256 steps on both) with the same protocol: 10 CartPole-v1 copies side by side, copy i reset with
seed 10000 + run seed + i, deterministic (argmax) actions. Reported: env steps to solve, and
training wall seconds (evaluation time excluded on both sides). Both sides run with one torch
thread. Solve steps vary a lot from seed to seed (DQN's are bimodal on CartPole); ``--seeds``
takes more seeds for a firmer comparison. Runs are deterministic per seed on both sides, so
``--time-repeats R`` reruns each one R times (the two sides taking turns) and reports the median
seconds, steadier on a shared machine; a rerun that takes other steps than the first is an error.

Part 2, throughput: env steps per second of sampling alone (PPO policy, 8 env copies in total)
with 0, 1 and 2 rollout workers on CartPole-v1 (256 steps per env copy per sample call) and on
rllib_lite/SlowCartPole-v1 (1 ms per step, 64 steps per env copy per call),
against the raw env-step floor (the same 8 env copies stepped in one process with random actions,
no policy). Setups take turns round by round and the median round is reported, so a shared
machine's background load falls on all of them alike.

    python benchmarks/rl_cartpole.py                 # everything
    python benchmarks/rl_cartpole.py --part solve --seeds 0 1 2
    python benchmarks/rl_cartpole.py --part throughput --json
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.__main__ import OneLineParser

SOLVED = 475.0
EVAL_EPISODES = 10
EVAL_SEED = 10_000
PPO_HP = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
              ent_coef=0.0, lr=1e-3, clip=0.2, total=100_000, net=[64, 64])
DQN_HP = dict(lr=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
              target_update_interval=10, train_freq=256, gradient_steps=128,
              exploration_fraction=0.16, exploration_final_eps=0.04, total=50_000, net=[256, 256])


def greedy_eval(act: Callable[[np.ndarray], np.ndarray], envs: list[gym.Env], episodes: int,
                seed: int) -> float:
    """Mean return of ``episodes`` greedy episodes on CartPole-v1, the env copies side by side,
    copy i reset with seed + i: the protocol of ``Algorithm.evaluate``, for SB3's model, so both
    libraries are scored on the same start states."""
    while len(envs) < episodes:
        envs.append(gym.make("CartPole-v1"))
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs[:episodes])]
    returns = np.zeros(episodes)
    live = list(range(episodes))
    while live:
        actions = act(np.stack([obs[i] for i in live]))
        still = []
        for a, i in zip(actions, live):
            obs[i], r, term, trunc, _ = envs[i].step(int(a))
            returns[i] += r
            if not (term or trunc):
                still.append(i)
        live = still
    return float(returns.mean())


def ours_config(algo: str, seed: int, workers: int = 0) -> Any:
    if algo == "PPO":
        h = PPO_HP
        return PPOConfig(
            env="CartPole-v1", seed=seed, num_rollout_workers=workers,
            num_envs_per_worker=h["n_envs"] // max(workers, 1), rollout_steps=h["n_steps"],
            minibatch_size=h["batch_size"], gae_lambda=h["gae_lambda"], gamma=h["gamma"],
            num_epochs=h["n_epochs"], ent_coef=h["ent_coef"], lr=h["lr"], lr_schedule="linear",
            clip_range=h["clip"], clip_schedule="linear", schedule_steps=h["total"],
            hidden_sizes=tuple(h["net"]), activation="tanh", max_grad_norm=0.5)
    h = DQN_HP
    return DQNConfig(
        env="CartPole-v1", seed=seed, num_rollout_workers=workers, lr=h["lr"],
        batch_size=h["batch_size"], buffer_size=h["buffer_size"],
        learning_starts=h["learning_starts"], gamma=h["gamma"],
        target_update_interval=h["target_update_interval"], train_freq=h["train_freq"],
        gradient_steps=h["gradient_steps"],
        exploration_steps=int(h["exploration_fraction"] * h["total"]),
        epsilon_final=h["exploration_final_eps"], hidden_sizes=tuple(h["net"]), activation="relu",
        schedule_steps=h["total"], max_grad_norm=10.0)


def solve_ours(algo: str, seed: int, eval_every: int) -> dict[str, Any]:
    """``Algorithm.learn``'s stop at a greedy evaluation (the CLI's ``--stop-eval-return``);
    training seconds are the iterations' own, evaluations excluded."""
    cls = PPO if algo == "PPO" else DQN
    agent = cls(ours_config(algo, seed))
    total = (PPO_HP if algo == "PPO" else DQN_HP)["total"]
    try:
        history = agent.learn(total, progress=False, stop_eval_return=SOLVED, eval_every=eval_every,
                              eval_episodes=EVAL_EPISODES, eval_seed=EVAL_SEED + seed)
    finally:
        agent.stop()
    scores = [m["eval_return_mean"] for m in history if "eval_return_mean" in m]
    score = scores[-1] if scores else float("nan")
    return {"solved": score >= SOLVED, "steps": agent.env_steps,
            "seconds": sum(m["iteration_seconds"] for m in history), "score": score}


def _have_sb3() -> bool:
    import importlib.util

    return importlib.util.find_spec("stable_baselines3") is not None


def solve_sb3(algo: str, seed: int, eval_every: int) -> dict[str, Any] | None:
    try:
        import stable_baselines3 as sb3
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.logger import Logger
    except ImportError:
        return None

    class EvalStop(BaseCallback):
        """Evaluates at rollout start (after training on everything so far), time excluded."""

        def __init__(self) -> None:
            super().__init__()
            self.next_eval, self.eval_s, self.result = eval_every, 0.0, None
            self.eval_envs: list[gym.Env] = []

        def _on_rollout_start(self) -> None:
            if self.result is None and self.num_timesteps >= self.next_eval:
                t0 = time.perf_counter()
                self.next_eval = self.num_timesteps + eval_every
                score = greedy_eval(lambda obs: self.model.predict(obs, deterministic=True)[0],
                                    self.eval_envs, EVAL_EPISODES, EVAL_SEED + seed)
                if score >= SOLVED:
                    self.result = (self.num_timesteps, float(score))
                self.eval_s += time.perf_counter() - t0

        def _on_step(self) -> bool:
            return self.result is None

    if algo == "PPO":
        h = PPO_HP
        env = make_vec_env("CartPole-v1", n_envs=h["n_envs"], seed=seed)
        lin = lambda v: (lambda progress: progress * v)  # noqa: E731
        model = sb3.PPO("MlpPolicy", env, n_steps=h["n_steps"], batch_size=h["batch_size"],
                        gae_lambda=h["gae_lambda"], gamma=h["gamma"], n_epochs=h["n_epochs"],
                        ent_coef=h["ent_coef"], learning_rate=lin(h["lr"]), clip_range=lin(h["clip"]),
                        seed=seed, device="cpu")
    else:
        h = DQN_HP
        env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
        model = sb3.DQN("MlpPolicy", env, learning_rate=h["lr"], batch_size=h["batch_size"],
                        buffer_size=h["buffer_size"], learning_starts=h["learning_starts"],
                        gamma=h["gamma"], target_update_interval=h["target_update_interval"],
                        train_freq=h["train_freq"], gradient_steps=h["gradient_steps"],
                        exploration_fraction=h["exploration_fraction"],
                        exploration_final_eps=h["exploration_final_eps"],
                        policy_kwargs=dict(net_arch=h["net"]), seed=seed, device="cpu")
    # a logger with no folder: SB3's default one makes an empty folder in /tmp per run
    model.set_logger(Logger(folder=None, output_formats=[]))
    cb = EvalStop()
    t0 = time.perf_counter()
    model.learn(total_timesteps=h["total"], callback=cb)
    seconds = time.perf_counter() - t0 - cb.eval_s
    if cb.result is None:
        return {"solved": False, "steps": model.num_timesteps, "seconds": seconds, "score": float("nan")}
    return {"solved": True, "steps": cb.result[0], "seconds": seconds, "score": cb.result[1]}


class RawEnvs:
    """The floor: the same 8 env copies stepped with random actions, no policy, one process."""

    def __init__(self, env_id: str) -> None:
        self.envs = [gym.make(env_id) for _ in range(8)]
        for i, env in enumerate(self.envs):
            env.reset(seed=i)
        self.rng = np.random.default_rng(0)

    def sample(self, steps_per_env: int) -> int:
        for _ in range(steps_per_env):
            for env, a in zip(self.envs, self.rng.integers(0, 2, size=len(self.envs))):
                _, _, term, trunc, _ = env.step(int(a))
                if term or trunc:
                    env.reset()
        return steps_per_env * len(self.envs)


def throughput(env_id: str, steps_per_env: int, rounds: int) -> dict[str, float]:
    """Env steps/s of sampling alone; the four setups take turns, round by round, so they see the
    same background load; the median round of each is reported."""
    agents = {w: PPO(PPOConfig(env=env_id, seed=0, num_rollout_workers=w,
                               num_envs_per_worker=8 // max(w, 1), rollout_steps=steps_per_env))
              for w in (0, 1, 2)}
    raw = RawEnvs(env_id)
    runs: dict[str, Callable[[], int]] = {"raw_floor": lambda: raw.sample(steps_per_env)}
    for w, agent in agents.items():
        runs[f"workers_{w}"] = (lambda a=agent: int(a._sample(steps_per_env, {})["rewards"].size))
    try:
        for run in runs.values():
            run()  # warm up (actor start, first weights)
        rates: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(rounds):
            for key, run in runs.items():
                t0 = time.perf_counter()
                n = run()
                rates[key].append(n / (time.perf_counter() - t0))
        return {k: statistics.median(v) for k, v in rates.items()}
    finally:
        for agent in agents.values():
            agent.stop()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with the tie
    correction; fine from about 8 runs a side): do the two samples come from one distribution?"""
    x = np.concatenate([a, b])
    n1, n2, n = len(a), len(b), len(a) + len(b)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ranks = np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]  # mid-ranks for ties
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    ties = float((counts**3 - counts).sum())
    sigma = np.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma  # continuity correction
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def bootstrap_ratio_ci(a: list[float], b: list[float], reps: int = 10_000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(a) / median(b), each side resampled alone."""
    rng = np.random.default_rng(0)
    ma = np.median(rng.choice(a, size=(reps, len(a))), axis=1)
    mb = np.median(rng.choice(b, size=(reps, len(b))), axis=1)
    lo, hi = np.percentile(ma / mb, [2.5, 97.5])
    return float(lo), float(hi)


def main(argv: list[str] | None = None) -> int:
    # errors are one line (exit 2), not the usage block, as in rllib_lite's own command line
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["solve", "throughput", "all"], default="all",
                        help="which part to run (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--algos", nargs="+", default=["PPO", "DQN"], choices=["PPO", "DQN"],
                        help="algorithms (default: PPO DQN)")
    parser.add_argument("--eval-every", type=int, default=1024,
                        help="env steps between evaluations (default: 1024)")
    parser.add_argument("--time-repeats", type=int, default=1, metavar="R",
                        help="run each (algo, seed) R times, report the median seconds (default: 1)")
    parser.add_argument("--no-sb3", action="store_true", help="skip Stable-Baselines3")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--from-json", nargs="+", metavar="FILE",
                        help="no runs: print the tables of earlier --json reports, their seeds pooled")
    args = parser.parse_args(argv)
    if args.time_repeats < 1:
        parser.error(f"--time-repeats must be >= 1, got {args.time_repeats}")
    if args.eval_every < 1:
        parser.error(f"--eval-every must be >= 1, got {args.eval_every}")
    if min(args.seeds) < 0:
        parser.error(f"--seeds must be >= 0, got {min(args.seeds)}")
    torch.set_num_threads(1)
    report: dict[str, Any] = {"command": " ".join(["python", "benchmarks/rl_cartpole.py", *sys.argv[1:]])}
    log: Callable[[str], None] = (lambda s: print(s, file=sys.stderr, flush=True))

    if args.from_json:
        solve_parts: dict[str, list[dict[str, Any]]] = {}
        thr_parts: dict[str, dict[str, float]] = {}
        for path in args.from_json:
            try:
                with open(path) as fh:
                    doc = json.load(fh)
                solve_part, thr_part = doc.get("solve", {}), doc.get("throughput", {})
            except OSError as err:
                parser.error(f"--from-json {path}: {err.strerror or err}")
            except (ValueError, AttributeError) as err:
                parser.error(f"--from-json {path}: not a --json report of this benchmark ({err})")
            for key, runs in solve_part.items():
                solve_parts.setdefault(key, []).extend(runs)
            for env_id, row in thr_part.items():
                if env_id in thr_parts:
                    parser.error(f"--from-json {path}: a second throughput run of {env_id}; "
                                 "give one report with throughput")
                thr_parts[env_id] = row
        if solve_parts:
            report["solve"] = solve_parts
        if thr_parts:
            report["throughput"] = thr_parts
        found = {key.split("/")[0] for key in solve_parts}
        args.algos = [a for a in ("PPO", "DQN") if a in found]
    elif args.part in ("solve", "all"):
        if not args.no_sb3 and not _have_sb3():
            log("Stable-Baselines3 is not installed (pip install -e \".[bench]\"): rllib_lite alone")
        solve: dict[str, Any] = {}
        # seeds interleave the two sides, so both see the same load on a shared machine
        for algo in args.algos:
            for seed in args.seeds:
                runs: dict[str, list[dict[str, Any]]] = {}
                for _ in range(args.time_repeats):
                    for side, fn in (("rllib_lite", solve_ours), ("sb3", solve_sb3)):
                        if side == "sb3" and args.no_sb3:
                            continue
                        r = fn(algo, seed, args.eval_every)
                        if r is None:
                            continue
                        log(f"{algo} {side} seed {seed}: {r}")
                        runs.setdefault(side, []).append(r)
                for side, reps in runs.items():
                    if any(r["steps"] != reps[0]["steps"] for r in reps):
                        raise RuntimeError(f"{algo} {side} seed {seed} is not deterministic: steps "
                                           f"{[r['steps'] for r in reps]}")
                    seconds = [r["seconds"] for r in reps]
                    solve.setdefault(f"{algo}/{side}", []).append(
                        {**reps[0], "seconds": statistics.median(seconds), "seconds_each": seconds})
        report["solve"] = solve
    if args.part in ("throughput", "all") and not args.from_json:
        thr: dict[str, Any] = {}
        for env_id, steps, rounds in (("CartPole-v1", 256, 15), ("rllib_lite/SlowCartPole-v1", 64, 8)):
            thr[env_id] = throughput(env_id, steps, rounds)
            log(f"{env_id}: {thr[env_id]}")
        report["throughput"] = thr

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"command: {report['command']}")
    if "solve" in report:
        print("\n## Steps and training seconds to mean eval return >= 475 (10 episodes)\n")
        print("| algo | impl | solved | median steps | steps per seed | median train s | s per seed "
              "| train s per 1k steps |")
        print("|---|---|---|---|---|---|---|---|")
        med: dict[str, tuple[float, float]] = {}
        pace: dict[str, float] = {}  # training seconds per env step over all runs: speed alone
        for key, runs in report["solve"].items():
            algo, side = key.split("/")
            ok = [r for r in runs if r["solved"]]
            ms, mt = median([r["steps"] for r in ok]), median([r["seconds"] for r in ok])
            med[key] = (ms, mt)
            pace[key] = sum(r["seconds"] for r in runs) / max(sum(r["steps"] for r in runs), 1)
            print(f"| {algo} | {side} | {len(ok)}/{len(runs)} | {ms:.0f} | "
                  f"{', '.join(str(r['steps']) + ('' if r['solved'] else '*') for r in runs)} | {mt:.2f} | "
                  f"{', '.join('%.2f' % r['seconds'] for r in runs)} | {1000 * pace[key]:.3f} |")
        for algo in args.algos:
            if f"{algo}/sb3" in med and f"{algo}/rllib_lite" in med:
                (s1, t1), (s0, t0) = med[f"{algo}/rllib_lite"], med[f"{algo}/sb3"]
                print(f"\n{algo}: steps ratio rllib_lite/SB3 = {s1 / s0:.2f} (target <= 1.0); "
                      f"train-time ratio = {t1 / t0:.2f} (target <= 0.7); train seconds per env step "
                      f"ratio = {pace[f'{algo}/rllib_lite'] / pace[f'{algo}/sb3']:.2f} (speed alone)")
                both = [report["solve"][f"{algo}/{side}"] for side in ("rllib_lite", "sb3")]
                ours, sb3 = ([r["steps"] for r in runs] for runs in both)
                if min(len(ours), len(sb3)) >= 5 and all(r["solved"] for runs in both for r in runs):
                    lo, hi = bootstrap_ratio_ci(ours, sb3)
                    print(f"{algo} over {len(ours)} and {len(sb3)} seeds: 95% bootstrap interval of the "
                          f"steps ratio {lo:.2f} to {hi:.2f}; Mann-Whitney U p = {mann_whitney_p(ours, sb3):.2f} "
                          f"(two-sided; a small p says the step distributions differ); mean steps "
                          f"{statistics.mean(ours):.0f} / {statistics.mean(sb3):.0f}")
        print("\n(* = not solved within the budget; medians over solved runs only)")
    if "throughput" in report:
        print("\n## Sampling throughput (env steps/s, PPO policy, 8 env copies in total)\n")
        print("| env | raw env floor | 0 workers | 1 worker | 2 workers | 1w/0w | 2w/0w | 0w/floor |")
        print("|---|---|---|---|---|---|---|---|")
        for env_id, row in report["throughput"].items():
            w0, w1, w2 = row["workers_0"], row["workers_1"], row["workers_2"]
            print(f"| {env_id} | {row['raw_floor']:.0f} | {w0:.0f} | {w1:.0f} | {w2:.0f} | "
                  f"{w1 / w0:.2f} | {w2 / w0:.2f} | {w0 / row['raw_floor']:.2f} |")
        print("\n(target: 2 workers >= 1.8x 0 workers on the 1 ms env)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
