"""How well does the learned MPC turn the hand's valve, from how much interaction? In-process (no
ROS, the sim waits for each plan), with the controller node's own control loop and config
(core/control/in_process.py): the configured exploration moves the fingers for --explore
seconds, an ensemble learns from that data, then --rounds rounds of random valve goals add MPC data
and retrain it, as the demo's learning phase does. Finally the MPC is given --targets random valve
angles, --target-seconds each. With --checkpoint, a trained model (a demo's) is given those goals
instead, without learning. --latency puts back the delay a robot has between the state and the
command acting (the world runs that long on the old command); a config that measures its
`command_delay` measures none in process and is given the latency instead.

    .venv/bin/python benchmarks/hand_learning.py [--explore 60] [--rounds 5 --round-seconds 60] \\
        [--targets 10] [--latency 0.045] [--checkpoint model.pt] [--out hand_learning.json]

Prints, per stage, the interaction used, how much of it turned the valve, the model's one-step
error on the valve's angle, and at the end the final angle errors and the success rate (within
0.1 rad, ROBEL's threshold); writes JSON. Planner, horizon, model and exploration come from
config/hand.yaml.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from mbrl_ros.core.control.in_process import InProcessRobot
from mbrl_ros.core.data.transitions import Transitions, concatenate
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config


def joined(parts: list[Transitions]) -> Transitions:
    return concatenate(parts, parts[0].states.shape[1], parts[0].actions.shape[1])


def valve_figures(data: Transitions, model, task) -> dict:
    """How much of the data turned the valve, and the model's one-step error on its angle there."""
    angle = lambda s: np.arctan2(s[:, task.sin], s[:, task.cos])  # noqa: E731
    turn = np.abs(np.angle(np.exp(1j * (angle(data.next_states) - angle(data.states)))))
    turned = turn > 0.01
    with torch.no_grad():
        mean, _ = model.predict(torch.as_tensor(data.states, dtype=torch.float32).expand(model.members, -1, -1),
                                torch.as_tensor(data.actions, dtype=torch.float32).expand(model.members, -1, -1))
    predicted = mean.mean(0).numpy()
    error = np.abs(np.angle(np.exp(1j * (angle(predicted) - angle(data.next_states)))))
    return {"transitions": len(data), "turning_share": float(turned.mean()),
            "angle_error_mean_rad": float(error.mean()),
            "angle_error_when_turning_rad": float(error[turned].mean()) if turned.any() else None,
            "turn_when_turning_rad": float(turn[turned].mean()) if turned.any() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--explore", type=float, default=60.0, help="seconds of exploration before the first model")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of MPC data and retraining")
    parser.add_argument("--round-seconds", type=float, default=60.0)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--target-seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, help="training minibatch (default: the trainer's config)")
    parser.add_argument("--epochs", type=int, help="training epochs at most (default: the trainer's config)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=VALUE",
                        help="override a config value, e.g. sim.valve_friction=0.1 or controller.horizon=14")
    parser.add_argument("--latency", type=float, default=0.0, help="s from the state to the command acting")
    parser.add_argument("--checkpoint", help="give the goals to this model, without learning")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="hand_learning.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    config = robot_config("hand")
    sections = {name: node_parameters(config, name) for name in ("controller", "trainer", "sim")}
    for assignment in args.set:
        key, value = assignment.split("=", 1)
        section, name = key.split(".", 1)
        sections[section][name] = yaml.safe_load(value)
    if sections["controller"].get("command_delay", 0.0) < 0:
        sections["controller"]["command_delay"] = args.latency
    hand = InProcessRobot("hand", sections["controller"] | {"seed": args.seed}, sections["sim"], latency=args.latency)
    dt, task = hand.dt, hand.loop.task
    overrides = {"seed": args.seed} | ({"max_epochs": args.epochs} if args.epochs else {}) | (
        {"batch_size": args.batch_size} if args.batch_size else {})
    learner = hand.learner(**sections["trainer"] | overrides)  # the config's, --set's among them
    data, stages = [], []

    def learn(stage: str) -> None:
        started = time.monotonic()
        metrics = learner.train(joined(data))
        figures = valve_figures(data[-1], learner.model, task)
        stages.append({"stage": stage, "seconds": len(joined(data)) * dt, "nll": float(metrics["nll"]),
                       "train_s": time.monotonic() - started, **figures})
        print(f"{stage:10} {len(joined(data)) * dt:5.0f} s of interaction, NLL {metrics['nll']:6.2f}; newest data: "
              f"{figures['turning_share']:.0%} turned the valve, one-step angle error "
              f"{figures['angle_error_mean_rad']:.4f} rad ({figures['angle_error_when_turning_rad'] or 0:.3f} where it "
              f"turned {figures['turn_when_turning_rad'] or 0:.3f})", flush=True)
        hand.loop.use_model(learner.model)

    def pursue(goal: np.ndarray, seconds: float) -> Transitions:
        hand.loop.set_goal(goal)
        return hand.run(seconds)

    if args.checkpoint:
        hand.loop.use_model(load_checkpoint(args.checkpoint, "cpu")[0])
    else:
        data.append(hand.run(args.explore))  # the configured exploration, until the loop has a model
        learn("explore")
        for round_index in range(args.rounds):
            goals = [task.random_goal(rng) for _ in range(max(1, round(args.round_seconds / args.target_seconds)))]
            data.append(joined([pursue(goal, args.target_seconds) for goal in goals]))
            learn(f"round {round_index + 1}")

    finals = []
    for _ in range(args.targets):
        goal = task.random_goal(rng)
        pursue(goal, args.target_seconds)
        finals.append(task.error(hand.state(), goal))
    success = float(np.mean(np.array(finals) <= task.success_threshold))
    interaction = len(joined(data)) * dt if data else 0.0
    source = args.checkpoint or f"{interaction / 60:.1f} min of interaction"
    print(f"{args.targets} valve goals ({source}, latency {args.latency * 1000:.0f} ms, planned "
          f"{hand.loop.command_delay() * 1000:.0f} ms ahead): final errors " + " ".join(f"{e:.2f}" for e in finals)
          + f" rad; {success:.0%} within {task.success_threshold} rad")
    Path(args.out).write_text(json.dumps({"overrides": args.set, "checkpoint": args.checkpoint, "latency_s": args.latency,
                                          "command_delay_s": hand.loop.command_delay(), "stages": stages,
                                          "final_errors_rad": finals, "success_rate": success,
                                          "interaction_s": interaction}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
