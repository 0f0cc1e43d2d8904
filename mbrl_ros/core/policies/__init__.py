"""Policies learned from the dynamics model: the planner distilled into a network (DAgger)."""

import enum


class PolicyUse(enum.Enum):
    """What the controller does with a policy."""

    OFF = "off"
    ACT = "act"  # the policy gives every command, one forward pass each
    PROPOSE = "propose"  # the planner also samples around its rollout
    AUTO = "auto"  # the planner where its plans fit the deadline, else the policy (PlanSize.falls_short)


POLICY_USES = tuple(use.value for use in PolicyUse)
