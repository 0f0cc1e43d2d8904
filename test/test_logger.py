"""The logger records what the sim publishes; killed outright, it loses at most its open chunk."""

import signal
import time

import pytest
from probe import Probe

from mbrl_ros.core.data.bag import closed_chunks, read_series
from mbrl_ros.core.paths import robot_config
from mbrl_ros.launcher import Stack


@pytest.mark.timeout(120)
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_killed_logger_keeps_every_closed_chunk(ros, tmp_path, storage, arm):
    data = tmp_path / "data"
    overrides = {"data_dir": str(data), "chunk_seconds": 1.0, "storage": storage}
    with Stack(robot_config("arm"), overrides, nodes=("sim", "logger"), log_dir=tmp_path / "logs") as stack:
        probe = Probe("logger_probe")
        probe.spin_until(lambda: len(closed_chunks(data)) >= 3, 60, "three closed chunks", stack)
        time.sleep(0.5)
        stack.processes["logger"].send_signal(signal.SIGKILL)
        stack.processes["logger"].wait(10)
        probe.destroy_node()

    chunks = closed_chunks(data)
    assert len(chunks) >= 3
    assert len(list(data.glob("*.active"))) <= 1  # the open chunk, lost, and nothing else
    series = read_series(chunks, arm.state, arm.command)
    assert series.rejected == {}
    state_times, states = series.states["/joint_states"]
    assert len(states) >= 3 * 40  # 60 Hz joint states, about 1 s per chunk
    gaps = [b - a for a, b in zip(state_times, state_times[1:])]
    assert max(gaps) < 0.5, "consecutive chunks hold consecutive data"
