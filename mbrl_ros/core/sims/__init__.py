"""Simulated worlds in PyBullet that stand in for real robots behind the same topics."""
