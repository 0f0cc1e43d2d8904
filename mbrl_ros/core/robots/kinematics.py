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
    One configuration on the CPU, outside autograd (a controller's single state), goes through numpy
    instead: there, torch's cost per operation is most of the time, and numpy's is a sixth of it.
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
        self._single_steps = [(s[1], s[2], s[3], s[4], s[5], s[6]) for s in steps]  # float64, for _single
        self._single_tip = pending

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation (..., 3, 3) and position (..., 3) of the tip link in the base frame."""
        if q.dim() == 1 and q.device.type == "cpu" and not (torch.is_grad_enabled() and q.requires_grad):
            return self._single(q)
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

    def _single(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = q.detach().numpy().astype(np.float64)[self._columns]
        rotation, position = np.eye(3), np.zeros(3)
        for angle, (kind, offset, rot_a, rot_b, rot_c, slide) in zip(angles, self._single_steps):
            position = position + rotation @ offset
            if kind == "prismatic":
                position = position + (rotation @ slide) * angle
                rotation = rotation @ rot_a
            else:
                rotation = rotation @ (rot_a + np.sin(angle) * rot_b + (1 - np.cos(angle)) * rot_c)
        tip = self._single_tip
        return (torch.from_numpy(rotation @ tip[:3, :3]).to(q.dtype),
                torch.from_numpy(position + rotation @ tip[:3, 3]).to(q.dtype))

    def position(self, q: torch.Tensor) -> torch.Tensor:
        return self.forward(q)[1]
