"""Whether a controller may command the robot: armed or disarmed, and why. ROS-free and thread-safe.

Callbacks arm and disarm (an enable service, an e-stop, the robot's "ready" signal); the control
loop takes the changes once per tick, so it can send one safe command on disarming and start
afresh, from the measured state, on arming.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ArmingStatus:
    armed: bool
    reason: str  # why disarmed; empty when armed
    just_armed: bool  # since the last look: start from the measured state, not an old plan
    just_disarmed: bool  # since the last look: send the safe command once


class Arming:
    def __init__(self, armed: bool, reason: str = "not enabled yet"):
        self._lock = threading.Lock()
        self._armed, self._reason = armed, "" if armed else reason
        self._just_armed, self._just_disarmed = armed, False

    def arm(self) -> None:
        with self._lock:
            if not self._armed:
                self._armed, self._reason, self._just_armed = True, "", True

    def disarm(self, reason: str) -> None:
        with self._lock:
            if self._armed:
                self._armed, self._reason, self._just_disarmed = False, reason, True

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._armed

    def take(self) -> ArmingStatus:
        """The status, and the changes since the last call (which this call clears)."""
        with self._lock:
            status = ArmingStatus(self._armed, self._reason, self._just_armed, self._just_disarmed)
            self._just_armed = self._just_disarmed = False
            return status
