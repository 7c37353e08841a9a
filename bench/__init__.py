"""Benchmarks: run the reference and ours in one process and print ratios."""
