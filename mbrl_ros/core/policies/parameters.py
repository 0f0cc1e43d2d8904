"""The policy_trainer's parameters: one schema, read by the node and by every offline reader, whose
defaults are the configs' own (DistillConfig, MBPOConfig)."""

from __future__ import annotations

from ..params import Param, in_range, non_negative, one_of, positive
from .distill import DistillConfig
from .mbpo import MBPOConfig

METHODS = ("distill", "mbpo")

POLICY_TRAINER_PARAMETERS = {
    "method": Param("distill", "how a policy is learned from each model: distill (DAgger on the planner) or mbpo "
                    "(soft actor-critic on model rollouts)", one_of(*METHODS)),
    "policy_hidden_units": Param(DistillConfig.hidden, "units per hidden layer of the policy", in_range(1, 4096)),
    "policy_hidden_layers": Param(DistillConfig.layers, "hidden layers of the policy", in_range(1, 16)),
    "seed": Param(DistillConfig.seed, "random seed", non_negative),
    "distill_rounds": Param(DistillConfig.rounds, "DAgger rounds per model", in_range(1, 1000)),
    "distill_rollouts": Param(DistillConfig.rollouts, "rollouts through the model per round", in_range(1, 10000)),
    "distill_steps": Param(DistillConfig.steps, "steps per rollout, each labelled by a plan", in_range(1, 10000)),
    "distill_epochs": Param(DistillConfig.epochs, "epochs over all labels per round", in_range(1, 10000)),
    "check_rollouts": Param(DistillConfig.check_rollouts, "the policy's check before it is announced: rollouts "
                            "through the model from recorded states to random goals (0: no check)",
                            in_range(0, 10000)),
    "check_steps": Param(DistillConfig.check_steps, "steps per check rollout: as long as the robot takes to settle",
                         in_range(1, 100000)),
    "check_tolerance": Param(DistillConfig.check_tolerance, "the farthest from its goal a check rollout may end, "
                             "in the task's unit (0: the task's success threshold)", non_negative),
    "repair_rounds": Param(DistillConfig.repair_rounds, "further DAgger rounds, from where failed check rollouts "
                           "went wrong, before the policy is given up", in_range(0, 1000)),
    "mbpo_updates": Param(MBPOConfig.updates, "actor-critic updates per model", in_range(1, 10**7)),
    "mbpo_branches": Param(MBPOConfig.branches, "rollouts branched from recorded states at a time",
                           in_range(1, 10**6)),
    "mbpo_max_length": Param(MBPOConfig.max_length, "the longest branch, in steps", in_range(1, 1000)),
    "mbpo_error_budget": Param(MBPOConfig.error_budget, "summed held-out one-step error (normalised MSE) a branch "
                               "may accumulate: with a better model, longer branches", positive),
}


def policy_configs(values: dict) -> tuple[DistillConfig, MBPOConfig]:
    """The distillation and MBPO configs from POLICY_TRAINER_PARAMETERS' values."""
    seed = values["seed"]
    distill = DistillConfig(rounds=values["distill_rounds"], rollouts=values["distill_rollouts"],
                            steps=values["distill_steps"], epochs=values["distill_epochs"],
                            hidden=values["policy_hidden_units"], layers=values["policy_hidden_layers"], seed=seed,
                            check_rollouts=values["check_rollouts"], check_steps=values["check_steps"],
                            check_tolerance=values["check_tolerance"], repair_rounds=values["repair_rounds"])
    mbpo = MBPOConfig(updates=values["mbpo_updates"], branches=values["mbpo_branches"],
                      max_length=values["mbpo_max_length"], error_budget=values["mbpo_error_budget"], seed=seed)
    return distill, mbpo
