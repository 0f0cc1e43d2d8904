"""Transitions from a growing folder of recorded chunks, reading each chunk once."""

from __future__ import annotations

import copy
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..robots.commands import CommandInterface
from ..robots.state import StateLayout
from .bag import RESET_TOPIC, closed_chunks, find_bags, read_pieces
from .transitions import Transitions, TransitionStream, concatenate


class RecordedData:
    """The robot's transitions, from bags named up front or from chunks as they close. Each bag is
    read once and turned into transitions as it is read (TransitionStream): what is kept is the
    transitions and the last samples the next ones need, not the messages.

    The bags of one recording (a folder given to add_path, or the logger's chunks) are one
    timeline, so transitions span chunk boundaries; different recordings are kept apart, since
    their clocks may overlap. Of the logger's chunks, the newest command's transition waits for
    the next chunk."""

    def __init__(self, layout: StateLayout, command: CommandInterface, dt: float, reset_topic: str = RESET_TOPIC):
        self.layout, self.command, self.dt, self.reset_topic = layout, command, dt, reset_topic
        self.bags: list[Path] = []  # read, in the order read
        self.unreadable: dict[Path, str] = {}
        self.seen: set[Path] = set()  # bags read or found unreadable: a poll looks at new chunks only
        self.rejections: dict[str, int] = {}  # reason -> messages that could not be used
        self.parts: list[Transitions] = []
        self.chunks = self._timeline()  # the logger's chunks: one recording that goes on

    def _timeline(self) -> TransitionStream:
        widths = [len(self.layout.source(topic).names) for topic in self.layout.topics]
        return TransitionStream(widths, self.command.dim, self.dt)

    def add_path(self, path: str | Path) -> list[Path]:
        """Read a rosbag2 directory, or every bag in a folder of them, as a recording of its own;
        returns the bags read."""
        recording, layout = self._timeline(), copy.deepcopy(self.layout)  # nothing carried over between recordings
        read = [b for b in find_bags(path) if self._read(b, recording, layout)]
        self.parts.append(recording.finish())
        return read

    def add_paths(self, paths: Sequence[str | Path], workers: int | None = None) -> None:
        """add_path for each, the recordings read side by side in up to `workers` processes (default:
        one per core), their transitions in the order given."""
        workers = min(len(paths), workers or os.cpu_count() or 1)
        if workers <= 1:
            for path in paths:
                self.add_path(path)
            return
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for read in pool.map(_recording, [self.empty()] * len(paths), paths):
                self.take(read)

    def empty(self) -> "RecordedData":
        """A RecordedData of the same robot with nothing read, for a worker to fill."""
        return RecordedData(self.layout, self.command, self.dt, self.reset_topic)

    def take(self, read: "RecordedData") -> None:
        """What a worker read (into one of `empty`'s), after what this one holds."""
        self.bags += read.bags
        self.unreadable |= read.unreadable
        self.seen |= {*read.bags, *read.unreadable}
        for reason, count in read.rejections.items():
            self.rejections[reason] = self.rejections.get(reason, 0) + count
        self.parts += read.parts

    def refresh(self, directory: str | Path) -> list[Path]:
        """Read the chunks that closed since the last call; returns them."""
        return [c for c in closed_chunks(directory, self.seen) if self._read(c, self.chunks, self.layout)]

    def _read(self, bag: Path, recording: TransitionStream, layout: StateLayout) -> bool:
        """Read a bag not seen before into its recording, a piece at a time. An unreadable one is
        remembered with the reason and skipped (from where it failed: what came before is kept)."""
        if bag in self.seen:
            return False
        self.seen.add(bag)
        try:
            for series in read_pieces([bag], layout, self.command, self.reset_topic):
                for reason, count in series.rejected.items():
                    self.rejections[reason] = self.rejections.get(reason, 0) + count
                self.parts.append(recording.add([series.states[topic] for topic in self.layout.topics],
                                                series.command_times, series.commands, series.resets))
        except Exception as error:  # corrupt or foreign files must not stop training on the rest
            self.unreadable[bag] = f"{type(error).__name__}: {error}"
            return False
        self.bags.append(bag)
        return True

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def transitions(self) -> Transitions:
        """Every transition so far, recordings in the order read (joined once, when asked for)."""
        if len(self.parts) != 1:
            self.parts = [concatenate(self.parts, len(self.layout.names), self.command.dim)]
        return self.parts[0]

    def rejected(self) -> dict:
        return dict(self.rejections)


def _recording(data: RecordedData, path: Path) -> RecordedData:
    """One recording read into an empty RecordedData (in a worker process)."""
    data.add_path(path)
    return data
