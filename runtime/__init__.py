"""The machinery the tasks and flows run on: cache keys and record locks, the run watcher, the local Prefect server, task runners, progress display and failure policy."""
