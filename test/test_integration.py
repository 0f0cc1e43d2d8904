"""The four nodes as separate processes over DDS: they log, learn, load and reach."""

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from probe import Probe

from mbrl_ros.core.data.bag import closed_chunks, read_series
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.tasks.reach import ReachTask
from mbrl_ros.launcher import Stack

SMALL_BUDGET = {
    "min_transitions": 400, "chunk_seconds": 2.0, "max_epochs": 60, "train_slice_seconds": 15.0,
    "retrain_growth": 10.0,  # one model is enough here
}


def ee_position(arm, task, msg):
    return task.achieved(arm.state.sources[0].features(msg))


@pytest.mark.timeout(240)
def test_nodes_log_learn_load_and_reach(ros, tmp_path, arm, arm_params):
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models"), **SMALL_BUDGET}
    probe = Probe()
    task = ReachTask(arm, arm_params)
    with Stack(robot_config("arm"), overrides, log_dir=tmp_path / "logs") as stack:
        probe.spin_until(lambda: len(probe.states) > 10, 30, "joint states", stack)
        # The controller sends its safe command until it has state of its own; on a busy machine
        # its subscription may match a while after ours.
        probe.spin_until(lambda: probe.diagnostics.get("mbrl_ros: controller", {}).get("mode") == "exploring", 30,
                         "the controller exploring", stack)
        mark = len(probe.commands)
        probe.spin_until(lambda: len(probe.commands) - mark > 20, 30, "exploration commands", stack)
        assert np.abs([c for _, c in probe.commands[mark:]]).max() > 0.01, "exploring means moving"

        probe.spin_until(lambda: probe.models, 120, "a model on /mbrl/model", stack)
        model, metadata = load_checkpoint(probe.models[-1])
        assert metadata["state"] == arm.state.names and metadata["version"] == 1
        probe.spin_until(lambda: probe.diagnostics.get("mbrl_ros: controller", {}).get("model_version") == "1",
                         20, "the controller to load the model", stack)

        # A goal the arm can reach (a configuration from the explored box), well away from where it is.
        start = ee_position(arm, task, probe.states[-1])
        rng = np.random.default_rng(3)
        goal = start
        while np.linalg.norm(goal - start) < 0.2:
            goal = task.random_goal(rng)
        msg = task.fill_goal(PoseStamped(), goal)
        goal_pub = probe.create_publisher(PoseStamped, "/mbrl/goal", 10)
        probe.spin_until(lambda: goal_pub.get_subscription_count() > 0, 10, "the controller's goal subscription")
        goal_pub.publish(msg)
        probe.spin_for(8.0)
        final = ee_position(arm, task, probe.states[-1])
        start_error, final_error = np.linalg.norm(start - goal), np.linalg.norm(final - goal)
        assert final_error < 0.5 * start_error, (start_error, final_error)
        assert float(probe.diagnostics["mbrl_ros: controller"]["plan_latency_p50_ms"]) > 0
        assert stack.dead() == {}

    codes = stack.stop()
    assert all(code == 0 for code in codes.values()), codes
    chunks = closed_chunks(tmp_path / "data")
    assert len(chunks) >= 3 and not list((tmp_path / "data").glob("*.active"))
    series = read_series(chunks, arm.state, arm.command)
    assert len(series.states["/joint_states"][1]) > 600 and len(series.commands) > 300 and series.rejected == {}
    probe.destroy_node()
