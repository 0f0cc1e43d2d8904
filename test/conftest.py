import os

import pytest
import torch

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robot import RobotSpec

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def arm_params():
    return node_parameters(robot_config("arm"), "controller")


@pytest.fixture(scope="session")
def arm(arm_params) -> RobotSpec:
    return RobotSpec.from_params(arm_params)


@pytest.fixture
def ros_env(tmp_path, worker_domain):
    """Environment for node processes: a domain of their own, discovery kept on this machine."""
    env = os.environ.copy()
    env.update(ROS_DOMAIN_ID=str(worker_domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def worker_domain():
    """One ROS_DOMAIN_ID per test session, so parallel runs on one machine do not meet."""
    return 100 + os.getpid() % 100
