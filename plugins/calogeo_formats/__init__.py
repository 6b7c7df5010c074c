"""Public shower-file layouts (CaloGAN, CLIC/LCD, ILD, CaloChallenge) for calogeo."""
