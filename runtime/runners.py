"""The task runner a flow parameter asks for: Prefect's thread pool, or Dask or Ray through
prefect-dask / prefect-ray (installed with the `dask` / `ray` extras)."""

from __future__ import annotations

import os

from prefect.context import FlowRunContext
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from lrfinder.params import ExecutionSettings

LOCAL_WORKERS = 2
# In this process, replica groups run one at a time: XLA already spreads one engine over all
# cores, and smaller groups one after another beat larger or concurrent ones on a CPU.
IN_PROCESS = ThreadPoolTaskRunner(max_workers=1)


def cluster_task_runner(execution: ExecutionSettings) -> TaskRunner:
    """`dask` or `ray`: the cluster at `cluster_address`, or a local one with LOCAL_WORKERS
    single-threaded worker processes (each offering `gpus_per_group` GPUs when set)."""
    kind, address = execution.task_runner, execution.cluster_address
    gpus_per_group = execution.gpus_per_group
    workers = LOCAL_WORKERS
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        local = {"n_workers": workers, "threads_per_worker": 1, "processes": True}
        if gpus_per_group > 0:
            local["resources"] = {"GPU": gpus_per_group}
        return DaskTaskRunner(cluster_kwargs={**local, "dashboard_address": None})
    if kind == "ray":
        from prefect_ray import RayTaskRunner

        if address:
            return RayTaskRunner(address=address)
        return RayTaskRunner(init_kwargs={"num_cpus": workers, "include_dashboard": False})
    raise ValueError(f"task_runner={kind!r}: a cluster runner is 'dask' or 'ray'.")


def share_api_url() -> None:
    """Point the worker processes a local cluster starts at this run's Prefect API: without
    PREFECT_API_URL the run talks to a temporary server whose address only this process knows.
    Workers of an existing cluster need PREFECT_API_URL set where they start."""
    context = FlowRunContext.get()
    if context is not None and context.client is not None:
        os.environ.setdefault("PREFECT_API_URL", str(context.client.api_url))
