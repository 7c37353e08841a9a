"""Selection settings: plain Python, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field

from lrfinder.confirm import ConfirmConfig
from lrfinder.suggest import METHODS


@dataclass(frozen=True)
class SelectConfig:
    """`method` centres the confirmation; `confirm=False` takes its aggregate as it is."""

    method: str = "valley"
    confirm: bool = True
    confirmation: ConfirmConfig = field(default_factory=ConfirmConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"suggest_method={self.method!r}: use one of {list(METHODS)}.")
