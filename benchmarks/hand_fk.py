"""Fingertip positions of the hand for a batch of joint configurations: how fast, and which code.

    .venv/bin/python benchmarks/hand_fk.py [--quick] [--threads 1 2] [--batches 2000 10000 40000]
                                           [--json hand_fk.json]

The planner's hot path needs the four fingertip positions (urdf/hand.urdf: index_tip, middle_tip,
ring_tip, thumb_tip) for every sample and step: population x horizon configurations, float32, CPU.
Compared:
  (a)  the package's own chain code: four ForwardKinematics(load_chain(hand_urdf, tip), finger joints)
       modules, each fed its finger's 4 columns;
  (b1) pytorch-kinematics, the whole hand as one Chain, forward_kinematics for the 4 tip frames;
  (b2) pytorch-kinematics, one SerialChain per finger, each fed its finger's 4 columns.
pytorch-kinematics is optional (pip install pytorch-kinematics); without it only (a) is timed.
Before timing, all of them are checked against each other and against PyBullet's link positions
(HandValveSim, which mounts the palm above the valve: the base pose is applied to the FK results).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mbrl_ros.core.paths import find_shared_file
from mbrl_ros.core.robots.kinematics import ForwardKinematics
from mbrl_ros.core.robots.urdf import load_chain
from mbrl_ros.core.sims.hand import FINGERTIPS, HAND_JOINTS, HandValveSim

FINGERS = {tip: list(HAND_JOINTS[4 * i: 4 * i + 4]) for i, tip in enumerate(FINGERTIPS)}


def package_fk(urdf: Path):
    """(a): q (B, 16) in joint_0..joint_15 order -> (B, 4, 3) fingertip positions in the palm frame."""
    modules = [(ForwardKinematics(load_chain(urdf, tip), joints), [HAND_JOINTS.index(j) for j in joints])
               for tip, joints in FINGERS.items()]

    def fk(q: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.position(q[:, cols]) for m, cols in modules], dim=1)

    return fk


def pk_chain_fk(urdf: Path):
    """(b1): pytorch-kinematics, one Chain, the 4 tip frames."""
    import pytorch_kinematics as pk

    chain = pk.build_chain_from_urdf(urdf.read_bytes()).to(dtype=torch.float32)
    order = [HAND_JOINTS.index(j) for j in chain.get_joint_parameter_names()]
    frames = chain.get_frame_indices(*FINGERTIPS)

    def fk(q: torch.Tensor) -> torch.Tensor:
        poses = chain.forward_kinematics(q[:, order], frames)
        return torch.stack([poses[tip].get_matrix()[:, :3, 3] for tip in FINGERTIPS], dim=1)

    return fk


def pk_serial_fk(urdf: Path):
    """(b2): pytorch-kinematics, one SerialChain per finger."""
    import pytorch_kinematics as pk

    data = urdf.read_bytes()
    chains = []
    for tip in FINGERTIPS:
        chain = pk.build_serial_chain_from_urdf(data, tip).to(dtype=torch.float32)
        chains.append((chain, [HAND_JOINTS.index(j) for j in chain.get_joint_parameter_names()]))

    def fk(q: torch.Tensor) -> torch.Tensor:
        return torch.stack([c.forward_kinematics(q[:, cols]).get_matrix()[:, :3, 3] for c, cols in chains], dim=1)

    return fk


def random_configurations(sim: HandValveSim, n: int, seed: int = 0) -> torch.Tensor:
    """n configurations within the URDF limits, joint_0..joint_15 order (sim built in that order)."""
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(sim.lower, sim.upper, (n, 16)), dtype=torch.float32)


def pybullet_tips(sim: HandValveSim, q: np.ndarray) -> np.ndarray:
    """World fingertip positions PyBullet computes for configuration q (teleported, no stepping)."""
    for index, value in zip(sim.indices, q):
        sim.client.resetJointState(sim.hand, index, float(value), 0.0)
    return sim.fingertip_positions()


def check(methods: dict, sim: HandValveSim, n: int = 200, n_pybullet: int = 8) -> dict:
    """Max fingertip disagreement (mm) of each method with (a), and of (a) with PyBullet."""
    q = random_configurations(sim, n, seed=1)
    with torch.inference_mode():
        results = {name: fk(q).double().numpy() for name, fk in methods.items()}
    reference = results["a_package"]
    errors = {f"{name}_vs_a_mm": float(np.abs(r - reference).max() * 1e3) for name, r in results.items()
              if name != "a_package"}
    rotation = np.array(sim.client.getMatrixFromQuaternion(sim.hand_orientation.tolist())).reshape(3, 3)
    worst = 0.0
    for i in range(n_pybullet):
        world = sim.hand_position + reference[i] @ rotation.T
        worst = max(worst, float(np.abs(world - pybullet_tips(sim, q[i].numpy())).max()))
    errors["a_vs_pybullet_mm"] = worst * 1e3
    return errors


def random_configurations_from_limits(urdf: Path, n: int, seed: int = 0) -> torch.Tensor:
    lower, upper = [], []
    for tip, joints in FINGERS.items():
        chain = load_chain(urdf, tip)
        lower += [chain.joint(j).lower for j in joints]
        upper += [chain.joint(j).upper for j in joints]
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(lower, upper, (n, 16)), dtype=torch.float32)



def median_ms(fn, q: torch.Tensor, min_runs: int, budget: float) -> float:
    with torch.inference_mode():
        fn(q)  # warm-up
        fn(q)
        times, started = [], time.perf_counter()
        while len(times) < min_runs or (time.perf_counter() - started < budget and len(times) < 200):
            t0 = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urdf", default="hand.urdf", help="hand URDF (name in urdf/ or a path)")
    parser.add_argument("--valve-urdf", default="valve.urdf")
    parser.add_argument("--batches", type=int, nargs="+", default=[2000, 10000, 40000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--min-runs", type=int, default=10)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per cell at most")
    parser.add_argument("--quick", action="store_true", help="tiny batches and few runs (a smoke test)")
    parser.add_argument("--json", default="hand_fk.json")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.min_runs, args.budget = [200], 3, 0.1

    urdf = find_shared_file(args.urdf, "urdf")
    sim = HandValveSim(urdf, find_shared_file(args.valve_urdf, "urdf"), list(HAND_JOINTS))
    methods = {"a_package": package_fk(urdf)}
    try:
        from importlib.metadata import version

        methods["b1_pk_chain"] = pk_chain_fk(urdf)
        methods["b2_pk_serial"] = pk_serial_fk(urdf)
        pk_status = f"pytorch-kinematics {version('pytorch-kinematics')}"
    except Exception as error:  # not installed, or it failed on this URDF
        pk_status = f"pytorch-kinematics unavailable: {type(error).__name__}: {error}"
        print(pk_status, "- timing (a) only")
    errors = check(methods, sim)
    sim.close()
    print("agreement (max fingertip difference, mm):", {k: f"{v:.1e}" for k, v in errors.items()})
    if any(v > 0.1 for v in errors.values()):
        raise SystemExit("fingertip positions disagree by more than 0.1 mm: not timing")

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            q = random_configurations_from_limits(urdf, batch)
            row = {"threads": threads, "batch": batch}
            for name, fn in methods.items():
                row[f"{name}_ms"] = median_ms(fn, q, args.min_runs, args.budget)
            rows.append(row)

    names = list(methods)
    print(f"\nmedian ms per call (float32, CPU, {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}); {pk_status}")
    print(f"{'threads':>7} {'batch':>7} " + " ".join(f"{n:>14}" for n in names)
          + ("  fastest" if len(names) > 1 else ""))
    for row in rows:
        cells = {n: row[f"{n}_ms"] for n in names}
        fastest = min(cells, key=cells.get)
        print(f"{row['threads']:>7} {row['batch']:>7} " + " ".join(f"{cells[n]:>14.3f}" for n in names)
              + (f"  {fastest}" if len(names) > 1 else ""))
    result = {"what": "fingertip positions (4 x 3) of urdf/hand.urdf for a batch of configurations, "
                      "median ms per call", "dtype": "float32", "device": "cpu", "torch": torch.__version__,
              "machine": platform.machine(), "pytorch_kinematics": pk_status, "agreement_mm": errors,
              "rows": rows}
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")

if __name__ == "__main__":
    main()
