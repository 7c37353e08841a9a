"""The benchmark's data sets, all available offline: the shared wine data as four tasks,
scikit-learn's bundled sets (four of them under 1,000 rows, small data being where picks fail)
and two synthetic ones. Each is prepared by the product's own data
stages (source, cleaning, split and scaling with the default settings) from a CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import wine_csv
from lrfinder.data.cleaning import clean, label_rule
from lrfinder.data.sources import resolve_source
from lrfinder.data.splitting import SplitData, split_and_scale
from lrfinder.params import nest, parse_settings
from lrfinder.paths import Paths


def _sklearn_frame(loader: Callable[..., Any]) -> pd.DataFrame:
    bunch = loader(as_frame=True)
    return bunch.frame.rename(columns={"target": "label"})


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return _sklearn_frame(load_breast_cancer)


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return _sklearn_frame(load_digits)


def _wine_classes() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return _sklearn_frame(load_wine)


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return _sklearn_frame(load_iris)


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return _sklearn_frame(load_diabetes)


def _synthetic(label_noise: float) -> Callable[[], pd.DataFrame]:
    """3000 rows, 20 features (8 informative); `label_noise`: the share of labels flipped."""

    def make() -> pd.DataFrame:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=3000, n_features=20, n_informative=8, flip_y=0.0, random_state=7
        )
        flipped = np.random.default_rng(7).random(len(y)) < label_noise
        y = np.where(flipped, 1 - y, y)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
        frame["label"] = y
        return frame

    return make


@dataclass(frozen=True)
class Case:
    """A data set: its CSV (written by `make`, or the wine file) and the flags that read it."""

    name: str
    flags: dict[str, Any]
    make: Callable[[], pd.DataFrame] | None = None

    def prepare(self, folder: Path) -> SplitData:
        """The split the flow would make of this data set with default settings."""
        if self.make is None:
            path = wine_csv()
        else:
            path = folder / f"{self.name}.csv"
            self.make().to_csv(path, index=False)
        settings = parse_settings(nest({"data": str(path), **self.flags})).resolved()
        paths = Paths.from_env()
        source = resolve_source(str(path), None, paths.data_dir, paths.uci_base_url)
        return split_and_scale(clean(source, label_rule(settings.data)), settings.split)


CASES = {
    case.name: case
    for case in (
        Case("wine >= 6", {}),
        Case("wine >= 7", {"threshold": 7}),
        Case("wine regression", {"task": "regression"}),
        Case("wine multiclass", {"task": "multiclass"}),
        Case("breast cancer", {"target": "label"}, _breast_cancer),
        Case("digits >= 5", {"target": "label", "threshold": 5}, _digits),
        Case("sklearn wine class 0", {"target": "label", "positive_label": "0"}, _wine_classes),
        Case("sklearn wine classes", {"target": "label", "task": "multiclass"}, _wine_classes),
        Case("iris", {"target": "label", "task": "multiclass"}, _iris),
        Case("diabetes", {"target": "label", "task": "regression"}, _diabetes),
        Case("synthetic clean", {"target": "label"}, _synthetic(0.0)),
        Case("synthetic 20% noise", {"target": "label"}, _synthetic(0.2)),
    )
}
