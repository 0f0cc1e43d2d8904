"""Train the dynamics model from any rosbag2 recording, with the robot's parameters."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from .core.data.bag import RESET_TOPIC
from .core.data.dataset import RecordedData
from .core.models.learner import LEARNER_PARAMETERS, DynamicsLearner, learner_configs, torch_device
from .core.params import node_parameters, read_parameters
from .core.paths import robot_config
from .core.robots.robot import RobotSpec
from .plotting import two_panels


def read_transitions(bags: list[Path], spec: RobotSpec, params: dict, dt: float, ray=None):
    """Every recording under each of `bags` as transitions, saying what had to be skipped and why.
    No transition spans two recordings. Side by side, one process per core, or with `ray` (connected,
    see cluster.py) on its cluster's nodes."""
    data = RecordedData(spec.state, spec.command, dt, params.get("reset_topic", RESET_TOPIC))
    if ray is None:
        data.add_paths(bags)
    else:
        from .cluster import read_recordings
        read_recordings(ray, data, bags)
    for path, reason in data.unreadable.items():
        print(f"skipped unreadable bag {path}: {reason}")
    for reason, count in data.rejected().items():
        print(f"skipped {count} messages: {reason}")
    transitions = data.transitions()
    print(f"{len(transitions)} transitions from {len(data.bags)} bag(s)")
    return transitions


def train_from_bag(bags: list[Path], output: Path, robot: str = "arm", params_file: Path | None = None,
                   ray_address: str | None = None) -> dict:
    """Read every bag under each of `bags`, train as the trainer node would (on a GPU where there
    is one), and write a checkpoint. With `ray_address`, read and train on that Ray cluster."""
    params = node_parameters(params_file or robot_config(robot), "trainer")
    spec = RobotSpec.from_params(params)
    dt = 1.0 / float(params.get("control_rate", 20.0))
    ray = None
    if ray_address:
        from .cluster import connect, describe, member_actors
        ray = connect(ray_address)
        print(f"reading and training on {describe(ray)}")
    transitions = read_transitions(bags, spec, params, dt, ray)
    learner = DynamicsLearner(
        spec.model_signature(), dt,
        *learner_configs(read_parameters(LEARNER_PARAMETERS, params)),
        "cpu" if ray else torch_device(params.get("device", "auto")))  # on a cluster, each member picks its own
    if ray is not None:
        learner.place_members = member_actors(ray)
    with tqdm(total=learner.training.max_epochs, desc="training", unit="epoch") as bar:
        def report(epoch, metrics):
            bar.update(1)
            bar.set_postfix(nll=f"{metrics['nll']:.3f}", mse=f"{metrics['mse']:.4f}")

        metrics = learner.train(transitions, on_epoch=report)
    learner.save(output, metrics)
    print(f"held-out NLL {metrics['nll']:.3f}, MSE {metrics['mse']:.4f}; wrote {output}")
    return metrics


def eval_model(checkpoint: Path, bags: list[Path], robot: str = "arm", params_file: Path | None = None,
               horizon: int = 10, plot: Path | None = None) -> dict:
    """Prediction errors and calibration of a checkpoint on a recording, printed and plotted."""
    from .core.models.checkpoint import load_checkpoint
    from .core.models.evaluation import EXPECTED_COVERAGE, evaluate_model
    from .core.models.learner import incompatibility

    params = node_parameters(params_file or robot_config(robot), "trainer")
    spec = RobotSpec.from_params(params)
    model, metadata = load_checkpoint(checkpoint)
    dt = float(metadata.get("dt", 0.0))
    problem = incompatibility(model, metadata, spec.model_signature(), dt) if dt > 0 else "has no time step"
    if problem:
        raise ValueError(f"{checkpoint} {problem}: not a model of the robot in {params_file or robot}")
    transitions = read_transitions(bags, spec, params, dt)
    if len(transitions) == 0:
        raise ValueError(f"no transitions for this robot in {', '.join(map(str, bags))}")
    result = evaluate_model(model, transitions, dt, horizon)
    names = spec.state.names
    last_k = max(result["k_step_rmse"], default=None)
    print(f"{result['transitions']} transitions; expected coverage {EXPECTED_COVERAGE[1]:.3f} (1 sigma), "
          f"{EXPECTED_COVERAGE[2]:.3f} (2 sigma)")
    print(f"{'state':28} {'1-step RMSE':>12} {f'{last_k}-step RMSE':>13} {'in 1 sigma':>10} {'in 2 sigma':>10}")
    for i, name in enumerate(names):
        k_rmse = result["k_step_rmse"][last_k][i] if last_k else float("nan")
        print(f"{name:28} {result['one_step_rmse'][i]:12.5f} {k_rmse:13.5f} "
              f"{result['coverage_1sigma'][i]:10.3f} {result['coverage_2sigma'][i]:10.3f}")
    if plot is not None:
        plot_evaluation(result, names, plot)
        print(f"wrote {plot}")
    return result


def plot_evaluation(result: dict, names: list[str], path: Path) -> None:
    import numpy as np

    from .core.models.evaluation import EXPECTED_COVERAGE

    with two_panels(path, size=(13, 4.8)) as (left, right):
        ks = sorted(result["k_step_rmse"])
        for i, name in enumerate(names):
            left.plot(ks, [result["k_step_rmse"][k][i] for k in ks], label=name)
        left.set(xlabel="prediction steps k", ylabel="RMSE", yscale="log", title="Open-loop prediction error")
        left.legend(fontsize=6, ncol=2)
        x = np.arange(len(names))
        right.bar(x - 0.2, result["coverage_1sigma"], 0.4, label="inside 1 sigma")
        right.bar(x + 0.2, result["coverage_2sigma"], 0.4, label="inside 2 sigma")
        for share in EXPECTED_COVERAGE.values():
            right.axhline(share, color="black", linestyle=":", linewidth=1)
        right.set_xticks(x, names, rotation=90, fontsize=6)
        right.set(ylim=(0, 1), ylabel="share of true next states", title="Calibration (dotted: ideal)")
        right.legend()
