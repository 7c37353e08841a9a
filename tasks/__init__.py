"""Prefect tasks: thin wrappers that add caching, retries, logging and artifacts to lrfinder."""
