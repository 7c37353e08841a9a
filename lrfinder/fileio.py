"""File helpers: chunked hashing, gzip-aware reading, atomic writes and an exclusive lock."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

CHUNK_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes as stored, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def maybe_gunzip(content: bytes) -> bytes:
    """`content` decompressed when it starts with the gzip magic bytes, else unchanged."""
    return gzip.decompress(content) if content.startswith(GZIP_MAGIC) else content


def read_maybe_gzip(path: Path) -> bytes:
    return maybe_gunzip(Path(path).read_bytes())


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to `target` (same suffix); rename it onto `target` only if the
    body succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive OS lock (flock) on the file `path`, created if missing, waiting while
    another process or thread holds it; the kernel releases it when its holder's process dies,
    even by SIGKILL."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_atomic(target: Path, write: Callable[[Path], Any]) -> Path:
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_bytes_atomic(target: Path, content: bytes) -> Path:
    return _write_atomic(target, lambda tmp: tmp.write_bytes(content))


def write_text_atomic(target: Path, text: str) -> Path:
    return _write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(target: Path, payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    return _write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet_atomic(target: Path, frame: pd.DataFrame) -> Path:
    return _write_atomic(target, lambda tmp: frame.to_parquet(tmp, index=False))
