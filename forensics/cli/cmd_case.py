"""Commands over the case: ingest, investigate, formats, query, detect, findings, timeline,
evidence, warnings."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import pandas as pd
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from forensics import queryfiles
from forensics.case import DEFAULT_CASE, Case
from forensics.ingest import IngestSummary
from forensics.textsafe import terminal_safe

from .common import CaseOption, FormatOption, app, check_format, open_case, parse_pairs
from .output import print_frame, print_json, stderr, stdout

PathsArgument = Annotated[list[Path], typer.Argument(help="Evidence files or folders (walked recursively).",
                                                     exists=True, readable=True)]
ParserOption = Annotated[Optional[str], typer.Option(
    "--format", help="Parse every file with this parser instead of sniffing (see 'forensics formats').")]
HostOption = Annotated[Optional[str], typer.Option("--host", help="Host the evidence came from.")]
TzOption = Annotated[Optional[str], typer.Option(
    "--tz", help="IANA time zone of stamps without one (e.g. Asia/Shanghai).")]
YearOption = Annotated[Optional[int], typer.Option("--year", help="Year of stamps without one (RFC 3164 syslog).")]
InventoryOption = Annotated[Optional[Path], typer.Option(
    "--inventory", help="Inventory file (YAML) mapping hosts, IPs, GPUs and jobs.", exists=True, dir_okay=False)]
OptionPairs = Annotated[Optional[list[str]], typer.Option(
    "--option", "-o", help="Parser option key=value (repeatable), e.g. dcgmi_start=2026-02-17T02:00:00Z.")]
OutputOption = Annotated[str, typer.Option("--output", help="Summary output: table or json.")]
ParamPairs = Annotated[Optional[list[str]], typer.Option(
    "--param", "-p", help="Detection setting key=value (repeatable), e.g. gpu_hour_price=2.5.")]


@contextmanager
def _progress_bar() -> Iterator:
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=stderr, transient=True) as progress:
        task = progress.add_task("ingest", total=None)

        def update(path: str, done: int, total: int) -> None:
            name = terminal_safe(os.path.basename(path), max_len=40)
            progress.update(task, completed=done, total=total, description=name)

        yield update


def _ingest(case: Case, paths: list[Path], fmt: Optional[str], host: Optional[str], tz: Optional[str],
            year: Optional[int], inventory: Optional[Path], options: Optional[list[str]]) -> IngestSummary:
    all_paths = ([str(inventory)] if inventory else []) + [str(p) for p in paths]
    with _progress_bar() as progress:
        return case.ingest(all_paths, format=fmt, host=host, timezone=tz, year=year,
                           options=parse_pairs(options, "--option"), command=["forensics", *sys.argv[1:]],
                           progress=progress)


def _print_ingest(summary: IngestSummary, output: str) -> None:
    if output == "json":
        print_json({
            "run_id": summary.run_id,
            "files": [{"path": o.display_path, "status": o.status, "evidence_id": o.evidence_id,
                       "parser": o.parser, "records": o.n_records, "warnings": o.n_warnings,
                       "message": o.message} for o in summary.outcomes],
        })
        return
    by_format: dict[tuple[str, str], list[int]] = {}
    for outcome in summary.outcomes:
        if outcome.status not in ("parsed", "failed"):
            continue
        key = (outcome.parser or "", outcome.status)
        entry = by_format.setdefault(key, [0, 0, 0])
        entry[0] += 1
        entry[1] += outcome.n_records
        entry[2] += outcome.n_warnings
    if by_format:
        frame = pd.DataFrame([{"format": k[0], "status": k[1], "files": v[0], "records": v[1], "warnings": v[2]}
                              for k, v in sorted(by_format.items())])
        print_frame(frame, "table", title="Ingested")
    for status, label in (("unclaimed", "Unclaimed (no parser recognised them; try --format NAME)"),
                          ("failed", "Failed (see 'forensics warnings')")):
        rows = [o for o in summary.outcomes if o.status == status]
        if rows:
            stdout.print(Text(f"{label}:"))
            for o in rows:
                stdout.print(Text(f"  {terminal_safe(o.display_path)}  {terminal_safe(o.message)}"))
    duplicates = summary.count("duplicate")
    stdout.print(Text(
        f"{summary.new_evidence} new evidence files, {summary.records} records, {summary.warnings} parse warnings"
        + (f", {duplicates} already in the case" if duplicates else "")
        + (f" (run {summary.run_id})" if summary.run_id else " (nothing new)")))


@app.command()
def ingest(
    paths: PathsArgument,
    case: CaseOption = Path(DEFAULT_CASE),
    fmt: ParserOption = None,
    host: HostOption = None,
    tz: TzOption = None,
    year: YearOption = None,
    inventory: InventoryOption = None,
    option: OptionPairs = None,
    output: OutputOption = "table",
) -> None:
    """Load evidence files and folders into the case (same bytes twice add nothing)."""
    with open_case(case) as opened:
        summary = _ingest(opened, paths, fmt, host, tz, year, inventory, option)
    _print_ingest(summary, output)


@app.command()
def investigate(
    paths: PathsArgument,
    case: CaseOption = Path(DEFAULT_CASE),
    fmt: ParserOption = None,
    host: HostOption = None,
    tz: TzOption = None,
    year: YearOption = None,
    inventory: InventoryOption = None,
    option: OptionPairs = None,
    param: ParamPairs = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Also write the report (Markdown, HTML, JSON, manifest) into this folder.",
        file_okay=False)] = None,
    output: OutputOption = "table",
) -> None:
    """The main job: ingest the evidence, run every detection and link, print the incidents and
    findings (and write the report with --report DIR)."""
    params = parse_pairs(param, "--param")
    with open_case(case) as opened:
        summary = _ingest(opened, paths, fmt, host, tz, year, inventory, option)
        result = opened.investigate_after_ingest(summary, params)
        written = opened.report(report) if report is not None else None
    if written is not None:
        result["report"] = {name: str(path) for name, path in sorted(written.files.items())
                            if name.startswith("report.") or name == "manifest.json"}
    if output == "json":
        print_json(result)
        return
    _print_ingest(summary, "table")
    stdout.print()
    from .render import print_investigation

    print_investigation(result)
    if written is not None:
        stdout.print(Text(f"Report: {terminal_safe(written.out_dir)}/report.html (and report.md, report.json, "
                          "manifest.json)"))


@app.command()
def formats(fmt: FormatOption = "table") -> None:
    """List every registered parser with the tables it fills."""
    check_format(fmt)
    rows = [{"name": p.name, "tables": ", ".join(p.tables), "version": p.version, "description": p.description}
            for p in Case.formats()]
    print_frame(pd.DataFrame(rows, columns=["name", "tables", "version", "description"]), fmt,
                title="Parsers", max_width=None)
    for name, error in sorted(Case.format_errors().items()):
        stderr.print(Text(f"warning: parser module {name} did not load: {terminal_safe(error)}"))


@app.command()
def query(
    name: Annotated[Optional[str], typer.Argument(help="Query name (e.g. detect/internal_probe) or a .sql file.")] = None,
    case: CaseOption = Path(DEFAULT_CASE),
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Parameter key=value (repeatable).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the query files with their parameters.")] = False,
    show_sql: Annotated[bool, typer.Option("--sql", help="Print the query's SQL instead of running it.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Print at most this many rows.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Run a query file from queries/ (or your own .sql file) against the case."""
    check_format(fmt)
    if list_ or name is None:
        rows = [{"name": q.name, "title": q.title,
                 "parameters": ", ".join(f"{p.name}={'(required)' if p.required else p.default}"
                                         for p in q.params.values())}
                for q in queryfiles.discover() if q.group != "schema"]
        print_frame(pd.DataFrame(rows, columns=["name", "title", "parameters"]), fmt, title="Queries", max_width=None)
        return
    found = queryfiles.find(name)
    if show_sql:
        sys.stdout.write(found.text if found.text.endswith("\n") else found.text + "\n")
        return
    with open_case(case, read_only=True) as opened:
        frame = opened.run_query(found, parse_pairs(param, "--param"))
    if limit is not None:
        frame = frame.head(limit)
    print_frame(frame, fmt, title=found.title)


@app.command()
def detect(
    case: CaseOption = Path(DEFAULT_CASE),
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Run only these detections (repeatable).")] = None,
    param: ParamPairs = None,
    fmt: FormatOption = "table",
) -> None:
    """Run the detection queries (queries/detect/) and store their findings."""
    check_format(fmt)
    with open_case(case, must_exist=True) as opened:
        counts = opened.detect(names=only, params=parse_pairs(param, "--param"))
    print_frame(counts, fmt, title="Detections")


@app.command()
def findings(
    case: CaseOption = Path(DEFAULT_CASE),
    kind: Annotated[Optional[str], typer.Option("--kind", help="Only findings of this kind.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List the stored findings, oldest first."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.findings(kind)
    if fmt == "table":
        frame = frame[["ts_start", "severity", "kind", "host", "src_ip", "dst_ip", "dst_port", "summary",
                       "attack_ids", "finding_id"]]
    print_frame(frame, fmt, title="Findings")


@app.command()
def timeline(
    case: CaseOption = Path(DEFAULT_CASE),
    since: Annotated[Optional[str], typer.Option("--since", help="Start time (ISO 8601, UTC unless zoned).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="End time (ISO 8601).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Only this host.")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Only this source (e.g. finding).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Print at most this many events.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """The unified timeline of every source, oldest first."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.timeline(since=since, until=until, host=host, source=source, limit=limit)
    print_frame(frame, fmt, title="Timeline")


@app.command()
def evidence(case: CaseOption = Path(DEFAULT_CASE), fmt: FormatOption = "table") -> None:
    """List the evidence registry: every file with its SHA-256, parser and counts."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.evidence()
    if fmt == "table":
        frame = frame.assign(sha256=frame["sha256"].str.slice(0, 16) + "…")
    print_frame(frame, fmt, title="Evidence")


@app.command()
def warnings(
    case: CaseOption = Path(DEFAULT_CASE),
    evidence_id: Annotated[Optional[int], typer.Option("--evidence", help="Only this evidence id.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Print at most this many warnings.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List parse warnings: every rejected or doubtful record with its locator."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.warnings(evidence_id, limit)
    print_frame(frame, fmt, title="Parse warnings")
