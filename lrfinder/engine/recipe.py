"""What every engine of a stage is built from: the network, the optimizer, the batch size."""

from __future__ import annotations

from dataclasses import dataclass

from lrfinder.engine.optimizers import Optimizer
from lrfinder.model.spec import ModelSpec


@dataclass(frozen=True)
class Recipe:
    spec: ModelSpec
    optimizer: Optimizer
    batch_size: int = 32
