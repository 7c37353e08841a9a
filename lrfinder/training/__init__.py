"""Training: early-stopped fits and refits, the final models, test-set evaluation, gate."""
