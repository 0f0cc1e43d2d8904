"""Simulated worlds in PyBullet that stand in for real robots behind the same topics.

The sim node builds one by the `world` parameter; each world declares its own parameters.
"""

from __future__ import annotations

import importlib

from ..params import Param, in_range, one_of, read_parameters
from ..robots.robot import RobotSpec
from .base import BaseReadings, JointReadings, World
from .diff_drive import DiffDriveSim
from .fixed_base import RobotSim
from .hand import HandValveSim
from .hand_cube import HandCubeSim
from .quadrotor import QuadrotorSim

WORLDS = {"fixed_base": RobotSim, "quadrotor": QuadrotorSim, "hand_valve": HandValveSim,
          "hand_cube": HandCubeSim, "diff_drive": DiffDriveSim}
SIM_PARAMETERS = {  # and the world's own
    "world": Param("", "which simulated world", one_of(*WORLDS)),
    "time_step": Param(1.0 / 240.0, "physics step in seconds", in_range(1e-4, 0.05)),
}
# Hand-written controllers that demos fly on the same goals as the learned one, for comparison:
# name -> f(robot, sim_params, goals, goal_seconds, hold_seconds, control_rate) -> figures, among them
# goal_final_errors: the error left at each goal, in the task's unit. Each is its module's `baseline`,
# imported when asked for: the valve gait needs torch, which the sim, logger and stand-in do not.
BASELINES = ("quadrotor_pid", "valve_gait", "pose_control")


def baseline(name: str):
    """The baseline controller of that name (see BASELINES)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: there are {sorted(BASELINES)}")
    return importlib.import_module(f".{name}", __name__).baseline


def make_world(name: str, robot: RobotSpec, params: dict, time_step: float, gui: bool = False) -> World:
    """A world of kind `name` for `robot`, with the world's own parameters taken from `params`."""
    if name not in WORLDS:
        raise ValueError(f"world must be one of {sorted(WORLDS)}, got {name!r}")
    world = WORLDS[name]
    return world.from_robot(robot, time_step=time_step, gui=gui, **read_parameters(world.PARAMETERS, params))


__all__ = ["BASELINES", "SIM_PARAMETERS", "WORLDS", "baseline", "BaseReadings", "JointReadings", "World",
           "make_world"]
