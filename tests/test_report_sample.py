"""The sample incident (sample_logs/) end to end: investigate, then report, figure and exports,
checked against sample_logs/ground_truth.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from forensics import Case
from test_report_html import chromium, load  # noqa: F401  (chromium is a fixture)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs"
TRUTH_FILE = SAMPLE / "ground_truth.json"


@pytest.fixture(scope="module")
def truth():
    if not TRUTH_FILE.exists():
        pytest.skip("sample_logs/ not generated")
    return json.loads(TRUTH_FILE.read_text())


@pytest.fixture(scope="module")
def sample(truth, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    with Case(folder / "case.duckdb") as case:
        case.investigate([str(SAMPLE)])
    opened = Case(folder / "case.duckdb", read_only=True)
    yield opened, folder
    opened.close()


def test_report_on_the_sample_is_complete_and_reproducible(sample, truth):
    case, folder = sample
    first = case.report(folder / "report")
    second = case.report(folder / "again")
    for name in first.files:
        assert first.files[name].read_bytes() == second.files[name].read_bytes(), name
    document = json.loads((folder / "report" / "report.json").read_text())
    sections = {s["name"]: s for s in document["sections"]}
    findings = sections["report/20_findings"]["rows"]
    mining = [f for f in findings if f["kind"] == "mining" and f["dst_ip"] == truth["mining"]["pool_ip"]]
    assert mining and all(ref["sha256"] and ref["locator"] for f in mining for ref in f["evidence"])
    files_listed = {ref["file"] for f in findings for ref in f["evidence"]}
    assert str(SAMPLE / "pcap" / "gpu-node-03-egress.pcap") in files_listed
    manifest = json.loads((folder / "report" / "manifest.json").read_text())
    registered = {e["path"] for e in manifest["evidence"]}
    on_disk = {str(p) for p in SAMPLE.rglob("*") if p.is_file()}
    assert on_disk <= registered  # every file, parsed or not, with its hash
    not_parsed = {r["file"] for r in sections["report/55_files_not_parsed"]["rows"]}
    overview = sections["report/00_case_overview"]["rows"][0]
    assert overview["unclaimed_files"] + overview["failed_files"] == len(not_parsed)
    dropped = {e["path"] for e in manifest["evidence"] if e["status"] in ("unclaimed", "failed")}
    assert dropped == not_parsed and str(SAMPLE / "generate.py") in not_parsed


def test_the_sample_report_loads_cleanly_in_chromium(sample, chromium, tmp_path):  # noqa: F811
    case, _ = sample
    result = case.report(tmp_path / "report")  # the whole report: incidents, answers, figures, timeline
    dom, console = load(chromium, result.files["report.html"], tmp_path / "profile")
    assert console == []
    assert 'data-report-script="ok"' in dom and len(re.findall(r"<script\b", dom)) == 1
    assert "xmrig --cuda --cuda-devices=6,7" in dom
    assert len(re.findall(r"<img\b", dom)) == sum(len(s.plots) for s in result.sections) >= 1


def test_the_sample_figure_shows_gpus_6_and_7_jumping_after_step_14(sample, truth):
    case, _ = sample
    diversion = truth["gpu_diversion"]
    figure = case.plot_timeline()
    facts = figure.facts
    assert facts["host"] == diversion["host"] == "gpu-node-03"
    assert facts["affected_gpus"] == [g["index"] for g in diversion["gpus"]] == [6, 7]
    assert facts["pivot_basis"] == f"{truth['mining']['trajectory_id']} step {truth['mining']['step']} launched a miner"
    assert abs(_seconds(facts["pivot"]) - _seconds(truth["mining"]["login"])) < 5
    for gpu in facts["gpus"]:
        if gpu["affected"]:
            assert gpu["mean_after"] > 98 and gpu["mean_after"] > gpu["mean_before"]
    assert facts["lanes"]["tunnel"] >= 1 and facts["lanes"]["mining"] >= 1
    tunnel_steps = [s for s in facts["flagged_steps"] if "tunnel" in s["categories"]]
    assert tunnel_steps[0]["step"] == truth["first_external_egress"]["step"] == 12


def test_sample_exports_load_back(sample, truth, tmp_path):
    case, _ = sample
    timeline = case.export("timesketch", tmp_path / "timeline.jsonl")
    lines = (tmp_path / "timeline.jsonl").read_text().splitlines()
    assert len(lines) == timeline["events"] == timeline["timeline_events"] - timeline["left_out_without_time"]
    first = json.loads(lines[0])
    assert {"message", "datetime", "timestamp", "timestamp_desc"} <= set(first)
    parquet = case.export("parquet", tmp_path / "parquet")
    reader = duckdb.connect()
    for name in ("net_events", "gpu_samples", "agent_steps", "findings", "timeline"):
        count = reader.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/parquet/{name}/**/*.parquet', "
                               "hive_partitioning = true)").fetchone()[0]
        assert count == parquet["tables"][name]["rows"] == case.sql(f"SELECT count(*) AS n FROM {name}")["n"][0]
    case.export("iocs", tmp_path / "iocs")
    values = {(r.type, r.value) for r in case.indicators().itertuples()}
    assert ("ipv4", truth["tunnel"]["endpoint"]["ip"]) in values
    assert ("ipv4", truth["mining"]["pool_ip"]) in values
    assert ("domain", truth["mining"]["pool_host"]) in values
    assert ("wallet", truth["mining"]["wallet"]) in values
    assert ("hassh", truth["tunnel"]["hassh"]) in values
    assert not any(v.startswith("10.") for _, v in values)
    stix2 = pytest.importorskip("stix2")
    bundle = stix2.parse(json.loads((tmp_path / "iocs" / "indicators.stix.json").read_text()), allow_custom=False)
    assert sum(1 for o in bundle.objects if o.type == "indicator") == len(values)


def _seconds(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_the_sample_report_opens_with_the_incident_and_its_answers(sample, truth, tmp_path):
    case, _ = sample
    result = case.report(tmp_path / "incident", only=["02_incidents", "03_incident_answers", "05_incident_timeline",
                                                      "06_unattributed", "04_incident_figures"])
    sections = {s.slug: s for s in result.sections}
    incidents = sections["02_incidents"].records()
    main = next(i for i in incidents if "traj-000317" in i["trajectories"])
    assert set(truth["trajectories_to_exclude"]) <= set(main["trajectories"])
    answers = {a["question"]: a["answer"] for a in sections["03_incident_answers"].records()
               if a["incident"].startswith(f"incident {main['incident_id']}:")}
    assert list(answers)[:3] == ["first agent action", "probes", "tunnels"]
    assert answers["first agent action"]["step"] == truth["first_agent_action"]["step"]
    assert truth["mining"]["wallet"] in json.dumps(answers["mining"])
    chain = [r for r in sections["05_incident_timeline"].records() if r["trajectory_id"] == "traj-000317"]
    assert {r["step"] for r in chain} >= {11, 12, 14}
    assert all(r["evidence"] and r["evidence"][0]["sha256"] for r in chain)
    unattributed = sections["06_unattributed"].records()
    assert any(u["src_ip"] == "203.0.113.200" for u in unattributed)  # the brute force is nobody's step
    figure = sections["04_incident_figures"].plots[0].facts
    assert figure["host"] == "gpu-node-03" and figure["affected_gpus"] == [6, 7]
    assert figure["clock"] == "corrected"
    assert abs(figure["host_clock_offset_s"] - truth["clock_skew"]["gpu-node-03"]) < 0.5
