"""Tasks: the cost over predicted trajectories, goals, and how success is measured."""

from __future__ import annotations

from ..robots.robot import RobotSpec
from .drive_to import DriveToTask
from .fly_to import FlyToTask
from .reach import ReachTask
from .reorient_cube import ReorientCubeTask
from .task import BadGoal, Task
from .turn_valve import TurnValveTask

TASKS: dict[str, type[Task]] = {"reach": ReachTask, "fly_to": FlyToTask, "turn_valve": TurnValveTask,
                             "reorient_cube": ReorientCubeTask, "drive_to": DriveToTask}


def make_task(name: str, robot: RobotSpec, params: dict, device: str = "cpu") -> Task:
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name](robot, params, device)


__all__ = ["TASKS", "BadGoal", "Task", "make_task"]
