"""The example notebooks, executed with a real Jupyter kernel: each ends with a JSON line of its
results."""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.slow


def run_notebook(name: str) -> tuple[nbformat.NotebookNode, dict]:
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": EXAMPLES}}
    ).execute()
    last = notebook.cells[-1].outputs
    text = "".join(output.get("text", "") for output in last if output.output_type == "stream")
    return notebook, json.loads(text.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["wine_tutorial.ipynb", "breast_cancer.ipynb"])
def test_example_notebook_finds_a_rate_and_a_model_that_beats_the_majority_class(
    name, wine_csv, monkeypatch
):
    monkeypatch.setenv("WINE_DATA", str(wine_csv))  # the kernel inherits it
    notebook, results = run_notebook(name)
    assert 1e-5 <= results["chosen_lr"] <= 1
    assert results["chart_is_figure"]
    chart_cell = next(cell for cell in notebook.cells if cell.source.startswith("chart ="))
    assert any("image/png" in output.get("data", {}) for output in chart_cell.outputs)
    assert results["test_accuracy"] > results["majority"]
