"""The ROS message classes behind the type names that the core uses, and the sim's readings as messages."""

from __future__ import annotations

import importlib

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import JointState
from std_msgs.msg import MultiArrayDimension, UInt8MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..core.control.trajectory import Trajectory
from ..core.sims.base import BaseReadings, JointReadings

def message_class(msgtype: str):
    """The class of the message type the core names as `package/msg/Type`."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def joint_state_message(readings: JointReadings, stamp) -> JointState:
    msg = JointState(name=list(readings.names), position=readings.position.tolist(),
                     velocity=readings.velocity.tolist(), effort=readings.effort.tolist())
    msg.header.stamp = stamp
    return msg


def odometry_message(readings: BaseReadings, stamp, frame: str, child_frame: str) -> Odometry:
    """Pose in `frame`, twist in the body frame `child_frame` (REP 105)."""
    msg = Odometry(child_frame_id=child_frame)
    msg.header.stamp, msg.header.frame_id = stamp, frame
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    p.x, p.y, p.z = map(float, readings.position)
    q.x, q.y, q.z, q.w = map(float, readings.orientation)
    v, w = msg.twist.twist.linear, msg.twist.twist.angular
    v.x, v.y, v.z = map(float, readings.linear_velocity)
    w.x, w.y, w.z = map(float, readings.angular_velocity)
    return msg


def pose_message(readings: BaseReadings, stamp, frame: str) -> PoseStamped:
    """The pose alone, as a motion-capture system publishes a tracked body."""
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = map(float, readings.position)
    q.x, q.y, q.z, q.w = map(float, readings.orientation)
    return msg


def trajectory_message(joints, trajectory: Trajectory) -> JointTrajectory:
    """A trajectory for a joint_trajectory_controller; its zero stamp means "start now"."""
    msg = JointTrajectory(joint_names=list(joints))
    for time_from_start, positions, velocities in zip(trajectory.times, trajectory.positions, trajectory.velocities):
        seconds = int(time_from_start)
        msg.points.append(JointTrajectoryPoint(
            positions=positions.tolist(), velocities=velocities.tolist(),
            time_from_start=Duration(sec=seconds, nanosec=int(round((time_from_start - seconds) * 1e9)))))
    return msg


def checkpoint_message(data: bytes, sha256: str) -> UInt8MultiArray:
    """A checkpoint's bytes for /mbrl/model_data, with their SHA-256 as the dimension's label."""
    msg = UInt8MultiArray(data=data)
    msg.layout.dim = [MultiArrayDimension(label=f"sha256:{sha256}", size=len(data), stride=len(data))]
    return msg


def checkpoint_payload(msg: UInt8MultiArray) -> tuple[bytes, str]:
    """The bytes and SHA-256 of a checkpoint message; ValueError if it does not say them."""
    dims = msg.layout.dim
    if len(dims) != 1 or not dims[0].label.startswith("sha256:"):
        raise ValueError("a model message needs one layout dimension labelled sha256:<digest>")
    data = bytes(msg.data)
    if len(data) != dims[0].size:
        raise ValueError(f"a model message of {len(data)} bytes says it has {dims[0].size}")
    return data, dims[0].label.split(":", 1)[1]
