"""Turn a valve to a goal angle with the fingers of a hand (ROBEL's D'Claw task, Ahn et al. 2019).

The valve's angle is a joint of the JointState, as its encoder reports it on the real rig; the
goal is a JointState naming that joint. The fingertips come from the forward kinematics of each
finger's chain in the hand's URDF, placed in the world by the hand's mount pose.
"""

from __future__ import annotations

import numpy as np
import torch

from ..params import Param
from ..robots.kinematics import ForwardKinematics
from ..robots.state import quaternion_to_matrix
from ..robots.urdf import load_chain
from .task import JOINT_STATE, AngleGoalTask, BadGoal


class TurnValveTask(AngleGoalTask):
    """Angle to the goal along the plan (weighted to its end), the valve still at the end,
    fingertips kept within reach of the spokes (inside the spokes' circle, not far above them),
    and changes between consecutive commands."""

    PARAMETERS = {
        "valve_joint": Param("valve_joint", "the valve's joint in the JointState"),
        "fingertips": Param(["index_tip", "middle_tip", "ring_tip", "thumb_tip"], "fingertip links of the URDF"),
        "mount_position": Param([-0.04, 0.0, 0.166], "the hand's base link in the world (the valve's frame), m"),
        "mount_orientation": Param([0.0, 0.7071068, 0.0, 0.7071068], "its orientation, quaternion x, y, z, w"),
        "valve_center": Param([0.0, 0.0, 0.066], "the valve's axis at the spokes' mid-plane, in the world, m"),
        "spoke_radius": Param(0.05, "how far the spokes reach from the axis, m"),
        "success_angle": Param(0.1, "angle to the goal that counts as reached, rad (ROBEL's threshold)"),
        "reach_weight": Param(5.0, "cost per metre a fingertip is outside the spokes' reach"),
        "velocity_weight": Param(0.1, "cost of the valve's speed at the end of the plan, per (rad/s)^2"),
        "smoothness_weight": Param(0.05, "cost of changes between consecutive commands, relative to their bounds"),
    }
    goal_msgtype = JOINT_STATE

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        p, joint = self.params, self.params["valve_joint"]
        self.frame, self.success_threshold = "world", p["success_angle"]
        self.sin, self.cos, self.speed = robot.state.columns(f"{joint}.sin", f"{joint}.cos", f"{joint}.velocity")
        self.fingers, self.finger_columns = [], []
        for tip in p["fingertips"]:
            chain = load_chain(robot.urdf_path, tip)
            names = [j.name for j in chain.actuated]
            self.fingers.append(ForwardKinematics(chain, names).to(device))
            self.finger_columns.append(robot.state.columns(*(f"{n}.position" for n in names)))
        self.mount_rotation = self.tensor(quaternion_to_matrix(np.asarray(p["mount_orientation"], float)))
        self.mount_position, self.center = self.tensor(p["mount_position"]), self.tensor(p["valve_center"])
        low, high = robot.command_bounds
        self.command_range = self.tensor(high - low)

    def goal(self, msg) -> np.ndarray:
        joint = self.params["valve_joint"]
        if joint not in msg.name or len(msg.position) != len(msg.name):
            raise BadGoal(f"a valve goal is a JointState naming '{joint}' with its position")
        angle = float(msg.position[list(msg.name).index(joint)])
        if not np.isfinite(angle):
            raise BadGoal("goal with a non-finite angle")
        return np.array([angle])

    def fill_goal(self, msg, goal):
        msg.name, msg.position = [self.params["valve_joint"]], [float(goal[0])]
        return msg

    def fingertips(self, states: torch.Tensor) -> torch.Tensor:
        """Fingertip positions (..., fingers, 3) in the world."""
        tips = torch.stack([fk.position(states[..., c]) for fk, c in zip(self.fingers, self.finger_columns)], -2)
        return tips @ self.mount_rotation.T + self.mount_position

    def cost(self, states, actions, goal):
        p = self.params
        future = states[:, 1:]
        offset = self.fingertips(future) - self.center
        outside = (torch.relu(torch.linalg.vector_norm(offset[..., :2], dim=-1) - p["spoke_radius"])
                   + torch.relu(offset[..., 2] - 0.03))
        changes = torch.diff(actions, dim=1) / self.command_range
        return (self.angle_cost(future, goal) + p["reach_weight"] * outside.sum(-1).mean(1)
                + p["velocity_weight"] * states[:, -1, self.speed].square()
                + p["smoothness_weight"] * changes.square().sum((1, 2)))

    def plan_points(self, states):
        return self.fingertips(states).mean(-2).cpu().numpy()
