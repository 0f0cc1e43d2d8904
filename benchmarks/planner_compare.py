"""Which planner reaches best within a time budget? The arm reach task in the in-process PyBullet
simulator (no ROS), with one model learned from exploration, for every planner and budget.

    .venv/bin/python benchmarks/planner_compare.py [--quick] [--targets 20] [--out planner_compare.json]

Prints final error and success rate (final error under 3 cm) per planner and planning budget,
writes JSON and a PNG. The controller's defaults (config/arm.yaml) come from this comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import NullLocator

from mbrl_ros.core.control.exploration import WaypointExplorer
from mbrl_ros.core.control.mpc import MPC
from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.models.training import TrainConfig, train_ensemble
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.planning.planners import PLANNERS, PlannerConfig
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims.fixed_base import RobotSim
from mbrl_ros.core.tasks.reach import ReachTask
from mbrl_ros.plotting import two_panels

SUCCESS_M = 0.03


def explore_and_learn(sim, spec, dt, substeps, seconds, rng) -> GaussianEnsemble:
    explorer = WaypointExplorer(spec, {}, dt, rng)
    states, actions, next_states = [], [], []
    state = sim.state()
    for _ in range(int(seconds / dt)):
        action = explorer(state)
        sim.command(action)
        sim.step(substeps)
        states.append(state)
        actions.append(action)
        state = sim.state()
        next_states.append(state)
    model = GaussianEnsemble(spec.state_dim, spec.dof)
    train_ensemble(model, Transitions(np.array(states), np.array(actions), np.array(next_states)),
                   TrainConfig(max_epochs=80, patience=10))
    return model.eval()


def reach(sim, mpc, goal, seconds, dt, substeps, budget) -> tuple[float, list[float]]:
    mpc.reset()
    latencies = []
    for _ in range(int(seconds / dt)):
        started = time.monotonic()
        command, info = mpc.act(sim.state(), goal, deadline=started + budget)
        latencies.append(info["latency"])
        sim.command(command)
        sim.step(substeps)
    return mpc.task.error(sim.state(), goal), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer targets and budgets")
    parser.add_argument("--planners", default=",".join(sorted(PLANNERS)))
    parser.add_argument("--targets", type=int, help="reach targets per planner and budget (default 10, quick 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, as the controller uses")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="dtype of the candidates' model products")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                        help="a PlannerConfig field for every planner, e.g. learning_rate=0.2 or gradient_steps=10")
    parser.add_argument("--out", default="planner_compare.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    params = node_parameters(robot_config("arm"), "controller")
    spec = RobotSpec.from_params(params)
    dt = 1.0 / params["control_rate"]
    task = ReachTask(spec, params)
    sim = RobotSim(spec, initial_positions=np.array(params["workspace_center"]))
    substeps = round(dt / sim.time_step)
    rng = np.random.default_rng(0)
    print("exploring for 60 s of simulated time and learning a model ...")
    model = explore_and_learn(sim, spec, dt, substeps, 60.0, rng)
    budgets = [0.01, 0.04] if args.quick else [0.01, 0.02, 0.04, 0.08]
    targets = args.targets or (4 if args.quick else 10)
    goals = [task.random_goal(np.random.default_rng(100 + i)) for i in range(targets)]

    overrides = {name: float(value) if "." in value else int(value)
                 for name, value in (item.split("=", 1) for item in args.config)}
    rows = []
    print(f"{'planner':8} {'budget ms':>9} {'median cm':>9} {'success':>8} {'p50 plan ms':>11}")
    for name in args.planners.split(","):
        for budget in budgets:
            config = PlannerConfig(horizon=params["horizon"], population=params["population"],
                                   elites=params["elites"], iterations=10, **overrides)
            mpc = MPC(task, *spec.command_bounds, model, config, planner=name, rollout_precision=args.precision)
            sim.reset(np.array(params["workspace_center"]))
            finals, latencies = [], []
            for goal in goals:
                final, steps = reach(sim, mpc, goal, 6.0, dt, substeps, budget)
                finals.append(final)
                latencies += steps
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
