"""The vectorized engine: stacked replicas, optimizers, and replica groups."""
