"""logger: records the robot's state, command and reset topics into rotating rosbag2 chunks (MCAP by default).

Messages are written as they arrive on the wire (serialized), stamped with this node's clock.
Closed chunks are complete rosbag2 directories that the trainer, or `ros2 bag`, can read while
recording goes on.
"""

from __future__ import annotations

from pathlib import Path

from ..core.data.bag import RESET_TOPIC, STORAGE, WRITE_ERRORS, ChunkedBagWriter
from .common import (
    COMMAND_QOS,
    ERROR,
    OK,
    RECORD_QOS,
    CheckedNode,
    ParameterError,
    one_of,
    positive,
    run,
)
from .messages import message_class


class LoggerNode(CheckedNode):
    def __init__(self):
        super().__init__("logger")
        spec = self.robot_spec()
        directory = Path(self.param("data_dir", "~/.ros/mbrl_ros/data", "where chunks are written")).expanduser()
        reset_topic = self.param("reset_topic", RESET_TOPIC, "std_msgs/Header episode ends (resets) to record")
        chunk_seconds = self.param("chunk_seconds", 10.0, "close a chunk after this many seconds", positive)
        chunk_megabytes = self.param("chunk_megabytes", 64.0, "close a chunk at this size", positive)
        storage = self.param("storage", "mcap", "rosbag2 storage format", one_of(*STORAGE))

        topics = {**spec.state.topics, spec.command.topic: spec.command.msgtype, reset_topic: "std_msgs/msg/Header"}
        try:
            self.writer = ChunkedBagWriter(directory, topics, chunk_seconds=chunk_seconds,
                                           chunk_bytes=int(chunk_megabytes * 2**20), storage=storage)
        except WRITE_ERRORS as error:
            raise ParameterError(f"data_dir {directory} cannot be written: {error}") from error
        self.dropped, self.failures, self.write_error = 0, 0, ""
        for topic, msgtype in topics.items():
            qos = RECORD_QOS if topic in spec.state.topics else COMMAND_QOS
            self.create_subscription(message_class(msgtype), topic, self.recorder(topic), qos, raw=True)
        self.chunk_seconds = chunk_seconds
        self.diagnostics = self.diagnostics_publisher()
        self.create_timer(1.0, self.on_second)
        self.get_logger().info(f"recording {', '.join(topics)} into {directory}")

    def recorder(self, topic: str):
        def record(data: bytes) -> None:
            try:
                self.writer.write(topic, self.get_clock().now().nanoseconds, data)
                self.write_error = ""
            except WRITE_ERRORS as error:  # keep what is closed, keep trying
                self.dropped += 1
                self.on_write_error(error)

        return record

    def on_second(self) -> None:
        """Close a chunk on time even when no message arrives to trigger it."""
        if self.writer.open_seconds() >= self.chunk_seconds:
            try:
                closed = self.writer.rotate()
                self.get_logger().info(f"closed chunk {closed.name}")
            except WRITE_ERRORS as error:
                self.on_write_error(error)
        level, message = (ERROR, f"cannot record: {self.write_error}") if self.write_error else (OK, "recording")
        self.diagnostics.publish(self.diagnostic(level, message, {
            "messages": self.writer.messages_written, "closed_chunks": len(self.writer.closed),
            "messages_lost": self.dropped, "write_failures": self.failures}))

    def on_write_error(self, error: Exception) -> None:
        """A full disk, a vanished or unwritable folder: give up the open chunk and go on."""
        self.failures += 1
        self.write_error = str(error)
        self.writer.abandon()
        self.get_logger().error(f"cannot record: {error}; {self.dropped} messages lost so far, closed chunks are "
                                "kept", throttle_duration_sec=5.0)

    def on_shutdown(self) -> None:
        try:
            self.writer.close()
        except WRITE_ERRORS as error:
            self.get_logger().error(f"the open chunk could not be closed: {error}")
        self.get_logger().info(f"closed; {len(self.writer.closed)} chunks, {self.writer.messages_written} messages")


def main(args=None):
    raise SystemExit(run(LoggerNode, args=args))


if __name__ == "__main__":
    main()
