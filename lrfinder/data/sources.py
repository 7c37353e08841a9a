"""Find the input data: an explicit path or URL, $WINE_DATA, data/, or the public UCI files."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lrfinder.errors import DataError, TransientDownloadError
from lrfinder.fileio import maybe_gunzip, sha256_file, write_bytes_atomic

COMBINED_NAME = "winequalityN.csv"
UCI_COLUMNS = (
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
    "quality",
)
UCI_FILES = {"white": ("winequality-white.csv", 4898), "red": ("winequality-red.csv", 1599)}
TRANSIENT_HTTP_CODES = {408, 425, 429, 500, 502, 503, 504}

Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class SourceFile:
    """One input file; `wine_type` is set for a half of the UCI red/white pair."""

    path: Path
    sha256: str
    wine_type: str | None = None


@dataclass(frozen=True)
class DataSource:
    """The files a run reads and where they came from (`origin`)."""

    files: tuple[SourceFile, ...]
    origin: str

    @property
    def fingerprint(self) -> str:
        """Content identity: the files' hashes and roles, not their names."""
        parts = [f"{f.wine_type or 'table'}:{f.sha256}" for f in self.files]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def describe(self) -> dict:
        return {
            "origin": self.origin,
            "files": [
                {"path": str(f.path), "sha256": f.sha256, "wine_type": f.wine_type}
                for f in self.files
            ],
        }


def fetch_url(url: str, timeout: float = 30.0) -> bytes:
    """GET `url`; network trouble and HTTP 5xx/429 raise TransientDownloadError, other errors DataError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in TRANSIENT_HTTP_CODES:
            raise TransientDownloadError(f"{url}: HTTP {exc.code}, will retry") from exc
        raise DataError(
            f"{url}: HTTP {exc.code} {exc.reason}. Fix: check the address, or download the file "
            "yourself and pass its local path."
        ) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientDownloadError(f"{url}: {reason}") from exc


def is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme in {"http", "https"}


def resolve_source(
    explicit: str | None,
    wine_data_env: str | None,
    data_dir: Path,
    uci_base_url: str,
    fetch: Fetch = fetch_url,
) -> DataSource:
    """Pick the input in the documented order, downloading into `data_dir` when needed."""
    if explicit:
        return _from_location(explicit, "parameter", data_dir, fetch)
    if wine_data_env:
        return _from_location(wine_data_env, "WINE_DATA", data_dir, fetch)
    for name in (COMBINED_NAME, COMBINED_NAME + ".gz"):
        if (data_dir / name).is_file():
            return _single(data_dir / name, f"data/{name}")
    pair = _find_pair(data_dir)
    if pair is not None:
        return DataSource(pair, "data/ (UCI red/white pair)")
    return DataSource(download_uci_pair(data_dir, uci_base_url, fetch), f"download {uci_base_url}")


def _from_location(location: str, origin: str, data_dir: Path, fetch: Fetch) -> DataSource:
    if is_url(location):
        name = Path(urllib.parse.urlparse(location).path).name or "download.csv"
        target = data_dir / name
        write_bytes_atomic(target, fetch(location))
        return _single(target, f"{origin} {location}")
    path = Path(location).expanduser()
    if path.is_dir():
        pair = _find_pair(path)
        if pair is None:
            raise DataError(
                f"{path}: folder has no {COMBINED_NAME} and no UCI pair "
                "(winequality-red.csv and winequality-white.csv). Fix: pass the CSV file itself."
            )
        return DataSource(pair, f"{origin} {path}")
    if not path.is_file():
        raise DataError(
            f"{path}: file not found (from {origin}). Fix: pass an existing CSV path or an "
            f"http(s) URL, set WINE_DATA, or put {COMBINED_NAME} into data/."
        )
    return _single(path, f"{origin} {path}")


def _single(path: Path, origin: str) -> DataSource:
    return DataSource((SourceFile(path, sha256_file(path)),), origin)


def _find_pair(folder: Path) -> tuple[SourceFile, ...] | None:
    found = []
    for wine_type, (name, _) in UCI_FILES.items():
        candidates = [folder / name, folder / (name + ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(SourceFile(path, sha256_file(path), wine_type))
    return tuple(found)


def download_uci_pair(
    data_dir: Path, base_url: str, fetch: Fetch = fetch_url
) -> tuple[SourceFile, ...]:
    """Download the red and white UCI files into `data_dir`, checking each before it is kept."""
    files = []
    for wine_type, (name, expected_rows) in UCI_FILES.items():
        target = data_dir / name
        if not target.is_file():
            url = urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", name)
            content = fetch(url)
            check_uci_file(content, url, expected_rows)
            write_bytes_atomic(target, content)
        files.append(SourceFile(target, sha256_file(target), wine_type))
    return tuple(files)


def check_uci_file(content: bytes, url: str, expected_rows: int) -> None:
    """Raise DataError unless `content` is a UCI wine file: quoted `;` header, 12 columns, N rows."""
    try:
        text = maybe_gunzip(content).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{url}: the download is not UTF-8 text ({exc.reason}).") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{url}: the download is empty.")
    header = tuple(field.strip().strip('"') for field in lines[0].split(";"))
    if header != UCI_COLUMNS:
        raise DataError(
            f"{url}: unexpected header {lines[0][:120]!r}; expected the 12 quoted, "
            "semicolon-separated UCI columns. Fix: check the base URL (LRFINDER_UCI_BASE_URL)."
        )
    if len(lines) - 1 != expected_rows:
        raise DataError(
            f"{url}: {len(lines) - 1} data rows, expected {expected_rows}; the download is "
            "incomplete or not the UCI file. Fix: retry, or download it yourself into data/."
        )
