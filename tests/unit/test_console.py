"""A normal run's console: TensorFlow's CUDA probing on a machine without a driver is dropped,
every other line written to stderr (a real warning too) still shows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrfinder.engine.quiet import NO_DRIVER_NOISE, native_stderr_filtered

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_named_noise_is_dropped_from_native_stderr(capfd):
    with native_stderr_filtered(("cuda drivers",)):
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"W0000 a real warning from native code\n")
    captured = capfd.readouterr()
    assert "a real warning from native code" in captured.err
    assert "cuda drivers" not in captured.err


@pytest.mark.slow  # the fast tier sees the console of whole runs in fresh processes
@pytest.mark.parametrize(("backend", "cpu"), [("tensorflow", "/CPU:0"), ("jax", "cpu:0")])
def test_the_engine_starts_and_probes_devices_without_cuda_chatter(backend, cpu):
    pytest.importorskip(backend)
    script = "from lrfinder.engine.backend import pick_device; print(pick_device())"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    device = done.stdout.strip()
    assert device in (cpu, cpu.replace("CPU", "GPU").replace("cpu", "gpu"))
    for line in done.stderr.splitlines():
        assert "oneDNN" not in line and "cuda drivers" not in line, done.stderr
        if device == cpu and not Path("/proc/driver/nvidia/version").exists():
            assert not any(noise in line for noise in NO_DRIVER_NOISE), done.stderr
