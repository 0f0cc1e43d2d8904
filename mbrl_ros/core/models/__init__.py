"""Learned dynamics: the probabilistic ensemble, its training, checkpoints and evaluation."""
