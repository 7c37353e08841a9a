"""Our flow against Keras Tuner's RandomSearch and Optuna's TPE, in one process run on the wine
data (the `bench` extra: `pip install -e '.[bench]'` or `make bench-setup`).

1. Our flow, cold, with its defaults (the temporary Prefect server's start timed apart, not
   counted): selection, final training of the chosen and the baseline rate, evaluation.
2. Its split (the run folder's Parquet files) is the peers' split: each trial trains the same MLP
   (Dense 128-256-256 relu, 1 sigmoid, binary cross-entropy) with Adam at a rate drawn
   log-uniform from 1e-5 to 1e-1, on train, early-stopped on the validation split as our final
   training is (up to 100 epochs, batch 32, patience 10, best weights restored).
   (a) Keras Tuner RandomSearch, 10 trials (objective val_loss, seed 0); its final model is
       `get_best_models(1)[0]`.
   (b) Optuna TPESampler(seed=0), 20 trials; a trial's value is its best val_loss; its final
       model is the best trial's model.
   (c) Keras's ScheduleFreeAdamW at its default rate (0.0025), no search: what a user who wants
       no rate search reaches for; one model trained as a trial is.
   (d) The tutorial's own final model: Adam at 0.007 for 100 epochs on train + validation.
   A tool's wall time covers its search, taking its final model and evaluating it on test.
3. The common grid protocol: 13 log-spaced rates from 1e-5 to 1 plus the three chosen rates, 8
   seeds each, trained on our engine as the final training trains (bench.truth); each chosen
   rate's own median held-out loss over the seeds (test rows without a twin in train or
   validation) against the grid's best, and its regret ((loss - best) / scale, scale = the best
   loss but at least 1 % of the trivial predictor's).

Test accuracy is each tool's final model's: ours as the flow reports it (its final model, by
default the ensemble of the race winner's seeds, trained on train), the tuners' the single best
trial's model trained on train; also on the test rows without a twin in train or validation
(overall accuracy rewards memorising twins; ours measured from model.keras on the same rows),
with the 95 % Wilson interval. The table is printed and written to
bench/results/peers/table.md.

Usage: python -m bench.peers [--kt-trials 10] [--optuna-trials 20] [--max-epochs 100]
       [--grid-points 13] [--grid-seeds 8] [-- the flags of make run, e.g. --n-seeds 4]
(flags this script does not know also go to the flow; --max-epochs before `--` is the tuners'.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import ROOT, Timer, tutorial_model, wine_csv
from bench.flow import parse, start_prefect
from bench.truth import (
    GRID_SEEDS,
    REGIONS,
    Truth,
    grid,
    held_out,
    split_from_run,
    train_rates,
    trivial_loss,
)
from lrfinder.model.network import load
from lrfinder.training.intervals import wilson_interval

OUT = ROOT / "bench" / "results" / "peers"
LR_RANGE = (1e-5, 1e-1)
BATCH_SIZE, PATIENCE = 32, 10
TUTORIAL_LR, TUTORIAL_EPOCHS = 0.007, 100


@dataclass
class Result:
    """One tool's run: its wall time, what it trained, its rate (`on_grid`: an Adam rate that the
    grid protocol can judge), its final model's test accuracy, and that accuracy on the test rows
    without a twin in train or validation with its 95 % interval."""

    tool: str
    seconds: float
    trained: str
    lr: float
    test_accuracy: float
    twin_free: float
    twin_free_interval: tuple[float, float]
    on_grid: bool = True


def early_stopping():
    from lrfinder.engine.backend import keras

    return keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=PATIENCE, restore_best_weights=True
    )


def fit_as_trial(model, data: dict, epochs: int):
    """Train `model` as every tuner trial trains: on train, up to `epochs` epochs of batch 32,
    early-stopped on the validation split; returns Keras's History."""
    return model.fit(
        *data["train"],
        validation_data=data["val"],
        epochs=epochs,
        batch_size=BATCH_SIZE,
        callbacks=[early_stopping()],
        verbose=0,
    )


def test_accuracy(model, data: dict) -> float:
    _, accuracy = model.evaluate(*data["test"], batch_size=256, verbose=0)
    return float(accuracy)


def twin_free_accuracy(model, data: dict) -> tuple[float, tuple[float, float]]:
    """Accuracy on the test rows without a twin in train or validation, and its Wilson interval
    (the product's, as metrics.json reports ours)."""
    x, y = data["twin_free"]
    predicted = model.predict(x, batch_size=256, verbose=0)[:, 0] >= 0.5
    right = int((predicted == (y >= 0.5)).sum())
    return right / len(y), wilson_interval(right, len(y))


def ours(flow_argv: list[str]) -> tuple[Result, Path]:
    """Our flow, cold (the server's start timed apart)."""
    from flows.lr_finder import lr_finder

    parameters = parse(flow_argv)
    with Timer() as server:
        start_prefect()
    print(f"temporary Prefect server start (not counted): {server.seconds:.1f} s", flush=True)
    with Timer() as cold:
        run_dir = Path(lr_finder(**parameters))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    selection = json.loads((run_dir / "selection.json").read_text())
    range_test = json.loads((run_dir / "range_test.json").read_text())
    swept = sum(len(group["replicas"]) for group in range_test.get("groups", []))
    raced = len((selection.get("confirmation") or {}).get("runs", []))
    final = 2 * len(metrics["seeds"])
    trained = (
        f"{swept} range test + {raced} raced (the final models among them)"
        if raced
        else f"{swept} range test + {final} final"
    )
    if metrics.get("refit"):
        trained += f" (+ {final} refit)"
    accuracy = float(metrics["test"]["chosen"]["final"]["accuracy"])
    # The twin-free accuracy is measured by main() on the peers' rows, from model.keras.
    result = Result(
        "ours", cold.seconds, trained, float(selection["chosen_lr"]), accuracy, np.nan, (0, 0)
    )
    print(f"ours: {cold.seconds:.1f} s, chosen lr {result.lr:.4g} -> {run_dir}", flush=True)
    return result, run_dir


def keras_tuner_search(data: dict, trials: int, epochs: int) -> Result:
    """Keras Tuner's RandomSearch over Adam's rate, log-uniform."""
    import keras_tuner

    from lrfinder.engine.backend import keras

    def build(hp):
        rate = hp.Float("lr", *LR_RANGE, sampling="log")
        return tutorial_model(keras.optimizers.Adam(learning_rate=rate))

    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory(prefix="peers-kt-") as folder, Timer() as timer:
        tuner = keras_tuner.RandomSearch(
            build,
            objective="val_loss",
            max_trials=trials,
            executions_per_trial=1,
            seed=0,
            directory=folder,
            project_name="peers",
            overwrite=True,
        )
        tuner.search(
            *data["train"],
            validation_data=data["val"],
            epochs=epochs,
            batch_size=BATCH_SIZE,
            callbacks=[early_stopping()],
            verbose=0,
        )
        failed = [t for t in tuner.oracle.trials.values() if t.status != "COMPLETED"]
        if failed:
            raise SystemExit(
                f"Keras Tuner: {len(failed)} trial(s) did not complete (see above; on TensorFlow "
                "it needs tensorboard, part of the bench extra: pip install -e '.[bench]')"
            )
        lr = float(tuner.get_best_hyperparameters(1)[0].get("lr"))
        with warnings.catch_warnings():
            # The rebuilt model's fresh Adam does not take the checkpoint's optimizer state
            # (not needed to evaluate).
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            model = tuner.get_best_models(1)[0]
        accuracy = test_accuracy(model, data)
    ran = len(tuner.oracle.trials)
    result = Result(
        "Keras Tuner RandomSearch",
        timer.seconds,
        f"{ran} trials",
        lr,
        accuracy,
        *twin_free_accuracy(model, data),
    )
    print(f"Keras Tuner: {timer.seconds:.1f} s, chosen lr {lr:.4g}", flush=True)
    return result


def optuna_search(data: dict, trials: int, epochs: int) -> Result:
    """Optuna's TPE over Adam's rate, log-uniform; the best trial's model is the final one."""
    import optuna

    from lrfinder.engine.backend import keras

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: dict = {"loss": np.inf, "model": None}

    def objective(trial) -> float:
        rate = trial.suggest_float("lr", *LR_RANGE, log=True)
        model = tutorial_model(keras.optimizers.Adam(learning_rate=rate))
        history = fit_as_trial(model, data, epochs)
        losses = np.asarray(history.history["val_loss"], dtype=float)
        loss = float(np.nanmin(losses)) if np.isfinite(losses).any() else np.inf
        if loss < best["loss"]:
            best.update(loss=loss, model=model)
        return loss

    keras.utils.set_random_seed(0)
    with Timer() as timer:
        study = optuna.create_study(
            direction="minimize", sampler=optuna.samplers.TPESampler(seed=0)
        )
        study.optimize(objective, n_trials=trials)
        lr = float(study.best_params["lr"])
        accuracy = test_accuracy(best["model"], data)
    ran = len(study.trials)
    result = Result(
        "Optuna TPE",
        timer.seconds,
        f"{ran} trials",
        lr,
        accuracy,
        *twin_free_accuracy(best["model"], data),
    )
    print(f"Optuna: {timer.seconds:.1f} s, chosen lr {lr:.4g}", flush=True)
    return result


def schedule_free(data: dict, epochs: int) -> Result:
    """Keras's ScheduleFreeAdamW at its default rate, no search: one model trained as a trial is
    (up to `epochs` epochs, batch 32, patience 10, best weights restored)."""
    from lrfinder.engine.backend import keras

    keras.utils.set_random_seed(0)
    with Timer() as timer:
        optimizer = keras.optimizers.ScheduleFreeAdamW()
        model = tutorial_model(optimizer)
        history = fit_as_trial(model, data, epochs)
        accuracy = test_accuracy(model, data)
    lr = float(optimizer.get_config()["learning_rate"])
    ran = len(history.history["loss"])
    result = Result(
        "ScheduleFreeAdamW (Keras default rate)",
        timer.seconds,
        f"1 model, {ran} epochs",
        lr,
        accuracy,
        *twin_free_accuracy(model, data),
        on_grid=False,
    )
    print(f"ScheduleFreeAdamW: {timer.seconds:.1f} s, {ran} epochs", flush=True)
    return result


def tutorial_job(data: dict) -> Result:
    """The tutorial's own final model: Adam at 0.007, 100 epochs on train + validation (the
    tutorial's 80 %), no early stopping."""
    from lrfinder.engine.backend import keras

    x = np.concatenate([data["train"][0], data["val"][0]])
    y = np.concatenate([data["train"][1], data["val"][1]])
    keras.utils.set_random_seed(0)
    with Timer() as timer:
        model = tutorial_model(keras.optimizers.Adam(learning_rate=TUTORIAL_LR))
        model.fit(x, y, epochs=TUTORIAL_EPOCHS, batch_size=BATCH_SIZE, verbose=0)
        accuracy = test_accuracy(model, data)
    result = Result(
        f"the tutorial's model ({TUTORIAL_LR} x {TUTORIAL_EPOCHS} epochs)",
        timer.seconds,
        "1 model",
        TUTORIAL_LR,
        accuracy,
        *twin_free_accuracy(model, data),
    )
    print(f"tutorial model: {timer.seconds:.1f} s", flush=True)
    return result


def grid_protocol(split, chosen: list[float], points: int, seeds: list[int]):
    """The grid's truth and each chosen rate's own median held-out loss over `seeds`."""
    rates = grid(points)
    extra = sorted({lr for lr in chosen if lr not in rates})
    with Timer() as timer:
        table = train_rates(split, rates + extra, seeds)
    truth = Truth.from_table(table[table["lr"].isin(rates)], trivial_loss(split))
    grouped = table.groupby("lr")["held_out_loss"]
    medians, low, high = grouped.median(), grouped.quantile(0.25), grouped.quantile(0.75)
    print(
        f"grid protocol: {len(rates) + len(extra)} rates x {len(seeds)} seeds in "
        f"{timer.seconds:.0f} s",
        flush=True,
    )
    return truth, {lr: (float(medians[lr]), float(low[lr]), float(high[lr])) for lr in chosen}


def versus(mine: float, theirs: float, scale: float) -> str:
    if mine <= theirs:
        return f"no worse ({mine:.4f} vs {theirs:.4f})"
    return f"worse by {mine - theirs:.4f} ({mine:.4f} vs {theirs:.4f}; {(mine - theirs) / scale:+.1%} of the scale)"


def table(
    results: list[Result], truth: Truth, losses: dict[float, tuple[float, float, float]], seeds: int
) -> str:
    reference = results[1].seconds
    lines = [
        f"grid best (median held-out loss over {seeds} seeds): {truth.best:.4f} at lr "
        f"{truth.best_lr:.3g} (regret scale {truth.scale:.4f}, noise band +{truth.noise:.1%})",
        "",
        "| tool | wall time (s) | vs Keras Tuner | trials/replicas trained | chosen lr | "
        "grid-protocol median held-out loss at that lr (seed quartiles) | regret vs grid best | "
        "in the truth's 1 % region | test accuracy of the final model | on test rows without "
        "a twin (95 % interval) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        judged = "- (not Adam) | - | -"
        if r.on_grid:
            loss, low, high = losses[r.lr]
            regret = (loss - truth.best) / truth.scale
            inside = "yes" if regret <= truth.allowance(REGIONS[0]) else "no"
            judged = f"{loss:.4f} ({low:.4f}-{high:.4f}) | {regret:+.1%} | {inside}"
        low_acc, high_acc = r.twin_free_interval
        lines.append(
            f"| {r.tool} | {r.seconds:.1f} | {r.seconds / reference:.3f} | {r.trained} | "
            f"{r.lr:.4g} | {judged} | {r.test_accuracy:.4f} | "
            f"{r.twin_free:.4f} ({low_acc:.4f}-{high_acc:.4f}) |"
        )
    ours_, kt, op = results[:3]
    below = [r.tool for r in results[1:] if ours_.twin_free < r.twin_free_interval[0]]
    lines += [
        "",
        f"our flow took {ours_.seconds / kt.seconds:.3f} of Keras Tuner's wall time "
        f"(target <= 1/3: {'met' if ours_.seconds <= kt.seconds / 3 else 'missed'})",
        f"our rate's held-out loss vs Keras Tuner's: "
        f"{versus(losses[ours_.lr][0], losses[kt.lr][0], truth.scale)}; "
        f"vs Optuna's: {versus(losses[ours_.lr][0], losses[op.lr][0], truth.scale)}",
        "our twin-free test accuracy is "
        + (
            f"below the 95 % interval of: {', '.join(below)}"
            if below
            else "inside or above every other tool's 95 % interval"
        ),
    ]
    return "\n".join(lines)


def arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str], str]:
    """This script's flags, the flow's (everything after `--` and any flag not known here; the
    shared wine data unless `--data` is given) and the flow's flags as given, for the header."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--kt-trials", type=int, default=10)
    parser.add_argument("--optuna-trials", type=int, default=20)
    parser.add_argument("--max-epochs", type=int, default=100, help="the tuners' trials' epochs")
    parser.add_argument("--grid-points", type=int, default=13)
    parser.add_argument(
        "--grid-seeds", type=int, default=len(GRID_SEEDS), help="the first N of bench.truth's"
    )
    cut = argv.index("--") if "--" in argv else len(argv)
    args, unknown = parser.parse_known_args(argv[:cut])
    flow_argv = unknown + argv[cut + 1 :]
    shown = " ".join(flow_argv) or "defaults"
    if "--data" not in flow_argv:
        flow_argv = ["--data", str(wine_csv()), *flow_argv]
    return args, flow_argv, shown


def main() -> None:
    args, flow_argv, shown = arguments(sys.argv[1:])
    mine, run_dir = ours(flow_argv)
    split = split_from_run(run_dir)
    data = {name: split.arrays(name) for name in ("train", "val", "test")}
    data["twin_free"] = held_out(split)
    ours_model = load(run_dir / "model.keras")
    twin_free, interval = twin_free_accuracy(ours_model, data)
    results = [
        dataclasses.replace(mine, twin_free=twin_free, twin_free_interval=interval),
        keras_tuner_search(data, args.kt_trials, args.max_epochs),
        optuna_search(data, args.optuna_trials, args.max_epochs),
        schedule_free(data, args.max_epochs),
        tutorial_job(data),
    ]
    seeds = GRID_SEEDS[: args.grid_seeds]
    judged = [r.lr for r in results if r.on_grid]
    truth, losses = grid_protocol(split, judged, args.grid_points, seeds)
    text = table(results, truth, losses, len(seeds))
    header = (
        f"# Our flow vs Keras Tuner and Optuna ({datetime.date.today()}; tuners: "
        f"{args.kt_trials} and {args.optuna_trials} trials of up to {args.max_epochs} epochs; "
        f"grid: {args.grid_points} rates from 1e-5 to 1, {len(seeds)} seeds; flow: {shown})"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "table.md").write_text(f"{header}\n\n{text}\n")
    print(f"\n{header}\n\n{text}\n\nwritten to {OUT / 'table.md'}")


if __name__ == "__main__":
    main()
