"""The benchmarks run on demand, not in CI; these keep their parts working on a tiny problem."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import planner_bench  # noqa: E402

from mbrl_ros.core.models.ensemble import GaussianEnsemble  # noqa: E402
from mbrl_ros.core.planning.planners import PLANNERS  # noqa: E402

TINY = argparse.Namespace(min_runs=2, budget=0.0)


@pytest.mark.parametrize("planner", sorted(PLANNERS))
def test_planner_timing_runs_every_planner(planner):
    model = GaussianEnsemble(4, 2, members=5, hidden=16, layers=3).eval()
    times = planner_bench.time_planner(model, 4, 2, planner, 5, 20, 2, torch.float32, "cpu", TINY)
    assert len(times) >= TINY.min_runs and all(t > 0 for t in times)


def test_matmul_limit_and_naive_loop_run():
    model = GaussianEnsemble(4, 2, members=5, hidden=16, layers=3).eval()
    assert len(planner_bench.time_matmul_limit(model, 20, 5, 2, torch.float32, "cpu", TINY)) >= TINY.min_runs
    assert planner_bench.naive_throughput(model, 4, 2, horizon=5, candidates=3) > 0


def test_deadline_table_covers_every_robot_config():
    rows = planner_bench.time_deadlines(TINY)
    configs = {path.stem for path in (Path(__file__).parents[1] / "config").glob("*.yaml")} - {"arm_joint_limits"}
    assert {r["robot"] for r in rows} == configs
    drone = next(r for r in rows if r["robot"] == "drone")
    assert (drone["state_dim"], drone["action_dim"]) == (15, 4) and drone["deadline_ms"] == 16.0
    assert all(r["plan_p50_ms"] > 0 for r in rows)


def test_command_table_times_every_robots_mpc_and_a_policy():
    rows = planner_bench.time_commands(argparse.Namespace(min_runs=2, budget=0.0, threads=1))
    assert {r["robot"] for r in rows} == {r["robot"] for r in planner_bench.time_deadlines(TINY)}
    assert all(0 < r["policy_p50_ms"] and 0 < r["mpc_p50_ms"] for r in rows)


def test_the_hand_benchmark_learns_and_turns_the_valve_with_the_controllers_loop(tmp_path):
    """A tiny run of benchmarks/hand_learning.py: exploration, a model, a round of goals, the figures."""
    out = tmp_path / "hand.json"
    subprocess.run([sys.executable, str(BENCHMARKS / "hand_learning.py"), "--explore", "3", "--rounds", "1",
                    "--round-seconds", "2", "--target-seconds", "1", "--targets", "2", "--epochs", "2",
                    "--out", str(out)], check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert [s["stage"] for s in result["stages"]] == ["explore", "round 1"]
    assert len(result["final_errors_rad"]) == 2 and result["interaction_s"] == pytest.approx(5.0, abs=0.2)


def test_the_hand_benchmark_gives_a_checkpoint_the_goals_with_a_robots_latency(tmp_path):
    """--checkpoint: no learning, the goals only; --latency: the world runs on the old command that
    long, and the hand's config, which measures its command delay (none in process), is given it."""
    from mbrl_ros.core.control.in_process import InProcessRobot

    hand = InProcessRobot("hand")
    learner = hand.learner(max_epochs=1)
    learner.train(hand.run(2.0))
    checkpoint = learner.save(tmp_path / "model.pt", {})
    hand.close()
    out = tmp_path / "goals.json"
    subprocess.run([sys.executable, str(BENCHMARKS / "hand_learning.py"), "--checkpoint", str(checkpoint),
                    "--latency", "0.05", "--targets", "2", "--target-seconds", "0.5", "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert result["stages"] == [] and result["interaction_s"] == 0.0 and len(result["final_errors_rad"]) == 2
    assert result["latency_s"] == 0.05 and result["command_delay_s"] == 0.05


def test_the_data_scale_benchmark_writes_an_arms_recording_and_reads_it_as_the_tools_and_the_trainer_do(tmp_path):
    out = tmp_path / "data_scale.json"
    subprocess.run([sys.executable, str(BENCHMARKS / "data_scale.py"), "--minutes", "0.25", "--rate", "100",
                    "--keep", str(tmp_path / "recordings"), "--out", str(out)], check=True, capture_output=True,
                   timeout=300)
    row = json.loads(out.read_text())[0]
    assert row["messages"] == 15 * 100 + 15 * 20 and len(list((tmp_path / "recordings").rglob("metadata.yaml"))) == 2
    offline, trainer = row["offline"], row["trainer"]
    assert offline["rejected"] == trainer["rejected"] == 0 and offline["transitions"] >= 15 * 20 - 2
    assert offline["transitions"] - 5 <= trainer["transitions"] < offline["transitions"], "the newest wait"
    assert trainer["last_poll_s"] > 0 and offline["peak_rss_mb"] > 0


def test_the_data_scale_benchmark_trains_one_model_from_a_fleets_recordings_with_the_cli(tmp_path):
    out = tmp_path / "fleet.json"
    subprocess.run([sys.executable, str(BENCHMARKS / "data_scale.py"), "--fleet", "2", "--minutes", "0.25", "--rate",
                    "100", "--epochs", "2", "--keep", str(tmp_path / "fleet"), "--out", str(out)], check=True,
                   capture_output=True, timeout=300)
    row = json.loads(out.read_text())[0]
    assert row["messages"] == 2 * (15 * 100 + 15 * 20) and "ray" not in row
    assert row["one_process"]["train_size"] >= 0.85 * 2 * (15 * 20 - 2) and row["one_process"]["held_out_mse"] > 0
    assert len(list((tmp_path / "fleet").rglob("one_process.pt"))) == 1
