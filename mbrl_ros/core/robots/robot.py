"""What the stack needs to know about a robot, from its YAML parameters and its URDF: its joints,
where its state comes from, and how it is commanded."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..params import ListOf, Param, in_range, one_of, read_parameters
from ..paths import find_shared_file
from .commands import MODES, CommandInterface, command_interface
from .state import JointStateSource, OdometrySource, PoseSource, StateLayout
from .urdf import UrdfJoint, load_joints

ROBOT_PARAMETERS = {  # besides `urdf` (or `robot_description`, which a node stores as a file)
    "command_mode": Param("velocity", "what the commands set", one_of(*MODES)),
    "joints": Param(ListOf(str), "actuated joints, in command order (none for a floating base)"),
    "command_topic": Param("/forward_velocity_controller/commands",
                           "where commands go: the command_mode's message (see core/robots/commands.py)"),
    "command_scale": Param(0.5, "share of the URDF velocity or effort limit used", in_range(0.01, 1.0)),
    "state_topic": Param("/joint_states", "JointState input"),
    "object_joints": Param(ListOf(str), "joints of objects in the JointState, such as an encoder's"),
    "continuous_joints": Param(ListOf(str), "joints whose angle the model sees as sin, cos"),
    "velocity_from_positions": Param(False, "estimate a joint velocity the JointState lacks or gives as NaN from "
                                     "the change in position (instead of refusing the message)"),
    "odom_topic": Param("", "nav_msgs/Odometry input for a floating base; empty: none"),
    "object_pose_topic": Param("", "geometry_msgs/PoseStamped input: an object's pose from motion capture; "
                               "empty: none"),
    "workspace_center": Param(ListOf(float), "centre of the joint box explored and planned in, in `joints` order; "
                              "empty: the middle of the limits"),
    "workspace_span": Param(ListOf(float), "half-width of that box; empty: half the range"),
}


@dataclass(frozen=True, eq=False)
class RobotSpec:
    urdf: str
    joints: tuple[str, ...]  # actuated joints in command order; none for a drone
    command: CommandInterface
    state: StateLayout
    workspace: tuple[np.ndarray, np.ndarray]  # joint box explored and planned in (the model's data)

    @classmethod
    def from_params(cls, params: dict) -> "RobotSpec":
        """From `urdf`, ROBOT_PARAMETERS and the command interface's own PARAMETERS, as a node
        declares them or a params file gives them."""
        urdf = params["urdf"]
        interface = command_interface(params.get("command_mode", ROBOT_PARAMETERS["command_mode"].default))
        params = read_parameters(ROBOT_PARAMETERS, params) | read_parameters(interface.PARAMETERS, params)
        joints = tuple(params["joints"])
        urdf_joints = read_urdf_joints(urdf)
        missing = [j for j in joints if j not in urdf_joints]
        if missing:
            raise ValueError(f"joints {missing} are not in {urdf}")
        command = interface.from_params(params, [urdf_joints[j] for j in joints])
        limits = [urdf_joints[j] for j in joints]
        workspace = joint_box(params["workspace_center"] or [(j.lower + j.upper) / 2 for j in limits],
                              params["workspace_span"] or [(j.upper - j.lower) / 2 for j in limits],
                              [j.lower for j in limits], [j.upper for j in limits])
        return cls(urdf, joints, command, state_layout(params, joints), workspace)

    @cached_property
    def urdf_path(self) -> str:
        return str(find_shared_file(self.urdf, "urdf"))

    @property
    def dof(self) -> int:
        return len(self.joints)

    @property
    def state_dim(self) -> int:
        return self.state.dim

    @property
    def command_mode(self) -> str:
        return self.command.mode

    @property
    def command_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.command.low, self.command.high

    @property
    def planning_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The commands a planner may choose: the command bounds, and for position commands the
        workspace box too, where the model has its data (a joint whose span is 0 stays put)."""
        low, high = self.command_bounds
        if self.command_mode == "position":
            return np.clip(self.workspace[0], low, high), np.clip(self.workspace[1], low, high)
        return low, high

    def in_workspace(self, state: np.ndarray) -> bool:
        """Whether the joints are inside the workspace box, where the model (and a policy learned on
        it) has data; always, for a robot without joints."""
        low, high = self.workspace
        positions = state[self.position_columns]
        return bool(np.all((positions >= low) & (positions <= high)))

    @cached_property
    def position_columns(self) -> list[int]:
        """State columns of the commanded joints' positions."""
        return self.state.columns(*(f"{j}.position" for j in self.joints))

    @cached_property
    def guarded_columns(self) -> list[int]:
        """State columns of what the motion guard watches: the joints' positions, or a wheeled base's
        x, y and heading (its cosine and sine)."""
        if self.command.guarded == "base":
            return self.state.columns("base.x", "base.y", "base.rot_xx", "base.rot_yx")
        return self.position_columns

    def _limits(self, attribute: str) -> np.ndarray:
        joints = read_urdf_joints(self.urdf)
        return np.array([getattr(joints[n], attribute) for n in self.joints])

    @property
    def position_lower(self) -> np.ndarray:
        return self._limits("lower")

    @property
    def position_upper(self) -> np.ndarray:
        return self._limits("upper")

    def model_signature(self) -> dict:
        """What a dynamics model of this robot takes and predicts; checkpoints carry it."""
        angles = [list(triple) for s in self.state.sources for triple in getattr(s, "angles", ())]
        return {"state": list(self.state.names), "commands": list(self.command.names),
                "command_mode": self.command.mode,
                "ignored_inputs": [n for s in self.state.sources for n in s.invariant],
                **({"angles": angles} if angles else {})}

    def safe_command(self, state: np.ndarray | None) -> np.ndarray | None:
        """What to send when in doubt: the interface's safe command, or, for position commands, the
        measured positions (None while they are unknown)."""
        if self.command.safe is not None:
            return self.command.safe.copy()
        if state is None:
            return None
        return self.command.clamp(state[self.position_columns])


def joint_box(center, span, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """The box center +- span, cut to the joint limits."""
    center, span = np.asarray(center, float), np.asarray(span, float)
    if center.shape != np.shape(lower) or span.shape != np.shape(lower):
        raise ValueError(f"workspace_center and workspace_span need {len(lower)} values, one per joint")
    return np.maximum(center - span, lower), np.minimum(center + span, upper)


def state_layout(params: dict, joints: tuple[str, ...]) -> StateLayout:
    sources = []
    state_joints = [*joints, *params["object_joints"]]
    if state_joints:
        sources.append(JointStateSource(params["state_topic"], state_joints, params["continuous_joints"],
                                        params["velocity_from_positions"]))
    if params["odom_topic"]:
        sources.append(OdometrySource(params["odom_topic"]))
    if params["object_pose_topic"]:
        sources.append(PoseSource(params["object_pose_topic"]))
    return StateLayout(sources)


def read_urdf_joints(urdf: str) -> dict[str, UrdfJoint]:
    return load_joints(find_shared_file(urdf, "urdf"))
