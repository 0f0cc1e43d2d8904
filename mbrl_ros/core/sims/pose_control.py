"""A classical go-to-pose controller for a differential-drive base: the mobile base's baseline, and
the controller its exploration drives with before a model exists.

It knows the kinematics (a unicycle: forward speed and turn rate) and nothing of the dynamics. Far
from the goal it follows the polar-coordinate control law of Siegwart, Nourbakhsh and Scaramuzza
(Introduction to Autonomous Mobile Robots, 2nd ed., 2011, section 3.6.2.4): with rho the distance to
the goal, alpha the bearing of the goal from the heading and beta the goal's heading from the
direction to it, v = k_rho rho and w = k_alpha alpha + k_beta beta, driving backwards where the goal
lies behind. Within `turn_radius` of the goal it stops and turns on the spot to the goal's heading,
which a differential drive can. Commands are cut to the base's limits, keeping their ratio.
"""

from __future__ import annotations

import numpy as np

from ..tasks.drive_to import wrapped, yaw


class PoseController:
    def __init__(self, max_speed: float, max_turn: float, k_rho: float = 1.0, k_alpha: float = 3.0,
                 k_beta: float = -0.8, turn_gain: float = 3.0, turn_radius: float = 0.02):
        if not (k_rho > 0 and k_beta < 0 and k_alpha > k_rho):
            raise ValueError("the polar law converges for k_rho > 0, k_beta < 0 and k_alpha > k_rho")
        self.max_speed, self.max_turn = max_speed, max_turn
        self.k_rho, self.k_alpha, self.k_beta = k_rho, k_alpha, k_beta
        self.turn_gain, self.turn_radius = turn_gain, turn_radius

    def __call__(self, pose: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Forward speed and turn rate from pose (x, y, heading) towards goal (x, y, heading)."""
        dx, dy = goal[0] - pose[0], goal[1] - pose[1]
        rho = float(np.hypot(dx, dy))
        if rho < self.turn_radius:
            return self.limited(0.0, self.turn_gain * wrapped(goal[2] - pose[2]))
        alpha = wrapped(np.arctan2(dy, dx) - pose[2])
        direction = 1.0
        if abs(alpha) > np.pi / 2:  # behind: back up to it
            direction, alpha = -1.0, wrapped(alpha + np.pi)
        beta = wrapped(goal[2] - pose[2] - alpha)
        return self.limited(direction * self.k_rho * rho, self.k_alpha * alpha + self.k_beta * beta)

    def limited(self, speed: float, turn: float) -> np.ndarray:
        """Within the limits, scaled together so that the path's curvature is kept."""
        scale = max(1.0, abs(speed) / self.max_speed, abs(turn) / self.max_turn)
        return np.array([speed, turn]) / scale


def base_pose(readings) -> np.ndarray:
    """x, y and heading of a base's odometry readings."""
    return np.array([*readings.position[:2], yaw(*readings.orientation)])


def baseline(robot, sim_params: dict, goals, goal_seconds: float, hold_seconds: float, rate: float) -> dict:
    """The controller on the robot's diff_drive world, goal after goal as the demo sets them: the
    final error at each, as the task measures it (a share of its tolerances). No hold."""
    from ..tasks import make_task
    from . import make_world

    world = make_world("diff_drive", robot, sim_params, sim_params.get("time_step", 1.0 / 240.0))
    try:
        task = make_task("drive_to", robot, {})
        controller = PoseController(*robot.command.high)
        source = robot.state.sources[0]
        substeps = max(1, round(1.0 / (rate * world.time_step)))
        finals = []
        for goal in goals:
            for _ in range(round(goal_seconds * rate)):
                world.command(controller(base_pose(world.base_readings()), goal))
                world.step(substeps)
            finals.append(task.error(source.read_world(world), goal))
        return {"goal_final_errors": finals, "rate_hz": rate}
    finally:
        world.close()
