"""Which planner reaches best within a time budget? The arm reach task in process (no ROS), commanded
by the controller node's own control loop (core/control/in_process.py, config/arm.yaml: its rate
limits, settling and safety chain), with one model learned as the trainer learns it from a minute
of the configured exploration, for every planner and budget.

    .venv/bin/python benchmarks/planner_compare.py [--quick] [--targets 20] [--out planner_compare.json]

A budget is the planner's deadline within the 20 Hz control period (plan_deadline_fraction: 10 ms
is 0.2 of it), measured in wall time, so the figures depend on the machine: plans run up to 10
iterations and stop at the deadline. Prints final error and success rate (final error under 3 cm)
per planner and budget, writes JSON and a PNG. The controller's defaults (config/arm.yaml) come
from this comparison.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import NullLocator

from mbrl_ros.core.control.in_process import InProcessRobot
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.planning.planners import PLANNERS
from mbrl_ros.plotting import two_panels

SUCCESS_M = 0.03
RATE = node_parameters(robot_config("arm"), "controller")["control_rate"]
ITERATIONS = 10  # more than any budget here allows: the deadline decides


def explore_and_learn(seconds: float, seed: int) -> GaussianEnsemble:
    """The configured exploration for `seconds`, and a model trained on it as the trainer trains."""
    robot = InProcessRobot("arm", {"seed": seed})
    data = robot.run(seconds)
    learner = robot.learner(seed=seed)
    metrics = learner.train(data)
    print(f"{len(data)} transitions, held-out NLL {metrics['nll']:.2f}")
    robot.close()
    return learner.model.eval()


def reach(robot: InProcessRobot, goal: np.ndarray, seconds: float, latencies: list) -> float:
    """Pursue `goal` for `seconds` with the loop; the task's error at the end."""
    robot.loop.set_goal(goal)
    robot.run(seconds, on_tick=lambda: latencies.append(robot.loop.latencies[-1]))
    return robot.loop.task.error(robot.state(), goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer targets and budgets")
    parser.add_argument("--planners", default=",".join(sorted(PLANNERS)))
    parser.add_argument("--targets", type=int, help="reach targets per planner and budget (default 10, quick 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, as the controller uses")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="dtype of the candidates' model products")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a controller parameter for every planner, e.g. gradient_learning_rate=0.2")
    parser.add_argument("--out", default="planner_compare.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print("exploring for 60 s of simulated time and learning a model ...")
    model = explore_and_learn(60.0, seed=0)
    budgets = [0.01, 0.04] if args.quick else [0.01, 0.02, 0.04]
    targets = args.targets or (4 if args.quick else 10)
    overrides = {name: float(value) if "." in value else int(value)
                 for name, value in (item.split("=", 1) for item in args.set)}
    rows = []
    print(f"{'planner':8} {'budget ms':>9} {'median cm':>9} {'success':>8} {'p50 plan ms':>11}")
    for name in args.planners.split(","):
        for budget in budgets:
            robot = InProcessRobot("arm", {"planner": name, "iterations": ITERATIONS, "rollout_precision": args.precision,
                                           "plan_deadline_fraction": budget * RATE, **overrides}, deadlines=True)
            robot.loop.use_model(model)
            goals = [robot.loop.task.random_goal(np.random.default_rng(100 + i)) for i in range(targets)]
            latencies = []
            finals = [reach(robot, goal, 6.0, latencies) for goal in goals]
            robot.close()
            row = {"planner": name, "precision": args.precision, "config": overrides, "budget_ms": budget * 1e3,
                   "final_errors_m": finals,
                   "median_final_error_m": float(np.median(finals)),
                   "success_rate": float(np.mean(np.array(finals) < SUCCESS_M)),
                   "plan_p50_ms": float(np.median(latencies) * 1e3)}
            rows.append(row)
            print(f"{name:8} {budget * 1e3:9.0f} {row['median_final_error_m'] * 100:9.2f} "
                  f"{row['success_rate']:8.0%} {row['plan_p50_ms']:11.1f}", flush=True)
    Path(args.out).write_text(json.dumps({"targets": targets, "seconds_per_target": 6.0, "rows": rows}, indent=2))
    plot(rows, Path(args.out).with_suffix(".png"))
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.png')}")


def plot(rows: list[dict], path: Path) -> None:
    with two_panels(path, size=(11, 4)) as (left, right):
        for name in sorted({r["planner"] for r in rows}):
            mine = [r for r in rows if r["planner"] == name]
            budgets = [r["budget_ms"] for r in mine]
            left.plot(budgets, [r["median_final_error_m"] * 100 for r in mine], marker="o", label=name)
            right.plot(budgets, [r["success_rate"] * 100 for r in mine], marker="o", label=name)
        left.set(xlabel="planning budget (ms)", ylabel="median final error (cm)", xscale="log", yscale="log")
        right.set(xlabel="planning budget (ms)", ylabel="success (%): final error < 3 cm", xscale="log")
        budgets = sorted({r["budget_ms"] for r in rows})
        for axis in (left, right):
            axis.set_xticks(budgets, [f"{b:g}" for b in budgets])
            axis.xaxis.set_minor_locator(NullLocator())
        left.legend()


if __name__ == "__main__":
    main()
