"""How many environment steps does each method need to reach well? Learning curves, in-process (no
ROS), on the arm reach task (6 s per goal, success: final error under 3 cm) and the drone fly-to
task (8 s per goal, success: under 5 cm; a crash fails), with the tasks of benchmarks/tasks_gym.py.

    .venv/bin/pip install -r requirements-bench.txt -c constraints.txt   # once: stable-baselines3, gymnasium
    .venv/bin/python benchmarks/sample_efficiency.py [--quick] [--methods sac,mpc,mbpo] [--tasks arm,drone] \\
        [--seeds 3] [--first-seed 0] [--steps 100000] [--eval-every 5000] [--mpc-steps N] [--distill 10,16,30,60] \\
        [--mbpo-steps N] [--mbpo-train-every 250] [--mbpo-updates-per-step 10] [--out sample_efficiency.json]
        [--resume] [--merge a.json b.json]

Methods: sac, model-free (stable-baselines3), seeing the state and the task's goal features; mpc,
one model-learning run as the ROS demo's (explore, learn, MPC episodes, retrain) evaluated as four
rows: mpc (the controller's planner settings), mpc_quarter (a quarter of its population and
elites), distilled (a policy distilled from mpc on the model) and proposals (mpc_quarter sampling
around that policy's rollouts too); mbpo, the package's MBPO (the same exploration and model
schedule, then episodes acting with its soft actor-critic, which learns from model rollouts
branched from the recorded states), its actor's mean evaluated. Every evaluation, each row's
controller reaches the same 8 goals (seeds 100..107), and the curve records the median final
error, the success rate at the success distance and at a strict 1 cm (where 3 cm no longer tells
the MPC rows apart), the median time per command, the env steps so far (exploration included,
evaluation not) and the wall time spent learning so far (evaluation excluded; distilling, model
training and actor-critic updates included for the rows that need them). Plans run every
iteration, with no deadline, so that the results do not depend on the machine's load.

--quick: the arm, 1 seed, SAC for 20,000 steps evaluated every 2,000, MPC and MBPO for 2,400
evaluated every 800, distilling for 5 DAgger rounds instead of 10 (under 20 minutes on 2 cores);
the full run: both tasks, 3 seeds, SAC for 100,000 steps, MPC for 5 x the trainer's
min_transitions (4,000 arm, 15,000 drone), MBPO for that or a tenth of SAC's steps, whichever is
more (10,000 arm, 15,000 drone: enough to show the paper's "SAC's final performance with about 10x
fewer samples") (hours). Prints the curves and a summary per task (env steps until the median
final error is under the success distance, best and final median and success, time per command,
and the ratios the targets ask for), the seconds each method took, and writes JSON and a PNG.

A method is a function in METHODS: (task name, seed, parsed arguments) -> {row: curve}, a curve a
list of {"env_steps", "wall_s", "median_final_error", "success_rate", "strict_success_rate",
"final_errors", "command_ms", ...}; build the environments with tasks_gym.ENVS and evaluate with
tasks_gym.evaluate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from mbrl_ros.core.control.exploration import make_explorer
from mbrl_ros.core.control.in_process import QuietLog
from mbrl_ros.core.control.plan_size import choose_precision
from mbrl_ros.core.control.parameters import build_control_loop, read_controller, read_planner
from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.params import read_parameters
from mbrl_ros.core.policies.distill import distill, labeller
from mbrl_ros.core.policies.mbpo import MBPO, MBPOConfig
from mbrl_ros.core.policies.policy import new_policy, policy_command
from mbrl_ros.core.policies.sac import SAC, SACConfig
from mbrl_ros.plotting import two_panels

try:
    import stable_baselines3
    from tasks_gym import ENVS, drive, eval_goals, evaluate
except ImportError as missing:
    sys.exit(f"{missing}: this benchmark needs its own dependencies; install them with\n"
             "    .venv/bin/pip install -r requirements-bench.txt -c constraints.txt")


def sac_curves(task: str, seed: int, args) -> dict[str, list[dict]]:
    """Soft Actor-Critic with stable-baselines3's defaults (2 x 256 networks, one gradient step of
    batch 256 per env step, learned entropy weight): the model-free reference, learning from the
    task's reward alone, seeing what the distilled policy sees (state and goal features)."""
    env, probe = ENVS[task](), ENVS[task]()
    goals = eval_goals(probe)
    model = stable_baselines3.SAC("MlpPolicy", env, seed=seed, device="cpu")
    curve, wall = [], 0.0
    while True:
        result = evaluate(probe, lambda o: model.predict(o, deterministic=True)[0], goals)
        curve.append({"env_steps": model.num_timesteps, "wall_s": wall, **result})
        report(task, "sac", seed, curve[-1])
        if model.num_timesteps >= args.steps:
            return {"sac": curve}
        started = time.monotonic()
        model.learn(min(args.eval_every, args.steps - model.num_timesteps), reset_num_timesteps=False)
        wall += time.monotonic() - started


class Controller:
    """The controller node's own control loop (core/control/loop.py), built from the robot's config
    with `share` of its planner's population and elites (and, for proposals, sampling around a
    policy), commanding in process: plan-ahead (the drone), settling (the arm), rate limits and the
    motion guard, as on the robot. No deadline: plans finish every iteration, so that results do
    not depend on the machine's load; the time per command is measured instead."""

    def __init__(self, env, model, share: float = 1.0, proposals: bool = False):
        p = env.params
        given = p | {"population": max(2, round(p["population"] * share)), "elites": max(1, round(p["elites"] * share)),
                     "policy": "propose" if proposals else "off"}
        self.dt, self.time, self.command = env.dt, 0.0, None
        self.topic = env.spec.state.sources[0].topic  # these robots' state comes from one topic
        self.loop = build_control_loop(env.spec, read_controller(lambda schema: read_parameters(schema, given)),
                                       self.keep, QuietLog(), deadlines=False, armed=True, clock=lambda: self.time,
                                       wall_clock=lambda: self.time)
        self.loop.use_model(model)

    def keep(self, command: np.ndarray, trajectory) -> None:
        self.command = command

    def reset(self) -> None:
        self.loop.end_episode()

    def __call__(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        self.time += self.dt
        self.loop.take_state(self.topic, state, self.time)
        self.loop.set_goal(goal)
        self.loop.step()
        return self.command

    def evaluate(self, env, goals: list[np.ndarray]) -> dict:
        return evaluate(env, lambda _: env.action(self(env.state(), env.goal)), goals, self.reset)


class Learner:
    """The trainer node's schedule: the first model after min_transitions, retrained (warm) on the
    first max_transitions whenever they grew by retrain_growth. `metrics`: the last training's
    (its held-out "mse" sets MBPO's rollout length)."""

    def __init__(self, env, seed: int):
        t = env.trainer
        self.learner = env.robot.learner(t.get("train_slice_seconds", 30.0), seed=seed)
        self.growth, self.cap = t.get("retrain_growth", 0.25), t.get("max_transitions", 0) or None
        self.trained_on, self.metrics = 0, {}

    @property
    def model(self):
        return self.learner.model

    def update(self, data: list) -> bool:
        """Train if due; whether it did."""
        data = data[:self.cap]
        grown = len(data) >= self.trained_on * (1 + self.growth) or len(data) == self.cap
        if len(data) == self.trained_on or not grown:
            return False
        self.metrics = self.learner.train(transitions(data))
        self.trained_on = len(data)
        return True


def transitions(data: list) -> Transitions:
    return Transitions(*map(np.array, zip(*data)))


def policy_actor(env, policy):
    """The policy's deterministic command, as evaluate's action."""
    return lambda _: env.action(policy_command(policy, env.task, env.state(), env.goal))


class LearningRun:
    """What the model-learning runs share, as the ROS demo does it: the robot's explorer for the
    trainer's min_transitions (or --explore-steps), the first model, then episodes toward random
    goals, as long as the SAC env's, up to `budget` env steps, evaluated after exploration and then
    every --mpc-eval-every env steps. Evaluation episodes are neither counted nor learned from, nor
    timed as learning. Subclasses give `budget`, `start` (after the first model), `episode` and
    `evaluate`."""

    def __init__(self, task: str, seed: int, args):
        self.env, self.probe, self.seed, self.args = ENVS[task](), ENVS[task](), seed, args
        self.task, self.goals, self.rng = task, eval_goals(self.probe), np.random.default_rng(seed)
        self.learner, self.data, self.wall = Learner(self.env, seed), [], 0.0

    def run(self) -> dict[str, list[dict]]:
        env, args, started = self.env, self.args, time.monotonic()
        explore = args.explore_steps or env.trainer.get("min_transitions", 400)
        budget, every = self.budget(explore), args.mpc_eval_every or explore
        env.reset(seed=self.seed)
        steps = drive(env, make_explorer(env.params["exploration"], env.spec, env.params, env.dt, self.rng),
                      self.data, explore)
        self.learner.update(self.data)
        self.start(steps)
        next_eval = steps
        while True:
            if steps >= min(next_eval, budget):
                self.wall += time.monotonic() - started
                self.evaluate(steps, steps >= budget)
                next_eval, started = next_eval + every, time.monotonic()
            if steps >= budget:
                return self.curves
            env.reset(options={"goal": env.task.random_goal(self.rng)})
            steps += self.episode()

    def point(self, steps: int) -> dict:
        return {"env_steps": steps, "wall_s": self.wall, "transitions": len(self.data),
                "model_version": self.learner.learner.version}


class ModelBasedRun(LearningRun):
    """PETS-style MPC learning: MPC episodes, the ensemble retrained on the trainer's schedule, for
    --mpc-steps. Each evaluation judges one learning run four ways: mpc; mpc_quarter (a quarter of
    the population and elites); distilled (the MPC distilled into a policy on the model by DAgger,
    continuing from the last one, no env steps); proposals (mpc_quarter sampling around the
    distilled policy too)."""

    def __init__(self, task: str, seed: int, args):
        super().__init__(task, seed, args)
        self.curves, self.policy, self.distill_wall = {name: [] for name in ROWS}, None, 0.0

    def budget(self, explore: int) -> int:
        return self.args.mpc_steps or 5 * explore

    def start(self, steps: int) -> None:
        self.controllers = {name: Controller(self.env, self.learner.model, share, proposals=name == "proposals")
                            for name, share in SHARES.items()}
        self.collect = self.controllers["mpc"]

    def episode(self) -> int:
        self.collect.reset()
        steps = drive(self.env, lambda state: self.collect(state, self.env.goal), self.data)
        if self.learner.update(self.data):
            for controller in self.controllers.values():
                controller.loop.use_model(self.learner.model)
        return steps

    def evaluate(self, steps: int, last: bool) -> None:
        distil = len(self.curves["mpc"]) % self.args.distill_every == 0 or last
        point, distilled = self.point(steps), self.distil() if distil else {}
        for name in ROWS if distil else ROWS[:2]:
            if name == "distilled":
                result = evaluate(self.probe, policy_actor(self.probe, self.policy), self.goals)
            else:
                result = self.controllers[name].evaluate(self.probe, self.goals)
            self.curves[name].append({**point, **(distilled if name in DISTILLED else {}), **result})
            report(self.task, name, self.seed, self.curves[name][-1])

    def distil(self) -> dict:
        """Distil the current MPC (continuing from the last policy) and give it to the proposals MPC."""
        started = time.monotonic()
        robot, starts = self.env.robot, np.array([d[0] for d in self.data])
        mpc = labeller(robot.loop.task, robot.spec, self.learner.model, seed=self.seed,
                       planner=read_planner(lambda schema: {name: robot.params[name] for name in schema}))
        choose_precision(mpc, starts[0], robot.loop.task.random_goal(np.random.default_rng(0)))  # as the node does
        self.policy, history = distill(mpc, starts,
                                       robot.distill_config(**self.args.distill, seed=self.seed), self.policy)
        seconds = time.monotonic() - started
        self.distill_wall += seconds
        self.controllers["proposals"].loop.use_policy(self.policy)
        return {"wall_s": self.wall + self.distill_wall, "distill_s": seconds,
                "distill_labels": history[-1]["labels"], "distill_error": history[-1]["held_out_error"]}


class MBPORun(LearningRun):
    """MBPO (Janner et al. 2019): after exploration, episodes acting with the soft actor-critic's
    stochastic samples; every --mbpo-train-every env steps (and once after exploration) the model
    retrained when the trainer's schedule says so, then --mbpo-updates-per-step actor-critic updates
    per env step since the last round, on rollouts branched from all the recorded transitions. The
    same MBPO goes on learning across rounds; its actor's mean is evaluated. Learning wall time
    includes the model's training and the updates."""

    def __init__(self, task: str, seed: int, args):
        super().__init__(task, seed, args)
        self.curves, self.since, self.updates, self.stats = {"mbpo": []}, 0, 0, {}

    def budget(self, explore: int) -> int:
        return self.args.mbpo_steps or max(self.args.mpc_steps or 5 * explore, self.args.steps // 10)

    def start(self, steps: int) -> None:
        task = self.env.task
        low, high = (task.tensor(b) for b in self.env.spec.planning_bounds)
        policy = new_policy(task, np.array([d[0] for d in self.data]), low, high, 256, 2, self.rng)
        self.mbpo = MBPO(task, SAC(policy, SACConfig()), MBPOConfig(seed=self.seed))
        self.since = steps
        self.train()

    def episode(self) -> int:
        return drive(self.env, lambda state: self.mbpo.explore(state, self.env.goal), self.data, on_step=self.step)

    def step(self) -> None:
        self.since += 1
        if self.since >= self.args.mbpo_train_every:
            self.train()

    def train(self) -> None:
        self.learner.update(self.data)
        updates = self.args.mbpo_updates_per_step * self.since
        self.stats = self.mbpo.train(self.learner.model, transitions(self.data), self.learner.metrics["mse"], updates)
        self.since, self.updates = 0, self.updates + updates

    def evaluate(self, steps: int, last: bool) -> None:
        stats = {k: self.stats[k] for k in ("rollout_length", "model_transitions", "critic_loss", "alpha")}
        result = evaluate(self.probe, policy_actor(self.probe, self.mbpo.sac.policy), self.goals)
        self.curves["mbpo"].append({**self.point(steps), "model_mse": self.learner.metrics["mse"],
                                    "updates": self.updates, **stats, **result})
        report(self.task, "mbpo", self.seed, self.curves["mbpo"][-1])


ROWS = ("mpc", "mpc_quarter", "proposals", "distilled")
DISTILLED = ROWS[2:]  # rows that need a distilled policy: evaluated where it is, their wall time includes distilling
SHARES = {"mpc": 1.0, "mpc_quarter": 0.25, "proposals": 0.25}
METHODS = {"sac": sac_curves, "mpc": lambda task, seed, args: ModelBasedRun(task, seed, args).run(),
           "mbpo": lambda task, seed, args: MBPORun(task, seed, args).run()}


def report(task: str, method: str, seed: int, point: dict) -> None:
    rate = point["env_steps"] / point["wall_s"] if point["wall_s"] else 0.0
    mbpo = (f", k {point['rollout_length']}, critic loss {point['critic_loss']:.3g}, alpha {point['alpha']:.3g}"
            if "rollout_length" in point else "")
    print(f"  {task} {method} seed {seed}: {point['env_steps']:7d} steps, {point['wall_s']:6.0f} s "
          f"({rate:4.0f} steps/s), median {point['median_final_error'] * 100:7.2f} cm, "
          f"success {point['success_rate']:4.0%} ({point['strict_success_rate']:4.0%} strict), "
          f"crashes {point['crashes']}{mbpo}", flush=True)


def pooled(runs: list[dict]) -> list[dict]:
    """One curve of a task and method over its seeds: final errors pooled at each evaluation."""
    points = []
    for column in zip(*(run["curve"] for run in runs)):
        finals = np.concatenate([p["final_errors"] for p in column])
        mean = {k: float(np.mean([p[k] for p in column])) for k in ("wall_s", "success_rate", "strict_success_rate",
                                                                     "command_ms")}
        points.append({"env_steps": column[0]["env_steps"], "median_final_error": float(np.median(finals)), **mean})
    return points


def summary(curves: dict) -> dict:
    """Per task: each method's env steps until its median final error is under the success
    distance, its best and final median and success (at the success and the strict distance), and
    its time per command at the end; then the ratios the targets ask for."""
    tasks = {}
    for (task, method), curve in curves.items():
        env = ENVS[task]
        best = min(curve, key=lambda p: p["median_final_error"])
        tasks.setdefault(task, {"success_m": env.success_m, "strict_m": env.strict_m, "methods": {}})
        tasks[task]["methods"][method] = {
            "steps_to_success": next((p["env_steps"] for p in curve if p["median_final_error"] < env.success_m), None),
            "best_median": best["median_final_error"], "best_median_steps": best["env_steps"],
            "best_success": max(p["success_rate"] for p in curve),
            "best_strict_success": max(p["strict_success_rate"] for p in curve), "env_steps": curve[-1]["env_steps"],
            "final_median": curve[-1]["median_final_error"], "final_success": curve[-1]["success_rate"],
            "final_strict_success": curve[-1]["strict_success_rate"], "command_ms": curve[-1]["command_ms"]}
    for entry in tasks.values():
        entry["targets"] = targets(entry["methods"])
    return tasks


def targets(rows: dict) -> dict:
    """MPC's and MBPO's env steps to the success distance against SAC's (or against those to SAC's
    best median, where SAC never gets there: then `sac_reached` is false; `<row>_reached` false
    where the row never gets there), and MBPO's final median against SAC's ("about 10x fewer samples
    with SAC's final performance"); the distilled policy's final median and time per command against
    MPC's; the final success with policy proposals against plain MPC's, with a quarter of its
    samples, and against that quarter without proposals, at the success and the strict distance
    (the first alone can leave all three at 100 %)."""
    out, sac, mpc = {}, rows.get("sac"), rows.get("mpc")
    for name in ("mpc", "mbpo"):
        if sac and name in rows:
            out["sac_reached"] = sac["steps_to_success"] is not None
            if rows[name]["steps_to_success"]:
                sac_steps = sac["steps_to_success"] or sac["best_median_steps"]
                out[f"sac_over_{name}_steps"] = sac_steps / rows[name]["steps_to_success"]
            else:
                out[f"{name}_reached"] = False
    if sac and "mbpo" in rows:
        out["mbpo_over_sac_final_median"] = rows["mbpo"]["final_median"] / sac["final_median"]
    if mpc and "distilled" in rows:
        out["distilled_over_mpc_median"] = rows["distilled"]["final_median"] / mpc["final_median"]
        out["distilled_over_mpc_compute"] = rows["distilled"]["command_ms"] / mpc["command_ms"]
    if mpc and "proposals" in rows:
        for kind in ("success", "strict_success"):
            out.update({f"{name}_{kind}": rows[name][f"final_{kind}"]
                        for name in ("mpc", "proposals", "mpc_quarter") if name in rows})
    return out


def print_summary(tasks: dict) -> None:
    for task, entry in tasks.items():
        reach, strict = f"steps to {entry['success_m'] * 100:g} cm", f"<{entry['strict_m'] * 100:g} cm"
        print(f"\n{task + ':':12} {reach:>14} {'best cm':>8} {'(steps)':>8} {'best succ':>9} {'best ' + strict:>10} "
              f"{'final cm':>8} {'final succ':>10} {'final ' + strict:>11} {'ms/command':>10}")
        for method, r in entry["methods"].items():
            print(f"{method:12} {r['steps_to_success'] or 'never':>14} {r['best_median'] * 100:8.2f} "
                  f"{r['best_median_steps']:8d} {r['best_success']:9.0%} {r['best_strict_success']:10.0%} "
                  f"{r['final_median'] * 100:8.2f} {r['final_success']:10.0%} {r['final_strict_success']:11.0%} "
                  f"{r['command_ms']:10.2f}")
        for name, value in entry["targets"].items():
            print(f"  {name}: {value:.3g}" if isinstance(value, float) else f"  {name}: {value}")


def finite(value):
    """JSON has no infinity: a crash's final error is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the arm, 1 seed, fewer steps")
    parser.add_argument("--methods", default="sac,mpc,mbpo", help=f"comma list of {sorted(METHODS)}")
    parser.add_argument("--tasks", help=f"comma list of {sorted(ENVS)} (default: arm,drone; quick: arm)")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 3, quick 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="start at this seed: runs of one task and method "
                        "split over processes")
    parser.add_argument("--steps", type=int, help="SAC's env steps per run (default 100,000, quick 20,000)")
    parser.add_argument("--eval-every", type=int, help="SAC's env steps between evaluations (default 5,000, "
                        "quick 2,000)")
    parser.add_argument("--explore-steps", type=int, help="MPC and MBPO: env steps of exploration (default: the "
                        "trainer's min_transitions, 800 arm, 3,000 drone)")
    parser.add_argument("--mpc-steps", type=int, help="MPC: env steps per run (default: 5 x --explore-steps, "
                        "quick 2,400)")
    parser.add_argument("--mpc-eval-every", type=int, help="MPC and MBPO: env steps between evaluations (default: "
                        "--explore-steps)")
    parser.add_argument("--distill", help="the policy_trainer's distillation with these rounds,rollouts,steps,epochs "
                        "(default 10,16,30,60, quick 5,16,30,60); its check as the robot's config says")
    parser.add_argument("--distill-every", type=int, default=1, help="distil at every Nth MPC evaluation (and the "
                        "last): distilled and proposals are evaluated there only")
    parser.add_argument("--mbpo-steps", type=int, help="MBPO: env steps per run (default: the MPC's or --steps / 10, "
                        "whichever is more; quick: the MPC's)")
    parser.add_argument("--mbpo-train-every", type=int, default=250, help="MBPO: env steps between training rounds "
                        "(default 250)")
    parser.add_argument("--mbpo-updates-per-step", type=int, default=10, help="MBPO: actor-critic updates per env "
                        "step (default 10; the paper's 20)")
    parser.add_argument("--out", default="sample_efficiency.json", help="JSON, rewritten after each run; the PNG "
                        "beside it at the end")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and run the others")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="run nothing: pool the runs of these outputs into "
                        "--out and its PNG (say, one process per task)")
    args = parser.parse_args()
    args.tasks = (args.tasks or ("arm" if args.quick else "arm,drone")).split(",")
    args.methods = args.methods.split(",")
    unknown = [m for m in args.methods if m not in METHODS] + [t for t in args.tasks if t not in ENVS]
    if unknown:
        parser.error(f"unknown methods or tasks: {unknown}")
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.steps = args.steps or (20_000 if args.quick else 100_000)
    args.eval_every = args.eval_every or (2_000 if args.quick else 5_000)
    distill = args.distill or ("5,16,30,60" if args.quick else "10,16,30,60")
    args.distill = dict(zip(("distill_rounds", "distill_rollouts", "distill_steps", "distill_epochs"),
                            map(int, distill.split(","))))
    args.mpc_steps = args.mpc_steps or (2_400 if args.quick else None)
    args.mbpo_steps = args.mbpo_steps or (args.mpc_steps if args.quick else None)
    return args


def main() -> None:
    args = arguments()
    torch.set_num_threads(1)
    started, out = time.monotonic(), Path(args.out)
    runs = merged(args.merge) if args.merge else learn(args, out)
    curves = write(out, args, runs)
    print_curves(curves)
    print_summary(summary(curves))
    print("\nseconds per method (evaluation included): "
          + ", ".join(f"{name} {value:.0f}" for name, value in method_seconds(runs).items()))
    plot(curves, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')} after {time.monotonic() - started:.0f} s")


def learn(args, out: Path) -> list[dict]:
    """Every task, method and seed asked for; `out` rewritten after each, so that a stopped run
    keeps what it finished. --resume: the runs already in `out` are kept, not run again."""
    runs = read_runs(out) if args.resume and out.exists() else []
    done = {(r["task"], r["source"], r["seed"]) for r in runs}
    for task in args.tasks:
        for method in args.methods:
            for seed in range(args.first_seed, args.seeds):
                if (task, method, seed) in done:
                    continue
                torch.manual_seed(seed)
                started = time.monotonic()
                curves = METHODS[method](task, seed, args)
                seconds = time.monotonic() - started
                runs += [{"task": task, "method": row, "source": method, "seed": seed, "seconds": seconds,
                          "curve": curve} for row, curve in curves.items()]
                write(out, args, runs)
    return runs


def merged(paths: list[str]) -> list[dict]:
    """The runs of several outputs (say, one process per task), the first of each task, method and
    seed kept."""
    runs, seen = [], set()
    for path in paths:
        for run in read_runs(Path(path)):
            key = (run["task"], run["method"], run["seed"])
            if key not in seen:
                seen.add(key)
                runs.append(run)
    return runs


def read_runs(path: Path) -> list[dict]:
    """The runs an output holds, a crash's final error infinite again (JSON holds it as null)."""
    runs = json.loads(path.read_text())["runs"]
    for point in (p for run in runs for p in run["curve"]):
        point["final_errors"] = [math.inf if e is None else e for e in point["final_errors"]]
        if point["median_final_error"] is None:
            point["median_final_error"] = math.inf
    return runs


def method_seconds(runs: list[dict]) -> dict[str, float]:
    """Seconds per task and method, summed over seeds (a method's rows share its seconds; outputs
    written before runs kept their seconds have none)."""
    per_seed = {(r["task"], r["source"], r["seed"]): r["seconds"] for r in runs if "seconds" in r}
    seconds = {}
    for (task, method, _), value in per_seed.items():
        seconds[f"{task} {method}"] = seconds.get(f"{task} {method}", 0.0) + value
    return seconds


def write(out: Path, args, runs: list[dict]) -> dict:
    """Write the runs so far, with their options and summary, to `out`; the pooled curves."""
    rows = dict.fromkeys((r["task"], r["method"]) for r in runs)
    curves = {key: pooled([r for r in runs if (r["task"], r["method"]) == key]) for key in rows}
    options = {k: getattr(args, k) for k in ("explore_steps", "mpc_steps", "mpc_eval_every", "distill", "distill_every",
                                             "mbpo_steps", "mbpo_train_every", "mbpo_updates_per_step", "merge")}
    out.write_text(json.dumps(finite({"steps": args.steps, "eval_every": args.eval_every, "seeds": args.seeds,
                                      "torch_threads": 1, "model_based": options,
                                      "method_seconds": method_seconds(runs), "summary": summary(curves),
                                      "runs": runs}), indent=2))
    return curves


def print_curves(curves: dict) -> None:
    print(f"\n{'task':6} {'method':11} {'env steps':>9} {'learn s':>8} {'steps/s':>7} {'median cm':>9} {'success':>7} "
          f"{'strict':>6} {'ms/command':>10}")
    for (task, method), curve in curves.items():
        for p in curve:
            rate = f"{p['env_steps'] / p['wall_s']:7.0f}" if p["wall_s"] else f"{'':7}"
            print(f"{task:6} {method:11} {p['env_steps']:9d} {p['wall_s']:8.0f} {rate} "
                  f"{p['median_final_error'] * 100:9.2f} {p['success_rate']:7.0%} {p['strict_success_rate']:6.0%} "
                  f"{p['command_ms']:10.2f}")


def plot(curves: dict, path: Path) -> None:
    """A row per task: median final error and success against env steps, a colour per method."""
    tasks = list(dict.fromkeys(task for task, _ in curves))
    colours = {method: f"C{i}" for i, method in enumerate(dict.fromkeys(method for _, method in curves))}
    with two_panels(path, size=(11, 4), rows=len(tasks)) as axes:
        for (left, right), task in zip(axes, tasks):
            for method, curve in ((m, c) for (t, m), c in curves.items() if t == task):
                shown = [p for p in curve if p["env_steps"] > 0]
                finite_ = [p for p in shown if math.isfinite(p["median_final_error"])]  # a crash's error is infinite
                style = {"marker": "o", "color": colours[method], "label": method}
                left.plot([p["env_steps"] for p in finite_], [p["median_final_error"] * 100 for p in finite_], **style)
                right.plot([p["env_steps"] for p in shown], [p["success_rate"] * 100 for p in shown], **style)
            errors = any(len(line.get_ydata()) for line in left.get_lines())  # all crashed: no log scale
            left.set(title=f"{task}: median final error", xlabel="env steps", ylabel="cm", xscale="log",
                     yscale="log" if errors else "linear")
            right.set(title=f"{task}: success (within {ENVS[task].success_m * 100:g} cm)", xlabel="env steps",
                      ylabel="%", xscale="log", ylim=(-5, 105))
            for axis in (left.xaxis, right.xaxis) + ((left.yaxis,) if errors else ()):
                axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
                axis.set_minor_locator(NullLocator())
            left.legend()


if __name__ == "__main__":
    main()
