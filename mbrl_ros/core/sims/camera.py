"""Pictures of a simulated world: a PyBullet camera image, rendered without a display."""

from __future__ import annotations

import numpy as np
import pybullet


def snapshot(client, target, eye, width: int = 480, height: int = 360, fov: float = 45.0) -> np.ndarray:
    """(height, width, 3) uint8 RGB image looking from `eye` at `target` (world frame, m), z up."""
    view = client.computeViewMatrix(cameraEyePosition=list(map(float, eye)),
                                    cameraTargetPosition=list(map(float, target)), cameraUpVector=[0, 0, 1])
    projection = client.computeProjectionMatrixFOV(fov=fov, aspect=width / height, nearVal=0.01, farVal=20.0)
    _, _, rgba, _, _ = client.getCameraImage(width, height, view, projection, renderer=pybullet.ER_TINY_RENDERER)
    return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()
