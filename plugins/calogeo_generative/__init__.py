"""Generative shower models for calogeo: CaloGAN (Paganini et al. 2018), 3DGAN (Belayneh et al.
2020) and the WGAN with an energy constrainer (Buhmann et al. 2021).

Registered through the public ``calogeo_register_models`` hook as lazy references: listing the
models imports nothing; a model's module, and torch, are imported when it is first used.
"""

from __future__ import annotations
