"""Helpers that write real rosbag2 recordings of a robot, as the logger or `ros2 bag record` would."""

from __future__ import annotations

import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from mbrl_ros.core.data.bag import ChunkedBagWriter
from mbrl_ros.core.robots.commands import CommandInterface, VelocityCommands
from mbrl_ros.core.robots.state import JointStateSource, StateLayout

STATE_TOPIC, COMMAND_TOPIC = "/joint_states", "/forward_velocity_controller/commands"
TOPICS = {STATE_TOPIC: "sensor_msgs/msg/JointState", COMMAND_TOPIC: "std_msgs/msg/Float64MultiArray"}


def joint_robot(joints, limit=1.0) -> tuple[StateLayout, CommandInterface]:
    """The state layout and velocity command interface of a robot with these joints."""
    n = len(joints)
    return (StateLayout([JointStateSource(STATE_TOPIC, joints)]),
            VelocityCommands(COMMAND_TOPIC, tuple(joints), -limit * np.ones(n), limit * np.ones(n),
                             np.zeros(n)))


def joint_state(names, position, velocity, effort=()) -> bytes:
    return serialize_message(JointState(name=list(names), position=list(map(float, position)),
                                        velocity=list(map(float, velocity)), effort=list(map(float, effort))))


def command(values) -> bytes:
    return serialize_message(Float64MultiArray(data=list(map(float, values))))


def record_linear_motion(directory, joints, seconds=3.0, dt=0.05, state_rate=60.0, storage="mcap",
                         chunk_seconds=1e9, chunk_bytes=64 * 2**20, rng=None):
    """A robot whose joints integrate the commanded velocity exactly; returns the commands sent."""
    rng = rng or np.random.default_rng(0)
    writer = ChunkedBagWriter(directory, TOPICS, chunk_seconds=chunk_seconds, chunk_bytes=chunk_bytes, storage=storage)
    n = len(joints)
    commands = rng.uniform(-0.5, 0.5, size=(int(seconds / dt), n))
    events = []
    for k, u in enumerate(commands):
        events.append((k * dt, COMMAND_TOPIC, u))
    for t in np.arange(0.0, seconds + dt, 1.0 / state_rate):
        k = min(int(t / dt), len(commands) - 1)
        events.append((t, STATE_TOPIC, k))
    events.sort(key=lambda e: (e[0], e[1] == STATE_TOPIC))
    for t, topic, value in events:
        if topic == COMMAND_TOPIC:
            writer.write(topic, int(t * 1e9), command(value))
        else:
            k = value
            position = np.sum(commands[:k], axis=0) * dt + commands[k] * (t - k * dt)
            writer.write(topic, int(t * 1e9), joint_state(joints, position, commands[k]))
    writer.close()
    return commands
