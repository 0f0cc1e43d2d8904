"""`mbrl-ros train --ray`: a fleet's recordings read and a model trained on a real local Ray cluster of
two nodes (a head and a worker, one CPU each, started with `ray start` as a user would), against the
single-process path on the same recordings."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bags import record_linear_motion

from mbrl_ros.cli import main
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.offline import read_transitions

ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
RAY = Path(sys.executable).parent / "ray"
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the ray extra is not installed (scripts/setup.sh ray; scripts/test.sh does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node on this machine; the address to give --ray."""
    address = f"127.0.0.1:{free_port()}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    try:
        subprocess.run([str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", address.split(":")[1],
                        "--include-dashboard", "false", *common], check=True, capture_output=True, env=env, timeout=120)
        subprocess.run([str(RAY), "start", "--address", address, *common], check=True, capture_output=True, env=env,
                       timeout=120)
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three robots' recordings, and one folder that holds no readable bag."""
    root = tmp_path_factory.mktemp("fleet")
    for name, seed in (("robot_a", 1), ("robot_b", 2), ("robot_c", 3)):
        record_linear_motion(root / name, ARM_JOINTS, seconds=12.0, rng=np.random.default_rng(seed))
    (root / "broken").mkdir()
    (root / "broken" / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, bag\n")
    return [root / "robot_a", root / "broken", root / "robot_b", root / "robot_c"]


@needs_ray
@pytest.mark.timeout(300)
def test_the_cluster_reads_the_transitions_one_process_reads(cluster, fleet, capsys):
    from mbrl_ros.cluster import connect

    params = node_parameters(robot_config("arm"), "trainer")
    spec, dt = RobotSpec.from_params(params), 0.05
    here = read_transitions(fleet, spec, params, dt)
    ray = connect(cluster)
    try:
        assert sum(node["Alive"] for node in ray.nodes()) == 2
        there = read_transitions(fleet, spec, params, dt, ray)
    finally:
        ray.shutdown()
    assert len(here) > 600
    for field in ("states", "actions", "next_states", "times"):
        assert np.array_equal(getattr(here, field), getattr(there, field)), field
    output = capsys.readouterr().out
    assert output.count("skipped unreadable bag") == 2 and "broken" in output, "the broken one named, both times"


@needs_ray
@pytest.mark.timeout(300)
def test_train_on_the_cluster_gives_the_model_one_process_trains(cluster, fleet, tmp_path):
    params = tmp_path / "arm.yaml"
    params.write_text((robot_config("arm")).read_text().replace("max_epochs: 80", "max_epochs: 8"))
    bags = [argument for bag in fleet for argument in ("--bag", str(bag))]
    assert main(["train", *bags, "--params", str(params), "--output", str(tmp_path / "here.pt")]) == 0
    run = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", *bags, "--params", str(params),
                          "--output", str(tmp_path / "there.pt"), "--ray", cluster],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert "a Ray cluster of 2 node(s), 2 CPUs" in run.stdout
    (here, here_meta), (there, there_meta) = (load_checkpoint(tmp_path / f"{name}.pt") for name in ("here", "there"))
    assert there_meta["metrics"]["train_size"] == here_meta["metrics"]["train_size"] > 500
    assert there_meta["metrics"]["mse"] == pytest.approx(here_meta["metrics"]["mse"], rel=1e-3)
    for name, value in here.state_dict().items():
        assert torch.allclose(value, there.state_dict()[name], atol=1e-4), name


def test_train_on_a_cluster_that_is_not_there_says_so(tmp_path, capsys, monkeypatch):
    record_linear_motion(tmp_path / "bag", ARM_JOINTS, seconds=2.0)
    argv = ["train", "--bag", str(tmp_path / "bag"), "--output", str(tmp_path / "m.pt"), "--ray"]
    if importlib.util.find_spec("ray") is not None:
        assert main([*argv, f"127.0.0.1:{free_port()}"]) == 2
        assert "no Ray cluster at 127.0.0.1:" in capsys.readouterr().err
        assert main([*argv, "nonsense"]) == 2
        assert "host:port, or auto; not 'nonsense'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the extra is not installed
    assert main([*argv, "auto"]) == 2
    assert "--ray needs Ray, an extra of mbrl_ros" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()
