"""Train the dynamics model from any rosbag2 recording, with the robot's parameters."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from .core.dataset import RecordedData
from .core.learner import DynamicsLearner, ModelConfig, torch_device
from .core.params import node_parameters
from .core.paths import robot_config
from .core.robot import RobotSpec
from .core.training import TrainConfig


def train_from_bag(bag: Path, output: Path, robot: str = "arm", params_file: Path | None = None) -> dict:
    """Read every bag under `bag`, train as the trainer node would, and write a checkpoint."""
    params = node_parameters(params_file or robot_config(robot), "trainer")
    spec = RobotSpec.from_params(params)
    dt = 1.0 / float(params.get("control_rate", 20.0))
    data = RecordedData(list(spec.joints), params.get("state_topic", "/joint_states"),
                        params["command_topic"], dt)
    data.add_path(bag)
    for path, reason in data.unreadable.items():
        print(f"skipped unreadable bag {path}: {reason}")
    for reason, count in data.rejected().items():
        print(f"skipped {count} messages: {reason}")
    transitions = data.transitions()
    print(f"{len(transitions)} transitions from {len(data.series)} bag(s)")
    learner = DynamicsLearner(
        list(spec.joints), dt, spec.command_mode,
        ModelConfig(params.get("ensemble_members", 5), params.get("hidden_units", 200), params.get("hidden_layers", 3)),
        TrainConfig(max_epochs=params.get("max_epochs", 60), patience=params.get("patience", 8)),
        torch_device(params.get("device", "auto")))
    with tqdm(total=learner.training.max_epochs, desc="training", unit="epoch") as bar:
        def report(epoch, metrics):
            bar.update(1)
            bar.set_postfix(nll=f"{metrics['nll']:.3f}", mse=f"{metrics['mse']:.4f}")

        metrics = learner.train(transitions, on_epoch=report)
    learner.save(output, metrics)
    print(f"held-out NLL {metrics['nll']:.3f}, MSE {metrics['mse']:.4f}; wrote {output}")
    return metrics
