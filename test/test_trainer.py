"""The trainer node learns from closed chunks, and a restarted trainer never overwrites a checkpoint."""

import pytest
from bags import record_linear_motion
from probe import Probe
from std_msgs.msg import UInt8MultiArray

from mbrl_ros.cli import main
from mbrl_ros.core.models.checkpoint import digest, load_checkpoint
from mbrl_ros.core.paths import robot_config
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import LATCHED_QOS
from mbrl_ros.nodes.messages import checkpoint_payload

ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("newest_is_corrupt", [False, True])
def test_restarted_trainer_continues_numbering_and_keeps_old_checkpoints(ros, tmp_path, newest_is_corrupt):
    record_linear_motion(tmp_path / "data", ARM_JOINTS, seconds=10.0)
    models = tmp_path / "models"
    models.mkdir()
    assert main(["train", "--bag", str(tmp_path / "data"), "--output", str(models / "model_0003.pt")]) == 0
    kept = {"model_0003.pt": (models / "model_0003.pt").read_bytes()}
    if newest_is_corrupt:
        (models / "model_0005.pt").write_bytes(b"half a checkpoint")
        kept["model_0005.pt"] = b"half a checkpoint"
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(models), "min_transitions": 50,
                 "max_epochs": 5}
    expected = models / ("model_0006.pt" if newest_is_corrupt else "model_0004.pt")
    with Stack(robot_config("arm"), overrides, nodes=("trainer",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("trainer_probe")
        sent = []
        probe.create_subscription(UInt8MultiArray, "/mbrl/model_data", sent.append, LATCHED_QOS)
        probe.spin_until(lambda: str(expected) in probe.models and expected.exists()
                         and any(checkpoint_payload(m)[0] == expected.read_bytes() for m in sent), 90,
                         "the new checkpoint on /mbrl/model and /mbrl/model_data", stack)
        probe.destroy_node()
    _, metadata = load_checkpoint(expected)
    assert metadata["version"] == int(expected.name[6:10])
    data, sha256 = next(checkpoint_payload(m) for m in sent if checkpoint_payload(m)[0] == expected.read_bytes())
    assert sha256 == digest(data), "the model itself, with its digest, for another machine"
    for name, content in kept.items():
        assert (models / name).read_bytes() == content
    log = (tmp_path / "logs" / "trainer.log").read_text()
    assert ("passing over" in log and "model_0005.pt" in log) == newest_is_corrupt
    assert "continuing from" in log and "model_0003.pt, announced" in log, "from the newest checkpoint that loads"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("max_transitions", [0, 120])
def test_trainer_reports_when_it_has_learned_from_all_the_data_allowed(ros, tmp_path, max_transitions):
    record_linear_motion(tmp_path / "data", ARM_JOINTS, seconds=10.0)
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models"),
                 "min_transitions": 50, "max_transitions": max_transitions, "max_epochs": 5}
    with Stack(robot_config("arm"), overrides, nodes=("trainer",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("trainer_probe")

        def status() -> dict:
            return probe.diagnostics.get("mbrl_ros: trainer", {})

        probe.spin_until(lambda: status().get("model_version") == "1", 90, "the first model's diagnostics", stack)
        probe.destroy_node()
    recorded = int(status()["transitions"])
    assert int(status()["trained_on"]) == recorded == (max_transitions or recorded) > 100
    assert status()["data_full"] == str(max_transitions > 0), "full only where the data is capped"
