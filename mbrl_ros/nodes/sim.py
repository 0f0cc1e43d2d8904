"""sim: a PyBullet robot behind ros2_control-style topics.

Publishes /joint_states and /clock, applies the newest Float64MultiArray on the command topic,
holds the joints when commands stop for `command_timeout`, and offers ~/reset (std_srvs/Trigger).
"""

from __future__ import annotations

import time

import numpy as np
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from ..core.sims.fixed_base import RobotSim
from .common import COMMAND_QOS, OK, WARN, CheckedNode, in_range, length, positive, run


class SimNode(CheckedNode):
    def __init__(self):
        super().__init__("sim")
        self.spec = self.robot_spec()
        command_topic = self.param("command_topic", "/forward_velocity_controller/commands",
                                   "Float64MultiArray commands, in `joints` order")
        self.command_timeout = self.param("command_timeout", 0.5, "seconds without a command before holding",
                                          positive)
        time_step = self.param("time_step", 1.0 / 240.0, "physics step in seconds", in_range(1e-4, 0.05))
        publish_rate = self.param("publish_rate", 60.0, "joint state rate in Hz", in_range(1.0, 1000.0))
        home = self.param("initial_positions", [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],
                          "joint positions at start and after ~/reset, in `joints` order",
                          length(self.spec.dof))
        gui = self.param("gui", False, "open the PyBullet window")

        self.sim = RobotSim(self.spec, time_step=time_step, gui=gui, initial_positions=np.array(home))
        self.substeps = max(1, round(1.0 / (publish_rate * time_step)))
        self.last_command_time = None
        self.holding = True
        self.rejected = 0

        self.state_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.diagnostics = self.diagnostics_publisher()
        self.create_subscription(Float64MultiArray, command_topic, self.on_command, COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.create_timer(self.substeps * time_step, self.on_tick)
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"{len(self.spec.joints)} joints, {command_topic} ({self.spec.command_mode}), "
                               f"{1.0 / (self.substeps * time_step):.0f} Hz")

    def on_command(self, msg: Float64MultiArray) -> None:
        try:
            self.sim.command(np.asarray(msg.data, dtype=float))
        except ValueError as error:
            self.rejected += 1
            self.get_logger().warning(f"ignoring command: {error}", throttle_duration_sec=2.0)
            return
        self.last_command_time = time.monotonic()
        if self.holding:
            self.get_logger().info("commands arriving: following them")
        self.holding = False

    def on_tick(self) -> None:
        stale = self.last_command_time is None or time.monotonic() - self.last_command_time > self.command_timeout
        if stale and not self.holding:
            self.get_logger().warning(f"no command for {self.command_timeout} s: holding position")
            self.sim.hold()
            self.holding = True
        self.sim.step(self.substeps)
        state = self.sim.state()
        msg = JointState(name=list(self.spec.joints))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.position = state[: self.spec.dof].tolist()
        msg.velocity = state[self.spec.dof :].tolist()
        msg.effort = self.sim.efforts().tolist()
        self.state_pub.publish(msg)
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = int(self.sim.sim_time), int((self.sim.sim_time % 1.0) * 1e9)
        self.clock_pub.publish(clock)

    def on_reset(self, request, response):
        self.sim.reset()
        self.holding, self.last_command_time = True, None
        response.success, response.message = True, "reset to initial_positions, holding"
        return response

    def publish_diagnostics(self) -> None:
        level, message = (WARN, "holding: no recent command") if self.holding else (OK, "following commands")
        self.diagnostics.publish(self.diagnostic(level, message, {
            "sim_time": f"{self.sim.sim_time:.2f}", "rejected_commands": self.rejected}))

    def on_shutdown(self) -> None:
        self.sim.close()


def main(args=None):
    raise SystemExit(run(SimNode, args=args))


if __name__ == "__main__":
    main()
