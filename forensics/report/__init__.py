"""Reports, figures and exports made from a case, and nothing else.

A report is built only from the case database and the section queries in ``queries/report/``:
each section's SQL is written next to the report (``sql/report/NN_name.sql``) so that a reader
can re-run it, and ``manifest.json`` records the input files' and query files' SHA-256, the tool
version and the parameters. The same case and parameters give byte-identical files; the
generation time is recorded only when asked for.

Outputs in the report folder::

    report.md  report.html  report.json  manifest.json  sql/report/*.sql  plots/*.png
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..errors import ForensicsError, QueryError
from .html import render_html
from .manifest import build_manifest
from .markdown import render_markdown
from .sections import PlotImage, Section, SkippedSection, report_queries, run_sections
from .values import plain

FORMATS = ("md", "html", "json")
MAX_PLOTS_PER_SECTION = 10


@dataclass
class ReportResult:
    out_dir: Path
    files: dict[str, Path]  # report.md, report.html, report.json, manifest.json, sql/..., plots/...
    sections: list[Section]
    skipped: list[SkippedSection]
    manifest: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"ReportResult({str(self.out_dir)!r}, {len(self.sections)} sections, "
                f"{len(self.skipped)} skipped, files={sorted(self.files)})")


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _draw_plots(con: duckdb.DuckDBPyConnection, section: Section) -> None:
    from .plot import plot_timeline

    for number, record in enumerate(section.records()[:MAX_PLOTS_PER_SECTION], 1):
        host = record.get("host")
        try:
            plot = plot_timeline(con, host=host, start=record.get("window_start"), end=record.get("window_end"),
                                 gpus=record.get("gpus"), title=record.get("title"), widen_to_agent_actions=True)
        except QueryError:
            continue  # nothing to draw for this row: the row itself still shows
        caption = record.get("caption") or (
            f"{host}: GPU utilisation with agent steps and findings, "
            f"{plot.facts['window_start']} to {plot.facts['window_end']} (UTC)")
        section.plots.append(PlotImage(file=f"plots/{section.slug}-{number}.png", png=plot.png,
                                       caption=str(caption), facts=plot.facts))


def _report_json(title: str, manifest: dict[str, Any], sections: list[Section],
                 skipped: list[SkippedSection]) -> str:
    document = {
        "format": "cluster-forensics-report/1",
        "title": title,
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "description": s.description,
                "layout": s.layout,
                "sql_file": s.sql_file,
                "sql_sha256": s.query.sha256,
                "params": plain(s.params),
                "columns": [{"name": c.name, "type": c.type} for c in s.columns],
                "row_count": s.row_count,
                "rows_shown": len(s.rows),
                "truncated": s.truncated,
                "rows": s.records(),
                "plots": [{"file": p.file, "caption": p.caption, "sha256": hashlib.sha256(p.png).hexdigest(),
                           "facts": p.facts} for p in s.plots],
            }
            for s in sections
        ],
        "skipped_sections": [{"name": s.name, "title": s.title, "reason": s.reason} for s in skipped],
        "manifest": manifest,
    }
    return json.dumps(document, indent=1, ensure_ascii=True, sort_keys=False, allow_nan=False) + "\n"


def build_report(con: duckdb.DuckDBPyConnection, case_path: str, out_dir: str | os.PathLike[str] = "report",
                 formats: tuple[str, ...] | list[str] = FORMATS, params: dict[str, Any] | None = None,
                 max_rows: int | None = None, generated_at: str | bool | None = None, plots: bool = True,
                 only: list[str] | None = None, title: str | None = None) -> ReportResult:
    """Write the report for the case open on ``con`` into ``out_dir`` and return what was written.

    ``generated_at``: None (default) records no time, so the files are reproducible; True records
    the current UTC time; a string is recorded as given."""
    formats = tuple(dict.fromkeys(formats or FORMATS))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ForensicsError(f"unknown report format {', '.join(bad)} (use {', '.join(FORMATS)})")
    if max_rows is not None:
        max_rows = int(max_rows)
        if max_rows < 0:
            raise ForensicsError("max_rows must be 0 or more")
    if generated_at is True:
        generated_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    elif generated_at is False:
        generated_at = None
    params = dict(params or {})
    sections, skipped = run_sections(con, params, max_rows=max_rows, only=only)
    if plots:
        for section in sections:
            if section.layout == "plot":
                _draw_plots(con, section)
    manifest = build_manifest(con, case_path, params, max_rows, generated_at, sections, skipped)
    title = title or f"Forensic report: {manifest['case']['file']}"

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    names = {q.name for q in report_queries()} if not only else {s.name for s in sections} | {
        s.name for s in skipped}
    for query in report_queries():
        if query.name in names:
            files[f"sql/{query.name}.sql"] = _write(out / "sql" / f"{query.name}.sql", query.text)
    for section in sections:
        for plot in section.plots:
            files[plot.file] = _write(out / plot.file, plot.png)
    if "md" in formats:
        files["report.md"] = _write(out / "report.md", render_markdown(title, manifest, sections, skipped))
    if "html" in formats:
        files["report.html"] = _write(out / "report.html", render_html(title, manifest, sections, skipped))
    if "json" in formats:
        files["report.json"] = _write(out / "report.json", _report_json(title, manifest, sections, skipped))
    outputs = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in sorted(files.items())}
    files["manifest.json"] = _write(out / "manifest.json", json.dumps(
        {**manifest, "outputs": outputs}, indent=1, ensure_ascii=True, allow_nan=False) + "\n")
    return ReportResult(out_dir=out, files=files, sections=sections, skipped=skipped, manifest=manifest)


__all__ = ["FORMATS", "ReportResult", "build_report"]
