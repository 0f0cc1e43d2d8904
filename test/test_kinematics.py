import numpy as np
import pytest
import torch

from mbrl_ros.core.robots.kinematics import ForwardKinematics
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.robots.urdf import load_chain
from mbrl_ros.core.sims.fixed_base import RobotSim

EE_LINK = "panda_tcp"


def arm_fk(arm, joints=None) -> ForwardKinematics:
    return ForwardKinematics(load_chain(arm.urdf_path, EE_LINK), list(joints or arm.joints)).double()


def test_forward_kinematics_matches_pybullet(arm):
    sim = RobotSim(arm)
    fk = arm_fk(arm)
    rng = np.random.default_rng(0)
    low, high = np.maximum(arm.position_lower, -2.5), np.minimum(arm.position_upper, 2.5)
    configurations = rng.uniform(low, high, size=(20, arm.dof))
    predicted = fk.position(torch.as_tensor(configurations)).numpy()
    for q, position in zip(configurations, predicted):
        sim.reset(q)
        np.testing.assert_allclose(position, sim.link_position(EE_LINK), atol=1e-5)
    sim.close()


def test_joint_order_is_by_name(arm):
    """Columns follow the `joints` parameter, whatever the URDF's order."""
    q = torch.linspace(-1.0, 0.5, arm.dof, dtype=torch.float64)
    in_order = arm_fk(arm).position(q)
    reversed_ = arm_fk(arm, list(reversed(arm.joints))).position(q.flip(0))
    torch.testing.assert_close(in_order, reversed_)


def test_one_configuration_gives_what_a_batch_gives(arm):
    """One configuration takes the numpy path; a batch, or one that needs a gradient, torch's."""
    fk = arm_fk(arm).float()
    configurations = torch.as_tensor(np.random.default_rng(1).uniform(-2.0, 2.0, (5, arm.dof)), dtype=torch.float32)
    rotations, positions = fk(configurations)
    for q, rotation, position in zip(configurations, rotations, positions):
        single = fk(q)
        assert single[1].dtype == torch.float32
        torch.testing.assert_close(single[0], rotation, atol=1e-5, rtol=0)
        torch.testing.assert_close(single[1], position, atol=1e-5, rtol=0)
    q = configurations[0].clone().requires_grad_(True)
    fk.position(q).sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0, "gradients still flow for one configuration"


def test_batched_shapes(arm):
    fk = arm_fk(arm).float()
    rotation, position = fk(torch.zeros(4, 3, arm.dof))
    assert rotation.shape == (4, 3, 3, 3) and position.shape == (4, 3, 3)
    identity = rotation @ rotation.transpose(-1, -2)
    torch.testing.assert_close(identity, torch.eye(3).expand_as(identity), atol=1e-5, rtol=0)


def test_unknown_joint_is_a_clear_error(arm_params):
    with pytest.raises(ValueError, match="no_such_joint"):
        RobotSpec.from_params({**arm_params, "joints": ["panda_joint1", "no_such_joint"]})
