"""Reconstruction models (baselines, DNN, CNNs) for calogeo."""
