"""logger: records the state and command topics into rotating rosbag2 chunks (MCAP by default).

Messages are written as they arrive on the wire (serialized), stamped with this node's clock.
Closed chunks are complete rosbag2 directories that the trainer, or `ros2 bag`, can read while
recording goes on.
"""

from __future__ import annotations

from pathlib import Path

from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from ..core.data.bag import STORAGE, ChunkedBagWriter
from .common import COMMAND_QOS, OK, RECORD_QOS, CheckedNode, one_of, positive, run


class LoggerNode(CheckedNode):
    def __init__(self):
        super().__init__("logger")
        directory = Path(self.param("data_dir", "~/.ros/mbrl_ros/data", "where chunks are written")).expanduser()
        state_topic = self.param("state_topic", "/joint_states", "JointState topic to record")
        command_topic = self.param("command_topic", "/forward_velocity_controller/commands",
                                   "Float64MultiArray command topic to record")
        chunk_seconds = self.param("chunk_seconds", 10.0, "close a chunk after this many seconds", positive)
        chunk_megabytes = self.param("chunk_megabytes", 64.0, "close a chunk at this size", positive)
        storage = self.param("storage", "mcap", "rosbag2 storage format", one_of(*STORAGE))

        self.writer = ChunkedBagWriter(directory, {state_topic: "sensor_msgs/msg/JointState",
                                                   command_topic: "std_msgs/msg/Float64MultiArray"},
                                       chunk_seconds=chunk_seconds, chunk_bytes=int(chunk_megabytes * 2**20),
                                       storage=storage)
        self.create_subscription(JointState, state_topic, self.recorder(state_topic), RECORD_QOS, raw=True)
        self.create_subscription(Float64MultiArray, command_topic, self.recorder(command_topic), COMMAND_QOS,
                                 raw=True)
        self.chunk_seconds = chunk_seconds
        self.diagnostics = self.diagnostics_publisher()
        self.create_timer(1.0, self.on_second)
        self.get_logger().info(f"recording {state_topic} and {command_topic} into {directory}")

    def recorder(self, topic: str):
        def record(data: bytes) -> None:
            self.writer.write(topic, self.get_clock().now().nanoseconds, data)

        return record

    def on_second(self) -> None:
        """Close a chunk on time even when no message arrives to trigger it."""
        if self.writer.open_seconds() >= self.chunk_seconds:
            closed = self.writer.rotate()
            self.get_logger().info(f"closed chunk {closed.name}")
        self.diagnostics.publish(self.diagnostic(OK, "recording", {
            "messages": self.writer.messages_written, "closed_chunks": len(self.writer.closed)}))

    def on_shutdown(self) -> None:
        self.writer.close()
        self.get_logger().info(f"closed; {len(self.writer.closed)} chunks, {self.writer.messages_written} messages")


def main(args=None):
    raise SystemExit(run(LoggerNode, args=args))


if __name__ == "__main__":
    main()
