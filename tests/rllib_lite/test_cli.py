"""The command line, run for real as subprocesses with tiny budgets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rllib_lite", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_train_then_evaluate_writes_config_metrics_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    r = run("train", "dqn", "--out", str(out), "--total-env-steps", "96", "--train-freq", "32",
            "--learning-starts", "32", "--gradient-steps", "2", "--hidden-sizes", "16,16",
            "--env", "rllib_lite/MaskedPick-v0", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["env_steps"] == 96 and summary["iterations"] == 3
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "config.json").read_text())["hidden_sizes"] == [16, 16]
    assert json.loads((out / "checkpoint" / "metadata.json").read_text())["algorithm"] == "DQN"
    r = run("evaluate", str(out / "checkpoint"), "--episodes", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["episode_returns"]) == 2


def test_bad_input_gives_one_line_and_exit_code_2(tmp_path):
    cases = [
        (("train", "ppo", "--out", str(tmp_path / "a"), "--total-env-steps", "10", "--clip-range", "2"),
         "PPOConfig.clip_range must be in (0, 1]"),
        (("train", "ppo", "--out", str(tmp_path / "b"), "--total-env-steps", "10", "--env", "NoSuchEnv-v9"),
         "NoSuchEnv"),
        (("evaluate", str(tmp_path / "missing")), "no such checkpoint folder"),
    ]
    for args, message in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rllib_lite: error: ") and message in lines[0], r.stderr


def test_check_env_reports_the_mask_source():
    r = run("check-env", "rllib_lite/MaskedPick-v0", "--env-config", '{"mask_in_obs": false}', "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action_mask"] == "action_masks()"


_TINY = ("--total-env-steps", "16", "--num-envs-per-worker", "1", "--rollout-steps", "16",
         "--minibatch-size", "16", "--eval-episodes", "1")


def main_in_process(capsys, *args):
    """(exit code, stderr lines) of the CLI's main() called in this process."""
    from rllib_lite.__main__ import main

    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse errors
        code = stop.code
    return code, capsys.readouterr().err.strip().splitlines()


def test_more_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    a_file = tmp_path / "rules.txt"
    a_file.write_text("not a folder")
    out = str(tmp_path / "run")
    cases = [
        (("train", "ppo", "--out", str(a_file), "--total-env-steps", "10"), "is a file, not a folder"),
        (("train", "ppo", "--out", out, "--total-env-steps", "0"), "--total-env-steps must be >= 1"),
        (("train", "ppo", "--out", out, "--total-env-steps", "10", "--stop-return", "nan"), "finite"),
        (("train", "ppo", "--out", out, "--total-env-steps", "10", "--eval-every", "0"), "--eval-every"),
        (("train", "ppo", "--out", out, "--total-env-steps", "10", "--hidden-sizes", "abc"),
         "expected comma-separated integers, got 'abc'"),
        (("train", "ppo", "--out", out, "--total-env-steps", "10", "--activation", "x"), "activation"),
        (("train", "sac", "--out", out), "invalid choice: 'sac'"),
        (("evaluate", str(tmp_path), "--seed", "-1"), "--seed must be >= 0"),
        (("check-env", "a:b:c"), "is not a gymnasium env id"),
        # importlib's TypeError about relative imports was blamed on the (empty) env_config:
        # "does not accept env_config {}: the 'package' argument is required ..."
        (("check-env", "../x:Y-v0"), "is not a gymnasium env id"),
    ]
    for args, message in cases:
        code, lines = main_in_process(capsys, *args)
        assert code == 2, (args, lines)
        assert len(lines) == 1 and message in lines[0], (args, lines)
    assert a_file.read_text() == "not a folder" and not (tmp_path / "run").exists()


def test_train_refuses_an_out_folder_holding_a_run_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    common = ("--out", str(out), "--total-env-steps", "64", "--num-envs-per-worker", "2",
              "--rollout-steps", "32", "--minibatch-size", "32", "--num-epochs", "1")
    assert main_in_process(capsys, "train", "ppo", *common)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, lines = main_in_process(capsys, "train", "ppo", *common, "--seed", "5")
    assert code == 2 and len(lines) == 1 and "already holds a run" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # untouched
    (out / "notes.txt").write_text("mine")
    assert main_in_process(capsys, "train", "ppo", *common, "--seed", "5", "--overwrite")[0] == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # the new run's only
    assert json.loads((out / "config.json").read_text())["seed"] == 5
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


def test_stop_eval_return_stops_at_the_first_good_greedy_evaluation(tmp_path):
    from rllib_lite import PPO, PPOConfig

    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_envs_per_worker=2, rollout_steps=16,
                         minibatch_size=32, num_epochs=1))
    try:
        # a greedy CartPole policy lasts at least 8 steps: the first evaluation stops the run
        history = algo.learn(10_000, stop_eval_return=8.0, eval_every=64, eval_episodes=3)
        assert algo.env_steps == 64 and len(history) == 2
        assert "eval_return_mean" not in history[0] and history[1]["eval_return_mean"] >= 8.0
        # an unreachable bar: every 64 steps an evaluation, and the budget decides
        history = algo.learn(256, stop_eval_return=1e9, eval_every=64, eval_episodes=3)
        assert algo.env_steps == 256 and sum("eval_return_mean" in m for m in history) == 3
    finally:
        algo.stop()


def test_metrics_jsonl_lines_hold_the_evaluations(tmp_path):
    from rllib_lite import PPO, PPOConfig

    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_envs_per_worker=2, rollout_steps=16,
                         minibatch_size=32, num_epochs=1, output_dir=str(tmp_path)))
    try:
        history = algo.learn(160, stop_eval_return=1e9, eval_every=64, eval_episodes=2)
    finally:
        algo.stop()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == [m["iteration"] for m in history] == [1, 2, 3, 4, 5]
    assert [m.get("eval_return_mean") for m in lines] == [m.get("eval_return_mean") for m in history]
    assert sum("eval_return_mean" in m for m in lines) == 2  # after 64 and 128 steps


def test_help_and_argument_errors_answer_without_importing_torch(tmp_path):
    """The configs (and so the flags) and the argument checks need no torch: --help, a config
    field out of range and a bad --total-env-steps are answered before torch is imported."""
    probe = (
        "import sys\n"
        "from rllib_lite.__main__ import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print('torch imported:', 'torch' in sys.modules, 'exit:', code)\n"
    )
    out = str(tmp_path / "run")
    for args in (["--help"], ["train", "dqn", "--help"],
                 ["train", "ppo", "--out", out, "--total-env-steps", "10", "--lr", "-1"],
                 ["train", "ppo", "--out", out, "--total-env-steps", "0"], ["envs"]):
        r = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
        assert "torch imported: False" in r.stdout, (args, r.stdout, r.stderr)
    # and the package still hands out the torch-backed names on first use
    r = subprocess.run([sys.executable, "-c", "import rllib_lite, sys; rllib_lite.PPO; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "True", r.stderr


def test_check_env_on_an_env_that_raises_on_a_masked_action_is_one_line_naming_where(capsys):
    # check_env steps with random actions; an env that raises anything but AssertionError on a
    # masked one used to escape as "internal error" (exit 1), and a bare assert gave an empty reason
    import gymnasium as gym
    import numpy as np

    class Strict(gym.Env):
        def __init__(self, bare_assert=False):
            self.bare_assert = bare_assert
            self.action_space = gym.spaces.Discrete(4)
            self.observation_space = gym.spaces.Dict(
                {"obs": gym.spaces.Box(0, 1, (2,)), "action_mask": gym.spaces.MultiBinary(4)})

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return {"obs": np.zeros(2, np.float32), "action_mask": np.zeros(4, np.int8)}, {}

        def step(self, action):
            assert not self.bare_assert
            raise ValueError(f"action {action} is masked")

    if "rllib_lite_test/Strict-v0" not in gym.registry:
        gym.register(id="rllib_lite_test/Strict-v0", entry_point=Strict)
    code, err = main_in_process(capsys, "check-env", "rllib_lite_test/Strict-v0")
    assert code == 2 and len(err) == 1
    assert "ValueError: action" in err[0] and "in step" in err[0] and "ignores action masks" in err[0]
    code, err = main_in_process(capsys, "check-env", "rllib_lite_test/Strict-v0", "--env-config",
                                '{"bare_assert": true}')
    assert code == 2 and len(err) == 1 and "AssertionError" in err[0] and "test_cli.py:" in err[0]


def test_a_run_refused_at_start_up_leaves_no_folder_and_keeps_what_was_there(tmp_path, capsys):
    # an --env that does not exist is found while the algorithm is built, after --out was made:
    # the run exited 2 but left the empty folders --out and its new parents behind
    bad_env = ("--env", "CartPole-v2", "--total-env-steps", "16")
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(tmp_path / "x" / "r9"), *bad_env)
    assert code == 2 and len(lines) == 1 and "CartPole-v2" in lines[0], lines
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()  # a folder that was there before is never removed
    assert main_in_process(capsys, "train", "ppo", "--out", str(tmp_path / "empty"), *bad_env)[0] == 2
    assert (tmp_path / "empty").is_dir()


def _tree(root) -> list[str]:
    return sorted(f"{p.relative_to(root)}{'@' if p.is_symlink() else '/' if p.is_dir() else ''}"
                  for p in root.rglob("*"))


@pytest.mark.parametrize("out, cwd", [
    ("x/new/../e", None),                  # old: removed e (there before, empty), left new
    ("new/../e", "x"),                     # the same, relative to the working folder
    ("x/a/b/../../c", None),               # old: left a and a/b
    ("x/ln/new/../../q", None),            # .. after a symlink: y/deep/new and y/q; old left y/deep/new
    ("x/new1/new2/run/", None),            # new parents, trailing slash
    ("x/./new/.", None),
    ("x/new/../f/run", None),              # a file on the way: old left new
])
def test_a_refused_run_removes_exactly_the_folders_it_created(tmp_path, capsys, monkeypatch, out, cwd):
    # _make_out listed as created each lexical parent of --out that did not exist, and removed
    # them deepest first, stopping at the first it could not remove: a "new/.." does not exist
    # before new is made, so with a .. the list named folders the run never made (the empty e
    # was removed) and missed those it did (rmdir of "new/.." fails, and removal stopped there)
    (tmp_path / "x" / "e").mkdir(parents=True)
    (tmp_path / "y" / "deep").mkdir(parents=True)
    (tmp_path / "x" / "ln").symlink_to(tmp_path / "y" / "deep")
    (tmp_path / "x" / "f").write_text("mine")
    before = _tree(tmp_path)
    if cwd:
        monkeypatch.chdir(tmp_path / cwd)
    target = out if cwd else f"{tmp_path}/{out}"
    code, lines = main_in_process(capsys, "train", "ppo", "--out", target, "--env", "CartPole-v2",
                                  "--total-env-steps", "16")
    assert code == 2 and len(lines) == 1, lines
    assert ("CartPole-v2" in lines[0]) != out.endswith("f/run"), lines
    assert _tree(tmp_path) == before
    assert (tmp_path / "x" / "f").read_text() == "mine"


def test_a_run_held_behind_a_dotdot_after_a_new_folder_is_refused_too(tmp_path, capsys):
    # the held-run check ran before --out was made: x/new/../old led nowhere then, so the new
    # run replaced the one in old without --overwrite (exit 0), and left new behind
    old = tmp_path / "x" / "old"
    (old / "checkpoint").mkdir(parents=True)
    (old / "checkpoint" / "metadata.json").write_text("{}")
    (old / "config.json").write_text('{"seed": 1}')
    (old / "metrics.jsonl").write_text('{"iteration": 1}\n')
    before = _tree(tmp_path), (old / "config.json").read_text(), (old / "metrics.jsonl").read_text()
    code, lines = main_in_process(capsys, "train", "ppo", "--out", f"{tmp_path}/x/new/../old", *_TINY)
    assert code == 2 and len(lines) == 1 and "already holds a run" in lines[0], lines
    assert (_tree(tmp_path), (old / "config.json").read_text(), (old / "metrics.jsonl").read_text()) == before


def test_overwrite_by_a_run_refused_at_start_up_keeps_the_old_run_whole(tmp_path, capsys):
    # the old code removed the old run's metrics.jsonl and checkpoint before building the
    # algorithm, so an --env that does not exist lost them
    bad_env = ("--env", "CartPole-v2", "--total-env-steps", "16")
    old = tmp_path / "old"
    (old / "checkpoint").mkdir(parents=True)
    (old / "checkpoint" / "metadata.json").write_text("{}")
    (old / "config.json").write_text('{"seed": 1}')
    (old / "metrics.jsonl").write_text('{"iteration": 1}\n')
    before = {str(p.relative_to(old)): p.read_text() for p in old.rglob("*") if p.is_file()}
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(old), "--overwrite", *bad_env)
    assert code == 2, lines
    assert {str(p.relative_to(old)): p.read_text() for p in old.rglob("*") if p.is_file()} == before


def test_errors_name_the_program_like_the_other_clis(tmp_path, capsys):
    code, lines = main_in_process(capsys, "evaluate", str(tmp_path / "missing"))
    assert code == 2 and len(lines) == 1 and lines[0].startswith("rllib_lite: error: "), lines
    code, lines = main_in_process(capsys, "train", "sac")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("rllib_lite train: error: "), lines


def test_an_empty_out_or_checkpoint_name_is_bad_input(tmp_path, capsys, monkeypatch):
    # --out '' trained: Path('') is the working folder, so the checkpoint went there while
    # config.json and metrics.jsonl were skipped (an empty output_dir means none); evaluate ''
    # said ".: not a checkpoint"
    monkeypatch.chdir(tmp_path)
    code, lines = main_in_process(capsys, "train", "ppo", "--out", "", *_TINY)
    assert code == 2 and lines == ["rllib_lite: error: --out is empty: name the output folder"], lines
    assert list(tmp_path.iterdir()) == []
    code, lines = main_in_process(capsys, "evaluate", "")
    assert code == 2 and lines == ["rllib_lite: error: the checkpoint folder name is empty"], lines


def test_evaluate_of_a_file_says_it_is_a_file(tmp_path, capsys):
    # it said "no such checkpoint folder", as for a path that does not exist
    (tmp_path / "state.pt").write_text("x")
    code, lines = main_in_process(capsys, "evaluate", str(tmp_path / "state.pt"))
    assert code == 2 and lines == [f"rllib_lite: error: {tmp_path / 'state.pt'}: is a file, not a checkpoint folder"]


@pytest.mark.parametrize("flag, value", [("--lr", "inf"), ("--lr", "1e400"), ("--vf-coef", "inf"),
                                         ("--sample-timeout-s", "inf"), ("--max-grad-norm", "-inf")])
def test_config_flags_take_finite_numbers_only(tmp_path, capsys, flag, value):
    # an lr of inf passed "lr must be > 0" and trained to NaN weights (exit 0)
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(tmp_path / "r"), *_TINY, f"{flag}={value}")
    assert code == 2 and len(lines) == 1 and f"argument {flag}: expected a finite number" in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_a_seed_past_64_bits_or_more_learner_threads_than_cores_is_bad_input(tmp_path, capsys):
    # torch.manual_seed overflowed (internal error, exit 1); torch started every learner thread
    # asked for (100000 crashed the process with SIGSEGV and no message)
    out = str(tmp_path / "r")
    code, lines = main_in_process(capsys, "train", "ppo", "--out", out, *_TINY, "--seed", str(2**64))
    assert code == 2 and len(lines) == 1 and "PPOConfig.seed must be < 2**64" in lines[0], lines
    too_many = (os.cpu_count() or 1) + 1
    code, lines = main_in_process(capsys, "train", "ppo", "--out", out, *_TINY,
                                  "--num-learner-threads", str(too_many))
    assert code == 2 and len(lines) == 1 and "PPOConfig.num_learner_threads must be at most" in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_a_size_too_large_for_memory_is_bad_input(tmp_path, capsys):
    # a replay buffer of 1.4 PiB was an internal error (MemoryError, exit 1)
    code, lines = main_in_process(capsys, "train", "dqn", "--out", str(tmp_path / "r"), "--total-env-steps", "16",
                                  "--eval-episodes", "1", "--buffer-size", "99999999999999")
    assert code == 2 and len(lines) == 1 and "not enough memory for this run" in lines[0], lines


def test_an_env_id_naming_a_module_that_does_not_exist_is_bad_input(tmp_path, capsys):
    # gymnasium's ModuleNotFoundError was an internal error (exit 1)
    code, lines = main_in_process(capsys, "check-env", "no_such_envs_module:Fn-v0")
    assert code == 2 and lines == [("rllib_lite: error: env 'no_such_envs_module:Fn-v0': no module named "
                                    "'no_such_envs_module'")], lines
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(tmp_path / "r"), *_TINY,
                                  "--env", "no_such_envs_module.sub:Fn-v0")
    assert code == 2 and len(lines) == 1 and "no module named 'no_such_envs_module'" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_an_env_whose_code_cannot_be_imported_is_bad_input(tmp_path, capsys, monkeypatch):
    # a module:Id whose module imports a package not installed here, or a registered id whose
    # entry point's module is missing, was 'internal error' (exit 1); gymnasium's own envs
    # without their package (DependencyNotInstalled) were already bad input
    (tmp_path / "envs_needing_a_package.py").write_text("import no_such_package_for_envs\n")
    (tmp_path / "envs_with_a_lost_entry_point.py").write_text(
        "import gymnasium\ngymnasium.register('LostEntry-v0', entry_point='no_such_entry_module:Env')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, lines = main_in_process(capsys, "check-env", "envs_needing_a_package:Fn-v0")
    assert code == 2 and lines == [("rllib_lite: error: env 'envs_needing_a_package:Fn-v0': importing its code "
                                    "failed: ModuleNotFoundError: No module named 'no_such_package_for_envs'")], lines
    out = tmp_path / "r"
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(out), *_TINY,
                                  "--env", "envs_with_a_lost_entry_point:LostEntry-v0")
    assert code == 2 and len(lines) == 1 and "No module named 'no_such_entry_module'" in lines[0], lines
    assert not out.exists()


@pytest.fixture
def unwritable_folder(tmp_path):
    """An existing folder no file can be created in: a read-only one, or /sys/kernel for root
    (who writes in any folder whose mode forbids it)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    folder = Path("/sys/kernel")
    try:
        (folder / "rllib_lite_probe").open("w").close()
    except OSError:
        yield folder
        return
    (folder / "rllib_lite_probe").unlink()
    pytest.skip("no folder here refuses root's writes")


def test_an_out_folder_no_file_can_be_written_in_is_bad_input(unwritable_folder, tmp_path, capsys):
    # the run failed writing config.json once the algorithm was built: an internal error
    # (PermissionError, exit 1)
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(unwritable_folder), *_TINY)
    assert code == 2 and lines == [(f"rllib_lite: error: --out {unwritable_folder}: cannot write there: "
                                    "Permission denied")], lines
    assert not [p for p in unwritable_folder.iterdir() if p.name.startswith(".rllib_lite")]


@pytest.mark.parametrize("command", [(), ("train", "ppo"), ("train", "dqn"), ("evaluate",), ("check-env",), ("envs",)])
def test_help_is_plain_text_and_lists_the_exit_codes(command):
    # --help showed the module docstring's ``python -m rllib_lite ...`` and a config field's
    # ``env_config -> gymnasium.Env``, and named no exit code
    r = run(*command, "--help")
    assert r.returncode == 0 and "`" not in r.stdout, r.stdout
    assert "exit codes: 0 done; 1 internal error" in " ".join(r.stdout.split())
    assert "2 bad input" in " ".join(r.stdout.split())


def test_evaluate_of_a_run_folder_names_its_checkpoint_subfolder(tmp_path, capsys):
    # the old code said "<run>: not a checkpoint (no metadata.json)", without the way out
    run_dir = tmp_path / "runs" / "ppo"
    (run_dir / "checkpoint").mkdir(parents=True)
    (run_dir / "checkpoint" / "metadata.json").write_text('{"algorithm": "PPO"}')
    code, lines = main_in_process(capsys, "evaluate", str(run_dir))
    want = (f"rllib_lite: error: {run_dir}: not a checkpoint (no metadata.json); "
            f"did you mean {run_dir / 'checkpoint'}?")
    assert code == 2 and lines == [want], lines
    # a folder without a checkpoint below keeps the plain refusal
    code, lines = main_in_process(capsys, "evaluate", str(tmp_path / "runs"))
    assert code == 2 and lines == [f"rllib_lite: error: {tmp_path / 'runs'}: not a checkpoint (no metadata.json)"], lines


@pytest.mark.parametrize("flags, expected", [
    (("--lr", "-1e-3"), "PPOConfig.lr must be a finite number > 0, got -0.001"),
    (("--hidden-sizes", "-5,6"), "PPOConfig.hidden_sizes must be positive ints, got (-5, 6)"),
    (("--max-grad-norm", "-inf"), "argument --max-grad-norm: expected a finite number, got '-inf'"),
    (("--out", "-x"), "argument --out: expected one argument ('-x' reads as an option: write --out=-x"),
])
def test_a_value_starting_with_a_dash_reaches_the_flags_check(tmp_path, capsys, monkeypatch, flags, expected):
    # argparse reads '-1e-3', '-5,6', '-inf' as options unless written --flag=VALUE: every one was
    # 'argument --lr: expected one argument', which does not say what is wrong
    monkeypatch.chdir(tmp_path)
    out = () if flags[0] == "--out" else ("--out", "r")
    code, lines = main_in_process(capsys, "train", "ppo", *out, *_TINY, *flags)
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_a_negative_stop_return_in_exponent_form_is_read_as_a_number(tmp_path, capsys):
    # Acrobot-like returns are negative: --stop-return -1e3 was 'expected one argument', exit 2
    code, lines = main_in_process(capsys, "train", "ppo", "--out", str(tmp_path / "r"), *_TINY,
                                  "--total-env-steps", "256", "--rollout-steps", "64", "--minibatch-size", "64",
                                  "--stop-return", "-1e3", "--json")
    assert code == 0, lines
    assert len((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()) == 1  # stopped at once


def _run_into(stdout, *args):
    return subprocess.run([sys.executable, "-m", "rllib_lite", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_a_reader_that_went_away_ends_the_command_quietly():
    # `rllib_lite envs | head -0`: the pipe's reader is gone before anything is written.
    read, write = os.pipe()
    os.close(read)
    try:
        r = _run_into(write, "envs")
    finally:
        os.close(write)
    assert r.returncode == 1
    assert r.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored" line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_stdout_that_cannot_be_written_is_one_line():
    with open("/dev/full", "w") as full:
        r = _run_into(full, "envs")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["rllib_lite: cannot write the output: No space left on device"]


@pytest.mark.parametrize("value, said", [
    ("[" * 5000, "nested too deep"),
    ('{"a": ' + "9" * 5000 + "}", "an integer of more than 4300 digits"),
])
@pytest.mark.parametrize("command", [["check-env", "CartPole-v1"],
                                     ["train", "ppo", "--env", "CartPole-v1", "--total-env-steps",
                                      "16"]])
def test_an_env_config_python_cannot_read_is_one_line_exit_2(tmp_path, capsys, value, said,
                                                              command):
    # Old code: "internal error: RecursionError: maximum recursion depth exceeded while decoding
    # a JSON array ..." and "internal error: ValueError: Exceeds the limit (4300 digits) ...",
    # exit 1.
    out = ["--out", str(tmp_path / "run")] if command[0] == "train" else []
    code, err = main_in_process(capsys, *command, *out, "--env-config", value)
    assert code == 2 and err == [f"rllib_lite: error: --env-config is not valid JSON: {said}"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["check-env"], ["train", "ppo", "--total-env-steps", "16",
                                                      "--env"]])
def test_an_env_id_with_a_line_break_is_refused_on_one_line(tmp_path, capsys, command):
    # gymnasium quotes the id as it is: the error was two lines, "...: Malformed environment
    # ID: CartPole-v1" then ". (Currently all IDs must be ...)".
    out = ["--out", str(tmp_path / "run")] if command[0] == "train" else []
    code, err = main_in_process(capsys, *command, "CartPole-v1\n", *out)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("rllib_lite: error: env 'CartPole-v1\\n': Malformed environment ID")


def test_an_env_version_not_registered_is_one_line_without_gymnasiums_warning_before_it():
    # gymnasium warns that v0 is out of date, then fails naming v1: the warning came first, two
    # lines with its file and yellow colour codes, then the error (old: three lines)
    r = run("check-env", "rllib_lite/SlowCartPole-v0")
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["rllib_lite: error: env 'rllib_lite/SlowCartPole-v0': Environment version "
                                     "v0 for `rllib_lite/SlowCartPole` is deprecated. Please use "
                                     "`rllib_lite/SlowCartPole-v1` instead."]


def test_an_envs_warnings_are_one_line_each(tmp_path):
    # gymnasium's warnings (its checker's, an env's through gymnasium.logger) were Python's two
    # lines each, file and source line, with "WARN: " and yellow colour codes (old: 2 lines here,
    # plus 2 for each of the checker's: gymnasium 1.x warns of CartPole's unbounded Box, 0.29 not)
    (tmp_path / "warning_envs.py").write_text(
        "import gymnasium\n"
        "from gymnasium.envs.classic_control import CartPoleEnv\n"
        "class Warns(CartPoleEnv):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        gymnasium.logger.warn('this env\\nwarns')\n"
        "gymnasium.register('Warns-v0', entry_point=Warns, max_episode_steps=50)\n")
    r = run("check-env", "warning_envs:Warns-v0", cwd=tmp_path)
    assert r.returncode == 0 and "check_env: passed" in r.stdout, r.stderr
    lines = r.stderr.splitlines()
    assert "rllib_lite: warning: this env\\nwarns" in lines, lines
    assert all(line.startswith("rllib_lite: warning: ") for line in lines), lines
    assert "\x1b" not in r.stderr and "WARN:" not in r.stderr
