"""sim: a PyBullet world behind the same topics as the real robot.

Publishes the world's joints on /joint_states (sensor_msgs/JointState) and its floating body on
the odometry topic (nav_msgs/Odometry) or, where the robot reads it from motion capture, as a
geometry_msgs/PoseStamped on `object_pose_topic`; and /clock. It applies the newest command from
the command topic (Float64MultiArray, or Twist for attitude commands). What happens when commands
stop is the world's own behaviour, as the real robot's driver or firmware would do it.
Every episode end, a crash the world reset itself from or a call of ~/reset (std_srvs/Trigger), is
announced on /mbrl/reset (std_msgs/Header; frame_id says why), so that no recorded transition
crosses it.
"""

from __future__ import annotations

import time

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from ..core.data.bag import RESET_TOPIC
from ..core.robots.commands import BadCommand
from ..core.robots.state import JOINT_STATE, ODOMETRY, POSE_STAMPED
from ..core.sims import SIM_PARAMETERS, WORLDS, make_world
from .common import (
    COMMAND_QOS,
    OK,
    WARN,
    CheckedNode,
    ParameterError,
    in_range,
    run,
)
from .messages import joint_state_message, message_class, odometry_message, pose_message


class SimNode(CheckedNode):
    MAX_CATCH_UP = 5  # publish periods a late tick may make up for at once
    def __init__(self):
        super().__init__("sim")
        self.spec = self.robot_spec()
        world, time_step = self.declare(SIM_PARAMETERS).values()
        publish_rate = self.param("publish_rate", 60.0, "state rate in Hz", in_range(1.0, 1000.0))
        gui = self.param("gui", False, "open the PyBullet window")
        self.odom_frame = self.param("odom_frame", "world", "frame of the odometry's or the object's pose")
        self.body_frame = self.param("body_frame", "base_link", "frame of the odometry's twist (the body)")
        reset_topic = self.param("reset_topic", RESET_TOPIC, "where episode ends are announced")
        self.step_on_command = self.param("step_on_command", True, "step the physics up to each command's arrival "
                                          "before applying it; false: a command acts from the last tick")
        try:
            self.world = make_world(world, self.spec, self.declare(WORLDS[world].PARAMETERS), time_step, gui)
        except (OSError, ValueError) as error:
            raise ParameterError(f"{world} world: {error}") from error
        self.substeps = max(1, round(1.0 / (publish_rate * time_step)))
        self.commands, self.rejected, self.resets = 0, 0, 0
        self.last_command = -float("inf")
        self.wall_anchor, self.sim_anchor, self.lagged = time.monotonic(), self.world.sim_time, 0.0
        self.published_time = None

        state = self.spec.state
        self.joint_pub = self.create_publisher(JointState, state.topic_for(JOINT_STATE, "/joint_states"), 10)
        pose_topic = state.topic_for(POSE_STAMPED, "")
        self.pose_pub = self.create_publisher(PoseStamped, pose_topic, 10) if pose_topic else None
        self.odom_pub = None if pose_topic else self.create_publisher(Odometry, state.topic_for(ODOMETRY, "/odom"), 10)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.reset_pub = self.create_publisher(Header, reset_topic, COMMAND_QOS)
        self.diagnostics = self.diagnostics_publisher()
        self.create_subscription(message_class(self.spec.command.msgtype), self.spec.command.topic, self.on_command,
                                 COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.create_timer(self.substeps * time_step, self.on_tick)
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"{world} world, {self.spec.command_mode} commands on {self.spec.command.topic}, "
                               f"{1.0 / (self.substeps * time_step):.0f} Hz")

    def on_command(self, msg) -> None:
        try:
            command = self.spec.command.vector(msg)
        except (BadCommand, ValueError) as error:
            self.rejected += 1
            self.get_logger().warning(f"ignoring command: {error}", throttle_duration_sec=2.0)
            return
        if self.step_on_command:
            self.advance()  # the command acts from when it arrived, not from the last tick
        self.world.command(command)
        if self.commands == 0:
            self.get_logger().info("commands arriving: following them")
        self.commands += 1
        self.last_command = time.monotonic()

    def advance(self) -> None:
        """Step the physics as far as the wall clock has moved since it last did, as a real robot
        moves on while a node is busy. Late by more than MAX_CATCH_UP publish periods, it makes up
        for one only; the world then falls behind, which diagnostics report."""
        behind = time.monotonic() - self.wall_anchor - (self.world.sim_time - self.sim_anchor)
        steps = round(behind / self.world.time_step)
        if steps > self.MAX_CATCH_UP * self.substeps:
            self.lagged += behind - self.substeps * self.world.time_step
            self.wall_anchor, self.sim_anchor = time.monotonic(), self.world.sim_time
            steps = self.substeps
        if steps > 0:
            ended = self.world.step(steps)
            if ended:
                self.announce_reset(ended)

    def on_tick(self) -> None:
        """Advance, and publish the state where it has moved on."""
        self.advance()
        if self.world.sim_time == self.published_time:
            return
        self.published_time = self.world.sim_time
        stamp = self.get_clock().now().to_msg()
        joints, base = self.world.joint_readings(), self.world.base_readings()
        if joints is not None:
            self.joint_pub.publish(joint_state_message(joints, stamp))
        if base is not None and self.pose_pub is not None:
            self.pose_pub.publish(pose_message(base, stamp, self.odom_frame))
        elif base is not None:
            self.odom_pub.publish(odometry_message(base, stamp, self.odom_frame, self.body_frame))
        sim_time = self.world.sim_time
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = int(sim_time), int((sim_time % 1.0) * 1e9)
        self.clock_pub.publish(clock)

    def announce_reset(self, reason: str) -> None:
        self.resets += 1
        self.get_logger().info(f"episode ended: {reason}")
        self.reset_pub.publish(Header(stamp=self.get_clock().now().to_msg(), frame_id=reason))

    def on_reset(self, request, response):
        self.world.reset()
        self.announce_reset("reset requested")
        response.success, response.message = True, "reset to the start state"
        return response

    def publish_diagnostics(self) -> None:
        idle = time.monotonic() - self.last_command > 1.0
        level, message = (WARN, "no command in the last second") if idle else (OK, "following commands")
        self.diagnostics.publish(self.diagnostic(level, message, {
            "sim_time": f"{self.world.sim_time:.2f}", "seconds_behind_wall_clock": f"{self.lagged:.2f}",
            "commands": self.commands, "rejected_commands": self.rejected,
            "episode_ends": self.resets}))

    def on_shutdown(self) -> None:
        self.world.close()


def main(args=None):
    raise SystemExit(run(SimNode, args=args))


if __name__ == "__main__":
    main()
