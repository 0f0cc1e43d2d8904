import os

import pytest
import torch

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec

torch.set_num_threads(1)

# Every ROS 2 participant of this test session, in this process and in the node processes it starts,
# stays on this machine and in a domain of its own, so parallel runs do not meet.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["PYTHONUNBUFFERED"] = "1"


@pytest.fixture(scope="session")
def arm_params():
    return node_parameters(robot_config("arm"), "controller")


@pytest.fixture(scope="session")
def arm(arm_params) -> RobotSpec:
    return RobotSpec.from_params(arm_params)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran nodes shows the end of each node's log (its `tmp_path/logs`), so that a
    failure on CI, whose temporary folders are gone, can be read from its output."""
    outcome = yield
    report = outcome.get_result()
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and tmp_path is not None:
        for log in sorted((tmp_path / "logs").glob("*.log")):
            report.sections.append((f"node log {log.name}", "".join(log.read_text().splitlines(True)[-30:])))


@pytest.fixture(scope="session")
def ros():
    """rclpy, initialised once for the session's probe nodes."""
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()
