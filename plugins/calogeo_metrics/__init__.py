"""Classification, regression and fidelity metrics for calogeo."""
