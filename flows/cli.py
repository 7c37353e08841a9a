"""Command line for the flow, built from its signature and docstring (one source of truth)."""

from __future__ import annotations

import argparse
import inspect
import os
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from lrfinder.settings import project_root


def prefect_defaults() -> None:
    """Keep Prefect's home, database and results in the project unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_HOME", str(project_root() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _converter(annotation: Any) -> tuple[Callable[[str], Any], list[str] | None]:
    """A str -> value function for a parameter type, and its choices for a Literal."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list:
        return args[0], None
    if typing.get_origin(annotation) is typing.Literal:
        return str, [str(a) for a in args]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        convert, choices = _converter(inner[0])
        return (
            lambda text: None if text.lower() in ("none", "null", "") else convert(text)
        ), choices
    if annotation is bool:
        return (lambda text: text.lower() in ("1", "true", "yes", "on")), None
    return annotation, None


def build_parser(flow: Any) -> argparse.ArgumentParser:
    signature = inspect.signature(flow.fn)
    hints = typing.get_type_hints(flow.fn)
    described = flow.parameters.properties
    parser = argparse.ArgumentParser(
        prog="make run ARGS=...", description=inspect.getdoc(flow.fn).split("\n")[0]
    )
    for name, parameter in signature.parameters.items():
        convert, choices = _converter(hints[name])
        help_text = described.get(name, {}).get("description", "")
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=convert,
            choices=choices,
            nargs="+" if typing.get_origin(hints[name]) is list else None,
            default=parameter.default,
            help=f"{help_text} (default: {parameter.default})",
        )
    parser.add_argument(
        "--flow-retries",
        type=int,
        default=None,
        help="Times a failed run starts again; finished tasks come back Cached "
        "(default: $PREFECT_FLOWS_DEFAULT_RETRIES, else 0)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    prefect_defaults()
    from flows.lr_finder import lr_finder

    args = vars(build_parser(lr_finder).parse_args(argv))
    retries = args.pop("flow_retries")
    flow = lr_finder if retries is None else lr_finder.with_options(retries=retries)
    run_dir = flow(**args)
    print(f"Run outputs: {run_dir}")
    return 0
