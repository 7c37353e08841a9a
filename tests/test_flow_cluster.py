"""The flow with its replica groups on real local clusters through Prefect task runners: a Dask
cluster with 2 worker processes (given by address) and a local Ray cluster (started by the
runner). Same outputs as the in-process run for the same seeds and groups."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster, Nanny, Scheduler, SpecCluster
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from flows.lr_finder import lr_finder
from tests.helpers import CACHED_STAGES, N_TASKS, SMALL_SWEEP, flow_parameters
from tests.prefect_api import subflow_run_id, task_states

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]
GROUPS = 2


def _run_state(folders: dict[str, Path], **parameters):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LRFINDER_DATA_DIR", str(folders["data"]))
        patch.setenv("LRFINDER_ARTIFACTS_DIR", str(folders["artifacts"]))
        flat = SMALL_SWEEP | {"replicas_per_group": 1} | parameters
        return lr_finder(return_state=True, **flow_parameters(**flat))


def _run(folders: dict[str, Path], **parameters) -> Path:
    return Path(_run_state(folders, **parameters).result())


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return {name: tmp_path_factory.mktemp(name) for name in ("data", "artifacts")}


@pytest.fixture(scope="module")
def in_process(folders, wine_sample) -> Path:
    return _run(folders, data=str(wine_sample))


def _assert_same_outputs(here: Path, there: Path) -> None:
    curves = [pd.read_parquet(d / "range_test.parquet") for d in (here, there)]
    pd.testing.assert_frame_equal(*curves)
    assert sorted(curves[1]["replica"].unique()) == [0, 1]
    chosen = [json.loads((d / "selection.json").read_text()) for d in (here, there)]
    assert chosen[0]["confirmation"]["runs"] == chosen[1]["confirmation"]["runs"]
    assert chosen[0]["chosen_lr"] == chosen[1]["chosen_lr"]
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (here, there)]
    assert metrics[0]["test"] == metrics[1]["test"]


def _worker_pids(run_dir: Path) -> set[int]:
    groups = json.loads((run_dir / "range_test.json").read_text())["groups"]
    assert [g["replicas"] for g in groups] == [[0], [1]]
    return {g["pid"] for g in groups}


def test_in_process_groups_run_in_this_process(in_process):
    assert _worker_pids(in_process) == {os.getpid()}


def test_replica_groups_on_a_dask_cluster_match_the_in_process_run(
    folders, wine_sample, in_process
):
    on_cluster = {"data": str(wine_sample), "task_runner": "dask"}
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_cluster["cluster_address"] = cluster.scheduler_address
        cached = _run_state(folders, **on_cluster)
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
            on_dask = _run(folders, **on_cluster)
    # Execution settings are no part of a cache key: after the threads run, every stage of the
    # Dask run comes back Cached, and its range-test record still names this process.
    states = task_states(subflow_run_id(cached.state_details.flow_run_id), N_TASKS)
    assert all(states[stage] == "Cached" for stage in CACHED_STAGES), states
    assert _worker_pids(Path(cached.result())) == {os.getpid()}
    pids = _worker_pids(on_dask)
    assert len(pids) == GROUPS and os.getpid() not in pids, pids
    _assert_same_outputs(in_process, on_dask)


def test_groups_asking_for_a_gpu_run_only_on_the_dask_worker_that_offers_one(folders, wine_sample):
    # "GPU" is a Dask resource label: scheduling on it needs no device. One worker offers one,
    # the other none; every group asks for one, so all must run on the first.
    workers = {
        "gpu": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
        "cpu": {"cls": Nanny, "options": {"nthreads": 1}},
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        offering = [
            address
            for address, info in client.scheduler_info()["workers"].items()
            if info["resources"].get("GPU")
        ]
        gpu_pid = client.run(os.getpid, workers=offering)[offering[0]]
        run_dir = _run(
            folders, data=str(wine_sample), seed=5, confirm=False, refit=False,
            task_runner="dask", cluster_address=cluster.scheduler_address, gpus_per_group=1,
        )  # fmt: skip
    assert _worker_pids(run_dir) == {gpu_pid}


def test_replica_groups_on_a_local_ray_cluster_match_the_in_process_run(
    folders, wine_sample, in_process
):
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
        on_ray = _run(folders, data=str(wine_sample), task_runner="ray")
    assert os.getpid() not in _worker_pids(on_ray)
    _assert_same_outputs(in_process, on_ray)
