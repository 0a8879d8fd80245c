"""Shared pieces of the command line: the app, common options, opening the case."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from forensics.case import DEFAULT_CASE, Case
from forensics.errors import ForensicsError

app = typer.Typer(
    name="forensics",
    help="Offline forensic analyser for the logs of GPU training clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class State:
    debug: bool = False


state = State()


@app.callback()
def _global(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Offline forensic analyser for the logs of GPU training clusters."""
    state.debug = state.debug or debug


CaseOption = Annotated[
    Path,
    typer.Option("--case", "-c", envvar="FORENSICS_CASE",
                 help="The DuckDB case file (created when missing).", dir_okay=False),
]
FormatOption = Annotated[
    str,
    typer.Option("--format", "-f", help="Output: table for people, csv or json for machines."),
]


def check_format(fmt: str) -> str:
    if fmt not in ("table", "csv", "json"):
        raise ForensicsError(f"unknown output format {fmt!r} (use table, csv or json)")
    return fmt


def open_case(path: Path | str = DEFAULT_CASE, read_only: bool = False, must_exist: bool = False) -> Case:
    """Open the case; commands that only read refuse to create an empty one by accident."""
    if (read_only or must_exist) and not os.path.exists(path):
        raise ForensicsError(f"no case file at {path} (run 'forensics ingest' or 'forensics investigate' first)")
    return Case(path, read_only=read_only, tmp_dir=os.environ.get("FORENSICS_TMP_DIR"))


def parse_pairs(pairs: Optional[list[str]], what: str) -> dict[str, str]:
    """``key=value`` options from the command line."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ForensicsError(f"{what} must look like key=value, got {pair!r}")
        result[key.strip()] = value
    return result
