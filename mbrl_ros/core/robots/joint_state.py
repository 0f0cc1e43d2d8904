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
    position, velocity = np.asarray(position, dtype=float), np.asarray(velocity, dtype=float)
    columns = joint_columns(names, len(position), len(velocity), joints, missing_velocity_ok)
    if len(velocity) == 0:
        velocity = np.full(len(names), np.nan)
    state = np.concatenate([position[columns], velocity[columns]])
    bad = non_finite(state[None], joints, missing_velocity_ok)
    if bad:
        raise BadJointState(bad[0])
    return state


def joint_columns(names: Sequence[str], positions: int, velocities: int, joints: Sequence[str],
                  missing_velocity_ok: bool = False) -> list[int]:
    """Where each of `joints` is in a JointState with these names and this many positions and
    velocities; raises BadJointState where the message cannot give them."""
    names = list(names)
    if missing_velocity_ok and velocities == 0:
        velocities = len(names)
    for label, count in (("position", positions), ("velocity", velocities)):
        if count == 0:
            raise BadJointState(f"no {label} reported")
        if count != len(names):
            raise BadJointState(f"{count} {label} values for {len(names)} names")
    if len(set(names)) != len(names):
        raise BadJointState("a joint name appears twice")
    index = {name: i for i, name in enumerate(names)}
    missing = [j for j in joints if j not in index]
    if missing:
        raise BadJointState(f"missing joints {missing}")
    return [index[j] for j in joints]


def non_finite(states: np.ndarray, joints: Sequence[str], missing_velocity_ok: bool = False) -> list[str]:
    """Why each of `states` (N, [positions, velocities]) that holds a non-finite value it must not
    (a velocity may be NaN with `missing_velocity_ok`) cannot be used; empty where all can."""
    checked = states[:, :len(joints)] if missing_velocity_ok else states
    return [f"non-finite values for {sorted(set(j for j, ok in zip(list(joints) * 2, np.isfinite(row)) if not ok))}"
            for row in states[~np.isfinite(checked).all(1)]]
