"""standin: an arm as ros2_control presents one, without the arm, to rehearse a deployment.

A joint_state_broadcaster's /joint_states at the controller manager's rate (500 Hz), the joints in
its own order with extra joints among them (a gripper's fingers), NaN where the hardware has no
velocity interface, sensor noise and latency; a forward velocity command controller that holds
the last command forever and drops non-finite or wrong-length ones. The joints move as commanded
(no dynamics) and stop at their URDF limits. ~/pause_state and ~/corrupt_state (std_srvs/SetBool)
stop the joint states or make their positions NaN, for rehearsing faults.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool

from ..core.params import ListOf
from ..core.robots.commands import BadCommand
from ..core.robots.state import JOINT_STATE
from .common import COMMAND_QOS, OK, WARN, CheckedNode, ParameterError, in_range, non_negative, run
from .messages import message_class

CATCH_UP_SECONDS = 0.1


class StandInNode(CheckedNode):
    def __init__(self):
        super().__init__("standin")
        self.spec = spec = self.robot_spec()
        if spec.command_mode != "velocity":
            raise ParameterError(f"parameter 'command_mode': the stand-in takes velocity commands, not "
                                 f"{spec.command_mode}")
        self.rate = self.param("publish_rate", 500.0, "joint state rate, Hz", in_range(1.0, 2000.0))
        extra = self.param("extra_joints", ListOf(str), "joints published besides the commanded ones, at rest "
                           "(a gripper's)")
        self.nan_velocity = self.param("nan_velocity", True, "publish NaN velocities (no velocity interface)")
        self.noise = self.param("position_noise", 0.0, "standard deviation of the position readings, rad",
                                non_negative)
        self.latency = self.param("latency", 0.005, "seconds from reading the joints to publishing them",
                                  in_range(0.0, 1.0))
        start = self.param("initial_positions", [float(q) for q in (spec.workspace[0] + spec.workspace[1]) / 2],
                           "joint positions at start, in `joints` order")
        if len(start) != spec.dof:
            raise ParameterError(f"parameter 'initial_positions' needs {spec.dof} values, got {len(start)}")
        self.lower, self.upper = spec.position_lower, spec.position_upper
        self.positions = np.clip(np.array(start, float), self.lower, self.upper)
        self.velocity = np.zeros(spec.dof)
        # The broadcaster's own order: the extra joints first, then the commanded ones reversed.
        self.names = list(extra) + list(spec.joints[::-1])
        self.extra_positions = np.zeros(len(extra))
        self.rng = np.random.default_rng(self.param("seed", 0, "random seed of the sensor noise", non_negative))
        self.paused, self.corrupt = False, False
        self.queue: deque = deque()  # (due time, message): readings waiting out the latency
        self.commands, self.rejected = 0, 0
        self.period = 1.0 / self.rate
        self.last_reading = time.monotonic()  # when the joints were last read

        topic = spec.state.topic_for(JOINT_STATE, "/joint_states")
        self.state_pub = self.create_publisher(JointState, topic, 10)
        self.create_subscription(message_class(spec.command.msgtype), spec.command.topic, self.on_command,
                                 COMMAND_QOS)
        self.create_service(SetBool, "~/pause_state", self.on_pause)
        self.create_service(SetBool, "~/corrupt_state", self.on_corrupt)
        self.diagnostics = self.diagnostics_publisher()
        self.create_timer(self.period, self.on_tick)
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"stand-in arm: {len(self.names)} joints on {topic} at {self.rate:.0f} Hz, velocity "
                               f"commands on {spec.command.topic}")

    def on_command(self, msg) -> None:
        """The forward controller: the newest valid command holds until the next."""
        try:
            self.velocity = self.spec.command.vector(msg)
        except BadCommand as error:
            self.rejected += 1
            self.get_logger().warning(f"dropping command: {error}", throttle_duration_sec=2.0)
            return
        self.commands += 1

    def on_tick(self) -> None:
        """A reading for every period since the last, also those a late tick missed: a broadcaster runs
        in a real-time loop; this Python timer on a busy machine falls behind and catches up (within
        CATCH_UP_SECONDS, beyond which, as after a suspended process, the missed readings are skipped)."""
        now = time.monotonic()
        if now - self.last_reading > CATCH_UP_SECONDS:
            self.move(now - self.period - self.last_reading)
            self.last_reading = now - self.period
        stamp_now = self.get_clock().now().nanoseconds
        while self.last_reading + self.period <= now:
            self.last_reading += self.period
            self.move(self.period)
            if not self.paused:
                msg = self.reading()
                stamp = stamp_now - int((now - self.last_reading) * 1e9)
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                self.queue.append((self.last_reading + self.latency, msg))
        while self.queue and self.queue[0][0] <= now:
            self.state_pub.publish(self.queue.popleft()[1])

    def move(self, seconds: float) -> None:
        self.positions = np.clip(self.positions + self.velocity * seconds, self.lower, self.upper)

    def reading(self) -> JointState:
        measured = self.positions + self.noise * self.rng.standard_normal(self.spec.dof)
        positions = np.concatenate([self.extra_positions, measured[::-1]])
        if self.corrupt:
            positions[:] = np.nan
        at_limit = (self.positions <= self.lower) | (self.positions >= self.upper)
        velocity = np.concatenate([np.zeros(len(self.extra_positions)), np.where(at_limit, 0.0, self.velocity)[::-1]])
        return JointState(name=self.names, position=positions.tolist(),
                          velocity=[np.nan] * len(self.names) if self.nan_velocity else velocity.tolist())

    def on_pause(self, request, response):
        self.paused = request.data
        response.success, response.message = True, "joint states paused" if self.paused else "joint states resumed"
        self.get_logger().info(response.message)
        return response

    def on_corrupt(self, request, response):
        self.corrupt = request.data
        response.success, response.message = True, "positions NaN" if self.corrupt else "positions valid"
        self.get_logger().info(response.message)
        return response

    def publish_diagnostics(self) -> None:
        moving = bool(np.any(self.velocity))
        self.diagnostics.publish(self.diagnostic(WARN if moving and self.paused else OK,
                                                 "moving" if moving else "at rest", {
            "commands": self.commands, "rejected_commands": self.rejected,
            "positions": np.round(self.positions, 4).tolist(), "velocity": np.round(self.velocity, 4).tolist()}))


def main(args=None):
    raise SystemExit(run(StandInNode, args=args))


if __name__ == "__main__":
    main()
