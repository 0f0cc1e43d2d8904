"""rosbag2 recordings: chunked writing of serialized messages, and reading them back as time series.

Chunks are whole rosbag2 directories. The open one is named `*.active`; it is renamed when closed,
so a reader that lists closed chunks never sees a file still being written, and a killed writer
loses at most the open chunk.
"""

from __future__ import annotations

import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

from ..robots.commands import CommandInterface
from ..robots.state import JOINT_STATE, StateLayout
from .cdr import joint_states

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
STORAGE = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
ACTIVE_SUFFIX = ".active"
WRITE_ERRORS = (OSError, WriterError)  # a full disk, a vanished or unwritable folder
RESET_TOPIC = "/mbrl/reset"  # std_msgs/Header: an episode ended (a reset, a crash) at its stamp


class ChunkedBagWriter:
    """Writes serialized (CDR) messages of known topics into rotating rosbag2 chunks."""

    def __init__(self, directory: str | Path, topics: dict[str, str], chunk_seconds: float = 10.0,
                 chunk_bytes: int = 64 * 2**20, storage: str = "mcap", prefix: str = "chunk"):
        if storage not in STORAGE:
            raise ValueError(f"storage must be one of {sorted(STORAGE)}, got {storage!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.topics, self.storage = topics, storage
        self.chunk_seconds, self.chunk_bytes = chunk_seconds, chunk_bytes
        self.prefix = f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}"
        self.index, self.closed = 0, []
        self._writer = None
        self.messages_written = 0

    def _open(self) -> None:
        self._path = self.directory / f"{self.prefix}_{self.index:05d}{ACTIVE_SUFFIX}"
        self._writer = Writer(self._path, version=8, storage_plugin=STORAGE[self.storage])
        self._writer.open()
        self._connections = {topic: self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                             for topic, msgtype in self.topics.items()}
        self._opened_at, self._bytes = time.monotonic(), 0

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        if self._writer is None:
            self._open()
        self._writer.write(self._connections[topic], timestamp_ns, data)
        self._bytes += len(data)
        self.messages_written += 1
        if self._bytes >= self.chunk_bytes or time.monotonic() - self._opened_at >= self.chunk_seconds:
            self.rotate()

    def open_seconds(self) -> float:
        """How long the open chunk has been open (0 when none is)."""
        return 0.0 if self._writer is None else time.monotonic() - self._opened_at

    def rotate(self) -> Path | None:
        """Close the open chunk (if any) and publish it under its final name."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        final = self._path.with_name(self._path.name[: -len(ACTIVE_SUFFIX)])
        self._path.rename(final)
        self.closed.append(final)
        self.index += 1
        return final

    def close(self) -> None:
        self.rotate()

    def abandon(self) -> None:
        """Give up the open chunk after a write failed (a full disk, a vanished folder): the next
        write starts a new one. Closed chunks are untouched; the abandoned one stays `*.active`."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # it failed already; what matters is the next chunk
                pass
            self.index += 1


def closed_chunks(directory: str | Path, known: Container[Path] = ()) -> list[Path]:
    """The complete rosbag2 directories under `directory` but the `known` ones (looked at no further),
    oldest name first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p not in known and p.is_dir()
                  and not p.name.endswith(ACTIVE_SUFFIX) and (p / "metadata.yaml").exists())


def find_bags(path: str | Path) -> list[Path]:
    """`path` itself if it is a rosbag2 directory, else the bags inside it."""
    path = Path(path)
    if (path / "metadata.yaml").exists():
        return [path]
    bags = closed_chunks(path)
    if not bags:
        raise FileNotFoundError(f"no rosbag2 recording (a folder with metadata.yaml) in {path}")
    return bags


def deserialize_cdr(typestore, raw: bytes, msgtype: str):
    """Like Typestore.deserialize_cdr, but accepting trailing padding.

    Fast CDR (and so rclpy, and `ros2 bag record`) may pad a serialized message by four bytes or
    more past the size that rosbags accepts (eProsima/Fast-CDR#299); the message itself is intact.
    """
    if len(raw) < 4 or bytes(raw[:2]) not in (b"\x00\x00", b"\x00\x01"):
        raise ValueError("invalid or unsupported CDR encapsulation")
    msgdef = typestore.get_msgdef(msgtype)
    deserialize = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    message, end = deserialize(memoryview(raw)[4:], 0, msgdef.cls, typestore)
    if end + 4 + 8 < len(raw):
        raise ValueError(f"{len(raw) - end - 4} bytes left after a {msgtype}")
    return message


@dataclass
class RecordedSeries:
    """What bags hold of one robot, timed (seconds) by when each message was recorded: each state
    source's features, the commands, and the episode ends (resets) between them."""

    states: dict[str, tuple[np.ndarray, np.ndarray]]  # topic -> (times, features)
    command_times: np.ndarray
    commands: np.ndarray
    resets: np.ndarray
    rejected: dict  # reason -> count of messages that could not be used


def read_series(bags: list[Path], layout: StateLayout, command: CommandInterface,
                reset_topic: str = RESET_TOPIC) -> RecordedSeries:
    """The robot's state, commands and resets from bags, all at once (see read_pieces)."""
    pieces = list(read_pieces(bags, layout, command, reset_topic))
    rejected = {}
    for piece in pieces:
        for reason, count in piece.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
    return RecordedSeries(
        {topic: (np.concatenate([p.states[topic][0] for p in pieces]),
                 np.concatenate([p.states[topic][1] for p in pieces])) for topic in layout.topics},
        np.concatenate([p.command_times for p in pieces]), np.concatenate([p.commands for p in pieces]),
        np.concatenate([p.resets for p in pieces]), rejected)


def read_pieces(bags: list[Path], layout: StateLayout, command: CommandInterface, reset_topic: str = RESET_TOPIC,
                messages: int = 50_000):
    """The robot's state, commands and resets from bags, in time order, a piece of at most
    `messages` messages at a time (at least one piece), so that a long bag is never held whole.
    Malformed messages are skipped and counted by reason; nothing else about them is lost."""
    with AnyReader([Path(b) for b in bags], default_typestore=TYPESTORE) as reader:
        wanted = [c for c in reader.connections if c.topic in (*layout.topics, command.topic, reset_topic)]
        piece = _Piece(layout, command, reader.typestore)
        for connection, timestamp, raw in reader.messages(connections=wanted):
            piece.take(connection, timestamp * 1e-9, raw, reset_topic)
            if piece.size >= messages:
                yield piece.series()
                piece = _Piece(layout, command, reader.typestore)
        yield piece.series()


class _Piece:
    """The messages of one piece of read_pieces, as they come. JointStates are kept serialized
    and decoded together at the end (core/data/cdr.py), or one by one where their layouts differ."""

    def __init__(self, layout: StateLayout, command: CommandInterface, typestore):
        self.layout, self.command, self.typestore = layout, command, typestore
        self.states = {topic: ([], []) for topic in layout.topics}
        self.joint_states = {topic: ([], []) for topic, msgtype in layout.topics.items() if msgtype == JOINT_STATE}
        self.command_times, self.commands, self.resets, self.rejected = [], [], [], {}
        self.size = 0

    def take(self, connection, seconds: float, raw, reset_topic: str) -> None:
        self.size += 1
        topic = connection.topic
        if topic == reset_topic:
            self.resets.append(seconds)
        elif topic in self.joint_states and connection.msgtype == JOINT_STATE:
            self.joint_states[topic][0].append(seconds)
            self.joint_states[topic][1].append(raw)
        else:
            self.decode(topic, connection.msgtype, seconds, raw)

    def decode(self, topic: str, msgtype: str, seconds: float, raw) -> None:
        """One message, deserialized and turned into a command or a state."""
        try:
            message = deserialize_cdr(self.typestore, raw, msgtype)
        except Exception:  # a corrupt record must not stop the rest
            self.reject(f"{topic}: cannot deserialize")
            return
        try:
            if topic == self.command.topic:
                self.commands.append(self.command.vector(message))
                self.command_times.append(seconds)
            else:
                self.states[topic][1].append(self.layout.source(topic).features(message))
                self.states[topic][0].append(seconds)
        except ValueError as error:  # BadState, BadCommand
            self.reject(f"{topic}: {error}")

    def decode_joint_states(self, topic: str, times: list[float], raws: list) -> tuple[np.ndarray, np.ndarray]:
        """A topic's JointStates at once where they share a layout, else one by one."""
        try:
            first = deserialize_cdr(self.typestore, raws[0], JOINT_STATE)
        except Exception:
            first = None
        decoded = joint_states(raws, first) if first is not None else None
        if decoded is None:
            for seconds, raw in zip(times, raws):
                self.decode(topic, JOINT_STATE, seconds, raw)
            return np.array(self.states[topic][0]), np.array(self.states[topic][1])
        try:
            features, kept, reasons = self.layout.source(topic).features_of_many(first.name, *decoded)
        except ValueError as error:  # BadState: no message can give the joints
            features, kept, reasons = np.zeros((0, 0)), np.zeros(len(raws), bool), [str(error)] * len(raws)
        for reason in reasons:
            self.reject(f"{topic}: {reason}")
        return np.array(times)[kept], features

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def series(self) -> RecordedSeries:
        states = {topic: (np.array(times), np.array(values)) for topic, (times, values) in self.states.items()}
        for topic, (times, raws) in self.joint_states.items():
            if raws:
                states[topic] = self.decode_joint_states(topic, times, raws)
        return RecordedSeries(
            {topic: (times, values.reshape(-1, len(self.layout.source(topic).names)))
             for topic, (times, values) in states.items()},
            np.array(self.command_times), np.array(self.commands).reshape(-1, self.command.dim),
            np.array(self.resets), self.rejected)
