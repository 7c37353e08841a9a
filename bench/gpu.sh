#!/usr/bin/env bash
# The engine on a GPU machine as this project is lent one: Python 3.12 with JAX and its CUDA
# plugin, pandas, scikit-learn, but no TensorFlow, Keras or Prefect, and no network. Only the
# engine and the range test run (Keras on its JAX backend); the few wheels missing there travel
# in .whl/ (git-ignored).
#
#   bash bench/gpu.sh fetch [PYTHON_VERSION]   here, with the registry: download the wheels into
#                                              .whl/ for Python 3.12 (or the version given), at
#                                              the versions this checkout's .venv has
#   bash bench/gpu.sh run                      there: install them, check that JAX sees the GPU,
#                                              measure model-steps/s at K = 1 .. 16384 (while
#                                              memory allows) and time the default range test
#                                              with 8 and 1024 replicas
#   bash bench/gpu.sh run --cpu                the same as a dry run on a CPU, at small K
#
# The data travels too: data/ is git-ignored, so a device call names both in its carry:
#   carry [".whl", "data/winequalityN.csv"]   (cp ../shared/data/winequalityN.csv data/ first)
#
# Ratios are against Keras fit's steps/s on the tutorial MLP measured on this project's 2-core
# CPU machine (bench.sweep, TensorFlow, 2026-11-29); CPU_KERAS_FIT overrides it.
# Environment: PYTHON (default python3), WHEELS (default .whl), CPU_KERAS_FIT (default 563).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
CPU_KERAS_FIT=${CPU_KERAS_FIT:-563}
# What the engine and the range test import beyond the GPU machine's own packages.
CARRIED=(keras namex optree pydantic pydantic-core annotated-types typing-inspection
  typing-extensions)

fetch() {
  local version=${1:-3.12} name pinned
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  for name in "${CARRIED[@]}"; do
    pinned=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")
    .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version "$version" --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$WHEELS" "$name==$pinned"
  done
  ls -l "$WHEELS"
  du -sh "$WHEELS"
}

run() {
  local ks=(1 8 64 512 4096 16384) range=(8 1024)
  if [ "${1:-}" = "--cpu" ]; then
    ks=(1 8 64) range=(8 64)
  fi
  if [ ! -f data/winequalityN.csv ]; then
    echo "data/winequalityN.csv is missing: carry it with the call (see the top of $0)" >&2
    exit 2
  fi
  "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/lrfinder-site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/lrfinder-site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
  "$PYTHON" - "${1:-}" <<'PY'
import sys

import jax
import keras

import bench.throughput  # noqa: F401  (what the benchmark imports, to check it below)
import lrfinder.engine.stacked  # noqa: F401
import lrfinder.lr.range_test  # noqa: F401

gpus = [d for d in jax.devices() if d.platform == "gpu"]
print(f"Python {sys.version.split()[0]}, JAX {jax.__version__}, Keras {keras.__version__} "
      f"on {keras.backend.backend()}; devices: {jax.devices()}")
if not gpus and sys.argv[1] != "--cpu":
    raise SystemExit("JAX sees no GPU: check the CUDA plugin (jax-cuda*-plugin) and the driver")
for banned in ("tensorflow", "prefect"):
    if banned in sys.modules:
        raise SystemExit(f"{banned} was imported, but the GPU machine has none")
PY
  "$PYTHON" -m bench.throughput --backend jax --ks "${ks[@]}" --steps 640 \
    --range-test "${range[@]}" --reference-fit "$CPU_KERAS_FIT"
}

case "${1:-}" in
  fetch) shift; fetch "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash bench/gpu.sh fetch [PYTHON_VERSION] | run [--cpu]" >&2; exit 2 ;;
esac
