"""TensorFlow's native start-up chatter, filtered: on a machine without an NVIDIA driver, its C++
code writes CUDA-probing lines straight to the process's stderr (`Could not find cuda drivers`,
`failed call to cuInit`, ...) that read like errors. `quietly()` drops them while a block runs;
every other line, a real warning included, still reaches stderr. Keras may import TensorFlow
lazily on any backend (saving a model does), so this module imports neither."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FD2 = threading.RLock()

# Hide TensorFlow's INFO lines after its logger starts; warnings and errors stay.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "Could not find cuda drivers on your machine",
)
# Without an NVIDIA driver the CUDA probe fails by design; with one, its failure is news.
NO_DRIVER_NOISE = ("failed call to cuInit",)


def noise() -> tuple[str, ...]:
    """The stderr lines to drop on this machine."""
    has_driver = Path("/proc/driver/nvidia/version").exists()
    return STARTUP_NOISE if has_driver else STARTUP_NOISE + NO_DRIVER_NOISE


@contextmanager
def native_stderr_filtered(drop: tuple[str, ...]) -> Iterator[None]:
    """Capture file descriptor 2 (where C++ code writes) while the block runs, then write every
    line that contains none of `drop` back to it, as it came (not through Python's logging or
    print capture). Where fd 2 cannot be captured, the block runs unfiltered. One block at a
    time in a process (fd 2 is one per process): another thread waits for it."""
    with _FD2:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        yield from _filtered(saved, drop)


def _filtered(saved: int, drop: tuple[str, ...]) -> Iterator[None]:
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            captured.seek(0)
            kept = [
                line
                for line in captured.read().splitlines(keepends=True)
                if line.strip() and not any(p.encode() in line for p in drop)
            ]
            os.write(saved, b"".join(kept))
            os.dup2(saved, 2)
            os.close(saved)


def quietly() -> contextlib.AbstractContextManager[None]:
    """Run a block with this machine's TensorFlow chatter filtered out of native stderr."""
    return native_stderr_filtered(noise())
