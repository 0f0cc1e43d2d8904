"""How well does the cascaded PID baseline fly the simulated Crazyflie? For both command
interfaces: the RMS position error holding (0, 0, 1) for 60 s (after 2 s of settling), and the
error left at each of 4 goals 0.5 m apart after 8 s at each (the anchor of gym-pybullet-drones'
PID example), at 48 Hz control with the physics at 240 Hz.

    .venv/bin/python benchmarks/quadrotor_pid.py [--rate 48] [--motor-lag 0] [--json quadrotor_pid.json]

Without disturbances the sim is deterministic, so holding from rest at the goal is nearly exact;
--motor-lag (a first-order motor time constant) makes the loops work harder.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from mbrl_ros.core.paths import find_shared_file
from mbrl_ros.core.sims.quadrotor import QuadrotorSim
from mbrl_ros.core.sims.quadrotor_pid import CascadedPID

HOME = np.array([0.0, 0.0, 1.0])
GOALS = [(0.5, 0.0, 1.0), (0.5, 0.5, 1.0), (0.0, 0.5, 1.0), (0.0, 0.0, 1.0)]


def fly(sim: QuadrotorSim, pid: CascadedPID, goal, seconds: float, rate: float) -> np.ndarray:
    """Fly to `goal` for `seconds`; the position error at each control tick, (ticks, 3)."""
    substeps = max(1, round(1.0 / (rate * sim.time_step)))
    dt = substeps * sim.time_step
    law = pid.rotor_command if sim.interface == "rotors" else pid.attitude_command
    errors = []
    for _ in range(round(seconds / dt)):
        readings = sim.base_readings()
        errors.append(readings.position - goal)
        sim.command(law(readings, goal, dt=dt))
        reason = sim.step(substeps)
        if reason:
            raise RuntimeError(f"{sim.interface}: {reason}")
    return np.array(errors)


def measure(interface: str, rate: float, hold_seconds: float, motor_lag: float) -> dict:
    sim = QuadrotorSim(find_shared_file("quadrotor.urdf", "urdf"), interface=interface, start_position=HOME,
                       motor_time_constant=motor_lag)
    pid = CascadedPID(sim.params)
    hold = fly(sim, pid, HOME, 2.0 + hold_seconds, rate)[round(2.0 * rate):]
    finals = [float(np.linalg.norm(fly(sim, pid, np.array(goal), 8.0, rate)[-1])) for goal in GOALS]
    sim.close()
    return {"hold_rms_m": float(np.sqrt(np.mean(np.sum(hold**2, axis=1)))),
            "hold_max_m": float(np.max(np.linalg.norm(hold, axis=1))),
            "goal_final_errors_m": finals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=48.0, help="control rate, Hz")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds of hold to measure")
    parser.add_argument("--motor-lag", type=float, default=0.0, help="motor time constant, s (0: instant)")
    parser.add_argument("--json", default="quadrotor_pid.json", help="where to write the figures")
    args = parser.parse_args()
    results = {"rate_hz": args.rate, "motor_lag_s": args.motor_lag, "goals": GOALS}
    for interface in ("rotors", "attitude"):
        results[interface] = figures = measure(interface, args.rate, args.hold, args.motor_lag)
        print(f"{interface:8s} hold RMS {figures['hold_rms_m'] * 1e3:.2f} mm"
              f" (max {figures['hold_max_m'] * 1e3:.2f} mm) | final error at the goals (mm): "
              + ", ".join(f"{e * 1e3:.1f}" for e in figures["goal_final_errors_m"]))
    with open(args.json, "w") as file:
        json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
