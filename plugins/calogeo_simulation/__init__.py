"""Parametric shower simulation (GFlash electromagnetic, pi0, hadronic) for calogeo."""
