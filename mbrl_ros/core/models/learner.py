"""One dynamics model that keeps learning as data grows, and the checkpoints it leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.transitions import Transitions
from .checkpoint import load_checkpoint, save_checkpoint
from .ensemble import GaussianEnsemble
from .training import TrainConfig, train_ensemble


@dataclass
class ModelConfig:
    members: int = 5
    hidden: int = 200
    layers: int = 3


class DynamicsLearner:
    """Trains one ensemble again and again (warm start) and writes numbered checkpoints."""

    def __init__(self, joints: list[str], dt: float, command_mode: str, model: ModelConfig,
                 training: TrainConfig, device: str = "cpu"):
        self.joints, self.dt, self.command_mode = list(joints), dt, command_mode
        self.training, self.device = training, device
        self.model = GaussianEnsemble(2 * len(joints), len(joints), model.members, model.hidden,
                                      model.layers).to(device)
        self.version = 0

    def warm_start(self, checkpoint: str | Path) -> None:
        """Continue from an earlier checkpoint (same robot, same model shape)."""
        model, metadata = load_checkpoint(checkpoint, self.device)
        if metadata.get("joints") != self.joints or model.config() != self.model.config():
            raise ValueError(f"{checkpoint} was trained for another robot or model shape")
        self.model, self.version = model, int(metadata.get("version", 0))

    def train(self, data: Transitions, on_epoch=None) -> dict:
        metrics = train_ensemble(self.model, data, self.training, on_epoch=on_epoch)
        self.version += 1
        return metrics

    def metadata(self, metrics: dict) -> dict:
        return {"joints": self.joints, "dt": self.dt, "command_mode": self.command_mode,
                "version": self.version, "metrics": {k: float(v) for k, v in metrics.items()}}

    def save(self, path: str | Path, metrics: dict) -> Path:
        return save_checkpoint(path, self.model, self.metadata(metrics))


def torch_device(name: str) -> str:
    """'auto' picks CUDA where present, else the CPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
