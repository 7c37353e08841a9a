"""What every training stage of a run trains, built once after the split: the recipe for the
split's features and task, and the replicas' seeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from lrfinder.data.splitting import SplitData
from lrfinder.engine.recipe import Recipe, recipe_of
from lrfinder.fileio import sha256_file
from lrfinder.model.heads import head_for
from lrfinder.params import ModelSettings


@dataclass(frozen=True)
class TrainingSetup:
    """The recipe (network, Keras optimizer and loss, batch size, class weights) and the seeds
    of the replicas that the range test, the confirmation and the final training train."""

    recipe: Recipe
    seeds: list[int]

    @property
    def fingerprint(self) -> str:
        """Content hash (cache keys): a model file counts by its content, not its name."""
        return recipe_fingerprint(self.recipe, self.seeds)


def recipe_fingerprint(recipe: Recipe, seeds: list[int], *more: str) -> str:
    """A content hash of `recipe` and `seeds` (and `more`), a model file hashed by content."""
    network = recipe.network
    if network.model_file is not None:
        network = replace(network, model_file=sha256_file(Path(network.model_file)))
    text = ":".join([*more, repr(replace(recipe, network=network)), str(seeds)])
    return hashlib.sha256(text.encode()).hexdigest()


def training_setup(model: ModelSettings, split: SplitData) -> TrainingSetup:
    """The set-up of `model`'s settings for `split`: its feature count, the task's output head
    and, with class_weight balanced, the training labels' class weights."""
    x, y = split.arrays("train")
    head = head_for(split.task, len(split.classes))
    return TrainingSetup(recipe_of(model, x.shape[1], head, y), model.seeds)
