"""How fast commands may change, for robots whose own controllers fault on jerky commands.

URDF gives position, velocity and effort limits only; acceleration and jerk come from a
ros2_control joint_limits YAML (`joint_limits: {<joint>: {has_acceleration_limits: true,
max_acceleration: ..., has_jerk_limits: true, max_jerk: ...}}`). For velocity commands the change
between consecutive commands is an acceleration and its change a jerk; for position commands they
are a velocity and an acceleration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

# Which joint_limits entries bound the first and second differences of each command mode.
DIFFERENCE_LIMITS = {"velocity": ("acceleration", "jerk"), "position": ("velocity", "acceleration")}


@dataclass(frozen=True)
class RateLimits:
    max_change: np.ndarray  # per second, per command value; inf: none
    max_change_rate: np.ndarray  # per second squared; inf: none


def load_rate_limits(path: str | Path, joints: tuple[str, ...], mode: str) -> RateLimits:
    """The limits of `joints`' commands in `mode` from a joint_limits YAML; a joint it leaves out,
    or a limit it does not enable, is unlimited."""
    if mode not in DIFFERENCE_LIMITS:
        raise ValueError(f"rate limits apply to {sorted(DIFFERENCE_LIMITS)} commands, not {mode}")
    try:
        document = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read joint limits {path}: {error}") from error
    entries = document.get("joint_limits")
    if not isinstance(entries, dict):
        raise ValueError(f"{path} has no `joint_limits` mapping of joint names to limits")

    def limit(joint: str, kind: str) -> float:
        entry = entries.get(joint) or {}
        if not entry.get(f"has_{kind}_limits", False):
            return np.inf
        value = float(entry[f"max_{kind}"])
        if not value > 0:
            raise ValueError(f"{path}: max_{kind} of {joint} must be positive, got {value}")
        return value

    first, second = DIFFERENCE_LIMITS[mode]
    return RateLimits(np.array([limit(j, first) for j in joints]), np.array([limit(j, second) for j in joints]))


class CommandLimiter:
    """Keeps each command within `limits` of the ones sent before it, `dt` apart. It is told of
    every command that goes out (`sent`), the safe ones too: they are never limited, and the
    commands after one ramp from it without carrying its jump on."""

    def __init__(self, limits: RateLimits, dt: float):
        self.limits, self.dt = limits, dt
        self.last: np.ndarray | None = None
        self.last_change: np.ndarray | None = None

    def __call__(self, command: np.ndarray) -> np.ndarray:
        if self.last is None:
            return command
        change = command - self.last
        if self.last_change is not None:
            jerk = self.limits.max_change_rate * self.dt**2
            change = np.clip(change, self.last_change - jerk, self.last_change + jerk)
        step = self.limits.max_change * self.dt
        return self.last + np.clip(change, -step, step)

    def sent(self, command: np.ndarray, safe: bool = False) -> None:
        self.last_change = None if self.last is None or safe else command - self.last
        self.last = np.array(command, float)
