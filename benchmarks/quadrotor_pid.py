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
from mbrl_ros.core.sims.quadrotor_pid import CascadedPID, fly_goals

HOME = np.array([0.0, 0.0, 1.0])
GOALS = [(0.5, 0.0, 1.0), (0.5, 0.5, 1.0), (0.0, 0.5, 1.0), (0.0, 0.0, 1.0)]


def measure(interface: str, rate: float, hold_seconds: float, motor_lag: float) -> dict:
    sim = QuadrotorSim(find_shared_file("quadrotor.urdf", "urdf"), interface=interface, start_position=HOME,
                       motor_time_constant=motor_lag)
    sim.command(np.full(4, sim.params.hover_command) if interface == "rotors" else [0, 0, 0, sim.params.hover_thrust])
    figures = fly_goals(sim, CascadedPID(sim.params), GOALS, 8.0, HOME, hold_seconds, rate)
    sim.close()
    return figures


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
              + ", ".join(f"{e * 1e3:.1f}" for e in figures["goal_final_errors"]))
    with open(args.json, "w") as file:
        json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
