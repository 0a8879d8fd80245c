"""Exports load back: Timesketch JSONL/CSV with the required columns, Parquet per table and day with
the same row counts in DuckDB, indicators as CSV and a valid STIX 2.1 bundle tagged with ATT&CK."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from forensics.errors import ForensicsError
from test_report_fixture import WALLET, make_incident_case, run_cli


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    opened = make_incident_case(tmp_path_factory.mktemp("export") / "case.duckdb")
    yield opened
    opened.close()


def timeline_events(case) -> int:
    return int(case.sql("SELECT count(*) AS n FROM timeline WHERE ts IS NOT NULL")["n"][0])


def test_timesketch_jsonl_has_the_required_columns_and_every_timed_event(case, tmp_path):
    summary = case.export("timesketch", tmp_path / "timeline.jsonl")
    events = [json.loads(line) for line in (tmp_path / "timeline.jsonl").read_text().splitlines()]
    assert summary["events"] == len(events) == timeline_events(case) >= 22
    assert summary["left_out_without_time"] == 0
    for event in events:
        assert event["message"] and event["timestamp_desc"]
        assert event["datetime"].endswith("+00:00")
    tunnel = next(e for e in events if e["locator"] == "finding:f-tunnel")
    assert tunnel == {
        "message": "reverse SSH tunnel 10.20.1.13 -> 203.0.113.50:22", "datetime": "2026-02-17T03:13:10.000000+00:00",
        "timestamp": 1771297990000000, "timestamp_desc": "Finding start", "data_type": "cluster_forensics:finding:tunnel",
        "host": "gpu-node-03", "source": "finding", "kind": "tunnel", "severity": "high", "evidence_id": 3,
        "locator": "finding:f-tunnel", "evidence_file": "evidence/fw/cloudfw.log", "evidence_sha256": "3" * 64}
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    step = next(e for e in events if e["locator"] == "traj:traj-000317 step:10")
    assert step["timestamp_desc"] == "Agent step start" and "ssh -fN -R 2222:localhost:22" in step["message"]


def test_timesketch_csv_reads_back_with_the_same_events(case, tmp_path):
    case.export("timesketch", tmp_path / "timeline.csv")
    with open(tmp_path / "timeline.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == timeline_events(case)
    assert {"message", "datetime", "timestamp", "timestamp_desc"} <= set(rows[0])
    hostile = next(r for r in rows if r["locator"] == "traj:traj-000317 step:3")
    assert "<script>document.title='pwned'</script>" in hostile["message"]  # data, kept verbatim for the tool


def test_an_existing_export_is_not_overwritten_unless_asked(case, tmp_path):
    (tmp_path / "timeline.jsonl").write_text("keep me\n")
    with pytest.raises(ForensicsError, match="already exists"):
        case.export("timesketch", tmp_path / "timeline.jsonl")
    assert (tmp_path / "timeline.jsonl").read_text() == "keep me\n"
    case.export("timesketch", tmp_path / "timeline.jsonl", overwrite=True)
    assert (tmp_path / "timeline.jsonl").read_text().count("\n") == timeline_events(case)


def test_parquet_per_table_and_day_reads_back_with_the_same_row_counts(case, tmp_path):
    summary = case.export("parquet", tmp_path / "parquet")
    tables = summary["tables"]
    assert tables["gpu_samples"]["partitions"] == ["day=2026-02-17"]
    assert tables["runs"]["partitions"] == ["day=2026-03-01"]
    assert tables["evidence"]["partitioned_by"] is None
    reader = duckdb.connect()
    for name, info in tables.items():
        count = reader.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/parquet/{name}/**/*.parquet', "
                               "hive_partitioning = true)").fetchone()[0]
        expected = case.con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        assert count == expected == info["rows"], name
    refs = reader.execute(f"SELECT evidence_refs FROM read_parquet('{tmp_path}/parquet/findings/**/*.parquet') "
                          "WHERE finding_id = 'f-tunnel'").fetchone()[0]
    assert refs[1] == {"tbl": "agent_steps", "evidence_id": 2, "locator": "traj:traj-000317 step:10"}
    written = json.loads((tmp_path / "parquet" / "tables.json").read_text())
    assert written["tables"]["agent_steps"]["rows"] == 16


def test_indicators_carry_types_attack_ids_and_first_evidence(case):
    frame = case.indicators()
    found = {(r.type, r.value): r for r in frame.itertuples()}
    assert set(found) == {
        ("ipv4", "203.0.113.50"), ("ipv4", "198.51.100.77"), ("ipv4", "203.0.113.200"),
        ("domain", "xmr.pool.example.com"), ("domain", "dl.example.net"),
        ("url", "stratum+tcp://xmr.pool.example.com:3333"),
        ("url", "http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz"),
        ("wallet", WALLET), ("hassh", "ec7378c1a92f5a8dde7e8b7a1ddf33d1")}
    # internal addresses (the probe's targets, the node itself) are not indicators
    assert not any(v.startswith("10.") for _, v in found)
    tunnel = found[("ipv4", "203.0.113.50")]
    assert list(tunnel.attack_ids) == ["T1021.004", "T1572"]
    assert (tunnel.evidence_file, tunnel.locator) == ("evidence/trajectories/traj-000317.jsonl",
                                                     "traj:traj-000317 step:10")  # the agent step came first
    assert list(found[("wallet", WALLET)].attack_ids) == ["T1496", "T1496.001"]


def test_stix_bundle_validates_and_is_tagged_with_attack(case, tmp_path):
    stix2 = pytest.importorskip("stix2")
    summary = case.export("iocs", tmp_path / "iocs")
    assert summary["indicators"] == 9
    raw = json.loads((tmp_path / "iocs" / "indicators.stix.json").read_text())
    bundle = stix2.parse(raw, allow_custom=False)  # raises on a malformed object or pattern
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    patterns = {o.id: o for o in bundle.objects if o.type == "attack-pattern"}
    assert len(indicators) == 9
    from stix2patterns.validator import validate

    for indicator in indicators:
        assert validate(indicator.pattern, print_errs=False)
    assert "[ipv4-addr:value = '203.0.113.50']" in {i.pattern for i in indicators}
    tunnel = next(i for i in indicators if i.pattern == "[ipv4-addr:value = '203.0.113.50']")
    targets = {patterns[r.target_ref].external_references[0].external_id for r in bundle.objects
               if r.type == "relationship" and r.source_ref == tunnel.id and r.relationship_type == "indicates"}
    assert targets == {"T1572", "T1021.004"}
    assert patterns[next(p for p in patterns if patterns[p].name == "Protocol Tunneling")]
    with open(tmp_path / "iocs" / "indicators.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9
    assert next(r for r in rows if r["value"] == "198.51.100.77")["attack_ids"] == "T1496;T1496.001"
    # the same case gives the same bundle
    case.export("iocs", tmp_path / "again")
    assert (tmp_path / "again" / "indicators.stix.json").read_bytes() == \
        (tmp_path / "iocs" / "indicators.stix.json").read_bytes()


def test_a_case_without_capture_or_agent_tables_still_exports(tmp_path):
    with make_incident_case(tmp_path / "case.duckdb") as partial:
        for table in ("agent_actions", "agent_scripts", "jsonrpc_msgs", "ssh_sessions", "dns", "tls", "http"):
            partial.con.execute(f"DROP TABLE {table} CASCADE")
        frame = partial.indicators()
    assert ("wallet", WALLET) in {(r.type, r.value) for r in frame.itertuples()}  # from the finding's details
    assert "dl.example.net" not in set(frame["value"])  # that one only the agent's command named


def test_export_commands(tmp_path, capsys):
    make_incident_case(tmp_path / "case.duckdb").close()
    for args in (["timesketch", "--out", str(tmp_path / "t.jsonl")], ["parquet", "--out", str(tmp_path / "pq")],
                 ["iocs", "--out", str(tmp_path / "iocs")]):
        code, out, err = run_cli(capsys, "export", *args, "--case", str(tmp_path / "case.duckdb"))
        assert code == 0, err
        assert json.loads(out)["kind"] == args[0]
    code, out, err = run_cli(capsys, "export", "iocs", "--out", str(tmp_path / "iocs"), "--case",
                             str(tmp_path / "case.duckdb"))
    assert code == 1 and "already exists" in err
