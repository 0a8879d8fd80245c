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

from .html import group_title, heading_columns
from .sections import Section, SkippedSection
from .values import is_record_list, text, visible

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: Any) -> str:
    """Evidence text as inline Markdown text (one line)."""
    line = visible(value, single_line=True)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and "\n" in value:
        return "<br>".join(md(line) for line in value.split("\n"))
    if is_record_list(value):
        return "<br>".join(md(", ".join(f"{k}={text(v)}" for k, v in record.items())) for record in value)
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
        return md(json.dumps(value, sort_keys=True, ensure_ascii=False))
    return md(text(value))


def _table(section: Section, rows: list[list[Any]], skip: str | None = None) -> list[str]:
    shown = [i for i, c in enumerate(section.columns) if c.name != skip]
    lines = ["| " + " | ".join(md(section.columns[i].name) for i in shown) + " |",
             "|" + "|".join("---" for _ in shown) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[i]) for i in shown) + " |")
    return lines


def _value_lines(key: str, value: Any, indent: str, depth: int = 0) -> list[str]:
    """A record field as bullet lines; dicts and lists of records nest as sub-bullets."""
    if isinstance(value, dict) and value and depth < 6:
        lines = [f"{indent}- **{md(key)}**:"]
        for k, v in value.items():
            if v is not None and v != [] and v != {}:
                lines += _value_lines(str(k), v, indent + "  ", depth + 1)
        return lines
    if is_record_list(value) and depth < 6:
        lines = [f"{indent}- **{md(key)}**:"]
        for item in value:
            if all(not isinstance(v, (dict, list)) or is_scalar_list(v) for v in item.values()):
                lines.append(f"{indent}  - " + md(", ".join(f"{k}={text(v)}" for k, v in item.items()
                                                             if v is not None)))
            else:
                lines.append(f"{indent}  -")
                for k, v in item.items():
                    if v is not None and v != [] and v != {}:
                        lines += _value_lines(str(k), v, indent + "    ", depth + 1)
        return lines
    if isinstance(value, str) and "\n" in value:
        first, *rest = value.split("\n")
        return [f"{indent}- **{md(key)}**: {md(first)}  "] + [f"{indent}  {md(line)}  " for line in rest]
    return [f"{indent}- **{md(key)}**: {_cell(value)}"]


def is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def _records(section: Section, rows: list[list[Any]], skip: str | None = None) -> list[str]:
    heading = heading_columns(section)
    names = [c.name for c in section.columns]
    lines: list[str] = []
    for record in (dict(zip(names, row)) for row in rows):
        record.pop(skip, None)
        title = " · ".join(md(text(record[h])) for h in heading if record[h] is not None)
        if title:
            lines += [f"#### {title}" if skip else f"### {title}", ""]
        for key, value in record.items():
            if key in heading or value is None or value == [] or value == {}:
                continue
            lines += _value_lines(key, value, "")
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
    group = section.group_column
    for key, rows in (section.groups() if section.rows else []):
        if group is not None:
            lines += [f"### {md(group_title(group, key))}", ""]
        if section.layout == "record":
            lines += _records(section, rows, group)
        else:
            lines += _table(section, rows, group) + [""]
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
        lines += ["## Sections not in this report", "", "They have nothing to show in this case, for the reason given.",
                  ""]
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
