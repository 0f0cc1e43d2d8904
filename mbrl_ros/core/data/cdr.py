"""Many serialized sensor_msgs/JointState messages of one layout decoded at once, with numpy.

A robot's joint_state_broadcaster sends the same names (and frame id) in every message, so within
a recording each message has the same bytes but for the stamp and the values: they are read as
columns of one array instead of one Python object per message (about 35 us each)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LITTLE_ENDIAN = b"\x00\x01\x00\x00"  # the CDR encapsulation header ROS 2 writes on x86 and ARM


def joint_states(raws: Sequence[bytes], first) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The header stamps (s) and the position and velocity arrays (N, K) of little-endian CDR
    JointStates with the layout of `first` (the first of them, deserialized): None where any differs
    from it other than in stamp and values (then decode them one by one)."""
    if not raws or bytes(raws[0][:4]) != LITTLE_ENDIAN:
        return None
    size = len(raws[0])
    if any(len(raw) != size for raw in raws):
        return None
    layout = joint_state_layout(raws[0])
    if layout is None:
        return None
    arrays, padding = layout
    if not all(
            np.array_equal(_doubles(np.frombuffer(raws[0], np.uint8)[None], *at)[0], values, equal_nan=True)
            for at, values in zip(arrays, (first.position, first.velocity, first.effort))):
        return None  # not the layout worked out here: trust the generic deserializer
    data = np.frombuffer(b"".join(raws), np.uint8).reshape(len(raws), size)
    varying = np.zeros(size, bool)
    varying[4:12] = True  # the stamp
    for offset, count in arrays:
        varying[offset:offset + 8 * count] = True
    for start, end in padding:
        varying[start:end] = True
    if not (data[:, ~varying] == data[0, ~varying]).all():
        return None
    stamps = data[:, 4:8].copy().view("<i4")[:, 0] + 1e-9 * data[:, 8:12].copy().view("<u4")[:, 0]
    return stamps, _doubles(data, *arrays[0]), _doubles(data, *arrays[1])


def _doubles(data: np.ndarray, offset: int, count: int) -> np.ndarray:
    return data[:, offset:offset + 8 * count].copy().view("<f8")


def joint_state_layout(raw: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """Where the position, velocity and effort arrays of a little-endian CDR JointState start (in
    bytes from the start of `raw`) and how many values each holds, and the byte ranges that are
    padding (whatever the serializer left there: rclpy leaves it uninitialised) or past the end;
    None where `raw` is too short. CDR aligns each value to its size, counted from after the
    4-byte encapsulation header."""
    at, padding = 8, []  # past header.stamp: sec, nanosec

    def align(size: int) -> None:
        nonlocal at
        aligned = (at + size - 1) // size * size
        padding.append((4 + at, 4 + aligned))
        at = aligned

    def count() -> int:
        nonlocal at
        align(4)
        value = int.from_bytes(raw[4 + at:8 + at], "little")
        at += 4
        if value > len(raw):
            raise ValueError("a length past the message's end")
        return value

    def skip_string() -> None:
        nonlocal at
        length = count()  # before the addition: count() moves `at` past the length itself
        at += length

    try:
        skip_string()  # header.frame_id
        for _ in range(count()):  # name
            skip_string()
        arrays = []
        for _ in range(3):  # position, velocity, effort
            values = count()
            if values:
                align(8)
            arrays.append((4 + at, values))
            at += 8 * values
    except ValueError:
        return None
    return (arrays, [*padding, (4 + at, len(raw))]) if 4 + at <= len(raw) else None
