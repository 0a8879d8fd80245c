"""Printing results: tables for people, CSV and JSON for machines, all terminal-safe.

Evidence text is attacker-controlled, so every cell goes through ``terminal_safe`` before it
reaches a terminal, and table cells are rich ``Text`` objects (never markup: ``[UFW BLOCK]``
must print as written, not be taken for a style tag). JSON escapes every non-ASCII character.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from datetime import datetime
from typing import Any, Iterable

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from forensics.textsafe import terminal_safe

FORMATS = ("table", "csv", "json")

# Piped output is not cut to 80 columns: tables keep their width and lines are never wrapped.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def cell(value: Any, max_len: int | None = 120) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return terminal_safe(value, max_len=max_len)


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None,
                max_width: int | None = 120) -> None:
    """Print a DataFrame as a table, CSV or JSON on standard output."""
    if fmt == "json":
        sys.stdout.write(json.dumps(records(frame), ensure_ascii=True, default=str, indent=1) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([terminal_safe(c) for c in frame.columns])
        for row in records(frame):
            writer.writerow([cell(v, max_len=None) for v in row.values()])
        return
    table = Table(title=Text(title) if title else None, show_lines=False, header_style="bold")
    for column in frame.columns:
        table.add_column(Text(terminal_safe(column)), overflow="fold")
    for row in records(frame):
        table.add_row(*[Text(cell(v, max_len=max_width)) for v in row.values()])
    stdout.print(table)
    if frame.empty:
        stdout.print(Text("(no rows)"))


def print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        stdout.print(Text(terminal_safe(line, single_line=False)))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), ensure_ascii=True, default=str, indent=1, sort_keys=True) + "\n")
