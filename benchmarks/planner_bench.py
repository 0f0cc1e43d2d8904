"""How fast can the MPC plan? Latency and throughput of the planners over the ensemble, against a
naive per-sample loop and against the time the ensemble's matrix multiplies alone take; and what a
command costs from each robot's controller: its MPC against a policy distilled from it.

    .venv/bin/python benchmarks/planner_bench.py [--quick] [--threads 2] [--out planner_bench.json]

Problem sizes come from config/<robot>.yaml (arm, drone, hand). The grid times every robot's sizes
with 5 members of 3 x 200 hidden units; the deadline table times each robot's own controller
(its planner, horizon, population, iterations, ensemble and thread count) against its plan
deadline: plan_deadline_fraction of its control period. The command table times one command of
each robot's MPC (its task's cost, its planner settings) and of a policy (2 x 256 units, its task's
goal features), on the CPU with --threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mbrl_ros.core.control.mpc import MPC
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config, robots
from mbrl_ros.core.planning.planners import PlannerConfig, make_planner
from mbrl_ros.core.planning.rollout import rollout
from mbrl_ros.core.policies.policy import new_policy, policy_command
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.tasks import make_task

ROBOTS = tuple(robots())


def robot_problem(robot: str) -> dict:
    """A robot's planning problem as its config sets it up."""
    controller = node_parameters(robot_config(robot), "controller")
    trainer = node_parameters(robot_config(robot), "trainer")
    spec = RobotSpec.from_params(controller)
    return {"state_dim": spec.state_dim, "action_dim": spec.command.dim, "planner": controller.get("planner", "cem"),
            "horizon": controller["horizon"], "population": controller["population"],
            "iterations": controller["iterations"], "threads": controller.get("torch_threads", 1),
            "precision": controller.get("rollout_precision", "float32"),
            "members": trainer["ensemble_members"], "hidden": trainer["hidden_units"],
            "layers": trainer["hidden_layers"],
            "control_rate": controller["control_rate"],
            "deadline_ms": 1000.0 * controller.get("plan_deadline_fraction", 0.8) / controller["control_rate"]}


def problem_sizes() -> dict[str, tuple[int, int]]:
    return {robot: (robot_problem(robot)["state_dim"], robot_problem(robot)["action_dim"]) for robot in ROBOTS}


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def repeat(fn, min_runs: int, budget: float) -> list[float]:
    fn()  # warm-up
    times, started = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - started < budget and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def quadratic_cost(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return states[:, 1:].square().sum((1, 2)) + 0.01 * actions.square().sum((1, 2))


def time_planner(model, state_dim, action_dim, planner, horizon, population, iterations, dtype, device, args):
    model = model.to(dtype=dtype, device=device)  # bfloat16: products in bfloat16, states in float32
    low = torch.full((action_dim,), -1.0, device=device)
    config = PlannerConfig(horizon=horizon, population=population, iterations=iterations,
                           elites=max(2, population // 10))
    p = make_planner(planner, low, -low, config, torch.Generator(device=device).manual_seed(0))
    state = torch.zeros(state_dim, device=device)

    def plan():
        with torch.no_grad():
            p.plan(lambda actions: quadratic_cost(rollout(model, state, actions), actions))
        if device != "cpu":
            torch.cuda.synchronize()

    return repeat(plan, args.min_runs, args.budget)


def time_matmul_limit(model, population, horizon, iterations, dtype, device, args):
    """Only the products the planner's rollout makes (with bias), for the same shapes and sequential
    steps: per iteration, the actions' share of the first layer for all steps at once; per step, the
    state's share of the first layer, the hidden layers and the mean half of the output layer."""
    members, s_dim = model.members, model.state_dim
    particles = population // members

    def operands(rows, weight, bias):
        weight, bias = weight.detach().to(dtype=dtype, device=device), bias.detach().to(dtype=dtype, device=device)
        return torch.randn(members, rows, weight.shape[1], dtype=dtype, device=device), weight, bias

    first = model.layers[0]
    action_product = operands(particles * horizon, first.weight[:, s_dim:], first.bias)
    step_products = [operands(particles, first.weight[:, :s_dim], first.bias)]
    step_products += [operands(particles, layer.weight, layer.bias) for layer in model.layers[1:]]
    step_products.append(operands(particles, model.head.weight[..., :s_dim], model.head.bias[..., :s_dim]))

    def products():
        with torch.no_grad():
            for _ in range(iterations):
                x, weight, bias = action_product
                torch.baddbmm(bias, x, weight)
                for _ in range(horizon):
                    for x, weight, bias in step_products:
                        torch.baddbmm(bias, x, weight)
        if device != "cpu":
            torch.cuda.synchronize()

    return repeat(products, args.min_runs, args.budget)


def naive_throughput(model, state_dim, action_dim, horizon, candidates: int = 20, warm_up: bool = True) -> float:
    """Textbook random shooting: a Python loop over candidates and steps, one model call each."""
    if warm_up:  # torch's first calls are slow; do not count them against the loop
        naive_throughput(model, state_dim, action_dim, horizon, candidates=2, warm_up=False)
    model = model.float().cpu()
    rng = np.random.default_rng(0)
    state0 = np.zeros(state_dim, dtype=np.float32)
    started = time.perf_counter()
    with torch.no_grad():
        for c in range(candidates):
            state = state0
            member = c % model.members
            for _ in range(horizon):
                action = rng.uniform(-1, 1, action_dim).astype(np.float32)
                inputs = model.normalize_inputs(torch.from_numpy(state)[None], torch.from_numpy(action)[None])
                x = inputs[None].expand(model.members, -1, -1)
                mean, _ = model(x)
                delta = (mean[member, 0] * model.target_std + model.target_mean).numpy()
                state = state + delta
                float(np.sum(state**2))  # the cost, per step
    return candidates * horizon / (time.perf_counter() - started)


def bf16_supported() -> bool:
    try:
        a = torch.randn(4, 64, 64, dtype=torch.bfloat16)
        torch.bmm(a, a)
        return True
    except RuntimeError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the arm's target configuration and a few others")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--planner", default="cem")
    parser.add_argument("--min-runs", type=int, default=20)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per configuration, at most about")
    parser.add_argument("--out", default="planner_bench.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    dtypes = [torch.float32] + ([torch.bfloat16] if bf16_supported() else [])
    if args.quick:
        grid = [("arm", 15, 400, 3), ("arm", 30, 400, 3), ("arm", 15, 2000, 3), ("drone", 15, 400, 3),
                ("hand", 15, 400, 3)]
    else:
        grid = [(robot, h, n, i) for robot in problem_sizes() for h in (15, 30) for n in (100, 400, 1000, 2000)
                for i in (1, 3, 5)]

    # Warm up: the first timings of a process (thread pool, allocator, clocks) run slow.
    state_dim, action_dim = problem_sizes()["arm"]
    warm = GaussianEnsemble(state_dim, action_dim, members=5, hidden=200, layers=3).eval()
    warm_args = argparse.Namespace(min_runs=10, budget=1.0)
    for dtype in dtypes:
        time_planner(warm, state_dim, action_dim, args.planner, 15, 400, 3, dtype, "cpu", warm_args)

    rows = []
    naive_cache = {}
    header = (f"{'robot':9} {'dev':4} {'dtype':8} {'H':>3} {'N':>5} {'it':>2} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'Mstep/s':>8} {'x naive':>8} {'limit ms':>8} {'share':>6}")
    print(header)
    print("-" * len(header))
    for robot, horizon, population, iterations in grid:
        state_dim, action_dim = problem_sizes()[robot]
        model = GaussianEnsemble(state_dim, action_dim, members=5, hidden=200, layers=3).eval()
        if (robot, horizon) not in naive_cache:
            naive_cache[(robot, horizon)] = naive_throughput(model, state_dim, action_dim, horizon)
        naive = naive_cache[(robot, horizon)]
        for device in devices:
            for dtype in dtypes if device == "cpu" else [torch.float32, torch.bfloat16]:
                plan = time_planner(model, state_dim, action_dim, args.planner, horizon, population, iterations,
                                    dtype, device, args)
                limit = time_matmul_limit(model, population, horizon, iterations, dtype, device, args)
                p50, p99 = percentiles(plan)
                limit_p50, _ = percentiles(limit)
                throughput = population * horizon * iterations / np.median(plan)
                row = {"robot": robot, "state_dim": state_dim, "action_dim": action_dim, "device": device,
                       "dtype": str(dtype).replace("torch.", ""), "horizon": horizon, "population": population,
                       "iterations": iterations, "planner": args.planner, "plan_p50_ms": p50, "plan_p99_ms": p99,
                       "particle_steps_per_s": throughput, "naive_particle_steps_per_s": naive,
                       "speedup_vs_naive": throughput / naive, "matmul_limit_p50_ms": limit_p50,
                       "share_of_limit": p50 / limit_p50, "runs": len(plan)}
                rows.append(row)
                print(f"{robot:9} {device:4} {row['dtype']:8} {horizon:3d} {population:5d} {iterations:2d} "
                      f"{p50:8.2f} {p99:8.2f} {throughput / 1e6:8.3f} {row['speedup_vs_naive']:8.1f} "
                      f"{limit_p50:8.2f} {row['share_of_limit']:6.2f}", flush=True)

    deadlines = time_deadlines(args)
    torch.set_num_threads(args.threads)
    commands = time_commands(args)
    gpu = torch.cuda.get_device_name() if "cuda" in devices else None
    result = {"machine": {"processor": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__, "cuda": gpu},
              "ensemble": {"members": 5, "hidden": 200, "layers": 3}, "rows": rows, "deadlines": deadlines,
              "commands": commands}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


def time_deadlines(args) -> list[dict]:
    """Each robot's own controller, on the CPU with its own thread count, against its deadline."""
    rows = []
    print(f"\n{'robot':6} {'planner':7} {'dtype':8} {'H':>3} {'N':>5} {'it':>2} {'net':>9} {'thr':>3} "
          f"{'rate Hz':>7} "
          f"{'deadline':>8} {'p50 ms':>7} {'p99 ms':>7} {'within':>6}")
    for robot in ROBOTS:
        p = robot_problem(robot)
        torch.set_num_threads(p["threads"])
        model = GaussianEnsemble(p["state_dim"], p["action_dim"], p["members"], p["hidden"], p["layers"]).eval()
        plan = time_planner(model, p["state_dim"], p["action_dim"], p["planner"], p["horizon"], p["population"],
                            p["iterations"], getattr(torch, p["precision"]), "cpu", args)
        p50, p99 = percentiles(plan)
        rows.append({"robot": robot, **p, "plan_p50_ms": p50, "plan_p99_ms": p99,
                     "within_deadline": p99 <= p["deadline_ms"]})
        print(f"{robot:6} {p['planner']:7} {p['precision']:8} {p['horizon']:3d} {p['population']:5d} "
              f"{p['iterations']:2d} "
              f"{p['members']}x{p['layers']}x{p['hidden']:<4d} {p['threads']:3d} {p['control_rate']:7.0f} "
              f"{p['deadline_ms']:8.1f} {p50:7.2f} {p99:7.2f} {'yes' if rows[-1]['within_deadline'] else 'NO':>6}")
    return rows


def time_commands(args) -> list[dict]:
    """Per robot: one command of its controller's MPC against one of a policy, with --threads."""
    rows = []
    print(f"\n{'robot':14} {'MPC p50 ms':>10} {'policy p50 ms':>13} {'policy share':>12}")
    for robot in ROBOTS:
        params = node_parameters(robot_config(robot), "controller")
        spec, p, rng = RobotSpec.from_params(params), robot_problem(robot), np.random.default_rng(0)
        task = make_task(params["task"], spec, params)
        model = GaussianEnsemble(p["state_dim"], p["action_dim"], p["members"], p["hidden"], p["layers"]).eval()
        config = PlannerConfig(horizon=p["horizon"], population=p["population"], iterations=p["iterations"],
                               elites=params.get("elites", 20), initial_std=params.get("initial_std", 0.5))
        mpc = MPC(task, *spec.planning_bounds, model, config, planner=p["planner"], rollout_precision=p["precision"])
        state, goal = np.zeros(p["state_dim"]), task.random_goal(rng)
        low, high = (task.tensor(b) for b in spec.planning_bounds)
        policy = new_policy(task, rng.normal(size=(64, p["state_dim"])), low, high, 256, 2, rng).eval()
        plan_p50, _ = percentiles(repeat(lambda: mpc.act(state, goal), args.min_runs, args.budget))
        policy_p50, _ = percentiles(repeat(lambda: policy_command(policy, task, state, goal), args.min_runs,
                                           args.budget))
        rows.append({"robot": robot, "threads": args.threads, "mpc_p50_ms": plan_p50, "policy_p50_ms": policy_p50,
                     "policy_share": policy_p50 / plan_p50})
        print(f"{robot:14} {plan_p50:10.2f} {policy_p50:13.3f} {policy_p50 / plan_p50:12.2%}", flush=True)
    return rows


if __name__ == "__main__":
    main()
