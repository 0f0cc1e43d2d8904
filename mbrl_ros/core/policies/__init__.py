"""Policies learned from the dynamics model: the planner distilled into a network (DAgger)."""

POLICY_USES = ("off", "act", "propose")  # what the controller does with a policy: nothing, act with it, plan around it
