"""Batched forward kinematics of a URDF chain in torch: many joint configurations at once."""

from __future__ import annotations

import numpy as np
import torch

from .urdf import UrdfChain


def _skew(axis: np.ndarray) -> np.ndarray:
    x, y, z = axis
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


class ForwardKinematics(torch.nn.Module):
    """Tip-link pose of a serial chain for a batch of joint positions.

    `joint_order` names the columns of the joint-position input (the controller's `joints`);
    they are matched to the chain by name. Fixed joints are folded into their neighbours, and each
    revolute joint's rotation is written with Rodrigues' formula premultiplied by its origin,
    origin_R @ rot(axis, q) = A + sin(q) B + (1 - cos(q)) C, so a joint costs one batched 3x3 product.
    """

    def __init__(self, chain: UrdfChain, joint_order: list[str]):
        super().__init__()
        actuated = [j.name for j in chain.actuated]
        if sorted(actuated) != sorted(joint_order):
            raise ValueError(f"joints {joint_order} do not match the chain's actuated joints {actuated}")
        steps, pending = [], np.eye(4)  # pending: fixed transform since the last moving joint
        for joint in chain.joints:
            origin = pending @ joint.origin
            if not joint.actuated:
                pending = origin
                continue
            rotation, skew = origin[:3, :3], _skew(joint.axis)
            steps.append((joint_order.index(joint.name), joint.type, origin[:3, 3], rotation,
                          rotation @ skew, rotation @ skew @ skew, rotation @ joint.axis))
            pending = np.eye(4)
        self._columns = [s[0] for s in steps]
        self._types = [s[1] for s in steps]

        def stack(i):
            return torch.tensor(np.stack([s[i] for s in steps]), dtype=torch.float32)

        for name, index in (("offsets", 2), ("rot_a", 3), ("rot_b", 4), ("rot_c", 5), ("slide", 6)):
            self.register_buffer(name, stack(index))
        self.register_buffer("tip", torch.tensor(pending, dtype=torch.float32))

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation (..., 3, 3) and position (..., 3) of the tip link in the base frame."""
        dtype = q.dtype
        rotation = torch.eye(3, dtype=dtype, device=q.device).expand(*q.shape[:-1], 3, 3)
        position = torch.zeros(*q.shape[:-1], 3, dtype=dtype, device=q.device)
        for i, (column, kind) in enumerate(zip(self._columns, self._types)):
            angle = q[..., column, None, None]
            position = position + rotation @ self.offsets[i].to(dtype)
            if kind == "prismatic":
                position = position + (rotation @ self.slide[i].to(dtype)) * angle[..., 0]
                rotation = rotation @ self.rot_a[i].to(dtype)
            else:
                local = (self.rot_a[i].to(dtype) + torch.sin(angle) * self.rot_b[i].to(dtype)
                         + (1 - torch.cos(angle)) * self.rot_c[i].to(dtype))
                rotation = rotation @ local
        tip = self.tip.to(dtype)
        return rotation @ tip[:3, :3], position + rotation @ tip[:3, 3]

    def position(self, q: torch.Tensor) -> torch.Tensor:
        return self.forward(q)[1]
