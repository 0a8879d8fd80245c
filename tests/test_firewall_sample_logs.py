"""The sample incident's kernel logs and cloud firewall export, against its ground truth.

traj-000317 probes the cluster VPC from sandbox 10.244.3.33 on gpu-node-03 (whose clock runs
4.2 s slow), tunnels to 203.0.113.50:22 and mines at 198.51.100.77:3333; traj-000842 on
gpu-node-01 tries again and the cloud firewall drops it. The decoys: monitor-01's sweeps and an
inbound SSH brute force from 203.0.113.200, which must not be blamed on a training host.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from forensics import Case

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
TRUTH = SAMPLE / "ground_truth.json"
FIREWALL = ["internal_probe", "suspicious_egress", "denied_egress", "firewall_alert", "inbound_bruteforce"]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def truth() -> dict:
    if not TRUTH.exists():
        pytest.skip("sample_logs/ground_truth.json is not present")
    return json.loads(TRUTH.read_text())


@pytest.fixture(scope="module")
def case(truth, tmp_path_factory):
    paths = [SAMPLE / "inventory.yaml", SAMPLE / "cloudfirewall"] + sorted((SAMPLE / "nodes").glob("*/kern.log*"))
    with Case(tmp_path_factory.mktemp("sample") / "case.duckdb") as c:
        summary = c.ingest([str(p) for p in paths])
        assert not [o for o in summary.outcomes if o.status == "failed"]
        c.detect(names=FIREWALL)
        yield c


def rows(case: Case, sql: str, args=()) -> list[dict]:
    cursor = case.con.execute(sql, list(args))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def test_every_firewall_record_loads(case):
    counts = dict(case.con.execute(
        "SELECT source_format, count(*) FROM net_events GROUP BY ALL").fetchall())
    lines = sum(1 for _ in (SAMPLE / "cloudfirewall" / "cloudfirewall-logstore_dump_0.json").open())
    assert counts["alibaba_cloudfw"] == lines
    assert counts["netfilter"] > 5000
    assert case.con.execute("SELECT count(*) FROM parse_warnings WHERE locator IS NOT NULL").fetchone()[0] == 0
    # kern.log stamps have neither year nor zone: the inventory gives 2026 and Asia/Shanghai
    assert case.con.execute("SELECT bool_and(ts_inferred) FROM net_events WHERE source_format = 'netfilter'"
                            ).fetchone()[0]


def test_probe_from_the_malicious_sandbox_is_a_finding(case, truth):
    probe = truth["probe"]
    sandbox_ip = truth["malicious_trajectories"][0]["sandbox_ip"]
    found = rows(case, "SELECT * FROM findings WHERE kind = 'probe'")
    assert len(found) == 1
    finding = found[0]
    assert (finding["host"], finding["src_ip"]) == ("gpu-node-03", sandbox_ip)
    details = json.loads(finding["details"])
    assert details["denied"] == probe["outcomes"]["drop"] == 120
    assert details["destinations"] == 40 and details["ports"] == [80, 443, 8080]
    assert details["rules"] == ["[SBX-EGRESS-DROP]"]
    # stored as gpu-node-03 logged it: 4.2 s behind the true first packet (not corrected here)
    skew = timedelta(seconds=truth["clock_skew"]["gpu-node-03"])
    first = when(truth["first_agent_network_action"]["first_packet"])
    assert abs(finding["ts_start"] - (first + skew)) < timedelta(seconds=1.5)
    assert finding["ts_end"] <= when(probe["end"]) + skew + timedelta(seconds=1)
    assert finding["attack_ids"] == ["T1046"] and len(finding["evidence_refs"]) == 120


def test_blocked_second_attempt_is_a_finding(case, truth):
    blocked = truth["blocked_attempt"]
    found = {(f["dst_ip"], f["dst_port"]): f for f in rows(
        case, "SELECT * FROM findings WHERE kind = 'denied_egress' AND host = 'gpu-node-01'")}
    for attempt in blocked["attempts"]:
        ip, port = attempt["dst"].split(":")
        finding = found[(ip, int(port))]
        assert finding["src_ip"] == "10.20.1.11"
        assert blocked["acl"]["rule_id"] in finding["summary"]
        assert abs(finding["ts_start"] - when(attempt["syn"])) < timedelta(seconds=1)
        assert json.loads(finding["details"])["packets"] == 7
    # the node's own log shows the same attempt leaving the sandbox: SSH egress, 7 SYNs
    syn = rows(case, "SELECT * FROM findings WHERE kind = 'egress' AND host = 'gpu-node-01' AND dst_ip = '203.0.113.50'")
    assert len(syn) == 1 and "7 logged packets" in syn[0]["summary"]


def test_tunnel_and_mining_egress_with_the_firewall_counters(case, truth):
    tunnel = rows(case, "SELECT * FROM findings WHERE kind = 'egress' AND dst_ip = ? AND dst_port = ? "
                        "AND json_extract_string(details, '$.source_format') = 'alibaba_cloudfw'",
                  [truth["tunnel"]["endpoint"]["ip"], truth["tunnel"]["endpoint"]["port"]])
    assert len(tunnel) == 1
    assert tunnel[0]["severity"] == "high" and tunnel[0]["host"] == "gpu-node-03"
    assert "78952 bytes out, 54658 bytes in" in tunnel[0]["summary"]
    assert abs(tunnel[0]["ts_start"] - when(truth["first_external_egress"]["ts"])) < timedelta(seconds=1)
    mining = rows(case, "SELECT * FROM findings WHERE kind = 'firewall_alert'")
    assert len(mining) == 1
    alert = truth["first_firewall_alert"]
    assert mining[0]["ts_start"] == when(alert["ts"])
    assert alert["attack_type_name"] in mining[0]["summary"] and alert["attack_type_name_en"] in mining[0]["summary"]
    assert (mining[0]["dst_ip"], mining[0]["dst_port"]) == (alert["dst_ip"], alert["dst_port"])


def test_decoys_are_not_blamed_on_training_hosts(case, truth):
    brute, monitor = truth["decoys"][0], truth["decoys"][1]
    assert brute["kind"] == "inbound_ssh_brute_force"
    blamed = rows(case, "SELECT * FROM findings WHERE kind IN ('egress', 'denied_egress', 'probe') "
                        "AND (src_ip = ? OR dst_ip = ? OR src_ip = '10.20.0.5')", [brute["src_ip"], brute["src_ip"]])
    assert blamed == []
    found = rows(case, "SELECT * FROM findings WHERE kind = 'inbound_bruteforce'")
    assert len(found) == 1
    assert found[0]["src_ip"] == brute["src_ip"] and found[0]["host"] == "gpu-node-01"
    assert f"made {brute['attempts']} connection attempts" in found[0]["summary"]
    assert f"{brute['dropped_by_ips']} blocked" in found[0]["summary"]
    assert "monitor" in json.dumps(monitor).lower()
