"""The drone through ROS 2: sim, logger and controller as separate processes over DDS."""

import time

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from probe import Probe
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import Trigger

from mbrl_ros.core.data.bag import closed_chunks, read_series
from mbrl_ros.core.data.transitions import build_transitions
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import COMMAND_QOS, STATE_QOS


class DroneWatcher(Probe):
    def __init__(self):
        super().__init__("drone_watcher")
        self.odometry, self.rotor_commands, self.resets = [], [], []
        self.create_subscription(Odometry, "/odom", lambda m: self.odometry.append((time.monotonic(), m)), STATE_QOS)
        self.create_subscription(Float64MultiArray, "/rotor_controller/commands",
                                 lambda m: self.rotor_commands.append((time.monotonic(), list(m.data))), COMMAND_QOS)
        self.create_subscription(Header, "/mbrl/reset", self.resets.append, COMMAND_QOS)
        self.clock: list[tuple[float, float]] = []  # (wall time, sim time)
        self.create_subscription(Clock, "/clock", lambda m: self.clock.append(
            (time.monotonic(), m.clock.sec + 1e-9 * m.clock.nanosec)), 10)

    def rate(self, records, seconds: float) -> float:
        now = time.monotonic()
        return sum(1 for t, _ in records if t > now - seconds) / seconds


@pytest.fixture(scope="module")
def drone():
    return RobotSpec.from_params(node_parameters(robot_config("drone"), "controller"))


@pytest.mark.timeout(120)
def test_pilot_flies_the_drone_and_episode_ends_are_recorded(ros, tmp_path, drone):
    # A gentle pilot: this test is about the topics, rates and episode ends. The configured pilot's
    # noise (0.1) flipped the drone in about 1 of 6 starts over DDS; test_exploration checks it in-process.
    overrides = {"data_dir": str(tmp_path / "data"), "chunk_seconds": 2.0, "pilot_noise": 0.05}
    watcher = DroneWatcher()
    with Stack(robot_config("drone"), overrides, nodes=("sim", "logger", "controller"),
               log_dir=tmp_path / "logs") as stack:
        watcher.spin_until(lambda: len(watcher.rotor_commands) > 50, 30, "rotor commands", stack)
        # On a busy machine the logger may start, or discover the controller, late: fly on once its
        # closed chunks hold commands.
        def recorded_commands() -> int:
            chunks = closed_chunks(tmp_path / "data")
            return len(read_series(chunks, drone.state, drone.command).command_times) if chunks else 0

        watcher.spin_until(lambda: recorded_commands() > 20, 30, "commands in the logger's chunks", stack)
        watcher.spin_for(4.0)
        assert watcher.rate(watcher.odometry, 3.0) >= 100, "odometry at 100 Hz or more"
        assert 40 <= watcher.rate(watcher.rotor_commands, 3.0) <= 55, "commands at the 50 Hz control rate"
        commands = np.array([c for _, c in watcher.rotor_commands])
        assert commands.shape[1] == 4 and commands.min() >= 0.0 and commands.max() <= 1.0
        # The pilot's attitude loop tolerates one control period of state delay (test_exploration), not
        # two: a loaded 2-core machine can stall a process that long. A crash must then be said and reset.
        flight_crashes = len(watcher.resets)
        assert all(r.frame_id.startswith("crash: ") for r in watcher.resets)
        heights = [m.pose.pose.position.z for _, m in watcher.odometry[-300:]]
        assert min(heights) > 0.4, "flying, not on the ground"
        assert watcher.odometry[-1][1].header.frame_id == "world"
        (wall1, sim1) = watcher.clock[-1]
        wall0, sim0 = next((w, s) for w, s in watcher.clock if w > wall1 - 3.0)
        assert sim1 - sim0 == pytest.approx(wall1 - wall0, rel=0.1), "the sim keeps to the wall clock, as a drone would"

        # Stopped, the controller sends its safe command, motors off: the drone falls and crashes (on
        # the ground, or tilted past 90 degrees on the way down where it was turning when they stopped).
        stack.processes["controller"].send_signal(2)
        assert stack.processes["controller"].wait(10) == 0
        watcher.spin_until(lambda: len(watcher.resets) > flight_crashes, 10, "a crash and its reset")
        watcher.spin_for(0.5)  # what came while the test waited for the controller, to the last message
        assert not np.any(watcher.rotor_commands[-1][1]), "the last command: motors off"
        assert watcher.resets[flight_crashes].frame_id.startswith(("crash: hit the ground", "crash: tilted"))

        reset = watcher.create_client(Trigger, "/sim/reset")
        assert reset.wait_for_service(timeout_sec=10)
        future = reset.call_async(Trigger.Request())
        watcher.spin_until(lambda: future.done(), 10, "the reset service")
        watcher.spin_until(lambda: len(watcher.resets) == flight_crashes + 2, 5, "the reset announced on /mbrl/reset")
        assert watcher.resets[-1].frame_id == "reset requested"
        watcher.spin_for(2.5)  # the logger closes the chunk holding the crash
    watcher.destroy_node()

    series = read_series(closed_chunks(tmp_path / "data"), drone.state, drone.command)
    assert len(series.resets) >= 2 and series.rejected == {}
    times, _ = series.states["/odom"]
    transitions = build_transitions([series.states["/odom"]], series.command_times, series.commands, 0.02,
                                    series.resets)
    assert len(series.command_times) > 200, "several seconds of flight recorded"
    assert len(transitions) >= 0.8 * len(series.command_times), "most commands give a transition"
    for reset_time in series.resets:
        crossing = (transitions.times < reset_time) & (transitions.times + 0.02 > reset_time)
        assert not crossing.any(), "no transition crosses an episode end"
