"""``forensics export timesketch|parquet|iocs``: the case for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from forensics.case import DEFAULT_CASE

from .common import CaseOption, app, open_case
from .output import print_json

export_app = typer.Typer(name="export", help="Export the case for other tools: Timesketch, Parquet, indicators.",
                         no_args_is_help=True, add_completion=False, rich_markup_mode=None)
app.add_typer(export_app, name="export")

OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing output.")]


@export_app.command()
def timesketch(
    case: CaseOption = Path(DEFAULT_CASE),
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.jsonl or .csv).",
                                      dir_okay=False)] = Path("timesketch.jsonl"),
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="jsonl or csv (default: from the file "
                                                                      "name).")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """The unified timeline as Timesketch JSONL or CSV (message, datetime, timestamp_desc plus our fields)."""
    with open_case(case, read_only=True) as opened:
        print_json(opened.export("timesketch", out, fmt=fmt, overwrite=overwrite))


@export_app.command()
def parquet(
    case: CaseOption = Path(DEFAULT_CASE),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.", file_okay=False)] = Path("parquet"),
    table: Annotated[Optional[list[str]], typer.Option("--table", help="Only these tables (repeatable).")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Every table as Parquet, partitioned by UTC day (<table>/day=YYYY-MM-DD/), for DuckDB, Spark or Trino."""
    with open_case(case, read_only=True) as opened:
        print_json(opened.export("parquet", out, tables=table, overwrite=overwrite))


@export_app.command()
def iocs(
    case: CaseOption = Path(DEFAULT_CASE),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.", file_okay=False)] = Path("iocs"),
    overwrite: OverwriteOption = False,
) -> None:
    """Indicators (IPs, domains, pool URLs, wallets, hashes, HASSH) with ATT&CK ids, as CSV and STIX 2.1."""
    with open_case(case, read_only=True) as opened:
        print_json(opened.export("iocs", out, overwrite=overwrite))
