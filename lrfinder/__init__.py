"""Core logic of the learning-rate finder: plain functions, no orchestration."""
