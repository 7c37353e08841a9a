"""Command line for the flow, generated from the settings models (one source of truth): one flat
flag per setting, every value checked by the same models before Prefect is even imported."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
import types
import typing
from collections.abc import Sequence
from typing import Any

from lrfinder.engine.backend_name import backend_name
from lrfinder.errors import SettingsError
from lrfinder.params import REPLACED, RunSettings, flags, nest, parse_settings, replaced
from lrfinder.paths import project_root

NONE_WORDS = ("none", "null")
STOPPED = (
    "stopped by {what}: the flow run ends Crashed and its unfinished stage wrote nothing; the "
    "same command again reuses the finished stages (Cached)"
)


class Terminated(BaseException):
    """SIGTERM, raised as an exception so that the process unwinds and stops what it started
    (the temporary Prefect server) instead of dying at once."""


def _raise_terminated(signum: int, frame: types.FrameType | None) -> None:
    raise Terminated


def prefect_defaults() -> None:
    """Keep Prefect's home, database and results in the project unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_HOME", str(project_root() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return None


def build_parser() -> argparse.ArgumentParser:
    """One flag per setting, its help from the field's description; values stay text here and
    are validated by the settings models."""
    parser = argparse.ArgumentParser(
        prog="make run ARGS=...",
        description="Find a learning rate for a Keras MLP on the wine data (or your own CSV).",
        argument_default=argparse.SUPPRESS,
    )
    sections = RunSettings.sections()
    for name, (section, field) in flags().items():
        flag = "--" + name.replace("_", "-")
        if section == "preset":
            info = RunSettings.model_fields["preset"]
            parser.add_argument(
                flag,
                choices=_choices(info.annotation),
                help="default, or tutorial (fills the settings not given; a given value it "
                "would change stops the run)",
            )
            continue
        info = sections[section].model_fields[field]
        default = info.get_default(call_default_factory=True)
        parser.add_argument(
            flag,
            dest=name,
            choices=_choices(info.annotation),
            nargs="+" if typing.get_origin(info.annotation) is list else None,
            metavar=None if _choices(info.annotation) else field.upper(),
            help=f"[{section}] {info.description} (default: {default})",
        )
    for name in REPLACED:  # refused with what replaced it, not as an unknown argument
        parser.add_argument("--" + name.replace("_", "-"), dest=name, help=argparse.SUPPRESS)
    parser.add_argument(
        "--debug",
        action="store_true",
        help="Print the full traceback of a data, settings or quality-gate failure (the Prefect "
        "logs always keep it)",
    )
    parser.add_argument(
        "--flow-retries",
        type=int,
        help="Times a failed run starts again; finished tasks come back Cached "
        "(default: $PREFECT_FLOWS_DEFAULT_RETRIES, else 0)",
    )
    return parser


class CommandLine(typing.NamedTuple):
    """What a command line asks for: the resolved settings, flow retries and --debug."""

    settings: RunSettings
    retries: int | None = None
    debug: bool = False


def parse_args(argv: Sequence[str] | None) -> CommandLine:
    """The resolved settings of a command line, its flow retries and --debug; raises
    SettingsError."""
    args = vars(build_parser().parse_args(argv))
    retries = args.pop("flow_retries", None)
    debug = args.pop("debug", False)
    if given_replaced := [name for name in REPLACED if name in args]:
        name = given_replaced[0]
        raise SettingsError(replaced(name, "--" + name.replace("_", "-")))
    index = flags()
    for name, value in args.items():
        section, field = index[name]
        if field and isinstance(value, str) and value.lower() in NONE_WORDS:
            info = RunSettings.sections()[section].model_fields[field]
            if _optional(info.annotation):
                args[name] = None
    return CommandLine(parse_settings(nest(args)).resolved(strict=True), retries, debug)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        backend_name()
        settings, retries, debug = parse_args(argv)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    prefect_defaults()
    from flows.lr_finder import lr_finder
    from lrfinder.errors import DataError
    from lrfinder.training.gate import QualityGateError
    from runtime.failures import console_without_final_tracebacks
    from runtime.local_server import api_for_this_run

    if not debug:
        console_without_final_tracebacks()

    flow = lr_finder if retries is None else lr_finder.with_options(retries=retries)
    # Prefect turns SIGTERM into a crash of the flow run, then hands the signal to this handler.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with api_for_this_run():
            run_dir = flow(**dict(settings))
    except KeyboardInterrupt:
        print(f"\n{STOPPED.format(what='Ctrl-C')}", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(STOPPED.format(what="SIGTERM"), file=sys.stderr)
        return 128 + signal.SIGTERM
    except (DataError, SettingsError, QualityGateError) as error:
        if debug:
            traceback.print_exception(error)
        print(f"error: {error}", file=sys.stderr)
        return 1 if isinstance(error, QualityGateError) else 2
    print(f"Run outputs: {run_dir}")
    return 0
