import numpy as np
import pytest
import torch

from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims.fixed_base import RobotSim


def test_forward_kinematics_matches_pybullet(arm):
    sim = RobotSim(arm)
    fk = arm.forward_kinematics().double()
    rng = np.random.default_rng(0)
    low, high = np.maximum(arm.position_lower, -2.5), np.minimum(arm.position_upper, 2.5)
    configurations = rng.uniform(low, high, size=(20, arm.dof))
    predicted = fk.position(torch.as_tensor(configurations)).numpy()
    for q, position in zip(configurations, predicted):
        sim.reset(q)
        np.testing.assert_allclose(position, sim.link_position(arm.ee_link), atol=1e-5)
    sim.close()


def test_joint_order_is_by_name(arm):
    """Columns follow the `joints` parameter, whatever the URDF's order."""
    shuffled = RobotSpec(joints=tuple(reversed(arm.joints)), urdf=arm.urdf, ee_link=arm.ee_link,
                         command_mode=arm.command_mode)
    q = torch.linspace(-1.0, 0.5, arm.dof, dtype=torch.float64)
    in_order = arm.forward_kinematics().double().position(q)
    reversed_ = shuffled.forward_kinematics().double().position(q.flip(0))
    torch.testing.assert_close(in_order, reversed_)


def test_batched_shapes(arm):
    fk = arm.forward_kinematics()
    rotation, position = fk(torch.zeros(4, 3, arm.dof))
    assert rotation.shape == (4, 3, 3, 3) and position.shape == (4, 3, 3)
    identity = rotation @ rotation.transpose(-1, -2)
    torch.testing.assert_close(identity, torch.eye(3).expand_as(identity), atol=1e-5, rtol=0)


def test_unknown_joint_is_a_clear_error(arm):
    spec = RobotSpec(joints=("panda_joint1", "no_such_joint"), urdf=arm.urdf, ee_link=arm.ee_link,
                     command_mode="velocity")
    with pytest.raises(ValueError, match="no_such_joint"):
        spec.chain
