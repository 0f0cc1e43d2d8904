"""Trajectory optimisation over the learned model: sampling planners and batched rollouts."""
