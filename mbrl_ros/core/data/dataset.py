"""Transitions from a growing folder of recorded chunks, reading each chunk once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..robots.commands import CommandInterface
from ..robots.state import StateLayout
from .bag import RESET_TOPIC, RecordedSeries, closed_chunks, find_bags, read_series
from .transitions import Transitions, build_transitions, concatenate


class RecordedData:
    """The robot's recorded series, from bags named up front or from chunks as they close.

    The bags of one recording (a folder given to add_path, or the logger's chunks) are one
    timeline, so transitions span chunk boundaries; different recordings are kept apart, since
    their clocks may overlap."""

    def __init__(self, layout: StateLayout, command: CommandInterface, dt: float, reset_topic: str = RESET_TOPIC):
        self.layout, self.command, self.dt, self.reset_topic = layout, command, dt, reset_topic
        self.series: dict[Path, RecordedSeries] = {}
        self.recording: dict[Path, int] = {}  # bag -> which recording it belongs to
        self.unreadable: dict[Path, str] = {}

    def add_path(self, path: str | Path) -> list[Path]:
        """Read a rosbag2 directory, or every bag in a folder of them, as a recording of its own;
        returns the bags read."""
        recording = max(self.recording.values(), default=0) + 1
        return [b for b in find_bags(path) if self._read(b, recording)]

    def refresh(self, directory: str | Path) -> list[Path]:
        """Read the chunks that closed since the last call; returns them."""
        return [c for c in closed_chunks(directory) if self._read(c, 0)]

    def _read(self, bag: Path, recording: int) -> bool:
        """Read a bag not seen before. An unreadable one is remembered with the reason and skipped."""
        if bag in self.series or bag in self.unreadable:
            return False
        try:
            self.series[bag] = read_series([bag], self.layout, self.command, self.reset_topic)
        except Exception as error:  # corrupt or foreign files must not stop training on the rest
            self.unreadable[bag] = f"{type(error).__name__}: {error}"
            return False
        self.recording[bag] = recording
        return True

    def transitions(self) -> Transitions:
        recordings = sorted(set(self.recording.values()))
        return concatenate([self._timeline([s for b, s in self.series.items() if self.recording[b] == r])
                            for r in recordings], len(self.layout.names), self.command.dim)

    def _timeline(self, parts: list[RecordedSeries]) -> Transitions:
        streams = [(np.concatenate([np.zeros(0), *(p.states[topic][0] for p in parts)]),
                    np.concatenate([np.zeros((0, len(self.layout.source(topic).names))),
                                    *(p.states[topic][1] for p in parts)]))
                   for topic in self.layout.topics]
        return build_transitions(streams,
                                 np.concatenate([np.zeros(0), *(p.command_times for p in parts)]),
                                 np.concatenate([np.zeros((0, self.command.dim)), *(p.commands for p in parts)]),
                                 self.dt, np.concatenate([np.zeros(0), *(p.resets for p in parts)]))

    def rejected(self) -> dict:
        total: dict = {}
        for series in self.series.values():
            for reason, count in series.rejected.items():
                total[reason] = total.get(reason, 0) + count
        return total
