"""The report as one self-contained HTML page.

No network is needed to view it: styles and the one small script are inline, figures are PNG
data URIs, and a Content-Security-Policy allows nothing else (no remote fonts, scripts, images,
frames or form targets), so even a string that escaped escaping could not fetch or run anything.
Everything that came from evidence goes through :func:`esc`: control and bidi characters are made
visible first, then HTML-escaped, so a command line such as ``<script>…`` shows as text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from .sections import Section, SkippedSection
from .values import is_record_list, text, visible

SEVERITIES = ("critical", "high", "medium", "low", "info")

STYLE = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;color:#1b1b1b;
background:#fafafa;font-size:14px;line-height:1.4}
header{background:#263238;color:#fff;padding:16px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#cfd8dc}main{padding:8px 28px 40px}nav{padding:8px 28px;background:#eceff1}
nav ol{margin:4px 0;columns:2}section{background:#fff;border:1px solid #e0e0e0;border-radius:4px;
margin:16px 0;padding:12px 16px}h2{margin:4px 0 6px;font-size:18px}p.desc{color:#455a64;margin:0 0 8px}
table{border-collapse:collapse;margin:6px 0;font-size:12.5px}th,td{border:1px solid #dde3e6;
padding:3px 6px;text-align:left;vertical-align:top}th{background:#f1f4f5;position:sticky;top:0}
td{white-space:pre-wrap;word-break:break-word;max-width:60em}table.nested{font-size:11.5px;margin:0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:4px 0}dt{font-weight:600;color:#37474f}
dd{margin:0;white-space:pre-wrap;word-break:break-word}div.record{border-top:1px solid #eceff1;padding:8px 0}
div.record h3{margin:2px 0 4px;font-size:15px}pre{background:#f5f7f8;border:1px solid #e3e8ea;padding:6px 8px;
overflow-x:auto;font-size:12px;margin:4px 0;white-space:pre-wrap;word-break:break-word}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.sev{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600;font-size:12px;color:#fff;background:#78909c}
.sev-critical{background:#6a1b9a}.sev-high{background:#c62828}.sev-medium{background:#ef6c00}
.sev-low{background:#1565c0}.sev-info{background:#607d8b}p.note{color:#6d4c41;font-style:italic;margin:4px 0}
figure{margin:6px 0}figure img{max-width:100%;border:1px solid #e0e0e0}figcaption{color:#455a64;font-size:12px}
details{margin:6px 0}summary{cursor:pointer;color:#37474f}input.filter{margin:4px 0;padding:3px 6px;width:18em}
td.num{text-align:right;font-variant-numeric:tabular-nums}dl.nested{margin:0;gap:0 10px}
h3.group{margin:12px 0 2px;font-size:14px;color:#263238}ol{margin:0;padding-left:1.4em}
""".strip()

SCRIPT = """
(function () {
  var tables = document.querySelectorAll("table.rows");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tBodies.length || table.tBodies[0].rows.length < 15) { return; }
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "filter rows";
    input.className = "filter";
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
    table.parentNode.insertBefore(input, table);
  });
  document.documentElement.setAttribute("data-report-script", "ok");
})();
""".strip()


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = ("default-src 'none'; img-src data:; style-src " + _csp_hash(STYLE) + "; script-src " + _csp_hash(SCRIPT)
       + "; base-uri 'none'; form-action 'none'")


def esc(value: Any) -> str:
    """Evidence text as HTML text: control/bidi characters made visible, then escaped."""
    return html.escape(visible(value), quote=True)


def _cell(name: str, value: Any, depth: int = 0) -> str:
    if value is None:
        return ""
    if depth > 5:
        return "<pre>" + esc(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)) + "</pre>"
    if is_record_list(value):
        return _nested_table(value, depth)
    if isinstance(value, dict):
        if not value:
            return ""
        items = "".join(f"<dt>{esc(k)}</dt><dd>{_cell(str(k), v, depth + 1)}</dd>" for k, v in value.items()
                        if v is not None and v != [] and v != {})
        return f'<dl class="nested">{items}</dl>'
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "<ol>" + "".join(f"<li>{_cell(name, v, depth + 1)}</li>" for v in value) + "</ol>"
    if name == "severity" and isinstance(value, str) and value in SEVERITIES:
        return f'<span class="sev sev-{value}">{value}</span>'
    if name == "sha256" or name.endswith("_sha256"):
        return "<code>" + esc(text(value)) + "</code>"
    return esc(text(value))


def _nested_table(records: list[dict[str, Any]], depth: int = 0) -> str:
    columns: list[str] = []
    for record in records:
        for key in record:
            if key not in columns:
                columns.append(key)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c, r.get(c), depth + 1)}</td>" for c in columns) + "</tr>"
                   for r in records)
    return f'<table class="nested"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _numeric(section: Section, index: int) -> bool:
    kind = section.columns[index].type.upper()
    return any(kind.startswith(t) for t in ("INTEGER", "BIGINT", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT",
                                            "UINTEGER", "DOUBLE", "FLOAT", "DECIMAL", "REAL"))


def _table(section: Section, rows: list[list[Any]], skip: str | None = None) -> str:
    shown = [i for i, c in enumerate(section.columns) if c.name != skip]
    numeric = [_numeric(section, i) for i in range(len(section.columns))]
    head = "".join(f"<th>{esc(section.columns[i].name)}</th>" for i in shown)
    lines = []
    for row in rows:
        cells = "".join(
            ('<td class="num">' if numeric[i] else "<td>") + _cell(section.columns[i].name, row[i]) + "</td>"
            for i in shown)
        lines.append(f"<tr>{cells}</tr>")
    return f'<table class="rows"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(lines) + "\n</tbody></table>"


def group_title(column: str, key: Any) -> str:
    """A group's heading: its value when that is words ("incident 1: ..."), else column and value."""
    return text(key) if isinstance(key, str) and " " in key else f"{column} {text(key)}"


def heading_columns(section: Section) -> list[str]:
    names = [c.name for c in section.columns]
    wanted = [h.strip() for h in section.query.meta.get("heading", "").split(",") if h.strip()]
    return [h for h in wanted if h in names]


def _records(section: Section, rows: list[list[Any]], skip: str | None = None) -> str:
    heading = heading_columns(section)
    names = [c.name for c in section.columns]
    parts = []
    for record in (dict(zip(names, row)) for row in rows):
        record.pop(skip, None)
        title = " · ".join(_cell(h, record[h]) for h in heading if record[h] is not None)
        items = "".join(f"<dt>{esc(k)}</dt><dd>{_cell(k, v)}</dd>" for k, v in record.items()
                        if k not in heading and v is not None and v != [])
        parts.append('<div class="record">' + (f"<h3>{title}</h3>" if title else "") + f"<dl>{items}</dl></div>")
    return "\n".join(parts)


def _plots(section: Section) -> str:
    parts = []
    for plot in section.plots:
        data = base64.b64encode(plot.png).decode()
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(plot.caption)}">'
                     f"<figcaption>{esc(plot.caption)} ({esc(plot.file)})</figcaption></figure>")
    return "\n".join(parts)


def _section(section: Section) -> str:
    out = [f'<section id="{esc(section.anchor)}">', f"<h2>{esc(section.title)}</h2>"]
    if section.description:
        out.append(f'<p class="desc">{esc(section.description)}</p>')
    if section.layout == "plot":
        out.append(_plots(section))
    if not section.rows:
        out.append('<p class="note">No rows in this case.</p>')
    group = section.group_column
    for key, rows in (section.groups() if section.rows else []):
        if group is not None:
            out.append(f'<h3 class="group">{esc(group_title(group, key))}</h3>')
        out.append(_records(section, rows, group) if section.layout == "record" else _table(section, rows, group))
    if section.truncated:
        out.append(f'<p class="note">Showing {len(section.rows)} of {section.row_count} rows; '
                   f"run the section's SQL for all of them.</p>")
    params = ""
    if section.params:
        params = " with " + ", ".join(f"${esc(k)} = {esc(text(v))}" for k, v in section.params.items())
    out.append(f"<details><summary>SQL: {esc(section.sql_file)}{params} (sha256 "
               f"<code>{esc(section.query.sha256)}</code>)</summary><pre><code>{esc(section.query.text)}"
               "</code></pre></details>")
    out.append("</section>")
    return "\n".join(out)


def _manifest(manifest: dict[str, Any]) -> str:
    evidence = manifest.get("evidence", [])
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(k, e.get(k))}</td>" for k in
                         ("evidence_id", "path", "member", "status", "format", "size", "sha256")) + "</tr>"
        for e in evidence)
    queries = "".join(f"<tr><td>{esc(q['name'])}</td><td><code>{esc(q['sha256'])}</code></td></tr>"
                      for q in manifest.get("queries", []))
    runs = "".join(
        f"<tr><td>{esc(text(r.get('run_id')))}</td><td>{esc(text(r.get('tool_version')))}</td>"
        f"<td>{_cell('command', r.get('command'))}</td><td>{_cell('parameters', r.get('parameters'))}</td></tr>"
        for r in manifest.get("ingest_runs", []))
    params = manifest.get("parameters", {})
    return (
        '<section id="manifest"><h2>Manifest</h2>'
        '<p class="desc">What this report was made from: every input file with its SHA-256, every query '
        "file with its SHA-256, the ingest runs and the report parameters. The same case and "
        "parameters give byte-identical files (manifest.json also hashes the outputs).</p>"
        f"<dl><dt>tool</dt><dd>{esc(manifest['tool']['name'])} {esc(manifest['tool']['version'])}</dd>"
        f"<dt>case</dt><dd>{esc(text(manifest['case'].get('file')))}</dd>"
        f"<dt>report parameters</dt><dd>{_cell('parameters', params.get('report')) or 'none'}</dd>"
        f"<dt>rows shown per section</dt><dd>{esc(text(params.get('max_rows')) or 'as each section says')}</dd>"
        f"<dt>generated at</dt><dd>{esc(manifest.get('generated_at') or 'not recorded (reproducible report)')}"
        "</dd></dl>"
        f'<h3>Evidence ({len(evidence)} files)</h3><table class="rows"><thead><tr><th>evidence_id</th><th>path</th>'
        "<th>member</th><th>status</th><th>format</th><th>size</th><th>sha256</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f'<h3>Ingest runs</h3><table class="rows"><thead><tr><th>run</th><th>tool version</th><th>command</th>'
        f"<th>parameters</th></tr></thead><tbody>{runs}</tbody></table>"
        f'<h3>Query files</h3><table class="rows"><thead><tr><th>query</th><th>sha256</th></tr></thead>'
        f"<tbody>{queries}</tbody></table></section>"
    )


def render_html(title: str, manifest: dict[str, Any], sections: list[Section], skipped: list[SkippedSection]) -> str:
    nav = "".join(
        f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a> ({s.row_count})</li>' for s in sections)
    skipped_html = ""
    if skipped:
        items = "".join(f"<li>{esc(s.title)} ({esc(s.name)}): {esc(s.reason)}</li>" for s in skipped)
        skipped_html = ('<section id="skipped"><h2>Sections not in this report</h2><p class="desc">They '
                        f"have nothing to show in this case, for the reason given.</p><ul>{items}</ul></section>")
    generated = manifest.get("generated_at")
    subtitle = (f"{esc(manifest['tool']['name'])} {esc(manifest['tool']['version'])} · case "
                f"{esc(text(manifest['case'].get('file')))} · {len(manifest.get('evidence', []))} evidence files"
                + (f" · generated {esc(generated)}" if generated else ""))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>\n"
        f'<nav><ol>{nav}<li><a href="#manifest">Manifest</a></li></ol></nav>\n<main>\n'
        + "\n".join(_section(s) for s in sections)
        + "\n" + skipped_html + "\n" + _manifest(manifest)
        + f"\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
