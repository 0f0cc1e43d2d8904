"""Turn a cube in the hand to a goal yaw without dropping it (in-hand reorientation, the stretch task
of the hand). The cube's pose comes from motion capture (a PoseStamped); the goal is a PoseStamped
whose orientation gives the yaw about world z. Success: within 0.4 rad of the goal yaw, the threshold
of OpenAI et al. 2019, "Learning Dexterous In-Hand Manipulation"."""

from __future__ import annotations

import numpy as np
import torch

from ..params import Param
from ..robots.joint_state import BadState
from ..robots.state import OBJECT_POSITION, OBJECT_X_AXIS, pose_features
from .task import POSE_STAMPED, AngleGoalTask, BadGoal


class ReorientCubeTask(AngleGoalTask):
    """Yaw to the goal along the plan (weighted to its end), a cost for the cube leaving the palm,
    and changes between consecutive commands."""

    PARAMETERS = {
        "cube_home": Param([0.026, 0.0, 0.046], "where the cube rests in the hand, in the world, m"),
        "hold_radius": Param(0.02, "how far the cube may move from there without cost, m"),
        "drop_weight": Param(30.0, "cost per metre the cube is further than hold_radius from its rest: 7 cm "
                        "beyond it costs more than any yaw (the chord costs 2 at most)"),
        "success_angle": Param(0.4, "yaw error that counts as reached, rad"),
        "smoothness_weight": Param(0.05, "cost of changes between consecutive commands, relative to their bounds"),
    }
    goal_msgtype = POSE_STAMPED
    frame = "world"

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        self.success_threshold = self.params["success_angle"]
        self.position = robot.state.columns(*OBJECT_POSITION)
        self.cos, self.sin = robot.state.columns(*OBJECT_X_AXIS[:2])
        self.home = self.tensor(self.params["cube_home"])
        low, high = robot.command_bounds
        self.command_range = self.tensor(high - low)

    def goal(self, msg) -> np.ndarray:
        if msg.header.frame_id not in ("", self.frame):
            raise BadGoal(f"goal in frame '{msg.header.frame_id}': goals must be in '{self.frame}'")
        q = msg.pose.orientation
        try:
            x_axis = pose_features(np.zeros(3), [q.x, q.y, q.z, q.w])[3:6]
        except BadState as error:
            raise BadGoal(f"a cube goal's orientation: {error}") from error
        return np.array([np.arctan2(x_axis[1], x_axis[0])])

    def fill_goal(self, msg, goal):
        msg.header.frame_id = self.frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, self.params["cube_home"])
        msg.pose.orientation.z, msg.pose.orientation.w = float(np.sin(goal[0] / 2)), float(np.cos(goal[0] / 2))
        return msg

    def cost(self, states, actions, goal):
        p = self.params
        future = states[:, 1:]
        away = torch.linalg.vector_norm(future[..., self.position] - self.home, dim=-1)
        changes = torch.diff(actions, dim=1) / self.command_range
        return (self.angle_cost(future, goal) + p["drop_weight"] * torch.relu(away - p["hold_radius"]).mean(1)
                + p["smoothness_weight"] * changes.square().sum((1, 2)))

    def plan_points(self, states):
        return states[:, self.position].cpu().numpy()
