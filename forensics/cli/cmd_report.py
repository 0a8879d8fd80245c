"""``forensics report`` (Markdown, HTML and JSON report with manifest) and ``forensics plot``
(the timeline figure of one host as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from forensics.case import DEFAULT_CASE
from forensics.textsafe import terminal_safe

from .common import CaseOption, app, open_case, parse_pairs
from .output import stdout


@app.command()
def report(
    case: CaseOption = Path(DEFAULT_CASE),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report files (created when missing).",
                                      file_okay=False)] = Path("report"),
    fmt: Annotated[Optional[list[str]], typer.Option(
        "--format", "-f", help="md, html or json (repeatable; default: all three).")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", help="Section parameter key=value (repeatable), e.g. since=2026-02-17T03:00:00Z.")] = None,
    max_rows: Annotated[Optional[int], typer.Option(
        "--max-rows", help="Rows shown per section (default: as each section says, else 1000); the rest are "
                           "counted.")] = None,
    only: Annotated[Optional[list[str]], typer.Option(
        "--only", help="Only these sections (e.g. 20_findings; repeatable).")] = None,
    timestamp: Annotated[bool, typer.Option(
        "--timestamp", help="Record the generation time (the files then differ from run to run).")] = False,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the timeline figures.")] = True,
) -> None:
    """Write the report (report.md, report.html, report.json, manifest.json, each section's SQL and the
    figures) from the case database and queries/report/."""
    with open_case(case, read_only=True) as opened:
        result = opened.report(out, formats=tuple(fmt) if fmt else ("md", "html", "json"),
                               params=parse_pairs(param, "--param"), max_rows=max_rows, only=only,
                               generated_at=True if timestamp else None, plots=plots)
    shown = ", ".join(name for name in ("report.md", "report.html", "report.json", "manifest.json")
                      if name in result.files)
    stdout.print(Text(f"{len(result.sections)} sections ({len(result.skipped)} not in this case) written to "
                      f"{terminal_safe(str(result.out_dir))}: {shown}, {sum(1 for n in result.files if n.startswith('sql/'))} "
                      f"SQL files, {sum(1 for n in result.files if n.startswith('plots/'))} figures"))
    for skipped in result.skipped:
        stdout.print(Text(f"  not in this case: {terminal_safe(skipped.title)} ({terminal_safe(skipped.reason)})"))


@app.command()
def plot(
    case: CaseOption = Path(DEFAULT_CASE),
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.", dir_okay=False)] = Path("timeline.png"),
    host: Annotated[Optional[str], typer.Option("--host", help="Host to draw (default: the one with the most "
                                                               "serious findings).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Window start (ISO 8601, UTC unless zoned).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Window end (ISO 8601).")] = None,
    gpu: Annotated[Optional[list[int]], typer.Option("--gpu", help="Only these GPU indexes (repeatable).")] = None,
) -> None:
    """Draw the timeline figure of one host: GPU utilisation with agent steps, tunnel and mining sessions
    and alerts on the same time axis."""
    with open_case(case, read_only=True) as opened:
        figure = opened.plot_timeline(host=host, start=since, end=until, gpus=gpu, path=str(out))
    facts = figure.facts
    affected = ", ".join(str(g) for g in facts["affected_gpus"]) or "none"
    stdout.print(Text(f"{terminal_safe(str(out))}: {terminal_safe(facts['host'])} {facts['window_start']} to "
                      f"{facts['window_end']}; GPUs that jumped after the pivot: {affected}"))
