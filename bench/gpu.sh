#!/usr/bin/env bash
# For a machine with an NVIDIA GPU: installs the `gpu` extra into .venv-gpu, confirms that
# TensorFlow sees the GPU, times the default range test (8 and 64 replicas) and measures the
# engine's model-steps per second at K = 1 .. 1024. Takes a few minutes.
# Needs the data set at data/winequalityN.csv or ../shared/data/winequalityN.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-gpu
.venv-gpu/bin/python -m pip install --quiet --upgrade pip
.venv-gpu/bin/python -m pip install --quiet -e '.[gpu]'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
.venv-gpu/bin/python - <<'PY'
import tensorflow as tf

gpus = tf.config.list_physical_devices("GPU")
print("TensorFlow", tf.__version__, "sees:", gpus)
if not gpus:
    raise SystemExit("TensorFlow sees no GPU: check the driver and the tensorflow[and-cuda] install")
PY
.venv-gpu/bin/python -m bench.throughput --range-test --steps 320 --ks 1 8 32 128 256 512 1024
