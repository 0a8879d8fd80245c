"""Incident sections: the incident with its answers, the chained timeline of its links, what is
unattributed, the clock offsets, and one figure per incident on corrected times."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from test_report_fixture import WALLET, _insert, at, make_incident_case, ref


def _add_correlation(case) -> None:
    tables = set(case.tables())
    if not {"links", "incidents", "unattributed", "clock_offsets"} <= tables:
        pytest.skip("this schema has no correlation tables")
    _insert(case, "clock_offsets", [
        {"host": "gpu-node-03", "offset_s": -4.2, "spread_s": 0.4, "n_pairs": 120, "method": "kernel log vs capture",
         "reference": "pcap", "resolution_s": 1.0, "min_s": -5.0, "max_s": -3.7, "chosen": True},
    ])
    links = [
        ("l-probe", 5, "probe", "net_events", "line:1", at(11 + 20 / 60), "200 attempts to 10.20.1.1-40", "indicator"),
        ("l-tunnel", 10, "finding", "findings", "finding:f-tunnel", at(13 + 10 / 60),
         "reverse SSH tunnel 10.20.1.13 -> 203.0.113.50:22", "indicator"),
        ("l-mining", 14, "stratum_login", "net_events", "line:3", at(14.5), f"login {WALLET[:12]}... to the pool",
         "indicator"),
    ]
    _insert(case, "links", [
        {"link_id": link_id, "rule": "link/10_step_connections", "cause_kind": "agent_step", "run_id": "rl-run-0217",
         "trajectory_id": "traj-000317", "step": step, "call_index": 0, "cause_ts": at(10 + (step - 1) / 3),
         "cause_host": "gpu-node-03", "command": f"command of step {step}", "cause_evidence_id": 2,
         "cause_locator": f"traj:traj-000317 step:{step}", "effect_kind": kind, "effect_tbl": tbl,
         "effect_evidence_id": 3, "effect_locator": locator, "effect_ts": ts, "effect_ts_corrected": ts,
         "effect_host": "gpu-node-03", "effect_count": 1, "effect_summary": summary,
         "delta_s": (ts - at(10 + (step - 1) / 3)).total_seconds(), "basis": basis, "confidence": 0.9,
         "incident_id": 1,
         "evidence_refs": [ref("agent_steps", 2, f"traj:traj-000317 step:{step}"), ref(tbl, 3, locator)]}
        for link_id, step, kind, tbl, locator, ts, summary, basis in links])
    answers = {  # stored with sorted keys, as JSON objects are
        "first_agent_action": {"trajectory_id": "traj-000317", "step": 1, "command": "nvidia-smi"},
        "mining": [{"pool": "xmr.pool.example.com:3333", "coin": "Monero", "wallet": WALLET,
                    "shares": {"submitted": 12, "accepted": 11, "rejected": 1}}],
        "tunnels": [{"endpoint": "203.0.113.50:22", "status": "established", "step": 10}],
    }
    _insert(case, "incidents", [
        {"incident_id": 1, "title": "reverse tunnel, probe and mining by traj-000317 on gpu-node-03",
         "severity": "critical", "first_ts": at(10), "last_ts": at(58), "hosts": ["gpu-node-03"],
         "trajectories": ["traj-000317"], "runs": ["rl-run-0217"], "n_links": 3, "n_findings": 4,
         "summary": "First agent action: traj-000317 step 1: nvidia-smi\nTunnel: step 10 to 203.0.113.50:22",
         "answers": json.dumps(answers, sort_keys=True)}])
    _insert(case, "unattributed", [
        {"item_kind": "finding", "finding_id": "f-brute", "kind": "bruteforce", "severity": "low",
         "ts_start": at(40), "ts_end": at(45), "host": "gpu-node-01", "src_ip": "203.0.113.200", "n_records": 320,
         "summary": "320 failed SSH logins from 203.0.113.200",
         "reason": "not caused by any agent step in evidence: traffic from outside the cluster",
         "evidence_refs": [ref("net_events", 3, "line:4")]}])


@pytest.fixture(scope="module")
def incident_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("incident")
    case = make_incident_case(folder / "case.duckdb")
    _add_correlation(case)
    result = case.report(folder / "report")
    yield case, result
    case.close()


def _section(result, slug):
    return next(s for s in result.sections if s.slug == slug)


def test_the_incident_leads_the_report_with_its_summary(incident_report):
    _, result = incident_report
    names = [s.slug for s in result.sections]
    assert names[:3] == ["00_case_overview", "02_incidents", "03_incident_answers"]  # the incident first
    assert names.index("04_incident_figures") < names.index("05_incident_timeline") < names.index("20_findings")
    incident = _section(result, "02_incidents").records()[0]
    assert incident["severity"] == "critical" and incident["trajectories"] == ["traj-000317"]
    markdown = (result.out_dir / "report.md").read_text()
    assert "### critical · reverse tunnel, probe and mining by traj-000317 on gpu-node-03" in markdown
    # the summary's lines stay lines
    assert "- **summary**: First agent action: traj-000317 step 1: nvidia-smi  \n  Tunnel: step 10" in markdown


def test_answers_come_in_the_order_a_responder_asks_them(incident_report):
    _, result = incident_report
    answers = _section(result, "03_incident_answers").records()
    assert [a["question"] for a in answers] == ["first agent action", "tunnels", "mining"]
    mining = answers[2]["answer"][0]
    assert (mining["coin"], mining["wallet"], mining["shares"]["accepted"]) == ("Monero", WALLET, 11)
    html = (result.out_dir / "report.html").read_text()
    assert '<h3 class="group">incident 1: reverse tunnel, probe and mining by traj-000317 on gpu-node-03</h3>' in html
    assert "<dt>accepted</dt><dd>11</dd>" in html  # nested answers as definition lists, not raw JSON


def test_the_chained_timeline_lists_each_link_with_both_ends_evidence(incident_report):
    _, result = incident_report
    chain = _section(result, "05_incident_timeline").records()
    assert [(c["step"], c["effect_kind"]) for c in chain] == [(5, "probe"), (10, "finding"), (14, "stratum_login")]
    assert chain[2]["delta_s"] == 10.0
    assert chain[1]["evidence"] == [
        {"table": "agent_steps", "file": "evidence/trajectories/traj-000317.jsonl", "sha256": "2" * 64,
         "locator": "traj:traj-000317 step:10"},
        {"table": "findings", "file": "evidence/fw/cloudfw.log", "sha256": "3" * 64, "locator": "finding:f-tunnel"}]


def test_unattributed_and_clock_offsets(incident_report):
    _, result = incident_report
    unattributed = _section(result, "06_unattributed").records()
    assert [(u["kind"], u["src_ip"]) for u in unattributed] == [("bruteforce", "203.0.113.200")]
    assert unattributed[0]["reason"].startswith("not caused by any agent step")
    assert unattributed[0]["evidence"][0]["locator"] == "line:4"
    offsets = _section(result, "45_clock_offsets").records()
    assert [(o["host"], o["offset_s"], o["chosen"]) for o in offsets] == [("gpu-node-03", -4.2, True)]


def test_one_figure_per_incident_replaces_the_host_figure(incident_report):
    case, result = incident_report
    skipped = {s.name: s.reason for s in result.skipped}
    assert skipped["report/30_timeline_figure"] == "incidents has rows: the sections on it cover this"
    figures = _section(result, "04_incident_figures")
    assert len(figures.plots) == 1 and figures.plots[0].file == "plots/04_incident_figures-1.png"
    facts = figures.plots[0].facts
    assert facts["host"] == "gpu-node-03" and facts["affected_gpus"] == [6, 7]
    assert facts["clock"] == "corrected" and facts["host_clock_offset_s"] == -4.2
    # nvidia-smi stamps the host's slow clock (4.2 s behind): corrected, its samples move 4.2 s later
    window = {"host": "gpu-node-03", "start": at(1), "end": at(2), "gpus": [6]}
    as_stamped = case.plot_timeline(**window, corrected=False).facts
    corrected = case.plot_timeline(**window).facts
    assert as_stamped["clock"] == "as stamped" and corrected["clock"] == "corrected"
    assert as_stamped["gpus"][0]["first_sample"] == "2026-02-17T03:00:00Z"
    assert corrected["gpus"][0]["first_sample"] == "2026-02-17T03:00:04Z"  # 03:00:04.2 in a 1 s bucket
    assert (result.out_dir / "plots" / "04_incident_figures-1.png").read_bytes()[:4] == b"\x89PNG"
    assert dt.datetime.fromisoformat(facts["window_start"].replace("Z", "+00:00")) <= at(10)
