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
The loop is the controller node's: plans stop at its deadline (--no-deadline: never) and, with
plan_ahead, each command is planned a period ahead. Prints, per setting, the plan latency against
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

from mbrl_ros.core.control.exploration import make_explorer
from mbrl_ros.core.control.mpc import MPC
from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.planning.planners import PlannerConfig
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.robots.state import OdometrySource
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.tasks import make_task


class Flight:
    """The drone's world stepped at the control rate, its state as the controller sees it."""

    def __init__(self, spec: RobotSpec, sim: dict, dt: float):
        self.world = make_world("quadrotor", spec, sim, sim["time_step"])
        self.substeps = round(dt / self.world.time_step)
        self.crashes = 0

    def state(self) -> np.ndarray:
        r = self.world.base_readings()
        return OdometrySource.from_pose(r.position, r.orientation, r.linear_velocity, r.angular_velocity)

    def step(self, command: np.ndarray) -> bool:
        """Apply a command for one control period; False if the drone crashed (and restarted)."""
        self.world.command(command)
        ended = self.world.step(self.substeps)
        self.crashes += bool(ended)
        return not ended


def explore(flight: Flight, explorer, seconds: float, dt: float) -> Transitions:
    states, actions, next_states = [], [], []
    state = flight.state()
    for _ in range(round(seconds / dt)):
        action = explorer(state)
        ok = flight.step(action)
        following = flight.state()
        if ok:
            states.append(state), actions.append(action), next_states.append(following)
        state = following
    return Transitions(np.array(states), np.array(actions), np.array(next_states))


def fly(flight: Flight, mpc: MPC, goal: np.ndarray, seconds: float, dt: float, latencies: list,
        deadline: float | None = None, plan_ahead: bool = False) -> np.ndarray:
    """Pursue `goal` as the controller node does (plans cut at `deadline` s, and with `plan_ahead`
    each command planned a period ahead and sent at the next step); the distance to it after each
    control period."""
    mpc.reset()
    errors, pending = [], None
    for _ in range(round(seconds / dt)):
        started = time.monotonic()
        state = flight.state()
        command, info = mpc.act(state, goal, None if deadline is None else started + deadline,
                                pending if plan_ahead else None)
        latencies.append(info["latency"])
        if plan_ahead:  # a fresh plan goes out at once and its second step next, as in the node
            command, pending = (command, info["actions"][1]) if pending is None else (pending, command)
        flight.step(command)
        errors.append(np.linalg.norm(flight.state()[:3] - goal))
    return np.array(errors)


def learn(flight: Flight, spec: RobotSpec, params: dict, trainer: dict, args, dt: float):
    """An ensemble learned from --explore seconds of the safety pilot's flight."""
    data = explore(flight, make_explorer("pilot", spec, params, dt, np.random.default_rng(args.seed)),
                   args.explore, dt)
    learner = DynamicsLearner(spec.model_signature(), dt, ModelConfig(trainer["ensemble_members"], args.hidden,
                                                                      args.layers),
                              TrainConfig(max_epochs=100, patience=10, seed=args.seed))
    started = time.monotonic()
    metrics = learner.train(data)
    print(f"{len(data)} transitions ({args.explore:.0f} s, {flight.crashes} crashes), model {args.layers}x"
          f"{args.hidden}: held-out NLL {metrics['nll']:.2f} after {time.monotonic() - started:.0f} s")
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
    spec, dt = RobotSpec.from_params(params), 1.0 / params["control_rate"]
    task = make_task("fly_to", spec, params)
    demo = node_parameters(config, "demo_user")
    goals = [np.array(g, float) for g in np.reshape(demo["goals"], (-1, 3))]
    flight = Flight(spec, node_parameters(config, "sim"), dt)
    model = load_checkpoint(args.model)[0] if args.model else learn(flight, spec, params, trainer, args, dt)
    deadline_ms = 1e3 * params["plan_deadline_fraction"] * dt
    rows = []
    for setting in args.plans.split(","):
        planner, population, iterations = setting.split(":")
        config = PlannerConfig(horizon=params["horizon"], population=int(population), iterations=int(iterations),
                               elites=max(10, int(population) // 10), initial_std=params["initial_std"])
        mpc = MPC(task, *spec.command_bounds, model, config, planner=planner, seed=args.seed,
                  rollout_precision=params.get("rollout_precision", "float32"))
        flight.world.reset(goals[-1])
        flight.crashes, latencies = 0, []
        loop = {"deadline": None if args.no_deadline else deadline_ms / 1e3, "plan_ahead": params["plan_ahead"]}
        finals = [float(fly(flight, mpc, goal, 8.0, dt, latencies, **loop)[-1]) for goal in goals]
        hold = fly(flight, mpc, goals[-1], 8.0 + args.hold, dt, latencies, **loop)[round(8.0 / dt):]
        row = {"planner": planner, "population": int(population), "iterations": int(iterations),
               "plan_p50_ms": float(np.median(latencies) * 1e3),
               "plan_p99_ms": float(np.percentile(latencies, 99) * 1e3),
               "deadline_ms": None if args.no_deadline else deadline_ms, "crashes": flight.crashes,
               "goal_final_errors_m": finals,
               "hold_rms_m": float(np.sqrt(np.mean(hold ** 2)))}
        rows.append(row)
        print(f"{setting:12} plan p50/p99 {row['plan_p50_ms']:6.1f}/{row['plan_p99_ms']:6.1f} ms (deadline "
              f"{deadline_ms:.0f}), crashes {flight.crashes}, final cm " + " ".join(f"{e * 100:.1f}" for e in finals)
              + f", hold RMS {row['hold_rms_m'] * 100:.2f} cm over {args.hold:.0f} s", flush=True)
    learned = None if args.model else {"explore_s": args.explore, "hidden": args.hidden, "layers": args.layers}
    Path(args.out).write_text(json.dumps({"robot": args.robot, "model_path": args.model, "learned": learned,
                                          "threads": args.threads, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
