"""Seed 004: the semi-supervised VAE label-robustness grid."""
