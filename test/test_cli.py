"""`mbrl-ros up` and `mbrl-ros train`, as a user runs them."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bags import record_linear_motion
from probe import Probe

from mbrl_ros.cli import main
from mbrl_ros.core.models.checkpoint import load_checkpoint

ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@contextlib.contextmanager
def mbrl_ros_up(*arguments):
    """`mbrl-ros up ...` with a probe beside it; Ctrl-C at the end must stop it cleanly."""
    up = subprocess.Popen([sys.executable, "-m", "mbrl_ros.cli", "up", *arguments],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Probe("up_probe")
    try:
        yield up, probe
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)
    finally:
        probe.destroy_node()
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, output


@pytest.mark.timeout(120)
def test_up_starts_every_node_and_ctrl_c_stops_them_all(ros, tmp_path):
    params = tmp_path / "arm.yaml"
    source = Path(__file__).resolve().parents[1] / "config" / "arm.yaml"
    params.write_text(source.read_text().replace("~/.ros/mbrl_ros/arm", str(tmp_path)))
    with mbrl_ros_up("arm", "--params", str(params)) as (up, probe):
        probe.spin_until(lambda: len(probe.states) > 5 and len(probe.commands) > 5, 60, "the stack to run")
        nodes = children(up.pid)
        assert len(nodes) == 4
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in nodes), "orphaned node processes"
    assert (tmp_path / "data").is_dir() and not list((tmp_path / "data").glob("*.active"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_train_from_a_recording_writes_a_checkpoint_the_controller_accepts(tmp_path, storage):
    record_linear_motion(tmp_path / "bag", ARM_JOINTS, seconds=8.0, storage=storage, chunk_seconds=1e9)
    output = tmp_path / "model.pt"
    assert main(["train", "--bag", str(tmp_path / "bag"), "--output", str(output)]) == 0
    model, metadata = load_checkpoint(output)
    assert metadata["state"][:7] == [f"{j}.position" for j in ARM_JOINTS] and metadata["dt"] == pytest.approx(0.05)
    assert metadata["command_mode"] == "velocity" and model.state_dim == 14
    assert metadata["metrics"]["train_size"] > 100


def test_train_says_clearly_when_there_is_no_recording(tmp_path, capsys):
    assert main(["train", "--bag", str(tmp_path), "--output", str(tmp_path / "m.pt")]) == 2
    assert "no rosbag2 recording" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("argv", [["up", "nosuchrobot"], ["demo", "nosuchrobot"],
                                  ["train", "--bag", ".", "--robot", "nosuchrobot"]])
def test_an_unknown_robot_is_named_with_the_robots_there_are(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "no robot named 'nosuchrobot'" in error and "Traceback" not in error
    assert all(robot in error for robot in ("arm", "drone", "hand")), "the robots there are"


def test_a_stand_in_needs_the_hardware_config(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["up", "arm", "--standin"])
    assert stop.value.code == 2 and "use it with --hardware" in capsys.readouterr().err


def test_a_missing_params_file_is_named(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["up", "arm", "--params", "/no/such/params.yaml"])
    assert stop.value.code == 2 and "--params /no/such/params.yaml: no such file" in capsys.readouterr().err


def test_a_demo_refuses_a_folder_with_an_earlier_runs_data(tmp_path, capsys):
    (tmp_path / "data" / "chunk_0").mkdir(parents=True)
    with pytest.raises(SystemExit) as stop:
        main(["demo", "hand", "--out", str(tmp_path)])
    assert stop.value.code == 2 and "holds an earlier run's data" in capsys.readouterr().err
    assert (tmp_path / "data" / "chunk_0").is_dir(), "nothing removed"


def test_eval_model_on_a_file_that_is_no_checkpoint_says_so(tmp_path, capsys):
    text = tmp_path / "README.md"
    text.write_text("# not a model\n")
    assert main(["eval-model", "--checkpoint", str(text), "--bag", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "not a torch checkpoint file" in error and "weights_only" not in error


def test_train_from_several_recordings_learns_from_all_of_them(tmp_path):
    import numpy as np

    for name, seed in (("a", 1), ("b", 2)):
        record_linear_motion(tmp_path / name, ARM_JOINTS, seconds=8.0, rng=np.random.default_rng(seed))
    sizes = {}
    for label, bags in (("one", ["a"]), ("both", ["a", "b"])):
        argv = ["train", "--output", str(tmp_path / f"{label}.pt")]
        for bag in bags:
            argv += ["--bag", str(tmp_path / bag)]
        assert main(argv) == 0
        sizes[label] = load_checkpoint(tmp_path / f"{label}.pt")[1]["metrics"]["train_size"]
    assert sizes["both"] >= 1.9 * sizes["one"]


@pytest.mark.timeout(120)
def test_up_hardware_starts_no_sim_and_the_controller_waits_to_be_enabled(ros, tmp_path):
    params = tmp_path / "arm_hardware.yaml"
    source = Path(__file__).resolve().parents[1] / "config" / "arm_hardware.yaml"
    params.write_text(source.read_text().replace("~/.ros/mbrl_ros/arm_hardware", str(tmp_path)))
    with mbrl_ros_up("arm", "--hardware", "--params", str(params)) as (up, probe):
        probe.spin_until(lambda: "mbrl_ros: controller" in probe.diagnostics, 60, "the controller's diagnostics")
        assert len(children(up.pid)) == 3, "logger, trainer and controller: no sim"
        probe.spin_for(1.0)
        assert probe.states == [] and probe.commands == [], "no sim, and a controller not yet enabled"
        assert probe.diagnostics["mbrl_ros: controller"]["mode"].startswith("disarmed")
