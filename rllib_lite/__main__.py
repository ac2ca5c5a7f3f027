"""Command line: ``python -m rllib_lite {train,evaluate,check-env,envs}``.

``train ppo|dqn`` takes every config field as a flag (``--lr``, ``--num-rollout-workers``, ...),
writes ``<out>/config.json``, ``<out>/metrics.jsonl`` and a checkpoint in ``<out>/checkpoint``; an
``--out`` that already holds a run is refused unless ``--overwrite`` is given, and a run that fails
before it has saved its checkpoint leaves ``--out`` as it found it.
Exit codes: 0 done, 2 bad input (one line on stderr), 1 internal error or interrupted (Ctrl-C,
or SIGTERM from ``kill``, ``timeout`` or a batch scheduler, which ends a run as Ctrl-C does).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

# torch-free imports only: the algorithms (and torch) are imported once the arguments are read
import sysml_cli

from ._run_folder import (
    OutLock,
    UsageError,
    check_out,
    check_writable,
    make_out,
    recover_replaced,
    remove_created,
    remove_old_run,
    set_old_run_aside,
    undo_run,
)
from .config import ConfigError, DQNConfig, PPOConfig, json_safe
from .envs import EXAMPLE_ENV_IDS

CONFIGS = {"ppo": PPOConfig, "dqn": DQNConfig}
# fields set by other flags, or not expressible on a command line
_SKIP = {"model", "output_dir", "env_config"}
_METAVARS = {"int": "N", "float": "X", "str": "NAME", "bool": "BOOL", "tuple": "N,N,...",
             "Optional[float]": "X|none", "EnvSpec": "ENV_ID"}


class OneLineParser(sysml_cli.OneLineParser):
    """Argument errors as one line on stderr (exit 2), not the whole usage block. Keeps the
    option strings it is given (``flags``) and those that take one value (``value_flags``),
    for :func:`read_dash_values`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.flags: set[str] = set()  # before argparse's __init__, which adds --help
        self.value_flags: set[str] = set()
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.flags.update(action.option_strings)
        if action.option_strings and action.nargs is None:  # one value (store, not store_true)
            self.value_flags.update(action.option_strings)
        return action


# a value that starts like a negative number: -1e-3, -.5, -inf, -5,6
_NEGATIVE = re.compile(r"-(\.?\d|inf|nan)", re.IGNORECASE)


def read_dash_values(parser: OneLineParser, argv: list[str], parsers: list[OneLineParser]) -> list[str]:
    """``argv`` with each negative number given to a flag joined to it (``--lr -1e-3`` becomes
    ``--lr=-1e-3``). argparse takes a word that starts with '-' for an option unless it reads
    as a plain negative number (-1, -.5): ``--stop-return -1e3``, ``--max-grad-norm -inf`` or
    ``--hidden-sizes -5,6`` were 'expected one argument', and the range checks never saw the
    value. Any other value that starts with a single '-' and is no option (``--out -x``) is
    refused with a line saying to write it ``--out=-x``; ``parsers`` are ``parser``'s
    subcommands, whose flags count."""
    flags = set().union(*(p.flags for p in parsers))
    value_flags = set().union(*(p.value_flags for p in parsers))
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":  # the rest are positional
            return out + argv[i:]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if word in value_flags and value.startswith("-") and value not in flags:
            if _NEGATIVE.match(value):
                out.append(f"{word}={value}")
                i += 2
                continue
            if not value.startswith("--"):
                parser.error(f"argument {word}: expected one argument ({value!r} reads as an option: "
                             f"write {word}={value} to give it as the value)")
        out.append(word)
        i += 1
    return out


def _field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's docstring (the string right after it), bases first."""
    docs: dict[str, str] = {}
    for klass in reversed([c for c in cls.__mro__ if dataclasses.is_dataclass(c)]):
        body = ast.parse(inspect.getsource(klass).lstrip()).body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:]):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                # --help is plain text: the docstrings' reST ``literal`` markup goes
                docs[stmt.target.id] = " ".join(nxt.value.value.replace("``", "").split())
    return docs


def _parse_value(kind: str, text: str) -> Any:
    if text.lower() == "none" and kind.startswith("Optional"):
        return None
    if "bool" in kind:
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    try:
        if "int" in kind:
            return int(text)
        if "float" in kind:
            value = float(text)
            if not math.isfinite(value):     # inf passed the fields' "> 0" checks (an lr of inf)
                raise ValueError(text)
            return value
        if kind == "tuple":
            return tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        expected = {"tuple": "comma-separated integers"}.get(kind, "an integer" if "int" in kind else "a finite number")
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    return text


def _add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    defaults = cls()
    docs = _field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in _SKIP:
            continue
        kind = str(f.type)
        default = getattr(defaults, f.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=None,
            metavar=_METAVARS.get(kind, "VALUE"),
            type=lambda s, k=kind: _parse_value(k, s),
            help=f"{docs.get(f.name, '').replace('%', '%%')} (default: {shown})")


def _prog() -> str:
    return "rllib-lite" if os.path.basename(sys.argv[0]) == "rllib-lite" else "python -m rllib_lite"


_EXIT_CODES = ("exit codes: 0 done; 1 internal error or interrupted (Ctrl-C, SIGTERM); 2 bad input "
               "(one line on stderr)")


def build_parser() -> argparse.ArgumentParser:
    prog = _prog()
    parser = OneLineParser(prog=prog, epilog=_EXIT_CODES, description="Train PPO or DQN on gymnasium "
                           "envs, evaluate checkpoints, check envs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = sub.add_parser("train", help="train PPO or DQN", epilog=_EXIT_CODES)
    algo_sub = train.add_subparsers(dest="algo", required=True, parser_class=OneLineParser)
    for name, cfg in CONFIGS.items():
        p = algo_sub.add_parser(name, help=f"train {name.upper()}", epilog=_EXIT_CODES)
        p.add_argument("--out", required=True, help="output folder (config, metrics, checkpoint)")
        p.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --out (its config.json, metrics.jsonl and "
                            "checkpoint): kept aside until the new run has saved its checkpoint, "
                            "put back if it fails before (by the next run on --out if it is killed)")
        p.add_argument("--total-env-steps", type=int, required=True, help="stop after this many env steps")
        p.add_argument("--stop-eval-return", type=float, default=None,
                       help="also stop once the mean return of a greedy evaluation (--eval-episodes "
                            "episodes, every --eval-every env steps) reaches this (default: none)")
        p.add_argument("--eval-every", type=int, default=1024,
                       help="env steps between evaluations for --stop-eval-return (default: 1024)")
        p.add_argument("--stop-return", type=float, default=None,
                       help="also stop once the mean return of the last training episodes (exploring, up to "
                            "metrics_window of them) reaches this; it lags the greedy policy (default: none)")
        p.add_argument("--env-config", default="{}", help="JSON object of env keyword arguments (default: {})")
        p.add_argument("--eval-episodes", type=int, default=10,
                       help="greedy episodes per evaluation, and at the end (default: 10)")
        p.add_argument("--json", action="store_true", help="print the final summary as JSON")
        _add_config_flags(p, cfg)
    ev = sub.add_parser("evaluate", help="evaluate a checkpoint greedily", epilog=_EXIT_CODES)
    ev.add_argument("checkpoint", help="checkpoint folder (from train, or Algorithm.save)")
    ev.add_argument("--episodes", type=int, default=10, help="episodes (default: 10)")
    ev.add_argument("--seed", type=int, default=10_000, help="seed of the first episode (default: 10000)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ce = sub.add_parser("check-env", help="run gymnasium's env checker and rllib_lite's space checks", epilog=_EXIT_CODES)
    ce.add_argument("env", help="a registered gymnasium env id")
    ce.add_argument("--env-config", default="{}", help="JSON object of env keyword arguments (default: {})")
    ce.add_argument("--json", action="store_true", help="print JSON")
    ls = sub.add_parser("envs", help="list the example envs rllib_lite registers", epilog=_EXIT_CODES)
    ls.add_argument("--json", action="store_true", help="print JSON")
    parser.subcommand_parsers = [train, *algo_sub.choices.values(), ev, ce, ls]  # type: ignore[attr-defined]
    return parser


def _env_config(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--env-config is not valid JSON: {err}") from None
    except RecursionError:
        raise UsageError("--env-config is not valid JSON: nested too deep") from None
    except ValueError:  # past Python's limit on the digits of an integer it converts
        raise UsageError("--env-config is not valid JSON: an integer of more than "
                         f"{sys.get_int_max_str_digits()} digits") from None
    if not isinstance(value, dict):
        raise UsageError("--env-config must be a JSON object")
    return value


def _check_train_args(args: argparse.Namespace) -> None:
    if not args.out:
        raise UsageError("--out is empty: name the output folder")
    if args.total_env_steps < 1:
        raise UsageError(f"--total-env-steps must be >= 1, got {args.total_env_steps}")
    if args.eval_episodes < 1:
        raise UsageError(f"--eval-episodes must be >= 1, got {args.eval_episodes}")
    if args.eval_every < 1:
        raise UsageError(f"--eval-every must be >= 1, got {args.eval_every}")
    for flag in ("stop_return", "stop_eval_return"):
        value = getattr(args, flag)
        if value is not None and not math.isfinite(value):
            raise UsageError(f"--{flag.replace('_', '-')} must be a finite number, got {value}")


def _recover_replaced(out: str) -> None:
    note = recover_replaced(out)
    if note:
        print(f"{_prog().removeprefix('python -m ')}: warning: {note}", file=sys.stderr)


def _train(args: argparse.Namespace) -> dict[str, Any]:
    _check_train_args(args)
    cfg_cls = CONFIGS[args.algo]
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(cfg_cls)
              if f.name not in _SKIP and getattr(args, f.name) is not None}
    config = cfg_cls(**fields, env_config=_env_config(args.env_config), output_dir=args.out)
    # one run at a time in --out, from its first look there to its end: a run that fails
    # removes the run files there as its own
    lock = OutLock(args.out)
    try:
        return _train_holding(args, config, lock)
    finally:
        lock.release()


def _train_holding(args: argparse.Namespace, config: Any, lock: OutLock) -> dict[str, Any]:
    lock.take()                                     # an --out that exists already
    _recover_replaced(args.out)                     # an old run a killed --overwrite run set aside
    check_out(args.out, args.overwrite)            # before torch is imported, nothing made
    from .algorithm import _registry

    # the env, spaces and model are checked while the algorithm is built: the folder made for
    # the run goes again if that refuses it, as when an --env does not exist
    created = make_out(args.out)
    # an --out this run has just made; outside the try: when another run made it too and holds
    # it, the folders are that run's now, not to be removed
    lock.take()
    aside = None
    started = False
    try:
        # again, now that every folder on the way exists: before, a .. after a folder this run
        # makes (x/new/../old) led nowhere, and a run held there went unseen
        _recover_replaced(args.out)
        held = check_out(args.out, args.overwrite)
        check_writable(args.out)
        # --overwrite: the old run is set aside, not removed, until the new one has a checkpoint
        # (building the algorithm writes config.json): a refusal at start-up or a failure in
        # training puts it back as it was, and the new run's files of those names go
        aside = set_old_run_aside(args.out, held)
        started = True  # from here on, every run file in --out is this run's
        algo = _registry()[args.algo.upper()](config)
        try:
            algo.check_memory(args.eval_episodes)  # the evaluation's env copies, before training
        except BaseException:
            algo.stop()
            raise
    except BaseException:
        if started:
            undo_run(args.out, aside)
        remove_created(created)
        raise
    try:
        history = algo.learn(args.total_env_steps, stop_return=args.stop_return,
                             stop_eval_return=args.stop_eval_return, eval_every=args.eval_every,
                             eval_episodes=args.eval_episodes)
        checkpoint = algo.save(Path(args.out) / "checkpoint")
    except BaseException:
        # no checkpoint: --out goes back to what the run found (a retry needs no --overwrite)
        algo.stop()
        undo_run(args.out, aside)
        remove_created(created)
        raise
    if aside is not None:
        remove_old_run(aside)
    try:
        evaluation = algo.evaluate(args.eval_episodes)
    finally:
        algo.stop()
    last = history[-1] if history else {}
    return {"algorithm": algo.name, "iterations": algo.iteration, "env_steps": algo.env_steps,
            "episode_return_mean": last.get("episode_return_mean"),
            "eval_return_mean": evaluation["episode_return_mean"], "checkpoint": str(checkpoint),
            "metrics": str(Path(args.out) / "metrics.jsonl")}


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    if not args.checkpoint:
        raise UsageError("the checkpoint folder name is empty")
    if os.path.exists(args.checkpoint) and not os.path.isdir(args.checkpoint):
        raise UsageError(f"{args.checkpoint}: is a file, not a checkpoint folder")
    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    inner = os.path.join(args.checkpoint, "checkpoint")
    if (os.path.isdir(args.checkpoint) and not os.path.exists(os.path.join(args.checkpoint, "metadata.json"))
            and os.path.isfile(os.path.join(inner, "metadata.json"))):
        # a run folder from train: its checkpoint is one level down. Named, not guessed: the
        # folder could hold other checkpoints, and the command line should say what it evaluates
        raise UsageError(f"{args.checkpoint}: not a checkpoint (no metadata.json); did you mean {inner}?")
    from .algorithm import Algorithm

    algo = Algorithm.restore(args.checkpoint, num_rollout_workers=0, output_dir=None)
    try:
        result = algo.evaluate(args.episodes, seed=args.seed)
    finally:
        algo.stop()
    return {"algorithm": algo.name, "checkpoint": args.checkpoint, **result}


def _check_env(args: argparse.Namespace) -> dict[str, Any]:
    from gymnasium.utils.env_checker import check_env

    from .preprocessing import Preprocessor
    from .rollout import action_masks_method, describe_error, make_env

    env = make_env(args.env, _env_config(args.env_config))
    pre = Preprocessor(env.observation_space, env.action_space)
    masks = "observation['action_mask']" if pre.has_mask_key else (
        "action_masks()" if action_masks_method(env) is not None else "none")
    try:
        check_env(env.unwrapped, skip_render_check=True)
    except Exception as err:  # its own asserts, or whatever the env raises on its random actions
        import traceback

        frame = traceback.extract_tb(err.__traceback__)[-1]
        what = describe_error(err)
        note = ("; check_env steps with random actions and ignores action masks, so an env that "
                "raises on a masked action can fail it") if masks != "none" else ""
        raise UsageError(f"env {args.env!r} fails gymnasium's check_env: {what} "
                         f"(at {Path(frame.filename).name}:{frame.lineno} in {frame.name}){note}") from None
    return {"env": args.env, "observation_space": str(env.observation_space),
            "action_space": str(env.action_space), "flat_obs_dim": pre.flat_dim,
            "num_actions": pre.num_actions, "action_mask": masks, "check_env": "passed"}


def _print_human(command: str, result: dict[str, Any]) -> None:
    if command == "envs":
        for env_id in result["envs"]:
            print(env_id)
        return
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        if isinstance(value, list):
            value = ", ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in value)
        print(f"{key}: {value}")


def _bad_input_errors() -> tuple[type[Exception], ...]:
    """The errors from torch-importing modules that mean bad input (exit 2), like ``ConfigError``
    and ``UsageError``. Called only while an error is being handled: a command that never got as
    far as importing torch does not import it for its error."""
    from .algorithm import CheckpointError
    from .masking import NoValidActionError
    from .preprocessing import UnsupportedSpaceError
    from .policies import ModelOutputError
    from .rollout import EnvError, EnvStepError

    return (UnsupportedSpaceError, CheckpointError, NoValidActionError, EnvError, EnvStepError,
            ModelOutputError)


def _internal_error(name: str, err: Exception) -> int:
    """A bug, not bad input: one line, exit 1 (details at debug level)."""
    logging.getLogger(__name__).debug("internal error", exc_info=err)
    print(f"{name}: internal error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
          file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    return sysml_cli.run_main(lambda: _prog().removeprefix("python -m "), lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(read_dash_values(parser, argv, [parser, *parser.subcommand_parsers]))
    name = _prog().removeprefix("python -m ")  # errors name the program, as deepquery's and autopandas' do
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "train":
            result = _train(args)
        elif args.command == "evaluate":
            result = _evaluate(args)
        elif args.command == "check-env":
            result = _check_env(args)
        else:
            result = {"envs": list(EXAMPLE_ENV_IDS)}
    except KeyboardInterrupt as err:  # first: the clause below may import modules
        print(sysml_cli.interrupt_line(name, err), file=sys.stderr)
        return 1
    except (ConfigError, UsageError) as err:
        print(f"{name}: error: {sysml_cli.one_line(str(err))}", file=sys.stderr)
        return 2
    except _bad_input_errors() as err:
        print(f"{name}: error: {sysml_cli.one_line(str(err))}", file=sys.stderr)
        return 2
    except MemoryError as err:  # sizes the user asked for (--buffer-size, --rollout-steps...)
        what = str(err).splitlines()[0] if str(err) else "MemoryError"
        print(f"{name}: error: not enough memory for this run ({what}); ask for smaller sizes",
              file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug, not bad input: one line, exit 1
        if (too_long := sysml_cli.name_too_long(err)) is not None:  # --out, a checkpoint's
            print(f"{name}: error: {too_long}", file=sys.stderr)
            return 2
        return _internal_error(name, err)
    try:
        if getattr(args, "json", False):
            print(json.dumps(json_safe(result)))  # a NaN return prints as null: valid JSON
        else:
            _print_human(args.command, result)
        sys.stdout.flush()  # a write error of buffered output is reported here, not at exit
    except OSError as err:  # stdout itself: a reader that went away (``| head``), ``> /dev/full``
        return sysml_cli.output_failed(name, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
