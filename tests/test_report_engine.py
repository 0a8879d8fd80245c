"""The report: sections from queries/report/, evidence references, dropped input, the manifest,
byte-identical output, and older cases that lack tables."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from forensics import Case, queryfiles
from forensics.errors import QueryError
from test_report_fixture import HOSTILE, make_incident_case, run_cli


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    folder = tmp_path_factory.mktemp("incident")
    case = make_incident_case(folder / "case.duckdb")
    result = case.report(folder / "report")
    yield case, result, folder
    case.close()


def _section(result, slug):
    return next(s for s in result.sections if s.slug == slug)


def test_report_writes_md_html_json_manifest_and_every_section_sql(incident):
    case, result, folder = incident
    out = folder / "report"
    for name in ("report.md", "report.html", "report.json", "manifest.json"):
        assert (out / name).stat().st_size > 0
    report_queries = queryfiles.discover("report")
    for query in report_queries:
        written = out / "sql" / f"{query.name}.sql"
        assert written.read_text(encoding="utf-8") == query.text  # the reader re-runs exactly this
    document = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in document["sections"]] == [s.name for s in result.sections]
    for section in document["sections"]:
        assert section["sql_sha256"] == hashlib.sha256((out / section["sql_file"]).read_bytes()).hexdigest()


def test_each_finding_lists_its_evidence_file_sha256_and_locator(incident):
    _, result, _ = incident
    findings = _section(result, "20_findings").records()
    assert [f["kind"] for f in findings][:2] == ["agent_mining", "mining"]  # critical first, then by time
    tunnel = next(f for f in findings if f["kind"] == "tunnel")
    assert tunnel["evidence_refs"] == 2
    assert tunnel["evidence"] == [
        {"table": "net_events", "file": "evidence/fw/cloudfw.log", "sha256": "3" * 64, "locator": "line:2"},
        {"table": "agent_steps", "file": "evidence/trajectories/traj-000317.jsonl", "sha256": "2" * 64,
         "locator": "traj:traj-000317 step:10"},
    ]
    markdown = (result.out_dir / "report.md").read_text()
    assert "locator=traj:traj-000317 step:10" in markdown and "sha256=" + "2" * 64 in markdown


def test_dropped_input_is_counted_and_listed(incident):
    _, result, _ = incident
    overview = _section(result, "00_case_overview").records()[0]
    assert (overview["evidence_files"], overview["parsed_files"], overview["unclaimed_files"],
            overview["failed_files"], overview["parse_warnings"]) == (6, 4, 1, 1, 3)
    by_file = _section(result, "50_parse_warnings_by_file").records()
    assert {(r["file"], r["reason"], r["warnings"]) for r in by_file} == {
        ("evidence/trajectories/traj-000317.jsonl", "not JSON", 1),
        ("evidence/gpu/gpu-node-03.csv", "bad timestamp", 1),
        ("evidence/pcap/broken.pcap", "parser failed: truncated capture header", 1)}
    not_parsed = _section(result, "55_files_not_parsed").records()
    assert [(r["file"], r["status"], r["sha256"]) for r in not_parsed] == [
        ("evidence/pcap/broken.pcap", "failed", "6" * 64), ("evidence/notes/readme.bin", "unclaimed", "5" * 64)]
    assert not_parsed[0]["reason"] == "parser failed: truncated capture header"


def test_manifest_has_input_and_query_hashes_tool_version_and_parameters(incident):
    _, result, folder = incident
    manifest = json.loads((folder / "report" / "manifest.json").read_text())
    assert manifest["tool"] == {"name": "cluster-forensics", "version": "0.1.0"}
    assert manifest["generated_at"] is None
    assert [(e["path"], e["sha256"]) for e in manifest["evidence"]][:2] == [
        ("evidence/inventory.yaml", "1" * 64), ("evidence/trajectories/traj-000317.jsonl", "2" * 64)]
    hashes = {q["name"]: q["sha256"] for q in manifest["queries"]}
    for query in queryfiles.discover():
        assert hashes[query.name] == hashlib.sha256(query.text.encode()).hexdigest()
    assert manifest["ingest_runs"][0]["command"] == ["forensics", "ingest", "evidence/"]
    assert manifest["parameters"] == {"report": {}, "max_rows": None}
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((folder / "report" / name).read_bytes()).hexdigest() == digest


def test_same_case_twice_gives_identical_bytes(incident, tmp_path):
    case, first, folder = incident
    second = case.report(tmp_path / "again")
    assert sorted(first.files) == sorted(second.files)
    for name in first.files:
        assert first.files[name].read_bytes() == second.files[name].read_bytes(), name


def test_same_evidence_in_a_fresh_case_gives_identical_bytes(incident, tmp_path):
    _, first, _ = incident
    (tmp_path / "other").mkdir()
    with make_incident_case(tmp_path / "other" / "case.duckdb") as fresh:
        second = fresh.report(tmp_path / "fresh")
    for name in ("report.md", "report.html", "report.json", "manifest.json"):
        assert first.files[name].read_bytes() == second.files[name].read_bytes(), name


def test_generation_time_only_when_asked(incident, tmp_path):
    case, _, _ = incident
    result = case.report(tmp_path / "stamped", formats=["md"], generated_at="2026-03-02T09:00:00Z", plots=False)
    assert "generated 2026-03-02T09:00:00Z" in (tmp_path / "stamped" / "report.md").read_text()
    assert json.loads((tmp_path / "stamped" / "manifest.json").read_text())["generated_at"] == "2026-03-02T09:00:00Z"
    assert set(result.files) - {"manifest.json"} == {"report.md"} | {n for n in result.files if n.startswith("sql/")}


def test_long_sections_say_how_many_rows_they_hide(incident, tmp_path):
    case, _, _ = incident
    result = case.report(tmp_path / "short", max_rows=5, plots=False, only=["40_timeline"])
    timeline = result.sections[0]
    events = int(case.sql("SELECT count(*) AS n FROM timeline")["n"][0])  # 16 steps, 6 findings and the feeds'
    assert events >= 22
    assert (len(timeline.rows), timeline.row_count, timeline.truncated) == (5, events, True)
    assert f"Showing 5 of {events} rows" in (tmp_path / "short" / "report.md").read_text()
    assert f"Showing 5 of {events} rows" in (tmp_path / "short" / "report.html").read_text()


def test_section_parameters_narrow_the_timeline_and_unknown_ones_are_refused(incident, tmp_path):
    case, _, _ = incident
    result = case.report(tmp_path / "window", params={"since": "2026-02-17T03:14:00Z",
                                                      "until": "2026-02-17T03:15:00Z"},
                         only=["40_timeline"], plots=False)
    rows = result.sections[0].records()
    assert [(r["ts"], r["locator"]) for r in rows] == [
        ("2026-02-17T03:14:00Z", "traj:traj-000317 step:13"), ("2026-02-17T03:14:20Z", "traj:traj-000317 step:14"),
        ("2026-02-17T03:14:20Z", "finding:f-agent-mining"), ("2026-02-17T03:14:30Z", "finding:f-mining"),
        ("2026-02-17T03:14:40Z", "traj:traj-000317 step:15"), ("2026-02-17T03:15:00Z", "traj:traj-000317 step:16")]
    assert "$since = 2026-02-17T03:14:00Z" in (tmp_path / "window" / "report.md").read_text()
    with pytest.raises(QueryError, match="no report section takes parameter window_s"):
        case.report(tmp_path / "bad", params={"window_s": 5})


def test_an_older_case_without_agent_and_gpu_tables_drops_those_sections(tmp_path):
    with make_incident_case(tmp_path / "old.duckdb") as case:
        for table in ("agent_actions", "agent_steps", "agent_scripts", "gpu_samples"):
            case.con.execute(f"DROP TABLE {table} CASCADE")
        case.refresh_views()
    with Case(tmp_path / "old.duckdb", read_only=True) as old:
        result = old.report(tmp_path / "report")
    skipped = {s.name: s.reason for s in result.skipped}
    # no correlation was run on this case: the sections on its tables have nothing to say and say so
    correlation = ("incidents", "links", "unattributed", "explained_benign", "clock_offsets")
    incident_sections = {q.name for q in queryfiles.discover("report")
                         if re.search(rf"\bFROM ({'|'.join(correlation)})\b", q.sql)}
    assert len(incident_sections) >= 7
    missing = {name for name, reason in skipped.items() if "does not exist" in reason} - incident_sections
    assert missing == {"report/70_agent_flagged_trajectories", "report/75_gpu_overview"}
    assert "agent_actions" in skipped["report/70_agent_flagged_trajectories"]
    assert set(skipped) - missing == incident_sections
    assert _section(result, "20_findings").row_count == 6
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Sections not in this report" in html and "GPU telemetry overview" in html
    figure = _section(result, "30_timeline_figure").plots[0]
    assert figure.facts["gpus"] == [] and figure.facts["lanes"]["mining"] == 1


def test_evidence_text_is_escaped_in_markdown(incident):
    _, result, _ = incident
    markdown = (result.out_dir / "report.md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in markdown
    assert "\x1b" not in markdown and "\\\\x1b\\[31m&lt;script&gt;" in markdown  # ESC shown, then escaped
    for line in markdown.splitlines():
        if line.startswith("| evidence/trajectories/traj-000317.jsonl | line:17"):
            assert line.count(" | ") == 4  # the hostile excerpt did not add table cells


def test_evidence_text_is_escaped_in_html(incident):
    _, result, _ = incident
    page = (result.out_dir / "report.html").read_text()
    assert HOSTILE not in page
    assert page.count("<script") == 1  # the report's own row filter, allowed by its CSP hash
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "http://" not in page.split("<main>")[0] and "https://" not in page.split("<main>")[0]
    assert "default-src 'none'" in page


def test_report_command_writes_the_files(tmp_path, capsys):
    make_incident_case(tmp_path / "case.duckdb").close()
    code, out, err = run_cli(capsys, "report", "--case", str(tmp_path / "case.duckdb"), "--out", str(tmp_path / "cli"),
                             "--format", "md", "--no-plots")
    assert code == 0, err
    assert re.match(r"\d+ sections \(\d+ not in this case\) written to", out)
    assert (tmp_path / "cli" / "report.md").exists() and not (tmp_path / "cli" / "report.html").exists()
    assert not (tmp_path / "cli" / "plots").exists()


def test_counting_a_long_section_drops_only_its_final_order_by(incident):
    from forensics.report.sections import without_final_order_by

    assert without_final_order_by("SELECT a FROM t WHERE x = 'ORDER BY' ORDER BY a, b") == \
        "SELECT a FROM t WHERE x = 'ORDER BY' "
    kept = ["SELECT a FROM (SELECT * FROM t ORDER BY z) ORDER BY a LIMIT 5",  # the order picks the rows
            "SELECT list(x ORDER BY y) FROM t GROUP BY 1",  # inside an aggregate: not the query's order
            "SELECT a FROM t -- ORDER BY a"]
    for sql in kept:
        assert without_final_order_by(sql) == sql
    case = incident[0]
    for query in queryfiles.discover("report"):  # every section counts the same rows without it
        values = query.bind({})
        try:
            full = case.con.execute(f"SELECT count(*) FROM ({query.sql}\n)", values).fetchone()[0]
        except Exception:
            continue  # its tables are not in this case
        stripped = case.con.execute(f"SELECT count(*) FROM ({without_final_order_by(query.sql)}\n)",
                                    values).fetchone()[0]
        assert stripped == full, query.name
