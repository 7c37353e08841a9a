"""Each replica's batch order, as `model.fit` draws batches: a fresh permutation per epoch, the
last batch of an epoch smaller."""

from __future__ import annotations

import numpy as np


class BatchStream:
    """One replica's batches, generated as needed: a fresh permutation per epoch from `seed`,
    batches in order, the last batch of an epoch smaller (as in `model.fit`)."""

    def __init__(self, n_rows: int, batch_size: int, seed: int):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.rng = np.random.default_rng([seed, 1])
        self.batches: list[np.ndarray] = []

    def take(self, n_steps: int) -> list[np.ndarray]:
        """Row indices of the next `n_steps` batches, one array per batch."""
        while len(self.batches) < n_steps:
            order = self.rng.permutation(self.n_rows).astype("int32")
            self.batches.extend(
                np.split(order, range(self.batch_size, self.n_rows, self.batch_size))
            )
        taken, self.batches = self.batches[:n_steps], self.batches[n_steps:]
        return taken


def batch_order(
    n_rows: int, batch_size: int, seed: int, n_steps: int, start: int = 0
) -> list[np.ndarray]:
    """Row indices of the batches of steps start..start+n_steps for one replica."""
    stream = BatchStream(n_rows, batch_size, seed)
    stream.take(start)
    return stream.take(n_steps)
