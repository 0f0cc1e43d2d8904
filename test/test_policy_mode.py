"""A distilled policy over real topics: the policy_trainer announces one for each model, and a controller
with `policy: act` commands with it, hot-reloads it, and keeps its safety rules."""

import numpy as np
import pytest
import torch
from bags import record_linear_motion
from geometry_msgs.msg import PoseStamped
from probe import Probe
from std_msgs.msg import String
from test_model_transfer import arm_checkpoint
from test_safety import HOME, RATE, ArmStandIn, controller

from mbrl_ros.cli import main
from mbrl_ros.core.models.checkpoint import load_checkpoint, save_checkpoint
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.policies.policy import Policy
from mbrl_ros.core.policies.sac import SoftValue
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import LATCHED_QOS

SPEC = RobotSpec.from_params(node_parameters(robot_config("arm"), "controller"))
ARM_JOINTS = list(SPEC.joints)


def constant_policy(path, share: float, task: str = "ReachTask", version: int = 1):
    """A policy that commands `share` of the command box's half-width on every joint, whatever it sees.
    Returns the checkpoint and that command."""
    policy = Policy(SPEC.state_dim, 9, SPEC.dof, hidden=8, layers=1)
    low, high = (torch.as_tensor(b, dtype=torch.float32) for b in SPEC.planning_bounds)
    policy.set_bounds(low, high)
    with torch.no_grad():
        policy.net[-1].weight.zero_()
        policy.net[-1].bias.fill_(float(np.arctanh(share)) if np.isfinite(share) else share)
    metadata = {**SPEC.model_signature(), "dt": 1.0 / RATE, "version": version, "task": task}
    return save_checkpoint(path, policy, metadata), ((low + high) / 2 + (high - low) / 2 * share).numpy()


def goal_message() -> PoseStamped:
    goal = PoseStamped()
    goal.header.frame_id = "panda_link0"
    goal.pose.position.x, goal.pose.position.z = 0.4, 0.4
    return goal


@pytest.mark.timeout(150)
def test_the_controller_acts_with_the_policy_reloads_it_and_keeps_its_safety_rules(ros, tmp_path):
    model = arm_checkpoint(tmp_path / "models" / "model_0001.pt")
    first, first_command = constant_policy(tmp_path / "models" / "policy_0001.pt", 0.2)
    second, second_command = constant_policy(tmp_path / "models" / "policy_0002.pt", -0.3, version=2)
    other_task, _ = constant_policy(tmp_path / "models" / "fly.pt", 0.5, task="FlyToTask")
    broken, _ = constant_policy(tmp_path / "models" / "broken.pt", float("nan"), version=3)
    value = save_checkpoint(tmp_path / "models" / "value_0001.pt", SoftValue(SPEC.state_dim, 9, SPEC.dof, 8, 1, 8, 1),
                            {**SPEC.model_signature(), "dt": 1.0 / RATE, "version": 1, "task": "ReachTask"})
    with controller(tmp_path, start_enabled=True, policy="act", policy_rate=2.0 * RATE,
                    terminal_value_weight=0.1) as stack:
        robot = ArmStandIn()
        try:
            robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
            robot.create_publisher(String, "/mbrl/model", LATCHED_QOS).publish(String(data=str(model)))
            goals = robot.create_publisher(PoseStamped, "/mbrl/goal", 10)
            robot.spin_until(lambda: goals.get_subscription_count() > 0, 10, "the controller's goal subscription")
            goals.publish(goal_message())
            policies = robot.create_publisher(String, "/mbrl/policy", LATCHED_QOS)

            def diagnostics() -> dict:
                return robot.diagnostics.get("mbrl_ros: controller", {})

            def commands_reach(expected, what):
                robot.run_until(lambda: robot.commands and np.allclose(robot.commands[-1][1], expected, atol=1e-4), 20,
                                what)

            policies.publish(String(data=str(first)))
            commands_reach(first_command, "the first policy's command, through the rate limits")
            steady = robot.commands_during(2.0)
            assert all(np.allclose(c, first_command, atol=1e-4) for c in steady), "the same command, every step"
            assert len(steady) > 1.25 * 2.0 * RATE, "at policy_rate, twice the control rate"

            outside = np.array(HOME)
            outside[1] = SPEC.workspace[1][1] + 0.1  # the second joint beyond the box the policy learned in
            robot.position = outside.tolist()
            robot.run_until(lambda: int(diagnostics().get("policy_fallbacks", 0)) > 0, 10, "the planner taking over")
            assert not np.allclose(robot.next_commands(3)[-1], first_command, atol=1e-3), "planned, not the policy's"
            robot.position = HOME
            commands_reach(first_command, "the policy again, back inside the box")

            log = tmp_path / "logs" / "controller.log"
            policies.publish(String(data=str(other_task)))
            robot.run_until(lambda: "was learned for FlyToTask, not ReachTask" in log.read_text(), 20,
                            "the other task's policy refused")
            assert np.allclose(robot.next_commands(3)[-1], first_command, atol=1e-4), "the first policy acts on"
            policies.publish(String(data=str(second)))
            commands_reach(second_command, "the reloaded policy's command")
            robot.run_until(lambda: diagnostics().get("policy_version") == "2", 5, "the new policy in diagnostics")
            assert diagnostics()["mode"] == "pursuing" and diagnostics()["policy"] == "act"

            robot.create_publisher(String, "/mbrl/value", LATCHED_QOS).publish(String(data=str(value)))
            robot.run_until(lambda: "loaded value function version 1" in log.read_text(), 20, "the value function")

            policies.publish(String(data=str(broken)))
            commands_reach(np.zeros(SPEC.dof), "the safe command for a policy's non-finite command")
            assert stack.dead() == {}
        finally:
            robot.destroy_node()  # its latched topics must not reach the next test
    assert "a non-finite command" in log.read_text()


def policy_trainer_on_a_model(tmp_path, overrides: dict, until, what: str):
    """A policy_trainer given one model trained on recorded linear motion; what it announced on
    /mbrl/policy and /mbrl/value, and its last diagnostics, once `until(probe, announced, values)`."""
    record_linear_motion(tmp_path / "data", ARM_JOINTS, seconds=6.0)
    models = tmp_path / "models"
    models.mkdir()
    assert main(["train", "--bag", str(tmp_path / "data"), "--output", str(models / "model_0001.pt")]) == 0
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(models), "distill_rounds": 2,
                 "distill_rollouts": 2, "distill_steps": 5, "distill_epochs": 5, "check_rollouts": 4,
                 "check_steps": 20, "population": 50, "iterations": 1, "mbpo_updates": 40, "mbpo_branches": 20,
                 **overrides}
    with Stack(robot_config("arm"), overrides, nodes=("policy_trainer",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("policy_trainer_probe")
        announced, values = [], []
        try:
            probe.create_subscription(String, "/mbrl/policy", lambda m: announced.append(m.data), LATCHED_QOS)
            probe.create_subscription(String, "/mbrl/value", lambda m: values.append(m.data), LATCHED_QOS)
            model = String(data=str(models / "model_0001.pt"))
            probe.create_publisher(String, "/mbrl/model", LATCHED_QOS).publish(model)
            probe.spin_until(lambda: until(probe, announced, values), 120, what, stack)
            probe.spin_for(0.5)
        finally:
            probe.destroy_node()
    return announced, values, probe.diagnostics.get("mbrl_ros: policy_trainer", {})


@pytest.mark.timeout(240)
@pytest.mark.parametrize("method", ["distill", "mbpo"])
def test_the_policy_trainer_announces_a_policy_for_each_model(ros, tmp_path, method):
    announced, values, _ = policy_trainer_on_a_model(
        tmp_path, {"method": method, "check_tolerance": 10.0},
        lambda probe, announced, values: announced and (values or method == "distill"), "a policy on /mbrl/policy")
    models = tmp_path / "models"
    policy, metadata = load_checkpoint(announced[0], kind=Policy)
    assert announced[0] == str(models / "policy_0001.pt")
    assert metadata["task"] == "ReachTask" and metadata["version"] == 1 and metadata["method"] == method
    if method == "distill":
        assert metadata["summary"]["labels"] == 20, "2 rounds of 2 rollouts of 5 steps"
        assert metadata["summary"]["check_rollouts"] == 4 and metadata["summary"]["check_failed"] == 0
    else:
        assert metadata["summary"]["model_transitions"] > 0 and 1 <= metadata["summary"]["rollout_length"] <= 10
        assert values == [str(models / "value_0001.pt")], "and the actor-critic's value, for planning"
        _, value_metadata = load_checkpoint(values[0], kind=SoftValue)
        assert value_metadata["version"] == 1
    assert (policy.state_dim, policy.action_dim) == (SPEC.state_dim, SPEC.dof)


@pytest.mark.timeout(240)
def test_a_policy_that_fails_its_check_is_not_announced_and_the_trainer_says_why(ros, tmp_path):
    def said(probe, announced, values):
        return "failed its check" in probe.diagnostics.get("mbrl_ros: policy_trainer", {}).get("_message", "")

    announced, _, status = policy_trainer_on_a_model(tmp_path, {"check_tolerance": 1e-9, "repair_rounds": 1}, said,
                                                     "the policy_trainer to reject its policy")
    assert announced == [] and not list((tmp_path / "models").glob("policy_*"))
    assert "after 3 rounds" in status["_message"] and status["model_version"] == "1", status
    assert status["policy_version"] == "0", "no policy announced"
