"""Tasks: the cost over predicted trajectories, goals, and how success is measured."""
