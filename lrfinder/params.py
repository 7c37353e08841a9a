"""The run's settings in one typed place: one pydantic model per section (the flow's parameters,
shown as grouped forms in the Prefect UI), presets, and the cross-field rules, all checked before
any work starts. The command line is generated from the same models (`flows/cli.py`).

Every field name is unique across the sections and is also its flat command-line flag
(`--n-seeds`), unless the field names another flag (`flag` in its schema extra)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lrfinder.errors import SettingsError
from lrfinder.metric_names import ALL_SCALARS, HEADLINE, SCALARS
from lrfinder.names import (
    ACTIVATIONS,
    OPTIMIZERS,
    SUGGESTION_METHODS,
    TASKS,
    loss_name,
    unfit_loss,
)

Preset = Literal["default", "tutorial"]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Activation = Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
OptimizerName = Literal[tuple(OPTIMIZERS)]  # type: ignore[valid-type]
SuggestMethod = Literal[tuple(SUGGESTION_METHODS)]  # type: ignore[valid-type]
Task = Literal[tuple(TASKS)]  # type: ignore[valid-type]
RegressionLoss = Literal["mse", "huber"]
GateMetric = Literal[tuple(ALL_SCALARS)]  # type: ignore[valid-type]
TieRule = Literal["lowest", "best", "highest"]


class SettingsSection(BaseModel):
    """A frozen settings section that rejects unknown fields. `NOT_IN_KEYS`: its fields that never
    change a cached stage's numbers, left out of the cache keys of the stages that take it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    NOT_IN_KEYS: ClassVar[frozenset[str]] = frozenset()


class DataSettings(SettingsSection):
    """Where the data comes from and how its label is made."""

    source: str | None = Field(
        None,
        description="CSV path, folder with the UCI red/white pair, or http(s) URL; default: "
        "$WINE_DATA, then data/winequalityN.csv, then a download of the UCI files into data/.",
        json_schema_extra={"flag": "data"},
    )
    target: str | None = Field(
        None, description="Target column of your own CSV; unset for the wine preset (quality)."
    )
    task: Task | None = Field(
        None,
        description="binary, multiclass or regression; unset: binary for the wine preset and "
        "with a threshold or positive_label, else inferred where safe (text with more than two "
        "values: multiclass; two values: binary).",
    )
    threshold: float | None = Field(
        None,
        description="Binary label 1 when target >= threshold (unset for wine: quality >= 6).",
    )
    positive_label: str | None = Field(
        None, description="Binary label 1 when the target column equals this text (own data)."
    )

    @model_validator(mode="after")
    def _one_label_rule(self) -> DataSettings:
        if self.threshold is not None and self.positive_label is not None:
            raise ValueError(
                "threshold and positive_label are two rules for one label: give one of them"
            )
        if self.task in ("multiclass", "regression") and self.makes_binary:
            raise ValueError(
                f"threshold and positive_label make a binary label, but task is {self.task}. "
                "Fix: drop them, or use --task binary"
            )
        if self.target is None and self.positive_label is not None:
            raise ValueError("positive_label needs target: name the column it applies to")
        return self

    @property
    def makes_binary(self) -> bool:
        """Whether a threshold or a positive label makes the label 0/1."""
        return (self.threshold, self.positive_label) != (None, None)

    @property
    def known_task(self) -> str | None:
        """The task the settings fix before the data is read (None: inferred from the values)."""
        if self.task is not None:
            return self.task
        return "binary" if self.target is None or self.makes_binary else None


class SplitSettings(SettingsSection):
    """The tutorial's test split by default, plus a stratified validation split of the rest."""

    test_size: Fraction = Field(0.2, description="Fraction of clean rows held out for testing.")
    split_seed: int = Field(42, description="Seed of the test split (tutorial: 42).")
    val_size: float = Field(
        0.2, ge=0, lt=1, description="Fraction of the remaining rows for validation; 0 for none."
    )
    val_seed: int = Field(0, description="Seed of the validation split.")
    val_check_rows: int = Field(
        2048,
        ge=1,
        description="Most validation rows scored at each check of the confirmation and the final "
        "training: a larger validation split is sampled to this many rows (stratified, seeded by "
        "val_seed); final validation figures use the whole split.",
    )
    split_strategy: Literal["random", "grouped"] = Field(
        "random", description="random (tutorial) or grouped (identical rows stay in one split)."
    )


class ModelSettings(SettingsSection):
    """The network, its optimizer and batch size, and the seeded replicas every stage trains."""

    hidden_layers: list[Annotated[int, Field(ge=1)]] = Field(
        [128, 256, 256], min_length=1, description="Widths of the hidden Dense layers."
    )
    activation: Activation = Field("relu", description="Activation of the hidden layers.")
    optimizer: OptimizerName | None = Field(
        None,
        description="Keras optimizer of every replica, by its Keras name (adam, nadam, lion, "
        "sgd, ...); unset: the model file's compiled optimizer, else adam.",
    )
    optimizer_config: str | None = Field(
        None,
        description="The optimizer's arguments as JSON, e.g. '{\"weight_decay\": 0.01}'; "
        "unset ones keep Keras's defaults (the rate is the finder's).",
    )
    nesterov: bool = Field(
        False,
        description="Nesterov momentum for sgd: short for --optimizer-config '{\"nesterov\": true}'.",
    )
    batch_size: int = Field(32, ge=1, description="Rows per training batch (tutorial: 32).")
    max_epoch_steps: int = Field(
        200,
        ge=1,
        description="Longest epoch in steps: on data with more batches an epoch (a validation "
        "check, the unit of patience and of epoch budgets) ends after this many steps and the "
        "next continues through the shuffled rows, so budgets do not grow with the rows.",
    )
    n_seeds: int = Field(
        8, ge=1, description="Replicas trained at once, each with its own seed (init, batches)."
    )
    seed: int = Field(0, ge=0, description="First replica seed; replicas use seed, seed+1, ...")
    l2: float = Field(
        0.0, ge=0, description="L2 penalty factor on every Dense kernel, added to the loss."
    )
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Share of units dropped after every hidden layer in training."
    )
    loss: str | None = Field(
        None,
        description="Keras loss by its Keras name that fits the task (binary_focal_crossentropy, "
        "huber, log_cosh, ...); unset: the model file's compiled loss, else binary_crossentropy, "
        "sparse_categorical_crossentropy or mean_squared_error by task.",
    )
    regression_loss: RegressionLoss | None = Field(
        None, description="Short for --loss in regression: mse or huber."
    )
    class_weight: Literal["none", "balanced"] = Field(
        "none",
        description="Loss weight per class in the range test, the confirmation and training: "
        "none, or balanced (rows / (classes x rows of the class), from the train split; "
        "validation losses weighted alike), for imbalanced classes.",
    )
    model_file: Path | None = Field(
        None,
        description="A saved Keras model (.keras) taking the feature matrix, any architecture "
        "and layers, trained from fresh seeded initializations by its own initializers; "
        "replaces hidden_layers, activation, l2 and dropout. Its compiled optimizer and loss "
        "apply unless --optimizer or --loss name others.",
        json_schema_extra={"flag": "model"},
    )
    custom_module: str | None = Field(
        None,
        description="Importable module that registers the model file's custom layers "
        "(@keras.saving.register_keras_serializable); its source is part of the cache keys.",
    )

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_seeds))

    @property
    def named_loss(self) -> str | None:
        """The loss --loss names, else --regression-loss's by its Keras name (None: neither)."""
        return self.loss or (self.regression_loss and loss_name(self.regression_loss))


class RangeTestSettings(SettingsSection):
    """The learning-rate range test (the sweep)."""

    sweep_mode: Literal["batch", "epoch"] = Field(
        "batch",
        description="batch (rate grows every batch, min_lr to max_lr over num_steps) or epoch "
        "(the tutorial's 1e-3 * 10**(epoch/30) for sweep_epochs epochs).",
    )
    min_lr: float = Field(1e-6, gt=0, description="First rate of the batch-mode range test.")
    max_lr: float = Field(10.0, gt=0, description="Last rate of the batch-mode range test.")
    num_steps: int = Field(300, ge=10, description="Batches in the batch-mode range test.")
    sweep_epochs: int = Field(100, ge=1, description="Epochs of the epoch-mode range test.")
    sweep_val_sample: int = Field(
        0, ge=0, description="Validation rows for a loss measured every 10 steps; 0 for none."
    )
    smoothing: float = Field(
        0.98, gt=0, lt=1, description="Beta of the loss's bias-corrected moving average."
    )
    diverge_factor: float = Field(
        4.0, gt=1, description="A replica stops when its smoothed loss exceeds this x its best."
    )

    @model_validator(mode="after")
    def _rates_increase(self) -> RangeTestSettings:
        if self.min_lr >= self.max_lr:
            raise ValueError(
                f"--min-lr {self.min_lr:g} must be below --max-lr {self.max_lr:g}: the range test "
                "raises the rate from one to the other. Fix: lower --min-lr or raise --max-lr"
            )
        return self


class SelectionSettings(SettingsSection):
    """Reading a rate off the curves, and confirming it in a race of candidate rates trained
    under the final training's protocol."""

    suggest_method: SuggestMethod = Field(
        "valley",
        description="Curve reading that centres the confirmation (argmin is the tutorial's).",
    )
    confirm: bool = Field(
        True,
        description="Confirm the suggestion in a race on the validation split, whose winner's "
        "replicas are the final models.",
    )
    confirm_candidates: int = Field(
        7, ge=3, description="Log-spaced candidate rates around the suggestion."
    )
    confirm_low_factor: float = Field(
        0.1, gt=0, lt=1, description="Lowest candidate, as a multiple of the suggestion."
    )
    confirm_high_factor: float = Field(
        3.0, gt=1, description="Highest candidate, as a multiple of the suggestion."
    )
    first_rung_epochs: int = Field(
        12,
        ge=1,
        description="Epochs every candidate trains before the race's first cut; each later rung "
        "doubles it, and the last ends at the training's max_epochs.",
    )
    confirm_metric: Literal["val_loss", "val_accuracy"] = Field(
        "val_loss", description="Validation metric whose median across seeds ranks the rates."
    )
    confirm_extensions: int = Field(
        2, ge=0, description="Times the candidate set may grow past an edge where the best sits."
    )
    confirm_tolerance: float = Field(
        0.005,
        ge=0,
        lt=1,
        description="Rates whose median is within this fraction of the best one's count as "
        "tied at the race's end; tie_rule picks among them.",
    )
    tie_rule: TieRule = Field(
        "lowest",
        description="Which of the tied rates wins the race: lowest, highest, or best (the best "
        "median, ties ignored).",
    )


class TrainingProtocol(BaseModel):
    """How final models train: the race and the final training share it."""

    model_config = ConfigDict(frozen=True)

    max_epochs: int
    patience: int
    baseline_lr: float | None

    def baseline_for(self, default_lr: float) -> float:
        """The baseline's rate: the one set, else the optimizer's `default_lr`."""
        return self.baseline_lr or default_lr


class TrainingSettings(SettingsSection):
    """The final training of the chosen rate next to the baseline, and the decision threshold
    of its binary models (read after training: no part of the training's cache key)."""

    NOT_IN_KEYS: ClassVar[frozenset[str]] = frozenset({"decision_threshold"})

    max_epochs: int = Field(
        100, ge=1, description="Most epochs of a final model: in the race, and in training."
    )
    patience: int = Field(
        10,
        ge=1,
        description="Epochs without a lower validation loss before a replica of the race or "
        "the final training stops (its best weights are restored).",
    )
    refit: bool = Field(
        False,
        description="Retrain the race's winner and the baseline on train + validation for the "
        "epochs early stopping found, instead of keeping the race's replicas.",
    )
    final_model: Literal["ensemble", "single"] = Field(
        "ensemble",
        description="ensemble (mean of the seed replicas' predictions) or single (first seed).",
    )
    decision_threshold: Literal["f1", "balanced_accuracy"] = Field(
        "f1",
        description="What the binary decision threshold is tuned for on the validation split "
        "(metrics are reported at 0.5 and at that threshold): f1 or balanced_accuracy.",
    )
    baseline_lr: float | None = Field(
        None,
        gt=0,
        description="Rate of the baseline trained next to the chosen one; unset: the "
        "optimizer's configured rate, else its Keras default (1e-3 for adam, 1e-2 for sgd).",
    )

    @property
    def protocol(self) -> TrainingProtocol:
        """What the race shares with the final training (no refit, model or threshold)."""
        return TrainingProtocol(
            max_epochs=self.max_epochs, patience=self.patience, baseline_lr=self.baseline_lr
        )


class QualityGateSettings(SettingsSection):
    """Fail the run, or only warn, when the final model's test metric misses its bound or does
    not beat the trivial predictor (the majority class, or the training mean)."""

    gate_metric: GateMetric | None = Field(
        None,
        description="Test metric the gate reads (any scalar of the task's metric tables, such as "
        "balanced_accuracy, mcc, f1, average_precision, rmse); unset: accuracy for classes, rmse "
        "for regression.",
    )
    gate_value: float | None = Field(
        None,
        description="Bound on the final model's test gate_metric: at least this (at most, for "
        "log_loss, rmse and mae); unset: only the trivial predictor must be beaten.",
    )
    quality_gate_mode: Literal["warn", "fail"] = Field(
        "warn", description="fail the run or only warn when the gate is not met."
    )

    def metric_for(self, task: str) -> str:
        """The metric the gate reads for `task`."""
        return self.gate_metric or HEADLINE[task]


class ExecutionSettings(SettingsSection):
    """Where replica groups run. A replica's numbers are identical wherever it runs, so the
    placement settings are no part of a cache key; the engines' slot count is (a replica in an
    engine of another size differs in float rounding)."""

    NOT_IN_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"task_runner", "cluster_address", "gpus_per_group"}
    )

    replicas_per_group: int = Field(
        8,
        ge=1,
        description="Slots of one vectorized engine. In this process each stage queues its "
        "replicas for one engine; on Dask or Ray each engine-full is one task run.",
    )
    task_runner: Literal["threads", "dask", "ray"] = Field(
        "threads", description="threads (in this process), dask or ray."
    )
    cluster_address: str | None = Field(
        None,
        description="Address of an existing Dask scheduler or Ray cluster; unset starts a local "
        "cluster with two workers.",
    )
    gpus_per_group: float = Field(
        0.0, ge=0, description="GPUs each replica group requests on Dask or Ray."
    )


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    "tutorial": {
        "split": {"val_size": 0.0},
        "range_test": {"sweep_mode": "epoch"},
        "model": {"n_seeds": 1},
        "selection": {"suggest_method": "argmin", "confirm": False},
        "training": {"max_epochs": 100, "refit": False, "final_model": "single"},
    },
}


class RunSettings(SettingsSection):
    """Every setting of one run, by section."""

    data: DataSettings = DataSettings()
    split: SplitSettings = SplitSettings()
    model: ModelSettings = ModelSettings()
    range_test: RangeTestSettings = RangeTestSettings()
    selection: SelectionSettings = SelectionSettings()
    training: TrainingSettings = TrainingSettings()
    quality_gate: QualityGateSettings = QualityGateSettings()
    execution: ExecutionSettings = ExecutionSettings()
    preset: Preset = "default"

    @classmethod
    def sections(cls) -> dict[str, type[SettingsSection]]:
        return {
            name: info.annotation
            for name, info in cls.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, SettingsSection)
        }

    @property
    def race_protocol(self) -> TrainingProtocol | None:
        """The protocol the selection's race trains under; None without a race, so that the
        final training's settings are then no part of the selection's cache key."""
        return self.training.protocol if self.selection.confirm else None

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (as on the command line): {"n_seeds": 8, ...}."""
        values = {}
        for name, (section, field) in flags().items():
            values[name] = getattr(getattr(self, section), field) if field else self.preset
        return values

    def resolved(self, strict: bool = False) -> RunSettings:
        """The preset applied and the cross-field rules checked; raises SettingsError. The
        preset fills what was not given; a given value that differs from the preset's stops the
        run. `strict` (the command line, which knows what was typed): every given value counts.
        Otherwise (parameters from the UI's form, which sends every default, or the API) a value
        equal to its default counts as not given."""
        settings = _apply_preset(self, strict)
        _check_rules(settings)
        return settings


REPLACED = {
    "min_test_accuracy": "gate_metric and gate_value (--gate-metric accuracy --gate-value X)",
}  # settings of earlier versions -> what replaced them


def replaced(name: str, shown: str = "") -> str:
    """The message for setting `name` of an earlier version (given as `shown`), replaced."""
    return f"setting {shown or name} was replaced. Fix: use {REPLACED[name]}."


@cache
def flags() -> dict[str, tuple[str, str]]:
    """Flat flag name (underscores) -> (section, field), for every field of every section."""
    index: dict[str, tuple[str, str]] = {}
    for section, model in RunSettings.sections().items():
        for field, info in model.model_fields.items():
            name = (info.json_schema_extra or {}).get("flag", field)
            if name in index:
                raise RuntimeError(f"flag --{name} names two settings: {index[name]}, {section}.")
            index[name] = (section, field)
    index["preset"] = ("preset", "")
    return index


def flag_of(section: str, field: str) -> str:
    """The command-line flag of a setting, with dashes: `--n-seeds`."""
    names = {place: name for name, place in flags().items()}
    return "--" + names[(section, field)].replace("_", "-")


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Flat flag names and values -> the flow's nested parameters ({section: {field: value}})."""
    index = flags()
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        if name in REPLACED:
            raise SettingsError(replaced(name))
        if name not in index:
            raise SettingsError(
                f"unknown setting {name!r}. Fix: use one of {sorted(index)} (see make run "
                "ARGS='--help')."
            )
        section, field = index[name]
        if section == "preset":
            nested["preset"] = value
        else:
            nested.setdefault(section, {})[field] = value
    return nested


def parse_settings(nested: dict[str, Any]) -> RunSettings:
    """Validate nested parameters into RunSettings; one SettingsError that names each bad
    setting, its flag, what was given and what it takes."""
    try:
        return RunSettings.model_validate(nested)
    except ValidationError as error:
        raise SettingsError(invalid_settings(describe(error))) from None


def invalid_settings(problems: list[str]) -> str:
    """One message for every problem of the settings, a line each."""
    return "invalid settings:\n  " + "\n  ".join(problems)


def describe(error: ValidationError) -> list[str]:
    """One line per problem: the setting, its flag, what was given and the fix."""
    lines = []
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        section, field = loc[0], loc[1] if len(loc) > 1 else ""
        if field in REPLACED:
            lines.append(replaced(field, f"{section}.{field}"))
            continue
        model = RunSettings.sections().get(section)
        if not field or model is None or field not in model.model_fields:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"settings section {'.'.join(loc)}: {message}.")
            continue
        flag = flag_of(section, field)
        if problem["type"] == "bool_parsing":
            hint = f"give {flag} true or false."
        else:
            hint = f"{flag} takes: {model.model_fields[field].description}"
        where = ".".join(loc[:2])
        lines.append(
            f"setting {where} ({flag}): {problem['msg']} (got {problem['input']!r}). Fix: {hint}"
        )
    return lines


def _apply_preset(settings: RunSettings, strict: bool) -> RunSettings:
    updates: dict[str, SettingsSection] = {}
    conflicts = []
    for section, values in PRESETS[settings.preset].items():
        current = getattr(settings, section)
        for field, value in values.items():
            given = getattr(current, field)
            explicit = field in current.model_fields_set and (
                strict or given != type(current).model_fields[field].default
            )
            if explicit and given != value:
                conflicts.append(f"{flag_of(section, field)} {given!r} (the preset sets {value!r})")
        updates[section] = current.model_copy(update=values)
    if conflicts:
        raise SettingsError(
            f"preset {settings.preset!r} conflicts with " + ", ".join(conflicts) + ". Fix: drop "
            "those values to run the preset, or use --preset default to keep them."
        )
    return settings.model_copy(update=updates)


NETWORK_FIELDS = ("hidden_layers", "activation", "l2", "dropout")


def _model_file_problems(model: ModelSettings) -> list[str]:
    """A model file replaces the network settings, and must exist; whether the engine can train
    it is checked by `lrfinder.model.network.check_model_file`, which loads it."""
    if model.model_file is None:
        return []
    given = [
        flag_of("model", name)
        for name in NETWORK_FIELDS
        if getattr(model, name) != ModelSettings.model_fields[name].default
    ]
    if given:
        return [
            f"--model {model.model_file} describes the network, so {', '.join(given)} cannot "
            "apply. Fix: drop them, or drop --model."
        ]
    if not Path(model.model_file).is_file():
        return [f"--model {model.model_file}: no such file. Fix: give the path of a .keras file."]
    return []


def _loss_problems(model: ModelSettings, task: str | None) -> list[str]:
    """--loss and its short form agree, and a named loss fits a known task."""
    problems = []
    short = model.regression_loss and loss_name(model.regression_loss)
    if model.loss and short and loss_name(model.loss) != short:
        problems.append(
            f"--loss {model.loss} and --regression-loss {model.regression_loss} name different "
            "losses. Fix: give one of them."
        )
    if model.regression_loss and task not in (None, "regression"):
        problems.append(
            f"--regression-loss applies to --task regression, not {task}. Fix: drop it, or use "
            "--loss."
        )
    if model.named_loss and task and (problem := unfit_loss(model.named_loss, task)):
        problems.append(problem)
    return problems


def _optimizer_problems(model: ModelSettings) -> list[str]:
    """--optimizer-config is a JSON object, and --nesterov agrees with it."""
    try:
        config = json.loads(model.optimizer_config or "{}")
    except json.JSONDecodeError as error:
        return [
            f"--optimizer-config {model.optimizer_config!r} is not JSON ({error}). Fix: give an "
            """object such as '{"weight_decay": 0.01}'."""
        ]
    if not isinstance(config, dict):
        return [f"--optimizer-config {model.optimizer_config!r} must be a JSON object."]
    if model.nesterov and config.get("nesterov", True) is not True:
        return ["--nesterov and --optimizer-config's nesterov disagree. Fix: give one of them."]
    return []


def gate_metric_problem(gate: QualityGateSettings, task: str) -> str | None:
    """Why --gate-metric cannot gate `task` (None when it can); own data whose task is inferred
    is checked once the data is read."""
    if gate.gate_metric is None or gate.gate_metric in SCALARS[task]:
        return None
    return (
        f"--gate-metric {gate.gate_metric} is not a metric of the {task} task. Fix: use one of "
        f"{', '.join(SCALARS[task])}."
    )


def _check_rules(settings: RunSettings) -> None:
    """Rules that span settings; each message names the settings and the fix."""
    problems = []
    if settings.data.task == "regression" and settings.selection.confirm_metric == "val_accuracy":
        problems.append(
            "--confirm-metric val_accuracy has no meaning for --task regression. Fix: use "
            "--confirm-metric val_loss."
        )
    if settings.data.task == "regression" and settings.model.class_weight != "none":
        problems.append(
            "--class-weight weighs classes, which --task regression has not. Fix: drop "
            "--class-weight."
        )
    known_task = settings.data.known_task
    if known_task and (problem := gate_metric_problem(settings.quality_gate, known_task)):
        problems.append(problem)
    if settings.selection.confirm and settings.split.val_size == 0:
        problems.append(
            "--confirm true needs a validation split, but --val-size is 0. Fix: set --val-size "
            "(for example 0.2) or pass --confirm false."
        )
    problems += _model_file_problems(settings.model)
    problems += _loss_problems(settings.model, known_task)
    problems += _optimizer_problems(settings.model)
    if settings.model.nesterov and settings.model.optimizer != "sgd":
        problems.append(
            f"--nesterov applies to --optimizer sgd, not {settings.model.optimizer}. Fix: drop "
            "--nesterov or use --optimizer sgd."
        )
    execution = settings.execution
    if execution.task_runner == "threads" and execution.cluster_address:
        problems.append(
            "--cluster-address is set but --task-runner is threads. Fix: add --task-runner dask "
            "or ray, or drop --cluster-address."
        )
    if execution.task_runner == "threads" and execution.gpus_per_group > 0:
        problems.append(
            "--gpus-per-group asks a cluster for GPUs, but --task-runner is threads (which uses "
            "the GPU TensorFlow sees anyway). Fix: use --task-runner dask or ray, or drop it."
        )
    if problems:
        raise SettingsError(invalid_settings(problems))
