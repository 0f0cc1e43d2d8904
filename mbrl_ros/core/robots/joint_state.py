"""Turn a JointState's name-keyed arrays into the robot's state vector, or say why not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BadState(ValueError):
    """A state message that must not be used; the message says why."""


class BadJointState(BadState):
    """A joint state that must not be used; the message says why."""


def state_vector(
    names: Sequence[str],
    position: Sequence[float],
    velocity: Sequence[float],
    joints: Sequence[str],
    missing_velocity_ok: bool = False,
) -> np.ndarray:
    """[positions, velocities] of `joints`, matched by name, from one JointState.

    Extra joints are ignored and the order of `names` does not matter. An empty array means
    "not reported" (as ROS allows); a missing or non-finite velocity is an error, unless
    `missing_velocity_ok`, where it comes back as NaN for the caller to estimate.
    """
    names = list(names)
    position, velocity = np.asarray(position, dtype=float), np.asarray(velocity, dtype=float)
    if missing_velocity_ok and len(velocity) == 0:
        velocity = np.full(len(names), np.nan)
    for label, values in (("position", position), ("velocity", velocity)):
        if len(values) == 0:
            raise BadJointState(f"no {label} reported")
        if len(values) != len(names):
            raise BadJointState(f"{len(values)} {label} values for {len(names)} names")
    if len(set(names)) != len(names):
        raise BadJointState("a joint name appears twice")
    index = {name: i for i, name in enumerate(names)}
    missing = [j for j in joints if j not in index]
    if missing:
        raise BadJointState(f"missing joints {missing}")
    columns = [index[j] for j in joints]
    state = np.concatenate([position[columns], velocity[columns]])
    checked = state[:len(columns)] if missing_velocity_ok else state
    if not np.all(np.isfinite(checked)):
        bad = [j for j, ok in zip(list(joints) * 2, np.isfinite(state)) if not ok]
        raise BadJointState(f"non-finite values for {sorted(set(bad))}")
    return state
