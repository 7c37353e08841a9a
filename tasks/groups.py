"""Replica groups as task runs on the flow's task runner: threads here, Dask or Ray workers
on a cluster. Each group's result comes back through the runner; none is persisted."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled
from prefect.task_runners import ThreadPoolTaskRunner

from lrfinder.engine.groups import (
    GroupFn,
    Grouping,
    GroupMap,
    Placement,
    group_name,
    run_locally,
)
from lrfinder.engine.interrupt import Interrupted, clear_stop, request_stop
from lrfinder.params import ExecutionSettings
from runtime.progress import StepProgress

STOP_WAIT_S = 3.0  # a group stops within one compiled chunk (milliseconds to a second)


@task(name="replica-group", cache_policy=NO_CACHE, persist_result=False)
def replica_group(
    fn: GroupFn, call: dict[str, Any], progress_key: str, label: str, bar: bool
) -> Any:
    """Train one group of replicas as one vectorized engine, wherever the runner placed it."""
    try:
        with StepProgress(label, key=progress_key, bar=bar) as progress:
            return fn(**call, on_progress=progress.update)
    except Interrupted as stopped:
        return Cancelled(message=str(stopped))


def gpu_request(runner: Any, gpus: float) -> AbstractContextManager:
    """Ask the cluster for `gpus` GPUs per task submitted inside: a Dask resource annotation or
    Ray's `num_gpus`; nothing for the thread pool or when `gpus` is 0."""
    module = type(runner).__module__
    if gpus <= 0:
        return nullcontext()
    if module.startswith("prefect_dask"):
        import dask

        return dask.annotate(resources={"GPU": gpus})
    if module.startswith("prefect_ray"):
        from prefect_ray.context import remote_options

        return remote_options(num_gpus=gpus)
    return nullcontext()


def placement(key: str, label: str, execution: ExecutionSettings) -> Placement:
    """Where a stage's replica groups run: grouped as `execution` says, each group one
    `replica-group` task run reporting progress under `key`."""
    grouping = Grouping(execution.replicas_per_group, spread=execution.task_runner != "threads")
    return Placement(grouping, group_map(key, label, execution.gpus_per_group))


def group_map(key: str, label: str, gpus: float = 0.0) -> GroupMap:
    """A GroupMap that submits one `replica-group` task run per group to the flow's task
    runner (each asking for `gpus` GPUs); outside a flow run (a task's `.fn` called directly)
    the groups run here in turn."""

    def run(fn: GroupFn, calls: list[dict[str, Any]]) -> list[Any]:
        context = FlowRunContext.get()
        if context is None or context.task_runner is None:
            return run_locally(fn, calls)
        kind = group_name(fn)
        in_process = isinstance(context.task_runner, ThreadPoolTaskRunner)
        clear_stop()  # a stage starts after the last one's groups have all ended
        n = len(calls)
        with gpu_request(context.task_runner, gpus):
            futures = [
                replica_group.with_options(task_run_name=f"{kind}-group-{i}-of-{n}").submit(
                    fn, call, f"{key}-group-{i}", f"{label}, {kind} group {i}/{n}", in_process
                )
                for i, call in enumerate(calls, 1)
            ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            stop_groups(futures)
            raise

    return run


def stop_groups(futures: list[PrefectFuture]) -> None:
    """On a signal (Prefect's TerminationSignal for SIGTERM, KeyboardInterrupt for SIGINT) or a
    failed group: stop the groups still training in this process's threads, which signals do not
    reach, and wait until they have ended so that none outlives the run. The flag stays raised
    if one has not ended (the process is on its way out)."""
    request_stop()
    if not wait(futures, timeout=STOP_WAIT_S).not_done:
        clear_stop()
