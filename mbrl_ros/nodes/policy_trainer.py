"""policy_trainer: on each new model, learns a policy from it and announces it, as the trainer does models.

`method: distill`: DAgger on the learned model (core/policies/distill.py), the controller's planner
labelling the states the policy visits, from the states the logger recorded, one round per poll: a
model arriving meanwhile is distilled from instead, from the policy so far. `method: mbpo`: soft
actor-critic on short rollouts branched from recorded states through the model
(core/policies/mbpo.py), going on from where the last model left it. Each policy is written
atomically as policy_<model version>.pt next to the models, its path published on /mbrl/policy and
its bytes on /mbrl/policy_data (transient local), where a controller with `policy: act`, `propose`
or `auto` picks it up; with mbpo, the actor-critic's value function too, as value_<version>.pt on
/mbrl/value, for a controller that plans with it beyond its horizon (`terminal_value_weight`).
Both methods take minutes of CPU: the node runs niced, with its own torch threads, so that the
controller keeps its deadlines.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..core.control.plan_size import choose_precision
from ..core.control.parameters import make_controller_task, read_planner, read_task
from ..core.data.bag import RESET_TOPIC
from ..core.data.dataset import RecordedData
from ..core.models.checkpoint import save_checkpoint
from ..core.models.ensemble import GaussianEnsemble
from ..core.models.learner import incompatibility, torch_device
from ..core.policies.distill import Distillation, labeller
from ..core.policies.mbpo import MBPO
from ..core.policies.parameters import POLICY_TRAINER_PARAMETERS, policy_configs
from ..core.policies.policy import new_policy
from ..core.policies.sac import SAC, SACConfig
from .checkpoints import CheckpointAnnouncer, CheckpointInbox
from .common import (
    ERROR,
    OK,
    WARN,
    CheckedNode,
    in_range,
    interruptible,
    positive,
    run,
    set_torch_threads,
)


class PolicyTrainerNode(CheckedNode):
    def __init__(self):
        super().__init__("policy_trainer")
        self.spec = spec = self.robot_spec()
        self.data_dir = Path(self.param("data_dir", "~/.ros/mbrl_ros/data", "logger chunks: where rollouts "
                                        "start")).expanduser()
        self.checkpoint_dir = Path(self.param("checkpoint_dir", "~/.ros/mbrl_ros/models", "models come from here, "
                                              "policies go here")).expanduser()
        self.dt = 1.0 / self.param("control_rate", 20.0, "controller rate in Hz: the model's time step",
                                   in_range(1.0, 1000.0))
        reset_topic = self.param("reset_topic", RESET_TOPIC, "episode ends (resets) in the bags")
        values = self.declare(POLICY_TRAINER_PARAMETERS)
        self.method = values["method"]
        self.distill_config, self.mbpo_config = policy_configs(values)
        poll_period = self.param("poll_period", 2.0, "seconds between looks for a new model", positive)
        threads = self.param("torch_threads", 1, "CPU threads for learning", in_range(1, 256))
        niceness = self.param("nice", 15, "scheduling niceness added to this process", in_range(0, 19))
        self.device = torch_device(self.param("device", "auto", "torch device: auto, cpu or cuda"))
        self.task = make_controller_task(spec, read_task(self.declare), self.device)
        self.planner = read_planner(self.declare)
        os.nice(niceness)
        set_torch_threads(threads)

        self.data = RecordedData(spec.state, spec.command, self.dt, reset_topic)
        self.model, self.model_metadata, self.policy, self.mbpo = None, {}, None, None
        self.distillation: Distillation | None = None  # under way, from model `distilled_version`
        self.learned_version = self.distilled_version = 0  # the model last learned from, and distilled from
        self.policy_version = 0  # the model of the policy last announced
        self.label_precision: str | None = None  # the faster one here, for the planner's labels
        self.started = time.monotonic()
        self.policies = CheckpointAnnouncer(self, self.policy_topics())
        self.values = CheckpointAnnouncer(self, self.value_topics())
        CheckpointInbox(self, GaussianEnsemble, "model", self.model_topics(), self.checkpoint_dir / "received",
                        self.device, lambda model, metadata: incompatibility(model, metadata, spec.model_signature(),
                                                                             self.dt), self.on_model)
        self.status = (WARN, "waiting for a model", {})
        self.diagnostics = self.diagnostics_publisher()
        self.create_timer(poll_period, self.on_poll)
        self.get_logger().info(f"learning a policy for {type(self.task).__name__} by {self.method} from each model in "
                               f"{self.checkpoint_dir}")

    @property
    def model_version(self) -> int:
        return int(self.model_metadata.get("version", 0))

    def on_model(self, model, metadata, path: str) -> None:
        self.model, self.model_metadata = model, metadata
        self.get_logger().info(f"model version {self.model_version} arrived: learning from it at the next poll")

    def on_poll(self) -> None:
        if self.model is not None and self.model_version > self.learned_version:
            self.learn()
        self.diagnostics.publish(self.diagnostic(self.status[0], self.status[1], {
            **self.status[2], "method": self.method, "model_version": self.model_version,
            "learned_version": self.learned_version, "policy_version": self.policy_version}))

    def learn(self) -> None:
        """A slice of learning from the newest model: one DAgger round (distill; a newer model arriving
        between rounds is distilled from instead), or all of MBPO's updates. Once done, the policy is
        written and announced; a failure is said, and the next model tried."""
        version = self.model_version
        try:
            with interruptible():
                summary = self.distill_round() if self.method == "distill" else self.train_mbpo()
            if summary is None:
                return  # rounds to go, or no data yet
            metadata = {**self.spec.model_signature(), "dt": self.dt, "version": version,
                        "task": type(self.task).__name__, "method": self.method, "summary": summary}
            path = save_checkpoint(self.checkpoint_dir / f"policy_{version:04d}.pt", self.policy, metadata)
            if self.mbpo is not None:
                self.values.announce(save_checkpoint(self.checkpoint_dir / f"value_{version:04d}.pt",
                                                       self.mbpo.sac.soft_value(), metadata))
        except Exception as error:  # e.g. a full disk: report, and try again with the next model
            self.status = (ERROR, f"{self.method} failed: {error}", {})
            self.get_logger().error(f"{self.method} failed: {error}")
            self.learned_version, self.distillation = version, None
            return
        self.learned_version = self.policy_version = version
        self.policies.announce(path)
        self.status = (OK, "policy ready", {k: f"{v:.4g}" if isinstance(v, float) else str(v)
                                            for k, v in summary.items()})
        self.get_logger().info(f"policy {version} after {time.monotonic() - self.started:.0f} s ({summary}) -> "
                               f"{path}")

    def recorded(self):
        """The recorded transitions rollouts start from, or None (said on the status) where there are none."""
        self.data.refresh(self.data_dir)
        data = self.data.transitions()
        if len(data) == 0:
            self.status = (WARN, f"no recorded states in {self.data_dir} to start rollouts from", {})
            return None
        self.get_logger().info(f"{self.method}: model {self.model_version}, {len(data)} recorded transitions")
        self.started = time.monotonic()
        return data

    def distill_round(self) -> dict | None:
        """One DAgger round; the summary once the last is done, else None."""
        if self.distillation is None or self.distilled_version != self.model_version:
            data = self.recorded()
            if data is None:
                return None
            if self.distillation is not None:
                self.get_logger().info(f"model {self.model_version} arrived: distilling from it instead of model "
                                       f"{self.distilled_version}, from the policy so far")
            mpc = labeller(self.task, self.spec, self.model, self.planner, seed=self.distill_config.seed,
                           device=self.device)
            if self.label_precision is None:  # the machine's, timed once
                times = choose_precision(mpc, data.states[0], self.task.random_goal(np.random.default_rng(0)))
                self.label_precision = mpc.precision
                self.get_logger().info("labelling in " + mpc.precision + " (a plan takes " + ", ".join(
                    f"{p} {t * 1000:.1f} ms" for p, t in times.items()) + " here)")
            mpc.set_precision(self.label_precision)
            warm = self.distillation.policy if self.distillation is not None else self.policy
            self.distillation = Distillation(mpc, data.states, self.distill_config, warm)
            self.distilled_version = self.model_version
        self.report(self.distillation.next_round())
        if not self.distillation.done:
            return None
        distillation, self.distillation = self.distillation, None
        summary = {k: v for k, v in distillation.history[-1].items() if k not in ("round", "seconds")}
        if not distillation.accepted:
            raise ValueError(f"the policy failed its check after {len(distillation.history)} rounds ({summary}); "
                             f"the previous policy stays")
        self.policy = distillation.policy
        return summary

    def train_mbpo(self) -> dict | None:
        data = self.recorded()
        if data is None:
            return None
        if self.mbpo is None:
            low, high = (self.task.tensor(b) for b in self.spec.planning_bounds)
            shape = self.distill_config
            self.policy = new_policy(self.task, data.states, low, high, shape.hidden, shape.layers,
                                     np.random.default_rng(self.mbpo_config.seed))
            self.mbpo = MBPO(self.task, SAC(self.policy, SACConfig()), self.mbpo_config)
        mse = float(self.model_metadata.get("metrics", {}).get("mse", 1.0))
        return self.mbpo.train(self.model, data, mse, on_refresh=self.report)

    def report(self, *progress) -> None:
        self.get_logger().info(f"progress: {progress}", throttle_duration_sec=30.0)


def main(args=None):
    raise SystemExit(run(PolicyTrainerNode, args=args))


if __name__ == "__main__":
    main()
