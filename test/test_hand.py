"""The hand through ROS 2: sim and controller as separate processes over DDS."""

import time

import numpy as np
import pytest
from probe import Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import COMMAND_QOS, STATE_QOS


@pytest.mark.timeout(90)
def test_hand_explores_with_position_commands_and_reports_the_valve(ros, tmp_path):
    params = node_parameters(robot_config("hand"), "controller")
    probe = Probe("hand_watcher")
    states, commands = [], []
    probe.create_subscription(JointState, "/joint_states", states.append, STATE_QOS)
    probe.create_subscription(Float64MultiArray, "/hand_position_controller/commands",
                              lambda m: commands.append((time.monotonic(), list(m.data))), COMMAND_QOS)
    with Stack(robot_config("hand"), {}, nodes=("sim", "controller"), log_dir=tmp_path / "logs") as stack:
        probe.spin_until(lambda: len(commands) > 20, 30, "position commands", stack)
        probe.spin_for(2.0)
        assert stack.dead() == {}
    probe.destroy_node()

    names = list(states[-1].name)
    assert names == params["joints"] + ["valve_joint"], "the 16 hand joints, then the valve's encoder"
    recent = [c for t, c in commands if t > commands[-1][0] - 2.0]
    assert 15 <= len(recent) <= 25, "commands at the 10 Hz control rate"
    sent = np.array([c for _, c in commands])
    center, span = np.array(params["workspace_center"]), np.array(params["workspace_span"])
    assert sent.shape[1] == 16 and np.all(np.abs(sent - center) < span + 0.2), "near the explored box"
    first, last = (np.array(s.position[:16]) for s in (states[0], states[-1]))
    assert np.abs(last - first).max() > 0.05, "the fingers move"
