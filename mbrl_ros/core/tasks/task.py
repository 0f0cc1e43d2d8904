"""What every task gives the controller and the demo: a cost over predicted trajectories, its goal
message, and how far a state is from the goal."""

from __future__ import annotations

import numpy as np
import torch

from ..params import Schema, read_parameters
from ..robots.robot import RobotSpec

POSE_STAMPED = "geometry_msgs/msg/PoseStamped"
JOINT_STATE = "sensor_msgs/msg/JointState"


class BadGoal(ValueError):
    """A goal message that cannot be used; the message says why."""


class Task:
    """Subclasses set `PARAMETERS` (their schema), `goal_msgtype`, `unit` and
    `success_threshold`, and give the methods below. Goals are vectors; messages are read and
    written through their fields, so the same code serves rclpy messages and bag records."""

    PARAMETERS: Schema = {}
    goal_msgtype = POSE_STAMPED
    unit = "m"
    success_threshold = 0.03

    def __init__(self, robot: RobotSpec, params: dict, device: str = "cpu"):
        self.robot, self.device = robot, device
        self.params = read_parameters(self.PARAMETERS, params)

    def tensor(self, values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float32), device=self.device)

    def goal(self, msg) -> np.ndarray:
        """The goal a message asks for, or BadGoal."""
        raise NotImplementedError

    def fill_goal(self, msg, goal: np.ndarray):
        """Write a goal into a message of `goal_msgtype`, and return it."""
        raise NotImplementedError

    def cost(self, states: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Costs (N,) of predicted states (N, H+1, S) reached by actions (N, H, A)."""
        raise NotImplementedError

    def reward(self, states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor,
               goals: torch.Tensor) -> torch.Tensor:
        """The negative cost of single steps (N,): states (N, S), actions (N, A), a goal per step (N, G)."""
        return -self.cost(torch.stack([states, next_states], 1), actions[:, None], goals[:, None])

    def episode_ended(self, states: torch.Tensor) -> torch.Tensor:
        """Where states (..., S) end an episode, as the sim would end it (a crash, a dropped object):
        no model rollout goes on from there. By default, never."""
        return torch.zeros(states.shape[:-1], dtype=torch.bool, device=states.device)

    def error(self, state: np.ndarray, goal: np.ndarray) -> float:
        """How far a state is from the goal, in `unit`."""
        raise NotImplementedError

    def describe(self, error: float) -> str:
        """An error as people read it."""
        return f"{error:.3f} {self.unit}"

    def plan_points(self, states: torch.Tensor) -> np.ndarray:
        """Points (T, 3) in the goal frame that show a predicted trajectory (T, S) in rviz."""
        raise NotImplementedError

    def random_goal(self, rng: np.random.Generator) -> np.ndarray:
        """A goal the robot can reach, for demos and tests."""
        raise NotImplementedError

    def goal_features(self, states: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """What a policy is given of the goal, next to states (..., S): by default the goal itself
        (..., G). Tasks give what makes the command easy to read off, such as a reach task's offset of
        the end effector from the goal, which a network would otherwise learn forward kinematics for."""
        return goal.expand(*states.shape[:-1], -1)

    def hold_goal(self, state: np.ndarray) -> np.ndarray | None:
        """The goal that keeps the robot where it is while no goal has been given, or None where the
        robot's safe command does that (an arm holding its joints)."""
        return None

    def achieved(self, state: np.ndarray) -> np.ndarray | None:
        """What of `state` the goal sets, as a point in the goal's space (a position), or None where
        goals are not points to shift (angles, poses): integral action on the goal needs it."""
        return None


class PositionGoalTask(Task):
    """A task whose goal is a position: a PoseStamped in `self.frame`, its orientation unused."""

    goal_msgtype = POSE_STAMPED
    frame = "world"

    def describe(self, error: float) -> str:
        return f"{error * 100:.2f} cm"

    def error(self, state, goal):
        return float(np.linalg.norm(self.achieved(state) - goal))

    def goal(self, msg) -> np.ndarray:
        if msg.header.frame_id not in ("", self.frame):
            raise BadGoal(f"goal in frame '{msg.header.frame_id}': goals must be in '{self.frame}'")
        p = msg.pose.position
        goal = np.array([p.x, p.y, p.z], float)
        if not np.all(np.isfinite(goal)):
            raise BadGoal("goal with a non-finite position")
        return goal

    def fill_goal(self, msg, goal):
        msg.header.frame_id = self.frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in goal)
        msg.pose.orientation.w = 1.0
        return msg


class AngleGoalTask(Task):
    """A task whose goal is an angle in radians (a valve's, an object's yaw). Subclasses set
    `self.cos` and `self.sin`: the state columns of a vector at that angle (its cosine and sine,
    or the x and y of an axis that turns with it)."""

    unit = "rad"

    def angle(self, state: np.ndarray) -> float:
        return float(np.arctan2(state[self.sin], state[self.cos]))

    def error(self, state, goal):
        return float(abs(np.angle(np.exp(1j * (self.angle(state) - goal[0])))))

    def angle_cost(self, future: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The chord from the goal's direction to the predicted one, 2 sin(|error| / 2), at each predicted
        state (N, H, S), weighted towards the plan's end, averaged: (N,). Near the goal it grows as the
        angle itself: 0.05 rad off costs a tenth of 0.5 rad off, where 1 - cos would make it a hundredth,
        too little against the task's other terms for plans to close the last few hundredths."""
        vector = torch.stack([future[..., self.cos], future[..., self.sin]], -1)
        vector = vector / torch.linalg.vector_norm(vector, dim=-1, keepdim=True).clamp_min(1e-6)
        angle = goal[..., 0]  # one goal (1,), or one per trajectory (N, 1, 1)
        chord = torch.linalg.vector_norm(vector - torch.stack([torch.cos(angle), torch.sin(angle)], -1), dim=-1)
        weights = torch.linspace(0.5, 1.5, chord.shape[1], device=future.device, dtype=future.dtype)
        return (chord * weights).mean(1)

    def random_goal(self, rng):
        return np.array([rng.uniform(-np.pi, np.pi)])

    def goal_features(self, states, goal):
        """The goal as a unit vector: an angle's own value jumps at +-pi."""
        return torch.cat([torch.cos(goal), torch.sin(goal)], -1).expand(*states.shape[:-1], -1)
