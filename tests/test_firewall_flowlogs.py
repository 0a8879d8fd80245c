"""Cloud firewall and flow logs: Alibaba Cloud Firewall (JSON, CSV) and VPC flow logs, AWS VPC
Flow Logs, GCP, Azure, Zeek conn.log and Suricata eve.json, each checked record by record, and
against the source project's expected output where the corpus has it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics import Case
from forensics.registry import Sniff, get_parser

DATA = Path(__file__).resolve().parent / "data" / "firewall"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ELASTIC = CORPUS / "flowlogs" / "elastic-integrations"
ZEEK = CORPUS / "pcap" / "zeek" / "baselines"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture(scope="module")
def shared_case(tmp_path_factory):
    with Case(tmp_path_factory.mktemp("flowlogs") / "case.duckdb") as c:
        c.ingest([str(DATA / "inventory.yaml")])
        yield c


@pytest.fixture
def case(shared_case):
    """One case with the test inventory; each test reads only the evidence it ingests."""
    return shared_case


def ingest(case: Case, path: Path, **hints) -> int:
    """Ingest one file and return its evidence id (the same bytes again reuse the first one)."""
    summary = case.ingest([str(path)], **hints)
    outcome = summary.outcomes[0]
    assert outcome.status in ("parsed", "duplicate"), outcome.message
    return outcome.evidence_id


def rows(case: Case, sql: str, args=()) -> list[dict]:
    cursor = case.con.execute(sql, list(args))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def events(case: Case, eid: int) -> dict[str, dict]:
    return {r["locator"]: r for r in rows(case, "SELECT * FROM net_events WHERE evidence_id = ?", [eid])}


def warnings(case: Case, eid: int) -> dict[str | None, str]:
    return dict(case.con.execute("SELECT locator, reason FROM parse_warnings WHERE evidence_id = ?", [eid]).fetchall())


# ------------------------------------------------------------------------------------------------
# Alibaba Cloud
# ------------------------------------------------------------------------------------------------

def test_alibaba_cloud_firewall_csv_keeps_labels_and_swaps_inbound_counters(case):
    eid = ingest(case, DATA / "cloudfw.csv")
    got = events(case, eid)
    assert len(got) == 3
    mining = got["line:2"]
    assert (mining["host"], mining["src_ip"], mining["src_private_ip"], mining["dst_port"]) == \
        ("gpu-node-03", "198.51.100.13", "10.20.1.13", 3333)
    assert mining["action"] == "alert" and mining["label"] == "Mining Behavior" and mining["direction"] == "outbound"
    extra = json.loads(mining["extra"])
    assert extra["attack_type_name"] == "挖矿行为" and extra["ips_rule_name"] == "主机挖矿行为"
    assert extra["log_type"] == "internet_ips_log"
    assert (mining["bytes_out"], mining["bytes_in"]) == (8876, 5120)  # out_* left the asset
    assert mining["ts"] == utc("2026-02-17T02:31:02Z") and mining["ts_end"] == utc("2026-02-17T02:31:40Z")
    drop = got["line:3"]
    assert drop["action"] == "deny" and drop["rule"] == "5f0c3a9e-6b2d-4c1e-9a7f-2d8e41b0c317"
    assert drop["host"] == "gpu-node-01" and drop["packets_out"] == 7
    inbound = got["line:4"]  # inbound: out_* (asset to internet) is the reply
    assert inbound["direction"] == "inbound" and inbound["host"] == "gpu-node-01"
    assert (inbound["bytes_out"], inbound["bytes_in"]) == (600, 4000)
    warned = warnings(case, eid)
    assert warned["line:5"] == "port out of range"
    assert warned["line:6"] == "record without a start_time or __time__ in Unix seconds"
    assert warned["line:7"].startswith("CSV row with 5 fields")


def test_alibaba_vpc_flow_log_json(case):
    eid = ingest(case, DATA / "alibaba_vpcflow.json")
    got = events(case, eid)
    out, back = got["line:1"], got["line:2"]
    assert (out["direction"], back["direction"]) == ("outbound", "inbound")
    assert (out["bytes_out"], out["packets_out"], out["bytes_in"]) == (9876, 120, None)  # one direction per record
    assert out["tcp_flags"] == "SYN ACK PSH" and out["host"] == "gpu-node-03"
    assert json.loads(out["extra"])["interface-id"] == "eni-bp1node03"
    assert got["line:3"]["action"] == "deny" and got["line:3"]["host"] == "gpu-node-01"
    assert got["line:4"]["label"] == "NODATA" and got["line:4"]["src_ip"] is None
    assert warnings(case, eid) == {"line:5": "port out of range",
                                   "line:6": "not a JSON object (truncated or corrupt line)"}


# ------------------------------------------------------------------------------------------------
# AWS
# ------------------------------------------------------------------------------------------------

def test_aws_default_format_agrees_with_elastic(case):
    path = ELASTIC / "aws_vpcflow" / "test-extra-samples.log"
    if not path.exists():
        pytest.skip("corpus not present")
    expected = json.loads((ELASTIC / "aws_vpcflow" / "test-extra-samples.log-expected.json").read_text())["expected"]
    eid = ingest(case, path)
    got = events(case, eid)
    assert len(got) == len(expected) == 7
    for number, event in enumerate(expected, start=1):
        row = got[f"line:{number}"]
        assert row["ts"] == utc(event["event"]["start"]) and row["ts_end"] == utc(event["event"]["end"]), number
        outcome = event["event"].get("outcome")
        assert row["action"] == {"allow": "allow", "deny": "deny", None: None}[outcome], number
        if event.get("source"):
            assert (row["src_ip"], row["src_port"]) == (event["source"]["ip"], event["source"]["port"]), number
            assert (row["dst_ip"], row["dst_port"]) == (event["destination"]["ip"], event["destination"]["port"])
            assert (row["bytes_out"], row["packets_out"]) == (event["source"]["bytes"], event["source"]["packets"])
        else:
            assert row["src_ip"] is None and row["label"] == event["aws"]["vpcflow"]["log_status"], number
    assert any("SKIPDATA" in reason for reason in warnings(case, eid).values())


def test_aws_custom_format_with_repeated_headers_and_all_field_versions(case):
    if not (ELASTIC / "aws_vpcflow").exists():
        pytest.skip("corpus not present")
    flags = events(case, ingest(case, ELASTIC / "aws_vpcflow" / "test-tcp-flag-sequence.log"))
    assert sorted(flags) == ["line:2", "line:4", "line:6"]  # header lines consumed, not loaded
    syn = flags["line:2"]
    assert (syn["src_ip"], syn["src_port"], syn["dst_ip"], syn["dst_port"]) == ("52.213.180.42", 43416, "10.0.0.62", 5001)
    assert (syn["tcp_flags"], syn["bytes_out"], syn["packets_out"], syn["action"]) == ("SYN", 568, 8, "allow")
    assert (flags["line:4"]["label"], flags["line:6"]["label"]) == ("SKIPDATA", "NODATA")
    v5 = events(case, ingest(case, ELASTIC / "aws_vpcflow" / "test-v5-all-fields.log"))["line:1"]
    extra = json.loads(v5["extra"])
    assert (v5["src_ip"], v5["dst_port"], v5["proto"], v5["action"]) == ("89.160.20.156", 33004, "udp", "deny")
    assert (extra["pkt-dstaddr"], extra["flow-direction"], extra["pkt-src-aws-service"]) == \
        ("10.200.0.80", "ingress", "AMAZON")
    assert v5["ts"] == utc("1975-03-14T03:34:26Z")  # the fixture's short epoch, kept as written
    v8 = events(case, ingest(case, ELASTIC / "aws_vpcflow" / "test-v8-samples.log"))["line:1"]
    assert (v8["src_ip"], v8["dst_ip"], v8["label"]) == ("2a02:cf40::", "1.128.0.0", "BPA")
    assert json.loads(v8["extra"])["ecs-service-name"] == "payments-service"


# ------------------------------------------------------------------------------------------------
# GCP and Azure
# ------------------------------------------------------------------------------------------------

def test_gcp_flow_records_per_reporter(case):
    eid = ingest(case, DATA / "gcp_vpcflow.json")
    got = events(case, eid)
    tunnel = got["line:1"]
    assert (tunnel["host"], tunnel["direction"], tunnel["bytes_out"], tunnel["packets_out"]) == \
        ("gpu-node-03", "outbound", 5120, 40)
    assert tunnel["ts"] == utc("2026-02-17T02:21:40.436Z")
    assert json.loads(got["line:2"]["extra"])["src_gke_details"]["pod"]["pod_name"] == "sbx-0317"
    # a flow inside the VPC is reported by both ends: two rows, each on its reporter's host
    assert (got["line:3"]["host"], got["line:4"]["host"]) == ("monitor-01", "gpu-node-03")
    assert warnings(case, eid) == {"line:5": "port out of range",
                                   "line:6": "not a JSON object (truncated or corrupt line)"}


def test_azure_nsg_and_vnet_tuples(case):
    nsg = events(case, ingest(case, DATA / "azure_nsg.json"))
    begin, cont = nsg["records[0].tuples[0]"], nsg["records[0].tuples[1]"]
    assert (begin["dst_ip"], begin["dst_port"], begin["action"], begin["bytes_out"]) == ("203.0.113.50", 22, "allow", None)
    assert (cont["packets_out"], cont["bytes_out"], cont["packets_in"], cont["bytes_in"]) == (37, 5120, 30, 9000)
    assert cont["rule"] == "DefaultRule_AllowInternetOutBound" and json.loads(cont["extra"])["flow_state"] == "C"
    denied = nsg["records[0].tuples[3]"]
    assert (denied["action"], denied["host"], denied["rule"]) == ("deny", "gpu-node-01", "UserRule_DenyMiningPool")
    v1 = nsg["records[1].tuples[0]"]
    assert (v1["direction"], v1["action"], v1["src_ip"]) == ("inbound", "deny", "203.0.113.200")
    vnet = events(case, ingest(case, DATA / "azure_vnet.json"))
    assert vnet["records[0].tuples[0]"]["ts"] == utc("2026-02-17T02:31:02.616Z")  # milliseconds
    assert vnet["records[0].tuples[2]"]["action"] == "deny"  # state D
    assert len(vnet) == 3


# ------------------------------------------------------------------------------------------------
# Zeek and Suricata
# ------------------------------------------------------------------------------------------------

def test_zeek_json_conn_log_from_the_corpus(case):
    path = ELASTIC / "zeek_connection" / "test-conn.log"
    if not path.exists():
        pytest.skip("corpus not present")
    eid = ingest(case, path)
    flows = rows(case, "SELECT * FROM flows WHERE evidence_id = ? ORDER BY ts", [eid])
    assert len(flows) == 18
    first = {f["uid"]: f for f in flows}["CAcJw21BbVedgFnYH3"]
    assert (first["orig_h"], first["orig_p"], first["resp_h"], first["resp_p"], first["service"]) == \
        ("192.168.86.167", 38339, "192.168.86.1", 53, "dns")
    assert (first["conn_state"], first["history"], first["orig_ip_bytes"], first["resp_ip_bytes"]) == ("SF", "Dd", 103, 206)
    assert first["ts"] == utc("2019-01-11T06:33:35.857497Z")
    assert case.con.execute("SELECT count(*) FROM net_events WHERE evidence_id = ?", [eid]).fetchall()[0][0] == 18
    assert case.con.execute("SELECT count(*) FROM flows WHERE evidence_id = ? AND ts IS NULL", [eid]).fetchall()[0][0] == 0


def test_zeek_tsv_agrees_with_zeeks_own_columns(case):
    path = ZEEK / "scripts.base.protocols.ssh.basic" / "conn.log"
    if not path.exists():
        pytest.skip("corpus not present")
    eid = ingest(case, path)
    lines = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    header = [line for line in path.read_text().splitlines() if line.startswith("#fields")][0].split("\t")[1:]
    ours = {f["uid"]: f for f in rows(case, "SELECT * FROM flows WHERE evidence_id = ?", [eid])}
    assert len(ours) == len(lines) == 25
    for fields in lines:
        record = dict(zip(header, fields))
        row = ours[record["uid"]]
        assert row["orig_h"] == record["id.orig_h"] and row["resp_p"] == int(record["id.resp_p"])
        assert row["conn_state"] == record["conn_state"] and row["history"] == (None if record["history"] == "-" else record["history"])
        assert row["orig_ip_bytes"] == int(record["orig_ip_bytes"])
        assert row["ts"] is None  # btest canonifies ts to XXXXXXXXXX.XXXXXX
    assert any("not a time" in reason for reason in warnings(case, eid).values())


def test_suricata_eve_from_the_corpus(case):
    path = ELASTIC / "suricata_eve" / "test-eve-small.log"
    if not path.exists():
        pytest.skip("corpus not present")
    eid = ingest(case, path)
    alert = rows(case, "SELECT * FROM net_events WHERE evidence_id = ? AND action = 'alert'", [eid])[0]
    assert alert["label"] == "ET POLICY Observed IP Lookup Domain (l2 .io in TLS SNI)" and alert["rule"] == "2024833"
    assert alert["ts"] == utc("2018-07-05T15:07:20.910626-04:00")
    assert json.loads(alert["extra"])["sni"] == "l2.io"
    flow = rows(case, "SELECT * FROM flows WHERE evidence_id = ?", [eid])
    assert len(flow) == 1 and (flow[0]["orig_h"], flow[0]["resp_h"]) == ("fe80::fada:cff:fedc:87f1", "ff02::1:2")
    ssh = rows(case, "SELECT * FROM ssh_sessions WHERE evidence_id = ?", [eid])[0]
    assert (ssh["client"], ssh["server"], ssh["resp_p"]) == ("SSH-2.0-OpenSSH_7.6", "SSH-2.0-libssh_0.7.0", 22)
    assert case.con.execute("SELECT count(*) FROM tls WHERE evidence_id = ?", [eid]).fetchall()[0][0] == 3
    assert case.con.execute("SELECT list(query) FROM dns WHERE evidence_id = ?", [eid]).fetchall()[0][0] == \
        ["clients.l.google.com"]
    assert case.con.execute("SELECT count(*) FROM http WHERE evidence_id = ?", [eid]).fetchall()[0][0] == 3
    # the IDS alert becomes a finding under its own signature
    case.detect(names=["firewall_alert"])
    found = rows(case, "SELECT * FROM findings WHERE detector = 'detect/firewall_alert' AND src_ip = '192.168.86.85'")
    assert found and found[0]["title"] == "IDS alert: ET POLICY Observed IP Lookup Domain (l2 .io in TLS SNI)"


def test_sniffers_tell_the_formats_apart():
    samples = {"alibaba_cloudfw": DATA / "cloudfw.csv", "alibaba_vpcflow": DATA / "alibaba_vpcflow.json",
               "gcp_vpcflow": DATA / "gcp_vpcflow.json", "azure_flow": DATA / "azure_nsg.json"}
    names = list(samples) + ["aws_vpcflow", "zeek_conn", "suricata_eve", "netfilter", "journald"]
    for expected, path in samples.items():
        head = path.read_bytes()[:65536]
        scores = {n: get_parser(n).sniff(Sniff(name="x", path="x", head=head)) for n in names}
        assert max(scores, key=scores.get) == expected, (expected, scores)
