"""The command line, run for real as subprocesses with tiny budgets."""
from __future__ import annotations

import json
import subprocess
import sys


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
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr


def test_check_env_reports_the_mask_source():
    r = run("check-env", "rllib_lite/MaskedPick-v0", "--env-config", '{"mask_in_obs": false}', "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action_mask"] == "action_masks()"
