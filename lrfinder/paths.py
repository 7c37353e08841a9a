"""Paths and endpoints, resolved once from the environment with project-local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UCI_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/"


def project_root() -> Path:
    """The checkout this package lives in, or the working directory for a non-editable install."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


@dataclass(frozen=True)
class Paths:
    """Where inputs, downloads and run outputs live, and where alerts go; each can be overridden
    by an env variable."""

    data_dir: Path
    artifacts_dir: Path
    uci_base_url: str = UCI_BASE_URL
    wine_data: str | None = None
    alert_webhook_url: str | None = None  # where `make serve`'s alert automation posts

    @classmethod
    def from_env(cls) -> Paths:
        root = project_root()
        return cls(
            data_dir=Path(os.environ.get("LRFINDER_DATA_DIR", root / "data")),
            artifacts_dir=Path(os.environ.get("LRFINDER_ARTIFACTS_DIR", root / "artifacts")),
            uci_base_url=os.environ.get("LRFINDER_UCI_BASE_URL", UCI_BASE_URL),
            wine_data=os.environ.get("WINE_DATA") or None,
            alert_webhook_url=os.environ.get("LRFINDER_ALERT_WEBHOOK_URL") or None,
        )
