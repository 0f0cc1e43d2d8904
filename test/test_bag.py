import shutil

import numpy as np
import pytest
from bags import COMMAND_TOPIC, STATE_TOPIC, TOPICS, command, joint_robot, joint_state, record_linear_motion
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState

from mbrl_ros.core.data import bag
from mbrl_ros.core.data.bag import ChunkedBagWriter, closed_chunks, find_bags, read_pieces, read_series
from mbrl_ros.core.data.dataset import RecordedData
from mbrl_ros.core.data.transitions import TransitionStream, build_transitions

JOINTS = ["a", "b", "c"]
LAYOUT, COMMANDS = joint_robot(JOINTS)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip(tmp_path, storage):
    writer = ChunkedBagWriter(tmp_path, TOPICS, storage=storage)
    writer.write(STATE_TOPIC, 1_000_000_000, joint_state(["c", "b", "a", "gripper"], [3, 2, 1, 9], [6, 5, 4, 9]))
    writer.write(COMMAND_TOPIC, 1_500_000_000, command([0.1, 0.2, 0.3]))
    writer.close()
    series = read_series(find_bags(tmp_path), LAYOUT, COMMANDS)
    times, states = series.states[STATE_TOPIC]
    np.testing.assert_allclose(states, [[1, 2, 3, 4, 5, 6]])
    np.testing.assert_allclose(times, [1.0])
    np.testing.assert_allclose(series.commands, [[0.1, 0.2, 0.3]])
    np.testing.assert_allclose(series.command_times, [1.5])
    assert series.rejected == {}


def test_chunks_rotate_and_only_closed_ones_are_listed(tmp_path):
    writer = ChunkedBagWriter(tmp_path, TOPICS, chunk_bytes=200)
    for k in range(10):
        writer.write(COMMAND_TOPIC, k, command([k, k, k]))
    assert len(writer.closed) >= 2
    writer.write(COMMAND_TOPIC, 99, command([0, 0, 0]))
    if writer.open_seconds() > 0:
        assert any(p.name.endswith(".active") for p in tmp_path.iterdir())
    listed = closed_chunks(tmp_path)
    assert listed == writer.closed
    writer.close()
    series = read_series(closed_chunks(tmp_path), LAYOUT, COMMANDS)
    assert len(series.commands) == 11


def test_malformed_messages_are_counted_not_fatal(tmp_path):
    writer = ChunkedBagWriter(tmp_path, TOPICS)
    writer.write(STATE_TOPIC, 1, joint_state(JOINTS, [0, 0, 0], [0, 0, 0]))
    writer.write(STATE_TOPIC, 2, joint_state(JOINTS, [0, float("nan"), 0], [0, 0, 0]))
    writer.write(STATE_TOPIC, 3, joint_state(["a", "b"], [0, 0], [0, 0]))
    writer.write(STATE_TOPIC, 4, serialize_message(JointState(name=JOINTS, position=[1.0, 2.0], velocity=[])))
    writer.write(COMMAND_TOPIC, 5, command([1, 2]))
    writer.close()
    series = read_series(find_bags(tmp_path), LAYOUT, COMMANDS)
    assert len(series.states[STATE_TOPIC][1]) == 1 and len(series.commands) == 0
    assert sum(series.rejected.values()) == 4


def test_corrupt_chunk_is_skipped_and_reported(tmp_path):
    record_linear_motion(tmp_path / "good", JOINTS, seconds=1.0)
    bad = tmp_path / "chunk_bad"
    bad.mkdir()
    (bad / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8, storage_identifier: mcap")
    data = RecordedData(LAYOUT, COMMANDS, dt=0.05)
    data.refresh(tmp_path / "good")
    data.refresh(tmp_path)
    assert bad in data.unreadable
    assert len(data.transitions()) > 10


def test_recording_gives_exact_transitions(tmp_path):
    commands = record_linear_motion(tmp_path, JOINTS, seconds=3.0, storage="sqlite3")
    data = RecordedData(LAYOUT, COMMANDS, dt=0.05)
    data.add_path(tmp_path)
    transitions = data.transitions()
    assert len(transitions) >= len(commands) - 2
    moved = transitions.next_states[:, :3] - transitions.states[:, :3]
    np.testing.assert_allclose(moved, transitions.actions * 0.05, atol=1e-9)


def test_chunks_read_as_they_close_give_the_recordings_transitions_keeping_only_the_last_samples(tmp_path):
    record_linear_motion(tmp_path / "recording", JOINTS, seconds=3.0, chunk_bytes=4000)
    chunks = closed_chunks(tmp_path / "recording")
    assert len(chunks) >= 5
    whole = RecordedData(LAYOUT, COMMANDS, dt=0.05)
    whole.add_path(tmp_path / "recording")
    live = RecordedData(LAYOUT, COMMANDS, dt=0.05)
    for chunk in chunks:  # as the logger closes them
        shutil.copytree(chunk, tmp_path / "live" / chunk.name)
        assert live.refresh(tmp_path / "live") == [tmp_path / "live" / chunk.name]
        assert len(live.chunks.streams[0][0]) < 40, "the last samples only, not the chunks read"
    expected, got = whole.transitions(), live.transitions()
    assert len(expected) - 5 <= len(got) < len(expected), "the newest commands wait for the next chunk"
    np.testing.assert_array_equal(got.times, expected.times[:len(got)])
    np.testing.assert_allclose(got.next_states, expected.next_states[:len(got)])
    assert len(live) == len(got) and live.bags == [tmp_path / "live" / c.name for c in chunks]


def test_a_bag_read_a_few_messages_at_a_time_gives_the_transitions_of_the_whole(tmp_path):
    record_linear_motion(tmp_path, JOINTS, seconds=3.0)
    bags = find_bags(tmp_path)
    pieces = list(read_pieces(bags, LAYOUT, COMMANDS, messages=7))
    sizes = [sum(len(times) for times, _ in p.states.values()) + len(p.command_times) for p in pieces]
    assert len(pieces) > 20 and max(sizes) <= 7
    stream = TransitionStream([len(LAYOUT.names)], COMMANDS.dim, 0.05)
    parts = [stream.add([p.states[t] for t in LAYOUT.topics], p.command_times, p.commands, p.resets) for p in pieces]
    whole = read_series(bags, LAYOUT, COMMANDS)
    expected = build_transitions([whole.states[t] for t in LAYOUT.topics], whole.command_times, whole.commands, 0.05)
    got = np.concatenate([p.next_states for p in [*parts, stream.finish()]])
    assert len(expected) > 50
    np.testing.assert_allclose(got, expected.next_states)


def write_joint_states(directory, rng, count=400, names=("c", "b", "a", "gripper"), vary=None):
    """JointStates as a driver sends them (its own joint order, an extra joint, now and then a NaN,
    a wrap of the third joint), commands among them; `vary(k, names)`: other names for message k."""
    writer = ChunkedBagWriter(directory, TOPICS)
    for k in range(count):
        position, velocity = rng.uniform(-4, 4, len(names)), rng.normal(size=len(names))
        if k % 37 == 5:
            position[1] = float("nan")
        message_names = vary(k, list(names)) if vary else list(names)
        writer.write(STATE_TOPIC, int(k * 2e6), joint_state(message_names, position, velocity, [0.5] * len(names)))
        if k % 10 == 0:
            writer.write(COMMAND_TOPIC, int(k * 2e6) + 1, command(rng.uniform(-1, 1, 3)))
    writer.close()
    return find_bags(directory)


@pytest.mark.parametrize("case", ["one layout", "names reordered midway", "a corrupt record"])
def test_joint_states_decoded_at_once_give_what_one_at_a_time_gives(tmp_path, monkeypatch, case):
    vary = (lambda k, names: names[::-1] if k >= 200 else names) if case == "names reordered midway" else None
    bags = write_joint_states(tmp_path / "bag", np.random.default_rng(1), vary=vary)
    if case == "a corrupt record":
        writer = ChunkedBagWriter(tmp_path / "bag2", TOPICS)
        for k, raw in enumerate([joint_state("cbag", [1, 2, 3, 4], [5, 6, 7, 8]), b"\x00\x01\x00\x00garbage",
                                 joint_state("cbag", [2, 3, 4, 5], [5, 6, 7, 8])]):
            writer.write(STATE_TOPIC, k, raw)
        writer.close()
        bags = find_bags(tmp_path / "bag2")
    used = []
    monkeypatch.setattr(bag, "joint_states", lambda *a: used.append(bag_joint_states(*a)) or used[-1])
    at_once = read_series(bags, LAYOUT, COMMANDS)
    monkeypatch.setattr(bag, "joint_states", lambda *a: None)
    one_by_one = read_series(bags, LAYOUT, COMMANDS)
    assert (used[0] is not None) == (case == "one layout"), "at once only where every message has one layout"
    for topic in LAYOUT.topics:
        np.testing.assert_array_equal(at_once.states[topic][0], one_by_one.states[topic][0])
        np.testing.assert_array_equal(at_once.states[topic][1], one_by_one.states[topic][1])
    assert at_once.rejected == one_by_one.rejected and sum(at_once.rejected.values()) > 0
    np.testing.assert_array_equal(at_once.commands, one_by_one.commands)


def test_joint_states_decoded_at_once_unwrap_and_estimate_velocities_as_one_at_a_time(tmp_path, monkeypatch):
    """A continuous joint and velocities estimated from positions carry state from message to
    message, and across the pieces of a long bag."""
    from mbrl_ros.core.robots.state import JointStateSource, StateLayout

    def layout():
        return StateLayout([JointStateSource(STATE_TOPIC, ["a", "b", "c"], ["c"], velocity_from_positions=True)])

    writer = ChunkedBagWriter(tmp_path, TOPICS)
    rng = np.random.default_rng(2)
    for k in range(300):
        stamp = JointState().header.stamp
        stamp.sec, stamp.nanosec = divmod(k * 10_000_000 + (400_000_000 if k == 150 else 0), 1_000_000_000)
        message = JointState(name=["c", "b", "a"], position=list(rng.uniform(-3.1, 3.1, 3)), velocity=[])
        message.header.stamp = stamp
        writer.write(STATE_TOPIC, k * 10_000_000, serialize_message(message))
    writer.close()
    def pieces():
        return [p.states[STATE_TOPIC][1] for p in read_pieces(find_bags(tmp_path), layout(), COMMANDS, 70)]

    at_once = np.concatenate(pieces())
    monkeypatch.setattr(bag, "joint_states", lambda *a: None)
    np.testing.assert_allclose(at_once, np.concatenate(pieces()), rtol=0, atol=1e-12)
    assert np.abs(at_once[:, 2]).max() > np.pi, "the continuous joint unwrapped"


def test_padding_left_uninitialised_by_the_serializer_does_not_stop_decoding_at_once():
    from mbrl_ros.core.data import cdr

    rng = np.random.default_rng(3)
    raws = [bytearray(joint_state("cbag", [k, 2, 3, 4], [5, 6, 7, 8], [9] * 4)) for k in range(3)]
    _, padding = cdr.joint_state_layout(bytes(raws[0]))
    for raw in raws[1:]:
        for start, end in padding:
            raw[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    first = bag.deserialize_cdr(bag.TYPESTORE, bytes(raws[0]), bag.JOINT_STATE)
    stamps, positions, velocities = cdr.joint_states([bytes(r) for r in raws], first)
    np.testing.assert_array_equal(positions[:, 0], [0, 1, 2])
    raws[2][28] ^= 1  # the first name, "c", now "b": another layout
    assert cdr.joint_states([bytes(r) for r in raws], first) is None


bag_joint_states = bag.joint_states


def test_recordings_read_side_by_side_give_what_one_after_another_gives(tmp_path):
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        record_linear_motion(tmp_path / name, JOINTS, seconds=2.0, rng=np.random.default_rng(seed))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8")
    paths = [tmp_path / name for name in ("a", "b", "broken", "c")]
    serial, parallel = RecordedData(LAYOUT, COMMANDS, dt=0.05), RecordedData(LAYOUT, COMMANDS, dt=0.05)
    serial.add_paths(paths, workers=1)
    parallel.add_paths(paths, workers=2)
    assert parallel.bags == serial.bags and len(parallel.bags) == 3
    assert set(parallel.unreadable) == set(serial.unreadable) == {tmp_path / "broken"}
    np.testing.assert_array_equal(parallel.transitions().times, serial.transitions().times)
    np.testing.assert_array_equal(parallel.transitions().next_states, serial.transitions().next_states)
    assert len(serial) > 3 * 30
