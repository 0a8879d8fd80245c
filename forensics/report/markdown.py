"""The report as GitHub-flavoured Markdown.

Evidence text is escaped for Markdown viewers that also render HTML: ``& < >`` become entities,
Markdown punctuation that could start a link, image, emphasis or code span is backslash-escaped,
table pipes are escaped, and control/bidi characters and newlines are shown as visible escapes,
so a hostile command line stays one line of plain text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..textsafe import terminal_safe
from .html import heading_columns
from .sections import Section, SkippedSection
from .values import is_record_list, text

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: Any) -> str:
    """Evidence text as inline Markdown text (one line)."""
    line = terminal_safe(value, single_line=True)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if is_record_list(value):
        return "<br>".join(md(", ".join(f"{k}={text(v)}" for k, v in record.items())) for record in value)
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
        return md(json.dumps(value, sort_keys=True, ensure_ascii=False))
    return md(text(value))


def _table(section: Section) -> list[str]:
    lines = ["| " + " | ".join(md(c.name) for c in section.columns) + " |",
             "|" + "|".join("---" for _ in section.columns) + "|"]
    for row in section.rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return lines


def _records(section: Section) -> list[str]:
    heading = heading_columns(section)
    lines: list[str] = []
    for record in section.records():
        title = " · ".join(md(text(record[h])) for h in heading if record[h] is not None)
        if title:
            lines += [f"### {title}", ""]
        for key, value in record.items():
            if key in heading or value is None or value == []:
                continue
            if is_record_list(value):
                lines.append(f"- **{md(key)}**:")
                for item in value:
                    lines.append("  - " + md(", ".join(f"{k}={text(v)}" for k, v in item.items())))
            else:
                lines.append(f"- **{md(key)}**: {_cell(value)}")
        lines.append("")
    return lines


def _section(section: Section) -> list[str]:
    lines = [f"## {md(section.title)}", ""]
    if section.description:
        lines += [md(section.description), ""]
    for plot in section.plots:
        lines += [f"![{md(plot.caption)}]({plot.file})", ""]
    if not section.rows:
        lines += ["_No rows in this case._", ""]
    elif section.layout == "record":
        lines += _records(section)
    else:
        lines += _table(section) + [""]
    if section.truncated:
        lines += [f"_Showing {len(section.rows)} of {section.row_count} rows; run the section's SQL for all of "
                  "them._", ""]
    params = ""
    if section.params:
        params = " with " + ", ".join(f"${md(k)} = {md(text(v))}" for k, v in section.params.items())
    lines += [f"SQL: [{section.sql_file}]({section.sql_file}){params} (sha256 `{section.query.sha256}`)", ""]
    return lines


def render_markdown(title: str, manifest: dict[str, Any], sections: list[Section],
                    skipped: list[SkippedSection]) -> str:
    tool = manifest["tool"]
    generated = manifest.get("generated_at")
    lines = [f"# {md(title)}", "",
             f"{md(tool['name'])} {md(tool['version'])} · case {md(text(manifest['case'].get('file')))} · "
             f"{len(manifest.get('evidence', []))} evidence files · "
             + (f"generated {md(generated)}" if generated else "generation time not recorded (reproducible report)"),
             ""]
    report_params = manifest.get("parameters", {}).get("report") or {}
    if report_params:
        lines += ["Parameters: " + ", ".join(f"{md(k)}={md(text(v))}" for k, v in report_params.items()), ""]
    lines += ["## Contents", ""]
    lines += [f"{i}. {md(s.title)} ({s.row_count})" for i, s in enumerate(sections, 1)]
    lines += [f"{len(sections) + 1}. Manifest", ""]
    for section in sections:
        lines += _section(section)
    if skipped:
        lines += ["## Sections not in this report", "", "Their tables are missing or empty in this case.", ""]
        lines += [f"- {md(s.title)} ({md(s.name)}): {md(s.reason)}" for s in skipped] + [""]
    lines += ["## Manifest", "",
              "Every input file and query file with its SHA-256; `manifest.json` has the full manifest, "
              "including the ingest runs and the hashes of these report files.", "",
              "| evidence_id | path | status | format | size | sha256 |", "|---|---|---|---|---|---|"]
    for e in manifest.get("evidence", []):
        path = e.get("path") or ""
        if e.get("member"):
            path += "!" + e["member"]
        lines.append(f"| {e.get('evidence_id')} | {md(path)} | {md(text(e.get('status')))} | "
                     f"{md(text(e.get('format')))} | {md(text(e.get('size')))} | {md(text(e.get('sha256')))} |")
    lines += ["", "| query | sha256 |", "|---|---|"]
    lines += [f"| {md(q['name'])} | {md(q['sha256'])} |" for q in manifest.get("queries", [])]
    lines.append("")
    return "\n".join(lines)
