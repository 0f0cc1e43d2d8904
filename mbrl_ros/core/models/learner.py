"""One dynamics model that keeps learning as data grows, and the checkpoints it leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.transitions import Transitions
from ..params import Param, in_range, non_negative, positive
from .checkpoint import load_checkpoint, save_checkpoint
from .ensemble import GaussianEnsemble
from .training import TrainConfig, train_ensemble


@dataclass
class ModelConfig:
    members: int = 5
    hidden: int = 200
    layers: int = 3


LEARNER_PARAMETERS = {  # the trainer node's, and every offline reader's: one model from one config
    "ensemble_members": Param(ModelConfig.members, "ensemble size", in_range(1, 64)),
    "hidden_units": Param(ModelConfig.hidden, "units per hidden layer", in_range(1, 4096)),
    "hidden_layers": Param(ModelConfig.layers, "hidden layers", in_range(1, 16)),
    "max_epochs": Param(TrainConfig.max_epochs, "epochs per training round at most", positive),
    "batch_size": Param(TrainConfig.batch_size, "minibatch size", positive),
    "learning_rate": Param(TrainConfig.learning_rate, "Adam learning rate", positive),
    "patience": Param(TrainConfig.patience, "epochs without held-out improvement before stopping; 0: no early "
                      "stopping, every round trains max_epochs and keeps the last", non_negative),
    "nll_beta": Param(TrainConfig.nll_beta, "0: Gaussian NLL; up to 1: beta-NLL, which fits dimensions that the "
                      "NLL gives up as noise (a valve's turn)", in_range(0.0, 1.0)),
    "seed": Param(TrainConfig.seed, "random seed", non_negative),
}


def learner_configs(values: dict, **training) -> tuple[ModelConfig, TrainConfig]:
    """The model and its training from LEARNER_PARAMETERS' values; `training`: TrainConfig fields
    that are not parameters of the model (a node's time slices)."""
    return (ModelConfig(values["ensemble_members"], values["hidden_units"], values["hidden_layers"]),
            TrainConfig(max_epochs=values["max_epochs"], batch_size=values["batch_size"],
                        learning_rate=values["learning_rate"], patience=values["patience"],
                        nll_beta=values["nll_beta"], seed=values["seed"], **training))


class DynamicsLearner:
    """Trains one ensemble again and again (warm start) and writes numbered checkpoints."""

    def __init__(self, signature: dict, dt: float, model: ModelConfig, training: TrainConfig, device: str = "cpu"):
        """`signature`: what the model's inputs are (RobotSpec.model_signature()), kept in its checkpoints."""
        self.signature, self.dt = signature, dt
        self.training, self.device = training, device
        column = signature["state"].index
        ignored = [column(n) for n in signature.get("ignored_inputs", ())]
        angles = [[column(n) for n in triple] for triple in signature.get("angles", ())]
        with torch.random.fork_rng(devices=[]):  # the same weights from the same seed, wherever trained
            torch.manual_seed(training.seed)
            self.model = GaussianEnsemble(len(signature["state"]), len(signature["commands"]), model.members,
                                          model.hidden, model.layers, ignored, angles).to(device)
        self.version = 0
        self.place_members = None  # where the members train: together here, or apart (see train_ensemble)

    def warm_start(self, checkpoint: str | Path) -> None:
        """Continue from an earlier checkpoint (same robot, same model shape)."""
        model, metadata = load_checkpoint(checkpoint, self.device)
        problem = incompatibility(model, metadata, self.signature, self.dt)
        if problem or model.config() != self.model.config():
            raise ValueError(f"{checkpoint} {problem or 'has another model shape'}")
        self.model, self.version = model, int(metadata.get("version", 0))

    def train(self, data: Transitions, on_epoch=None) -> dict:
        metrics = train_ensemble(self.model, data, self.training, on_epoch=on_epoch, warm=self.version > 0,
                                 place_members=self.place_members)
        self.version += 1
        return metrics

    def metadata(self, metrics: dict) -> dict:
        return {**self.signature, "dt": self.dt, "version": self.version,
                "metrics": {k: float(v) for k, v in metrics.items()}}

    def save(self, path: str | Path, metrics: dict) -> Path:
        return save_checkpoint(path, self.model, self.metadata(metrics))


def incompatibility(model: GaussianEnsemble, metadata: dict, signature: dict, dt: float) -> str | None:
    """Why a checkpoint cannot serve a robot with this signature and time step, or None."""
    for key, expected in signature.items():
        if metadata.get(key) != expected:
            return f"was trained for {key} {metadata.get(key)}, not {expected}"
    if abs(float(metadata.get("dt", 0.0)) - dt) > 1e-6:
        return f"was trained for a {metadata.get('dt')} s step, not {dt} s"
    if (model.state_dim, model.action_dim) != (len(signature["state"]), len(signature["commands"])):
        return f"has {model.state_dim} states and {model.action_dim} commands"
    return None


def torch_device(name: str) -> str:
    """'auto' picks CUDA where present, else the CPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
