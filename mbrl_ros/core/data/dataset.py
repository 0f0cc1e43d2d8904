"""Transitions from a growing folder of recorded chunks, reading each chunk once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bag import RobotSeries, closed_chunks, find_bags, read_robot_series
from .transitions import Transitions, build_transitions


class RecordedData:
    """The robot's recorded series, from bags named up front or from chunks as they close."""

    def __init__(self, joints: list[str], state_topic: str, command_topic: str, dt: float):
        self.joints, self.state_topic, self.command_topic, self.dt = list(joints), state_topic, command_topic, dt
        self.series: dict[Path, RobotSeries] = {}
        self.unreadable: dict[Path, str] = {}

    def add_path(self, path: str | Path) -> list[Path]:
        """Read a rosbag2 directory, or every bag in a folder of them; returns the bags read."""
        return [b for b in find_bags(path) if self._read(b)]

    def refresh(self, directory: str | Path) -> list[Path]:
        """Read the chunks that closed since the last call; returns them."""
        return [c for c in closed_chunks(directory) if self._read(c)]

    def _read(self, bag: Path) -> bool:
        """Read a bag not seen before. An unreadable one is remembered with the reason and skipped."""
        if bag in self.series or bag in self.unreadable:
            return False
        try:
            self.series[bag] = read_robot_series([bag], self.state_topic, self.command_topic, self.joints)
        except Exception as error:  # corrupt or foreign files must not stop training on the rest
            self.unreadable[bag] = f"{type(error).__name__}: {error}"
            return False
        return True

    def transitions(self) -> Transitions:
        parts = list(self.series.values())
        if not parts:
            return build_transitions(np.zeros(0), np.zeros((0, 2 * len(self.joints))), np.zeros(0),
                                     np.zeros((0, len(self.joints))), self.dt)
        return build_transitions(np.concatenate([p.state_times for p in parts]),
                                 np.concatenate([p.states for p in parts]),
                                 np.concatenate([p.command_times for p in parts]),
                                 np.concatenate([p.commands for p in parts]), self.dt)

    def rejected(self) -> dict:
        total: dict = {}
        for series in self.series.values():
            for reason, count in series.rejected.items():
                total[reason] = total.get(reason, 0) + count
        return total
