"""A model travels over ROS as bytes with their SHA-256, so that the trainer and the controller need
no shared file system: checked, kept, loaded once; damaged bytes are refused."""

import pytest
from std_msgs.msg import String, UInt8MultiArray
from test_safety import RATE, ArmStandIn, controller

from mbrl_ros.core.models.checkpoint import digest
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.nodes.common import LATCHED_QOS
from mbrl_ros.nodes.messages import checkpoint_message, checkpoint_payload


def arm_checkpoint(path):
    spec = RobotSpec.from_params(node_parameters(robot_config("arm"), "controller"))
    return DynamicsLearner(spec.model_signature(), 1.0 / RATE, ModelConfig(2, 16, 1), TrainConfig()).save(
        path, {"nll": 0.0})


def test_checkpoint_message_round_trips_and_says_its_size():
    message = checkpoint_message(b"\x01\x02\x03", digest(b"\x01\x02\x03"))
    assert checkpoint_payload(message) == (b"\x01\x02\x03", digest(b"\x01\x02\x03"))
    message.layout.dim[0].size = 4
    with pytest.raises(ValueError, match="says it has 4"):
        checkpoint_payload(message)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("topic", ["/mbrl/model_data", "/lab/arm2/model_data"])
def test_a_model_sent_as_bytes_is_checked_kept_and_loaded_once(ros, tmp_path, topic):
    workstation = arm_checkpoint(tmp_path / "workstation" / "model_0001.pt")  # not a folder the robot sees
    data = workstation.read_bytes()
    with controller(tmp_path, start_enabled=True, checkpoint_dir=str(tmp_path / "robot"),
                    model_data_topic=topic) as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        model_data = robot.create_publisher(UInt8MultiArray, topic, LATCHED_QOS)
        damaged = bytearray(data)
        damaged[len(data) // 2] ^= 0xFF
        model_data.publish(checkpoint_message(bytes(damaged), digest(data)))
        robot.run_until(lambda: "does not match" in (tmp_path / "logs" / "controller.log").read_text(), 20,
                        "the damaged model refused")
        robot.run_until(lambda: robot.mode() != "", 10, "the controller's diagnostics")
        assert robot.mode() == "exploring", "damaged bytes are not loaded"

        model_data.publish(checkpoint_message(data, digest(data)))
        robot.run_until(lambda: robot.mode() == "holding", 20, "the model in use")
        kept = list((tmp_path / "robot" / "received").glob("*.pt"))
        assert len(kept) == 1 and kept[0].read_bytes() == data

        robot.create_publisher(String, "/mbrl/model", LATCHED_QOS).publish(String(data=str(kept[0])))
        robot.run_for(1.0)
        assert stack.dead() == {}
        robot.destroy_node()
    log = (tmp_path / "logs" / "controller.log").read_text()
    assert "does not match its SHA-256" in log
    assert log.count("loaded model version") == 1, "the same model by path is not loaded again"
