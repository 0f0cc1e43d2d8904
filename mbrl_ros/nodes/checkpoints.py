"""Announce checkpoints, and follow the ones another node announces: by path (std_msgs/String) for a
node on the same machine, and as bytes with their SHA-256 (std_msgs/UInt8MultiArray) for one on
another machine, both transient local. Each new checkpoint is checked, kept, and handed over once;
a bad one leaves the current in use."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import torch
from std_msgs.msg import String, UInt8MultiArray

from ..core.models.checkpoint import CheckpointError, digest, load_checkpoint, store_received
from .common import LATCHED_QOS
from .messages import checkpoint_message, checkpoint_payload


class CheckpointAnnouncer:
    """Publishes each checkpoint's path and bytes, for a CheckpointInbox to follow."""

    def __init__(self, node, topics: tuple[str, str]):
        self.path_pub = node.create_publisher(String, topics[0], LATCHED_QOS)
        self.data_pub = node.create_publisher(UInt8MultiArray, topics[1], LATCHED_QOS)

    def announce(self, path: pathlib.Path) -> None:
        self.path_pub.publish(String(data=str(path)))
        data = path.read_bytes()
        self.data_pub.publish(checkpoint_message(data, digest(data)))


class CheckpointInbox:
    """Checkpoints of `kind`, called `what` in the log. `fits(network, metadata)` says why a
    checkpoint cannot serve (or None); `use(network, metadata, path)` takes one that can. Both run
    in the subscriptions' callbacks."""

    def __init__(self, node, kind: type[torch.nn.Module], what: str, topics: tuple[str, str], cache: pathlib.Path,
                 device: str, fits: Callable[[torch.nn.Module, dict], str | None],
                 use: Callable[[torch.nn.Module, dict, str], None]):
        self.node, self.kind, self.what, self.cache, self.device = node, kind, what, cache, device
        self.fits, self.use = fits, use
        self.digest = ""  # SHA-256 of the checkpoint in use
        node.create_subscription(String, topics[0], lambda msg: self.load(msg.data), LATCHED_QOS)
        node.create_subscription(UInt8MultiArray, topics[1], self.on_data, LATCHED_QOS)

    def on_data(self, msg: UInt8MultiArray) -> None:
        try:
            data, sha256 = checkpoint_payload(msg)
            if sha256 != self.digest:
                self.load(str(store_received(data, sha256, self.cache)), sha256)
        except (ValueError, OSError, CheckpointError) as error:
            self.node.get_logger().error(f"keeping the current {self.what}: {error}")

    def load(self, path: str, sha256: str = "") -> None:
        """Hand over the checkpoint at `path` (its SHA-256 if known) if it can be read and fits; one
        already in use (announced by path and sent as bytes) is not loaded twice."""
        try:
            file = pathlib.Path(path)
            sha256 = sha256 or (digest(file.read_bytes()) if file.is_file() else "")
            if sha256 and sha256 == self.digest:
                return
            network, metadata = load_checkpoint(path, self.device, self.kind)
        except (CheckpointError, OSError) as error:
            self.node.get_logger().error(f"keeping the current {self.what}: {error}")
            return
        problem = self.fits(network, metadata)
        if problem:
            self.node.get_logger().error(f"keeping the current {self.what}: {path} {problem}")
            return
        self.use(network, metadata, path)
        self.digest = sha256
