"""trainer: learns the dynamics from the logger's closed chunks and announces each checkpoint.

Runs at a lower scheduling priority and trains in bounded slices, so the controller keeps its
deadlines on a small machine. Each checkpoint is written atomically and its path is published on
/mbrl/model (transient local: a controller that starts later still gets it), and its bytes with
their SHA-256 on /mbrl/model_data, for a controller on another machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.data.bag import RESET_TOPIC
from ..core.data.dataset import RecordedData
from ..core.models.checkpoint import CheckpointError
from ..core.models.learner import LEARNER_PARAMETERS, DynamicsLearner, learner_configs, torch_device
from .checkpoints import CheckpointAnnouncer
from .common import (
    ERROR,
    OK,
    WARN,
    CheckedNode,
    in_range,
    interruptible,
    non_negative,
    positive,
    run,
    set_torch_threads,
)


class TrainerNode(CheckedNode):
    def __init__(self):
        super().__init__("trainer")
        spec = self.robot_spec()
        self.data_dir = Path(self.param("data_dir", "~/.ros/mbrl_ros/data", "logger chunks to learn from")).expanduser()
        self.checkpoint_dir = Path(self.param("checkpoint_dir", "~/.ros/mbrl_ros/models",
                                              "where checkpoints are written")).expanduser()
        control_rate = self.param("control_rate", 20.0, "controller rate in Hz: the model's time step",
                                  in_range(1.0, 1000.0))
        reset_topic = self.param("reset_topic", RESET_TOPIC, "episode ends (resets) in the bags")
        self.min_transitions = self.param("min_transitions", 400, "transitions before the first model", positive)
        self.max_transitions = self.param("max_transitions", 0, "learn from the first this many transitions at "
                                          "most (0: from all)", non_negative)
        self.retrain_growth = self.param("retrain_growth", 0.25, "retrain when the data grew by this share",
                                         positive)
        poll_period = self.param("poll_period", 2.0, "seconds between looks for new chunks", positive)
        threads = self.param("torch_threads", 1, "CPU threads for training", in_range(1, 256))
        niceness = self.param("nice", 10, "scheduling niceness added to this process", in_range(0, 19))
        device = self.param("device", "auto", "torch device: auto, cpu or cuda")
        model, training = learner_configs(self.declare(LEARNER_PARAMETERS), max_seconds=self.param(
            "train_slice_seconds", 30.0, "longest training round: the node trains in slices", positive))
        os.nice(niceness)
        set_torch_threads(threads)

        self.data = RecordedData(spec.state, spec.command, 1.0 / control_rate, reset_topic)
        self.learner = DynamicsLearner(spec.model_signature(), 1.0 / control_rate, model, training,
                                       torch_device(device))
        self.models = CheckpointAnnouncer(self, self.model_topics())
        self.continue_from_checkpoints()
        self.trained_on = 0
        self.status = (WARN, "waiting for data", {})
        self.diagnostics = self.diagnostics_publisher()
        self.create_timer(poll_period, self.on_poll)
        self.get_logger().info(f"learning from {self.data_dir}, checkpoints to {self.checkpoint_dir}")

    def continue_from_checkpoints(self) -> None:
        """After a restart: warm-start from the newest checkpoint that loads (a damaged one is said and
        passed over), and never reuse a version number (an older checkpoint is never overwritten)."""
        existing = sorted(self.checkpoint_dir.glob("model_*.pt"))
        for path in reversed(existing):
            try:
                self.learner.warm_start(path)
            except (CheckpointError, ValueError) as error:
                self.get_logger().warning(f"passing over {path}: {error}")
                continue
            self.models.announce(path)  # a controller restarted with this trainer gets the model at once
            self.get_logger().info(f"continuing from {path}, announced")
            break
        else:
            if existing:
                self.get_logger().warning("no checkpoint loads: starting a new model")
        numbers = [int(p.stem.split("_")[-1]) for p in existing if p.stem.split("_")[-1].isdigit()]
        self.learner.version = max([self.learner.version, *numbers])

    def on_poll(self) -> None:
        with interruptible():
            self.data.refresh(self.data_dir)
        for bag, reason in self.data.unreadable.items():
            self.get_logger().error(f"skipping unreadable chunk {bag}: {reason}", throttle_duration_sec=30.0)
        count = min(len(self.data), self.max_transitions or float("inf"))
        grown = count >= self.trained_on * (1 + self.retrain_growth)
        capped = count == self.max_transitions > self.trained_on  # the last model: on all data allowed
        if count >= self.min_transitions and (self.trained_on == 0 or grown or capped):
            self.train(self.data.transitions().subset(slice(0, count)))
        self.diagnostics.publish(self.diagnostic(self.status[0], self.status[1], {
            **self.status[2], "transitions": count, "trained_on": self.trained_on,
            "data_full": bool(self.max_transitions) and self.trained_on == self.max_transitions,
            "chunks": len(self.data.bags),
            "unreadable_chunks": len(self.data.unreadable), "model_version": self.learner.version}))

    def train(self, data) -> None:
        self.get_logger().info(f"training on {len(data)} transitions (model version {self.learner.version + 1})")
        try:
            with interruptible():
                metrics = self.learner.train(data)
            path = self.learner.save(self.checkpoint_dir / f"model_{self.learner.version:04d}.pt", metrics)
        except Exception as error:  # e.g. a full disk: report and try again at the next poll
            self.status = (ERROR, f"training failed: {error}", {})
            self.get_logger().error(f"training failed: {error}")
            return
        self.trained_on = len(data)
        self.models.announce(path)
        self.status = (OK, "model ready", {"validation_nll": f"{metrics['nll']:.3f}",
                                           "validation_mse": f"{metrics['mse']:.4f}"})
        self.get_logger().info(f"model {self.learner.version}: held-out NLL {metrics['nll']:.3f}, "
                               f"MSE {metrics['mse']:.4f} after {metrics['epoch']} epochs -> {path}")


def main(args=None):
    raise SystemExit(run(TrainerNode, args=args))


if __name__ == "__main__":
    main()
