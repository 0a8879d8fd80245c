"""Detections over firewall and flow records, each on tiny tables built here.

The cluster: gpu-node-03 (10.20.1.13, EIP 198.51.100.13) runs sandboxes on 10.244.3.0/24;
monitor-01 (10.20.0.5) is the monitoring host; 203.0.113.0/24 is outside.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from forensics import Case

DATA = Path(__file__).resolve().parent / "data" / "firewall"
T0 = datetime(2026, 2, 17, 2, 15, 0, tzinfo=timezone.utc)
FIREWALL = ["internal_probe", "suspicious_egress", "denied_egress", "firewall_alert", "inbound_bruteforce"]


@pytest.fixture(scope="module")
def shared_case(tmp_path_factory):
    with Case(tmp_path_factory.mktemp("detections") / "case.duckdb") as c:
        c.ingest([str(DATA / "inventory.yaml")])
        yield c


@pytest.fixture
def case(shared_case):
    """The module's case with the inventory, emptied of records and findings for each test."""
    for table in ("net_events", "flows", "findings"):
        shared_case.con.execute(f"DELETE FROM {table}")
    return shared_case


def add_events(case: Case, rows: list[dict]) -> None:
    """net_events rows; direction is computed the way parsers compute it."""
    from forensics.firewall.addresses import ClusterAddresses

    addresses = ClusterAddresses.from_case(case.con)
    for i, row in enumerate(rows):
        row.setdefault("evidence_id", 100)
        row.setdefault("locator", f"line:{i + 1}")
        row.setdefault("source_format", "netfilter")
        row.setdefault("proto", "tcp")
        row.setdefault("direction", _direction(addresses, row["src_ip"], row["dst_ip"]))
    columns = sorted({k for row in rows for k in row})
    values = [[row.get(c) for c in columns] for row in rows]
    placeholders = ", ".join("?" for _ in columns)
    case.con.executemany(f"INSERT INTO net_events ({', '.join(columns)}) VALUES ({placeholders})", values)


def add_flows(case: Case, rows: list[dict]) -> None:
    for i, row in enumerate(rows):
        row.setdefault("evidence_id", 200)
        row.setdefault("locator", f"frame:{i + 1}")
        row.setdefault("source_format", "pcap")
        row.setdefault("proto", "tcp")
        row.setdefault("host", "gpu-node-03")
    columns = sorted({k for row in rows for k in row})
    values = [[row.get(c) for c in columns] for row in rows]
    case.con.executemany(f"INSERT INTO flows ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                         values)


def _direction(addresses, src, dst):
    s, d = addresses.is_cluster(src), addresses.is_cluster(dst)
    return "internal" if s and d else "outbound" if s else "inbound" if d else "external"


def findings(case: Case, kind: str | None = None, **params) -> list[dict]:
    case.detect(names=FIREWALL, params=params or None)
    cursor = case.con.execute(
        "SELECT * FROM findings WHERE detector IN (" + ", ".join(f"'detect/{n}'" for n in FIREWALL) + ")"
        + (" AND kind = ?" if kind else "") + " ORDER BY ts_start", [kind] if kind else [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


# ------------------------------------------------------------------------------------------------
# Internal probing
# ------------------------------------------------------------------------------------------------

def test_sandbox_sweeping_an_internal_port_is_a_probe(case):
    add_events(case, [dict(ts=T0 + timedelta(seconds=i), host="gpu-node-03", src_ip="10.244.3.33",
                           src_port=41000 + i, dst_ip=f"10.20.1.{i + 1}", dst_port=8080, action="deny",
                           rule="[SBX-EGRESS-DROP]", tcp_flags="SYN") for i in range(30)])
    found = findings(case, "probe")
    assert len(found) == 1
    probe = found[0]
    assert (probe["host"], probe["src_ip"], probe["dst_port"], probe["severity"]) == \
        ("gpu-node-03", "10.244.3.33", 8080, "high")
    assert probe["attack_ids"] == ["T1046"]
    assert "30 failed or denied connection attempts to 30 internal hosts on ports 8080" in probe["summary"]
    assert len(probe["evidence_refs"]) == 30
    assert probe["evidence_refs"][0] == {"tbl": "net_events", "evidence_id": 100, "locator": "line:1"}
    details = json.loads(probe["details"])
    assert details["denied"] == 30 and details["rules"] == ["[SBX-EGRESS-DROP]"]


def test_fewer_hosts_than_the_threshold_is_not_a_probe_unless_asked(case):
    add_events(case, [dict(ts=T0 + timedelta(seconds=i), host="gpu-node-03", src_ip="10.244.3.33",
                           dst_ip=f"10.20.1.{i + 1}", dst_port=80, action="deny") for i in range(24)])
    assert findings(case, "probe") == []
    assert len(findings(case, "probe", min_hosts=20)) == 1


def test_failed_flows_count_with_zeek_conn_state_semantics(case):
    states = ["S0", "REJ", "RSTOS0", "SH", "OTH"] * 6  # 30 failed attempts on port 22
    flows = [dict(ts=T0 + timedelta(seconds=i), uid=f"C{i}", orig_h="10.20.1.13", orig_p=50000 + i,
                  resp_h=f"10.20.1.{i + 1}", resp_p=22, conn_state=state, resp_pkts=0, resp_bytes=0)
             for i, state in enumerate(states)]
    # answered attempts never count: a reset with a reply, a full connection
    flows += [dict(ts=T0, uid="Cx", orig_h="10.20.1.13", orig_p=1, resp_h="10.20.1.90", resp_p=22,
                   conn_state="RSTO", resp_pkts=3, resp_bytes=120),
              dict(ts=T0, uid="Cy", orig_h="10.20.1.13", orig_p=2, resp_h="10.20.1.91", resp_p=22,
                   conn_state="SF", resp_pkts=5, resp_bytes=300)]
    add_flows(case, flows)
    probe = findings(case, "probe")[0]
    assert probe["src_ip"] == "10.20.1.13" and "to 30 internal hosts" in probe["summary"]
    assert {r["tbl"] for r in probe["evidence_refs"]} == {"flows"}
    assert json.loads(probe["details"])["failed"] == 30


def test_many_ports_on_one_host_is_a_probe(case):
    add_flows(case, [dict(ts=T0 + timedelta(seconds=i), uid=f"C{i}", orig_h="10.244.3.33", orig_p=40000 + i,
                          resp_h="10.20.1.20", resp_p=1000 + i, conn_state="REJ") for i in range(16)])
    probe = findings(case, "probe")[0]
    assert probe["dst_ip"] == "10.20.1.20" and "1 hosts probed on at least 15 ports" in probe["summary"]


def test_monitoring_host_reaching_every_port_is_not_a_scan(case):
    add_flows(case, [dict(ts=T0 + timedelta(milliseconds=51 * i), uid=f"M{i}", orig_h="10.20.0.5",
                          orig_p=30000 + i, resp_h=f"10.20.1.{11 + i % 4}", resp_p=[22, 80, 443, 9100][i // 4 % 4] + i,
                          conn_state="SF", resp_pkts=4, resp_bytes=500) for i in range(80)])
    add_events(case, [dict(ts=T0 + timedelta(seconds=i), host="gpu-node-03", src_ip="10.20.0.5",
                           dst_ip="10.20.1.13", dst_port=port, action="allow", rule="ACCEPT-NEW-IN:")
                      for i, port in enumerate(range(9000, 9040))])
    assert findings(case, "probe") == []


def test_monitoring_host_that_does_trip_the_threshold_is_said_to_be_one(case):
    add_flows(case, [dict(ts=T0 + timedelta(seconds=i), uid=f"M{i}", orig_h="10.20.0.5", orig_p=30000 + i,
                          resp_h="10.20.1.13", resp_p=2000 + i, conn_state="REJ") for i in range(20)])
    probe = findings(case, "probe")[0]
    assert probe["severity"] == "medium" and "(source is a monitoring host)" in probe["summary"]


def test_attempts_spread_over_windows_do_not_add_up(case):
    add_events(case, [dict(ts=T0 + timedelta(minutes=5 * (i // 10), seconds=i % 10), host="gpu-node-03",
                           src_ip="10.244.3.33", dst_ip=f"10.20.1.{i + 1}", dst_port=80, action="deny")
                      for i in range(30)])
    assert findings(case, "probe") == []


# ------------------------------------------------------------------------------------------------
# Egress
# ------------------------------------------------------------------------------------------------

def cloudfw(**row):
    row.setdefault("source_format", "alibaba_cloudfw")
    row.setdefault("action", "allow")
    return row


def test_long_lived_ssh_from_a_training_host_is_high_and_short_ssh_low(case):
    windows = [cloudfw(ts=T0 + timedelta(minutes=6), ts_end=T0 + timedelta(minutes=10 * (k + 1)),
                       host="gpu-node-03", src_ip="198.51.100.13", src_private_ip="10.20.1.13", src_port=43218,
                       dst_ip="203.0.113.50", dst_port=22, bytes_out=5000, bytes_in=4000, locator=f"line:{k}")
               for k in range(13)]
    git = cloudfw(ts=T0 + timedelta(minutes=25), ts_end=T0 + timedelta(minutes=25, seconds=6), host="gpu-node-03",
                  src_ip="198.51.100.13", src_private_ip="10.20.1.13", src_port=52914, dst_ip="192.0.2.40",
                  dst_port=22, bytes_out=6140, bytes_in=131204, locator="line:99")
    add_events(case, windows + [git])
    egress = {f["dst_ip"]: f for f in findings(case, "egress")}
    tunnel = egress["203.0.113.50"]
    assert tunnel["severity"] == "high" and tunnel["attack_ids"] == ["T1572"]
    assert tunnel["src_ip"] == "10.20.1.13" and "13 record(s)" in tunnel["summary"]
    assert "65000 bytes out, 52000 bytes in" in tunnel["summary"]  # summed within one source only
    assert len(tunnel["evidence_refs"]) == 13
    assert egress["192.0.2.40"]["severity"] == "low"


def test_miner_port_egress_and_the_logged_syn(case):
    add_events(case, [dict(ts=T0, host="gpu-node-03", src_ip="10.244.3.33", src_port=44512, dst_ip="198.51.100.77",
                           dst_port=3333, action="allow", rule="[SBX-EGRESS-ALLOW]", tcp_flags="SYN", bytes_out=60,
                           packets_out=1)])
    found = findings(case, "egress")[0]
    assert found["severity"] == "high" and found["attack_ids"] == ["T1496.001", "T1571"]
    assert "a known mining-pool port, one logged packet" in found["summary"]


def test_inbound_and_monitoring_traffic_is_never_egress(case):
    add_events(case, [
        cloudfw(ts=T0, src_ip="203.0.113.200", src_port=4000, dst_ip="198.51.100.13", dst_port=22),
        dict(ts=T0, host="monitor-01", src_ip="10.20.0.5", dst_ip="203.0.113.9", dst_port=22, action="allow"),
    ])
    assert findings(case, "egress") == []


def test_blocked_egress_names_the_rule(case):
    add_events(case, [cloudfw(ts=T0 + timedelta(hours=1), ts_end=T0 + timedelta(hours=1, seconds=63),
                              host="gpu-node-01", src_ip="198.51.100.11", src_private_ip="10.20.1.11", src_port=51244,
                              dst_ip="203.0.113.50", dst_port=22, action="deny", packets_out=7, bytes_out=420,
                              rule="5f0c3a9e-6b2d-4c1e-9a7f-2d8e41b0c317")])
    found = findings(case, "denied_egress")[0]
    assert (found["host"], found["src_ip"], found["dst_ip"], found["dst_port"], found["severity"]) == \
        ("gpu-node-01", "10.20.1.11", "203.0.113.50", 22, "high")
    assert "by rule 5f0c3a9e-6b2d-4c1e-9a7f-2d8e41b0c317" in found["summary"] and "7 packet(s)" in found["summary"]


# ------------------------------------------------------------------------------------------------
# The firewall's own alerts, and inbound brute force
# ------------------------------------------------------------------------------------------------

def test_cloud_firewall_mining_alert_keeps_its_labels(case):
    extra = json.dumps({"attack_type_name": "挖矿行为", "attack_type_name_en": "Mining Behavior",
                        "ips_rule_name": "主机挖矿行为", "ips_rule_name_en": "Mining behavior on the host",
                        "log_time": "1771295500"}, ensure_ascii=False)
    add_events(case, [cloudfw(ts=T0 + timedelta(minutes=16), host="gpu-node-03", src_ip="198.51.100.13",
                              src_private_ip="10.20.1.13", src_port=44512, dst_ip="198.51.100.77", dst_port=3333,
                              action="alert", label="Mining Behavior", extra=extra)])
    found = findings(case, "firewall_alert")[0]
    assert found["title"] == "Firewall alert: Mining Behavior" and found["severity"] == "high"
    assert "挖矿行为" in found["summary"] and "Mining behavior on the host" in found["summary"]
    assert found["attack_ids"] == ["T1496.001", "T1571"]
    assert found["ts_start"] == datetime(2026, 2, 17, 2, 31, 40, tzinfo=timezone.utc)  # when it was logged
    assert json.loads(found["details"])["attack_type_name"] == ["挖矿行为"]


def test_inbound_brute_force_is_its_own_unattributed_finding(case):
    attempts = [cloudfw(ts=T0 + timedelta(seconds=4 * i), src_ip="203.0.113.200", src_port=42000 + i,
                        dst_ip="198.51.100.13", dst_port=22, host="gpu-node-03",
                        action="deny" if i >= 10 else "allow") for i in range(30)]
    attempts += [dict(ts=T0 + timedelta(seconds=4 * i), host="gpu-node-03", src_ip="203.0.113.200",
                      src_port=42000 + i, dst_ip="10.20.1.13", dst_port=22, action="deny", rule="[UFW BLOCK]",
                      locator=f"line:{500 + i}") for i in range(10)]
    add_events(case, attempts)
    found = findings(case)
    brute = [f for f in found if f["kind"] == "inbound_bruteforce"]
    assert len(brute) == 1
    assert brute[0]["host"] == "gpu-node-03" and brute[0]["src_ip"] == "203.0.113.200"
    assert "made 30 connection attempts to port 22" in brute[0]["summary"]
    assert "no agent or job inside the cluster caused it" in brute[0]["summary"]
    assert json.loads(brute[0]["details"])["attributable"] is False
    # and nothing about it is blamed on the host's egress or called a probe
    assert not [f for f in found if f["kind"] in ("egress", "denied_egress", "probe")]


def test_few_inbound_attempts_are_not_brute_force(case):
    add_events(case, [cloudfw(ts=T0 + timedelta(seconds=i), src_ip="203.0.113.7", src_port=1000 + i,
                              dst_ip="198.51.100.13", dst_port=22) for i in range(5)])
    assert findings(case, "inbound_bruteforce") == []
