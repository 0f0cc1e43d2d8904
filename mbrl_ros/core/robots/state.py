"""The robot's state: where each part comes from, and how it is laid out for the model.

A state source reads one topic's messages (any object with the ROS message's fields: an rclpy
message or one read from a bag) and turns each into a feature vector. The layout is the sources'
features side by side, each feature with a name, so that tasks find their columns by name:
- joints from sensor_msgs/JointState, matched by name: positions, then velocities; a continuous
  joint (a valve) as its angle, unwrapped, and that angle's sine and cosine: the model sees the
  sine and cosine, never the wrap, and predicts the angle's change;
- a floating base from nav_msgs/Odometry: position in the world, rotation as the first two
  columns of its matrix (a continuous 6D representation), linear and angular velocity in the body
  frame as REP 105 defines the twist;
- an object's pose from geometry_msgs/PoseStamped, as a motion-capture system publishes it:
  position and 6D rotation, no velocities (the robot's moves it; its own speed at 10 Hz is small).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .joint_state import BadState, joint_columns, non_finite, state_vector

JOINT_STATE = "sensor_msgs/msg/JointState"
ODOMETRY = "nav_msgs/msg/Odometry"
POSE_STAMPED = "geometry_msgs/msg/PoseStamped"


class JointStateSource:
    """Joints of a JointState, matched by name. With `velocity_from_positions`, a velocity the
    message lacks or gives as NaN (what joint_state_broadcaster sends for an interface the hardware
    does not have) is the change in position since the previous message, over their stamps' gap;
    until there is a previous message within `max_gap` s, messages are refused."""

    msgtype = JOINT_STATE
    ESTIMATE_WAIT = "velocities are estimated from positions: waiting for a second message within {} s of the last"

    def __init__(self, topic: str, joints: Sequence[str], continuous: Sequence[str] = (),
                 velocity_from_positions: bool = False, max_gap: float = 0.5):
        unknown = set(continuous) - set(joints)
        if unknown:
            raise ValueError(f"continuous joints {sorted(unknown)} are not among the state's joints")
        self.topic, self.joints, self.continuous = topic, list(joints), set(continuous)
        positions = [(f"{j}.angle", f"{j}.sin", f"{j}.cos") if j in self.continuous else (f"{j}.position",)
                     for j in self.joints]
        self.names = [n for names in positions for n in names] + [f"{j}.velocity" for j in self.joints]
        self.angles = [names for names in positions if len(names) == 3]
        self.invariant = tuple(angle for angle, _, _ in self.angles)  # features the dynamics do not depend on
        self._wrapped = np.array([j in self.continuous for j in self.joints])
        self._unwrapped: tuple[np.ndarray, np.ndarray] | None = None  # (last reported, last unwrapped) angles
        self.velocity_from_positions, self.max_gap = velocity_from_positions, max_gap
        self.estimated: set[str] = set()  # joints whose velocity has been estimated so far
        self._previous: tuple[float, np.ndarray] | None = None  # (stamp, positions)

    def features(self, msg) -> np.ndarray:
        raw = state_vector(msg.name, msg.position, msg.velocity, self.joints, self.velocity_from_positions)
        positions, velocities = np.split(raw, 2)
        if self._wrapped.any():
            positions[self._wrapped] = self._unwrap(positions[self._wrapped])
        if self.velocity_from_positions:
            velocities = self._fill_velocities(msg.header.stamp, positions, velocities)
        if not self._wrapped.any():
            return np.concatenate([positions, velocities])
        columns = [[p, np.sin(p), np.cos(p)] if wrapped else [p] for p, wrapped in zip(positions, self._wrapped)]
        return np.concatenate([np.concatenate(columns), velocities])

    def features_of_many(self, names: Sequence[str], stamps: np.ndarray, positions: np.ndarray,
                         velocities: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """features() of many messages with the same names at once, in order: `stamps` (N,) their
        header stamps in seconds, `positions` and `velocities` (N, len(names)) or (N, 0). Returns the
        features of those that can be used, which those are (N,), and why each other one cannot.
        Raises BadState where none can (the names lack a joint, the arrays' lengths differ)."""
        columns = joint_columns(names, positions.shape[1], velocities.shape[1], self.joints,
                                self.velocity_from_positions)
        if velocities.shape[1] == 0:
            velocities = np.full(positions.shape, np.nan)
        raw = np.concatenate([positions[:, columns], velocities[:, columns]], axis=1)
        finite = np.isfinite(raw[:, :len(columns)] if self.velocity_from_positions else raw).all(1)
        reasons = non_finite(raw[~finite], self.joints, self.velocity_from_positions)
        positions, velocities, stamps = np.split(raw[finite], 2, axis=1) + [stamps[finite]]
        if self._wrapped.any() and len(positions):
            positions[:, self._wrapped] = self._unwrap_many(positions[:, self._wrapped])
        usable = np.ones(len(positions), bool)
        if self.velocity_from_positions and len(positions):
            velocities, usable = self._fill_many(stamps, positions, velocities)
            reasons += [self.ESTIMATE_WAIT.format(self.max_gap)] * int((~usable).sum())
        kept = finite.copy()
        kept[finite] = usable
        positions = positions[usable]
        columns = [np.column_stack([p, np.sin(p), np.cos(p)]) if wrapped else p[:, None]
                   for p, wrapped in zip(positions.T, self._wrapped)]
        return np.concatenate([*columns, velocities[usable]], axis=1), kept, reasons

    def _unwrap_many(self, reported: np.ndarray) -> np.ndarray:
        """_unwrap of many messages' angles (N, K) in order."""
        start = reported[:1] if self._unwrapped is None else self._unwrapped[1][None]
        before = reported[:1] if self._unwrapped is None else self._unwrapped[0][None]
        turns = (np.diff(np.concatenate([before, reported]), axis=0) + np.pi) % (2 * np.pi) - np.pi
        unwrapped = start + np.cumsum(turns, axis=0)
        self._unwrapped = (reported[-1], unwrapped[-1])
        return unwrapped

    def _fill_many(self, stamps: np.ndarray, positions: np.ndarray, velocities: np.ndarray):
        """_fill_velocities of many messages in order: the velocities, and which could be estimated."""
        previous = self._previous or (np.nan, np.full(positions.shape[1], np.nan))
        before_t = np.concatenate([[previous[0]], stamps[:-1]])
        before_p = np.concatenate([previous[1][None], positions[:-1]])
        self._previous = (float(stamps[-1]), positions[-1])
        missing = ~np.isfinite(velocities)
        gap = stamps - before_t
        estimable = (gap > 0.0) & (gap <= self.max_gap)  # False against NaN: no previous message
        usable = ~missing.any(1) | estimable
        self.estimated.update(j for j, m in zip(self.joints, missing[usable].any(0)) if m)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = (positions - before_p) / gap[:, None]
        return np.where(missing, estimate, velocities), usable

    def read_world(self, world) -> np.ndarray:
        """The features of a simulated world's joints, as of its JointState (core/sims)."""
        return self.features(world.joint_readings())

    def _unwrap(self, reported: np.ndarray) -> np.ndarray:
        """Continuous joints' angles, continuous across +-pi whether or not the encoder wraps them:
        each message moves them by the shortest turn since the last one."""
        if self._unwrapped is None:
            unwrapped = reported
        else:
            turn = (reported - self._unwrapped[0] + np.pi) % (2 * np.pi) - np.pi
            unwrapped = self._unwrapped[1] + turn
        self._unwrapped = (reported, unwrapped)
        return unwrapped

    def _fill_velocities(self, stamp, positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
        now, previous = stamp.sec + 1e-9 * stamp.nanosec, self._previous
        self._previous = (now, positions)
        missing = ~np.isfinite(velocities)
        if not missing.any():
            return velocities
        if previous is None or not 0.0 < now - previous[0] <= self.max_gap:
            raise BadState(self.ESTIMATE_WAIT.format(self.max_gap))
        self.estimated.update(j for j, m in zip(self.joints, missing) if m)
        return np.where(missing, (positions - previous[1]) / (now - previous[0]), velocities)


# A floating base's features, by name: position in the world, the body's x and y axes in the world
# (the rotation matrix's first two columns), linear and angular velocity in the body frame.
BASE_POSITION = ("base.x", "base.y", "base.z")
BASE_X_AXIS = ("base.rot_xx", "base.rot_yx", "base.rot_zx")
BASE_Y_AXIS = ("base.rot_xy", "base.rot_yy", "base.rot_zy")
BASE_VELOCITY = ("base.vx", "base.vy", "base.vz")
BASE_RATES = ("base.wx", "base.wy", "base.wz")


class OdometrySource:
    msgtype = ODOMETRY
    invariant = BASE_POSITION  # a free-flying body's dynamics do not depend on where it is
    estimated: frozenset = frozenset()  # odometry brings every velocity it needs
    names = [*BASE_POSITION, *BASE_X_AXIS, *BASE_Y_AXIS, *BASE_VELOCITY, *BASE_RATES]

    def __init__(self, topic: str):
        self.topic = topic

    def features(self, msg) -> np.ndarray:
        pose, twist = msg.pose.pose, msg.twist.twist
        p, q, v, w = pose.position, pose.orientation, twist.linear, twist.angular
        return self.from_pose([p.x, p.y, p.z], [q.x, q.y, q.z, q.w], [v.x, v.y, v.z], [w.x, w.y, w.z])

    def read_world(self, world) -> np.ndarray:
        """The features of a simulated world's floating base, as of its Odometry."""
        r = world.base_readings()
        return self.from_pose(r.position, r.orientation, r.linear_velocity, r.angular_velocity)

    @staticmethod
    def from_pose(position, quaternion, linear_velocity, angular_velocity) -> np.ndarray:
        """Features of a pose (quaternion x, y, z, w) and a body-frame twist."""
        twist = np.concatenate([linear_velocity, angular_velocity]).astype(float)
        if not np.all(np.isfinite(twist)):
            raise BadState("non-finite twist")
        return np.concatenate([pose_features(position, quaternion), twist])


# An object's features, by name: position and the rotation matrix's first two columns, in the world.
OBJECT_POSITION = ("object.x", "object.y", "object.z")
OBJECT_X_AXIS = ("object.rot_xx", "object.rot_yx", "object.rot_zx")
OBJECT_Y_AXIS = ("object.rot_xy", "object.rot_yy", "object.rot_zy")


class PoseSource:
    """An object's pose from geometry_msgs/PoseStamped, as a motion-capture system reports it."""

    msgtype = POSE_STAMPED
    invariant = ()  # where the object is relative to the robot matters
    estimated: frozenset = frozenset()
    names = [*OBJECT_POSITION, *OBJECT_X_AXIS, *OBJECT_Y_AXIS]

    def __init__(self, topic: str):
        self.topic = topic

    def features(self, msg) -> np.ndarray:
        p, q = msg.pose.position, msg.pose.orientation
        return pose_features([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])

    def read_world(self, world) -> np.ndarray:
        """The features of a simulated world's object pose, as motion capture would report it."""
        r = world.base_readings()
        return pose_features(r.position, r.orientation)


def pose_features(position, quaternion) -> np.ndarray:
    """Position and the rotation's first two matrix columns of a pose (quaternion x, y, z, w)."""
    values = np.concatenate([position, quaternion]).astype(float)
    if not np.all(np.isfinite(values)):
        raise BadState("non-finite pose")
    q = values[3:]
    norm = np.linalg.norm(q)
    if abs(norm - 1.0) > 0.1:
        raise BadState(f"orientation is not a unit quaternion (norm {norm:.3g})")
    rotation = quaternion_to_matrix(q / norm)
    return np.concatenate([values[:3], rotation[:, 0], rotation[:, 1]])


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w), w >= 0, of a rotation matrix (Shepperd's method: divide by the
    largest of the four, so that half-turns come out right too)."""
    m = rotation
    trace = np.trace(m)
    candidates = [trace, m[0, 0], m[1, 1], m[2, 2]]
    largest = int(np.argmax(candidates))
    if largest == 0:
        w = np.sqrt(1.0 + trace) / 2
        q = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1], 0.0]) / (4 * w)
        q[3] = w
    else:
        i = largest - 1
        j, k = (i + 1) % 3, (i + 2) % 3
        q = np.zeros(4)
        q[i] = np.sqrt(max(0.0, 1.0 + m[i, i] - m[j, j] - m[k, k])) / 2
        q[j] = (m[j, i] + m[i, j]) / (4 * q[i])
        q[k] = (m[k, i] + m[i, k]) / (4 * q[i])
        q[3] = (m[k, j] - m[j, k]) / (4 * q[i])
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def rotation_from_6d(columns: np.ndarray) -> np.ndarray:
    """The rotation matrix whose first two columns are `columns` (6,), made orthonormal."""
    x = columns[:3] / np.linalg.norm(columns[:3])
    y = columns[3:] - (columns[3:] @ x) * x
    y /= np.linalg.norm(y)
    return np.column_stack([x, y, np.cross(x, y)])


StateSource = JointStateSource | OdometrySource | PoseSource


class StateLayout:
    """The model's state vector: the sources' features side by side, in the order given."""

    def __init__(self, sources: Sequence[StateSource]):
        if not sources:
            raise ValueError("a robot needs at least one state source (joints, odometry or a pose)")
        topics = [s.topic for s in sources]
        if len(set(topics)) != len(topics):
            raise ValueError(f"two state sources read the same topic: {topics}")
        self.sources = list(sources)
        self.names = [n for s in self.sources for n in s.names]
        self.dim = len(self.names)
        bounds = np.cumsum([0] + [len(s.names) for s in self.sources])
        self._slices = {s.topic: slice(a, b) for s, a, b in zip(self.sources, bounds, bounds[1:])}

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type, for every source."""
        return {s.topic: s.msgtype for s in self.sources}

    def columns(self, *names: str) -> list[int]:
        """The state columns of the named features, in the order asked."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise KeyError(f"the state has no features {missing}; it has {self.names}")
        return [self.names.index(n) for n in names]

    def topic_for(self, msgtype: str, default: str) -> str:
        """The topic of the source that reads `msgtype`, or `default` where none does."""
        return next((s.topic for s in self.sources if s.msgtype == msgtype), default)

    def source(self, topic: str) -> StateSource:
        return next(s for s in self.sources if s.topic == topic)

    def combine(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """One state vector from each source's newest features, keyed by topic."""
        return np.concatenate([features[s.topic] for s in self.sources])

    def part(self, state: np.ndarray, topic: str) -> np.ndarray:
        return state[..., self._slices[topic]]
