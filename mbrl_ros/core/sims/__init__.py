"""Simulated worlds in PyBullet that stand in for real robots behind the same topics.

The sim node builds one by the `world` parameter; each world declares its own parameters.
"""

from __future__ import annotations

from ..robots.robot import RobotSpec
from .base import BaseReadings, JointReadings, World
from .fixed_base import RobotSim
from .hand import HandValveSim
from .hand_cube import HandCubeSim
from .quadrotor import QuadrotorSim
from .quadrotor_pid import baseline as quadrotor_pid
from .valve_gait import baseline as valve_gait

WORLDS = {"fixed_base": RobotSim, "quadrotor": QuadrotorSim, "hand_valve": HandValveSim,
          "hand_cube": HandCubeSim}
# Hand-written controllers that demos fly on the same goals as the learned one, for comparison:
# name -> f(robot, sim_params, goals, goal_seconds, hold_seconds, control_rate) -> figures, among them
# goal_final_errors: the error left at each goal, in the task's unit.
BASELINES = {"quadrotor_pid": quadrotor_pid, "valve_gait": valve_gait}


def make_world(name: str, robot: RobotSpec, params: dict, time_step: float, gui: bool = False) -> World:
    """A world of kind `name` for `robot`, with the world's own parameters taken from `params`."""
    if name not in WORLDS:
        raise ValueError(f"world must be one of {sorted(WORLDS)}, got {name!r}")
    world = WORLDS[name]
    options = {key: params.get(key, default) for key, (default, _) in world.PARAMETERS.items()}
    return world.from_robot(robot, time_step=time_step, gui=gui, **options)


__all__ = ["BASELINES", "WORLDS", "BaseReadings", "JointReadings", "World", "make_world"]
