"""`mbrl-ros`: start a robot's stack, run the demo, or train from a recording, without ROS tools."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from .core.params import configured_policy
from .core.policies import POLICY_USES


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class UsageError(Exception):
    """A bad argument: the message says what is wrong and what would be right."""


def params_file(args) -> Path:
    """--params if given, else the robot's own config."""
    from .core.paths import robot_config

    if getattr(args, "params", None):
        if not Path(args.params).is_file():
            raise UsageError(f"--params {args.params}: no such file")
        return Path(args.params)
    try:
        return robot_config(args.robot)
    except FileNotFoundError as error:
        hint = "; or give a params file with --params" if hasattr(args, "params") else ""
        raise UsageError(f"{error}{hint}") from None


def cmd_up(args) -> int:
    from .launcher import NODES, Stack

    if args.hardware and not args.params:
        args.robot = f"{args.robot}_hardware"  # config/<robot>_hardware.yaml: the real robot's topics and safety
    overrides = {"gui": True} if args.gui else {}
    nodes = tuple(n for n in NODES if n != "sim") if args.hardware else NODES
    overrides["policy"] = policy = configured_policy(params_file(args), args.policy)  # --policy off: off
    if policy != "off":
        nodes += ("policy_trainer",)
    if args.standin:
        if not args.hardware:
            raise UsageError("--standin stands in for a real robot: use it with --hardware")
        nodes = ("standin",) + nodes
    stack = Stack(params_file(args), overrides, nodes=nodes).start()
    print(f"started {', '.join(stack.processes)}; Ctrl-C stops them all")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while not stack.dead():
            time.sleep(0.5)
        print(f"a node exited: {stack.dead()}; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    codes = stack.stop()
    print(f"stopped: {codes}")
    return 0 if all(c in (0, -signal.SIGINT) for c in codes.values()) else 1


def cmd_demo(args) -> int:
    params_file(argparse.Namespace(robot=args.robot))  # an unknown robot: a clear error, before any import
    from .demo import run_demo

    out = Path(args.out or f"mbrl_runs/{args.robot}_{time.strftime('%Y%m%d_%H%M%S')}")
    earlier = [p for p in (out / "data", out / "models") if p.is_dir() and any(p.iterdir())]
    if earlier:
        raise UsageError(f"--out {out} holds an earlier run's {' and '.join(p.name for p in earlier)}: the demo "
                         "learns from scratch, so give it a new folder")
    summary = run_demo(args.robot, out, targets=args.targets, target_seconds=args.target_seconds,
                       seed=args.seed, gui=args.gui, policy=args.policy)
    met = summary["median_final_error_last5"] <= summary["success_threshold"]
    threshold = f"{summary['success_threshold']:g} {summary['unit']}"
    print(f"median final error within {threshold}" if met else f"median final error NOT within {threshold}")
    return 0


def cmd_train(args) -> int:
    params_file(args)
    from .cluster import ClusterError
    from .offline import train_from_bag

    try:
        train_from_bag([Path(b) for b in args.bag], Path(args.output), args.robot,
                       Path(args.params) if args.params else None, args.ray)
    except (OSError, ValueError, ClusterError) as error:
        print(f"mbrl-ros train: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_eval_model(args) -> int:
    import json

    params_file(args)
    from .offline import eval_model

    try:
        result = eval_model(Path(args.checkpoint), [Path(b) for b in args.bag], args.robot,
                            Path(args.params) if args.params else None, args.horizon, Path(args.plot))
    except (OSError, ValueError, RuntimeError) as error:
        print(f"mbrl-ros eval-model: {error}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbrl-ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start sim, logger, trainer and controller for a robot")
    up.add_argument("robot", help="robot name: config/<robot>.yaml")
    up.add_argument("--params", help="a params file instead of the robot's own")
    up.add_argument("--gui", action="store_true", help="open the PyBullet window")
    up.add_argument("--hardware", action="store_true",
                    help="a real robot: no sim, config/<robot>_hardware.yaml (or --params); the controller waits "
                         "for ~/enable")
    up.add_argument("--standin", action="store_true",
                    help="with --hardware: a stand-in arm as ros2_control presents one, to rehearse without the robot")
    up.add_argument("--policy", choices=POLICY_USES,
                    help="what the controller does with a policy_trainer's policy: act, propose, auto (it acts where "
                         "the plans that keep their deadline fall short of the configured plan) or off (default: "
                         "the config's `policy`)")
    up.set_defaults(run=cmd_up)

    demo = sub.add_parser("demo", help="learn a task from scratch and report the result")
    demo.add_argument("robot")
    demo.add_argument("--out", help="results folder (default mbrl_runs/<robot>_<time>)")
    demo.add_argument("--targets", type=int, help="random goals to measure (default: the robot's config)")
    demo.add_argument("--target-seconds", type=float, help="seconds per goal (default: the robot's config)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--gui", action="store_true")
    demo.add_argument("--policy", choices=POLICY_USES,
                      help="measure with a distilled policy acting (act), proposing plans (propose), acting where "
                           "plans that keep their deadline fall short (auto), or none (off; default: the config's "
                           "`policy`)")
    demo.set_defaults(run=cmd_demo)

    train = sub.add_parser("train", help="train a dynamics model from a rosbag2 recording")
    train.add_argument("--bag", required=True, action="append",
                       help="a rosbag2 folder, or a folder of them (MCAP or sqlite3); repeat for more")
    train.add_argument("--robot", default="arm", help="robot whose config names joints, topics and rate")
    train.add_argument("--params", help="a params file instead of the robot's own")
    train.add_argument("--output", default="model.pt", help="checkpoint to write")
    train.add_argument("--ray", metavar="ADDRESS", help="read the recordings and train on this Ray cluster "
                       "(host:port, or auto); the recordings at the same path on every node")
    train.set_defaults(run=cmd_train)

    evaluate = sub.add_parser("eval-model", help="prediction error and calibration of a checkpoint on a recording")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--bag", required=True, action="append",
                          help="a rosbag2 folder, or a folder of them; repeat for more")
    evaluate.add_argument("--robot", default="arm", help="robot whose config names the topics")
    evaluate.add_argument("--params", help="a params file instead of the robot's own")
    evaluate.add_argument("--horizon", type=int, default=10, help="longest open-loop prediction, in steps")
    evaluate.add_argument("--plot", default="model_eval.png", help="PNG to write")
    evaluate.add_argument("--json", help="also write the figures to this JSON file")
    evaluate.set_defaults(run=cmd_eval_model)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        parser.exit(2, f"mbrl-ros {args.command}: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
