"""The quality gate on the final model's test accuracy: plain Python."""

from __future__ import annotations

from lrfinder.params import QualityGateSettings


class QualityGateError(RuntimeError):
    """The final model's test accuracy is below the configured minimum."""


def check_gate(accuracy: float | None, gate: QualityGateSettings) -> str | None:
    """None when the gate passes, else the message (the caller warns or fails with it). A task
    without accuracy (regression) passes: the settings allow no minimum there."""
    if accuracy is None or accuracy >= gate.min_test_accuracy:
        return None
    return (
        f"quality gate: test accuracy {accuracy:.4f} is below the minimum "
        f"{gate.min_test_accuracy:.4f}. Inspect metrics.json and the charts, or lower "
        "--min-test-accuracy."
    )
