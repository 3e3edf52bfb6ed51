"""Reward networks: NES training of RNs (trainer), their evaluation, and the `train-rn`/`rn-eval` commands."""
