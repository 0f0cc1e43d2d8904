import shutil

import numpy as np
import pytest
from bags import COMMAND_TOPIC, STATE_TOPIC, TOPICS, command, joint_robot, joint_state, record_linear_motion
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState

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
