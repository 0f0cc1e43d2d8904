"""How well does the learned MPC fly the drone, and how much planning does it need? In-process (no
ROS): the safety pilot flies for --explore seconds, an ensemble learns from that data, and the MPC
flies the demo's 4 goals 0.5 m apart (8 s each), then holds the last one, for each planner setting.

    .venv/bin/python benchmarks/drone_learning.py [--explore 100] [--hold 20] \\
        [--plans cem:1000:4,cem:800:3] [--hidden 128 --layers 2] [--out drone_learning.json]
    .venv/bin/python benchmarks/drone_learning.py --model mbrl_runs/drone_.../models/model_0004.pt

With --model, a checkpoint (from the ROS demo, say) flies instead of a model learned here: the
same model with and without real-time execution tells a model's faults from the loop's.

A plan setting is planner:population:iterations; the horizon, the rollout precision, the pilot and
the ensemble come from the robot's config: config/drone.yaml (rotor commands), or
config/drone_attitude.yaml with --robot drone_attitude (attitude setpoints).
The loop is the controller node's own (core/control/in_process.py), built from the same config: plans
stop at its deadline (--no-deadline: never), with plan_ahead each command is planned a period ahead,
and the model is trained as the trainer trains it. Prints, per setting, the plan latency against
the 50 Hz deadline, crashes, the final error at each
goal and the hold's RMS error, and writes JSON. The drone restarts in the air after a crash.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mbrl_ros.core.control.in_process import InProcessRobot
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config


def fly(robot: InProcessRobot, goal: np.ndarray, seconds: float, latencies: list) -> np.ndarray:
    """Pursue `goal` with the controller's loop; the distance to it after each control period."""
    robot.loop.set_goal(goal)
    errors = []

    def measure() -> None:
        latencies.append(robot.loop.latencies[-1])
        errors.append(np.linalg.norm(robot.state()[:3] - goal))

    robot.run(seconds, on_tick=measure)
    return np.array(errors)


def learn(robot: str, trainer: dict, args) -> tuple:
    """An ensemble learned, as the trainer would, from --explore seconds of the safety pilot's flight."""
    flight = InProcessRobot(robot, {"seed": args.seed})
    data = flight.run(args.explore)
    learner = flight.learner(hidden_units=args.hidden, hidden_layers=args.layers, seed=args.seed)
    started = time.monotonic()
    metrics = learner.train(data)
    print(f"{len(data)} transitions ({args.explore:.0f} s, {len(flight.episode_ends)} crashes), model {args.layers}x"
          f"{args.hidden}: held-out NLL {metrics['nll']:.2f} after {time.monotonic() - started:.0f} s")
    flight.close()
    return learner.model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robot", default="drone", help="config/<robot>.yaml: drone or drone_attitude")
    parser.add_argument("--explore", type=float, default=100.0, help="seconds of pilot data")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds of hold measured")
    parser.add_argument("--plans", default="cem:1000:4,cem:800:3,cem:200:2")
    parser.add_argument("--hidden", type=int, help="hidden units (default: the config's trainer)")
    parser.add_argument("--layers", type=int, help="hidden layers (default: the config's trainer)")
    parser.add_argument("--model", help="fly this checkpoint instead of learning one from pilot data")
    parser.add_argument("--threads", type=int, help="torch threads (default: the controller's torch_threads)")
    parser.add_argument("--no-deadline", action="store_true", help="let every plan finish all its iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="drone_learning.json")
    args = parser.parse_args()
    config = robot_config(args.robot)
    params, trainer = node_parameters(config, "controller"), node_parameters(config, "trainer")
    args.threads = args.threads or params.get("torch_threads", 1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.hidden, args.layers = args.hidden or trainer["hidden_units"], args.layers or trainer["hidden_layers"]
    demo = node_parameters(config, "demo_user")
    goals = [np.array(g, float) for g in np.reshape(demo["goals"], (-1, 3))]
    model = load_checkpoint(args.model)[0] if args.model else learn(args.robot, trainer, args)
    rows = []
    for setting in args.plans.split(","):
        planner, population, iterations = setting.split(":")
        plan = {"planner": planner, "population": int(population), "iterations": int(iterations),
                "elites": max(10, int(population) // 10), "seed": args.seed}
        robot = InProcessRobot(args.robot, plan, deadlines=not args.no_deadline)
        robot.loop.use_model(model)
        robot.world.reset(goals[-1])
        latencies = []
        finals = [float(fly(robot, goal, 8.0, latencies)[-1]) for goal in goals]
        hold = fly(robot, goals[-1], 8.0 + args.hold, latencies)[round(8.0 / robot.dt):]
        deadline_ms = 1e3 * params["plan_deadline_fraction"] * robot.dt
        row = {**{k: plan[k] for k in ("planner", "population", "iterations")},
               "plan_p50_ms": float(np.median(latencies) * 1e3),
               "plan_p99_ms": float(np.percentile(latencies, 99) * 1e3),
               "deadline_ms": None if args.no_deadline else deadline_ms, "crashes": len(robot.episode_ends),
               "goal_final_errors_m": finals,
               "hold_rms_m": float(np.sqrt(np.mean(hold ** 2)))}
        rows.append(row)
        print(f"{setting:12} plan p50/p99 {row['plan_p50_ms']:6.1f}/{row['plan_p99_ms']:6.1f} ms (deadline "
              f"{deadline_ms:.0f}), crashes {row['crashes']}, final cm " + " ".join(f"{e * 100:.1f}" for e in finals)
              + f", hold RMS {row['hold_rms_m'] * 100:.2f} cm over {args.hold:.0f} s", flush=True)
        robot.close()
    learned = None if args.model else {"explore_s": args.explore, "hidden": args.hidden, "layers": args.layers}
    Path(args.out).write_text(json.dumps({"robot": args.robot, "model_path": args.model, "learned": learned,
                                          "threads": args.threads, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
