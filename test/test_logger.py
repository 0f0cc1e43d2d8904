"""The logger records what the sim publishes; killed outright, it loses at most its open chunk."""

import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
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


@pytest.mark.timeout(120)
def test_logger_survives_its_folder_vanishing_and_keeps_recording(ros, tmp_path, arm):
    # What an unmounted or wiped data disk looks like to the logger: its open chunk cannot be closed.
    data = tmp_path / "data"
    overrides = {"data_dir": str(data), "chunk_seconds": 1.0}
    with Stack(robot_config("arm"), overrides, nodes=("sim", "logger"), log_dir=tmp_path / "logs") as stack:
        probe = Probe("logger_probe")
        probe.spin_until(lambda: len(closed_chunks(data)) >= 2, 60, "two closed chunks", stack)
        before = set(closed_chunks(data))

        def failures() -> int:
            return int(probe.diagnostics.get("mbrl_ros: logger", {}).get("write_failures", 0))

        for _ in range(5):  # remove the folder while a chunk is open in it, until a write fails
            probe.spin_until(lambda: list(data.glob("*.active")), 10, "an open chunk", stack)
            for _ in range(2):  # the logger may be creating a file meanwhile
                shutil.rmtree(data, ignore_errors=True)
            probe.spin_for(2.5)
            if failures():
                break
        assert failures() > 0, "the logger noticed"
        probe.spin_until(lambda: data.exists() and len(set(closed_chunks(data)) - before) >= 2, 30,
                         "new chunks once the folder can be written again", stack)
        assert stack.dead() == {}
        probe.destroy_node()
    assert "cannot record" in (tmp_path / "logs" / "logger.log").read_text()
    series = read_series(sorted(set(closed_chunks(data)) - before), arm.state, arm.command)
    assert series.rejected == {} and len(series.states["/joint_states"][1]) > 40


def test_logger_with_a_data_dir_it_cannot_create_says_so(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    params = tmp_path / "params.yaml"
    document = yaml.safe_load(robot_config("arm").read_text())
    document["logger"]["ros__parameters"]["data_dir"] = str(blocker / "data")
    params.write_text(yaml.safe_dump(document))
    result = subprocess.run([sys.executable, "-m", "mbrl_ros.nodes.logger", "--ros-args", "--params-file",
                             str(params)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot be written" in result.stderr
