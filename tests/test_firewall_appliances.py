"""Appliance firewalls and packet loggers: pfSense/OPNsense filterlog (the corpus), Cisco ASA,
CEF and ulogd2 JSON (samples in tests/data/firewall)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics import Case

DATA = Path(__file__).resolve().parent / "data" / "firewall"
PFSENSE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "flowlogs" / "elastic-integrations" / "pfsense"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    with Case(tmp_path_factory.mktemp("appliances") / "case.duckdb") as c:
        c.ingest([str(DATA / "inventory.yaml")])
        yield c


def load(case: Case, path: Path, **hints) -> tuple[dict[str, dict], dict]:
    outcome = case.ingest([str(path)], **hints).outcomes[0]
    assert outcome.status == "parsed", outcome.message
    cursor = case.con.execute("SELECT * FROM net_events WHERE evidence_id = ?", [outcome.evidence_id])
    names = [d[0] for d in cursor.description]
    found = {r[names.index("locator")]: dict(zip(names, r)) for r in cursor.fetchall()}
    warned = dict(case.con.execute("SELECT locator, reason FROM parse_warnings WHERE evidence_id = ?",
                                   [outcome.evidence_id]).fetchall())
    return found, warned


def test_pfsense_bsd_filterlog_every_record(case):
    if not PFSENSE.exists():
        pytest.skip("corpus not present")
    got, _ = load(case, PFSENSE / "test-pfsense-bsd.log", year=2023, timezone="UTC")
    assert len(got) == 19
    actions = [r["action"] for r in got.values()]
    assert actions.count("deny") == 14 and actions.count("allow") == 5
    first = got["line:1"]
    assert (first["src_ip"], first["src_port"], first["dst_ip"], first["dst_port"], first["proto"]) == \
        ("10.170.12.50", 49724, "1.1.1.1", 853, "tcp")
    assert first["tcp_flags"] == "SYN" and first["rule"] == "1535324496" and first["bytes_out"] == 60
    assert json.loads(first["extra"])["interface"] == "igb1.12"
    assert first["ts"] == utc("2023-07-03T19:10:30Z") and first["ts_inferred"]
    v6 = got["line:7"]
    assert (v6["src_ip"], v6["dst_ip"], v6["src_port"], v6["dst_port"]) == ("fe80::208:9bff:fef3:652b", "ff02::1:2", 546, 547)
    assert got["line:17"]["proto"] == "igmp" and got["line:18"]["proto"] == "icmp"


def test_pfsense_rfc5424_and_opnsense(case):
    if not PFSENSE.exists():
        pytest.skip("corpus not present")
    got, _ = load(case, PFSENSE / "test-pfsense-syslog.log")
    assert len(got) == 13 and sum(r["action"] == "deny" for r in got.values()) == 8
    assert got["line:1"]["ts"] == utc("2021-07-03T19:10:14.578288-05:00") and not got["line:1"]["ts_inferred"]
    assert json.loads(got["line:1"]["extra"])["device"] == "pfSense.example.com"
    opn, warned = load(case, PFSENSE / "test-opensense.log", year=2023, timezone="UTC")
    assert len(opn) == 3  # dhcpd and unbound lines are not packet records
    assert opn["line:5"]["action"] == "allow" and opn["line:5"]["rule"] == "fae559338f65e11c53669fc3642c93c2"
    assert json.loads(opn["line:5"]["extra"])["interface"] == "ixl1_vlan70"
    assert warned[None] == "2 lines of other programs (dhcpd, unbound ...) skipped"


def test_cisco_asa_pairs_builds_and_teardowns(case):
    got, warned = load(case, DATA / "asa.log")  # the inventory's Asia/Shanghai applies
    tunnel = got["line:1"]  # outbound build: the inside host is the client
    assert (tunnel["src_ip"], tunnel["src_port"], tunnel["dst_ip"], tunnel["dst_port"]) == \
        ("10.20.1.13", 43218, "203.0.113.50", 22)
    assert tunnel["ts"] == utc("2026-02-17T02:21:40Z") and tunnel["ts_end"] == utc("2026-02-17T04:40:00Z")
    extra = json.loads(tunnel["extra"])
    assert (extra["bytes_total"], extra["teardown_locator"], extra["teardown_reason"]) == (133610, "line:7", "TCP FINs")
    assert tunnel["bytes_out"] is None and tunnel["host"] == "gpu-node-03" and tunnel["direction"] == "outbound"
    assert extra["device"] == "asa-edge"
    inbound = got["line:2"]
    assert (inbound["src_ip"], inbound["dst_port"], inbound["direction"]) == ("203.0.113.7", 53, "inbound")
    assert inbound["ts_end"] == utc("2026-02-17T02:22:00Z")
    deny = got["line:4"]
    assert (deny["action"], deny["rule"], deny["host"]) == ("deny", "inside_access_out", "gpu-node-01")
    assert got["line:5"]["tcp_flags"] == "SYN" and got["line:6"]["rule"] == "outside_in"
    orphan = got["line:8"]  # teardown without its build: starts duration before it
    assert (orphan["src_ip"], orphan["dst_port"]) == ("10.20.1.13", 3333)
    assert orphan["ts"] == utc("2026-02-17T02:31:03Z") and orphan["ts_end"] == utc("2026-02-17T04:40:01Z")
    assert got["line:9"]["ts_end"] is None  # still open at the end of the file
    assert "line:3" not in got and "line:7" not in got  # teardowns folded into their builds
    assert warned["line:10"] == "ASA message with an invalid address or port"
    assert warned[None] == "1 ASA messages of other kinds skipped"


def test_cef_records(case):
    got, warned = load(case, DATA / "events.cef")
    plain = got["line:1"]
    assert (plain["src_ip"], plain["dst_port"], plain["proto"], plain["label"], plain["action"]) == \
        ("89.160.20.156", 443, "tcp", "Web request", None)
    assert plain["ts"] is None  # no rt and no syslog stamp: loaded, and said so
    assert warned["line:1"].startswith("record without a time stamp")
    ids = got["line:2"]
    assert (ids["action"], ids["rule"], ids["label"]) == ("alert", "2024792", "ET POLICY Cryptocurrency Miner Checkin")
    assert ids["ts"] == utc("2026-02-17T02:31:41Z") and not ids["ts_inferred"]
    extra = json.loads(ids["extra"])
    assert extra["msg"] == "stratum login with a=b = escaped" and extra["cs1"] == "45hrUrUV"
    fw = got["line:3"]
    assert (fw["action"], fw["bytes_out"], fw["bytes_in"], fw["proto"]) == ("deny", 420, 0, "tcp")
    assert fw["ts"] == utc("2026-02-17T03:05:12Z")  # rt with its zone wins over the syslog stamp
    assert json.loads(fw["extra"])["cs2"] == "a|pipe in a value" and fw["label"] == "Connection denied|blocked"
    assert warned["line:4"] == "port out of range"
    assert warned["line:5"] == "CEF record with fewer than 7 header fields"


def test_ulogd_json(case):
    got, warned = load(case, DATA / "ulogd.json")
    out = got["line:1"]
    assert (out["src_ip"], out["dst_port"], out["tcp_flags"], out["rule"], out["action"]) == \
        ("10.20.1.13", 22, "SYN", "[NFLOG-OUT-ALLOW]", "allow")
    assert out["ts"] == utc("2026-02-17T10:21:36+08:00") and out["ts_inferred"]  # local stamp, inventory zone
    assert json.loads(out["extra"])["uid"] == 1000
    icmp = got["line:2"]
    assert icmp["ts"] == utc("2026-02-17T10:21:37+08:00") and not icmp["ts_inferred"]
    assert (icmp["proto"], icmp["action"], json.loads(icmp["extra"])["icmp_type"]) == ("icmp", "deny", 8)
    assert warned == {"line:3": "port out of range", "line:4": "not a JSON object (truncated or corrupt line)"}
