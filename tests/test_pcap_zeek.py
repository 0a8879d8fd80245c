"""flows, ssh_sessions and dns against Zeek's own logs for the Zeek test traces.

Zeek's btest baselines (conn.log, ssh.log, dns.log) are the oracle. Timestamps and uids are
canonified in the baselines, so rows are matched on their 5-tuple (in order, for repeated tuples)
and every other field both logs have is compared. Where we differ from Zeek on purpose, the
difference is listed in KNOWN_DIFFERENCES with the reason; everything else must be equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forensics import Case

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ZEEK = CORPUS / "pcap" / "zeek"

# Zeek ends a connection's duration at the packet that closes it (the second FIN, or a RST);
# durations are printed to the microsecond.
DURATION_TOLERANCE_S = 2e-6

CONN_FIELDS = ["proto", "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "history", "orig_pkts",
               "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"]

# (baseline, 5-tuple, field) -> why we differ
KNOWN_DIFFERENCES = {
    # Zeek's history letter for "inside a VXLAN tunnel" on ICMP; we keep history for TCP and UDP only.
    ("core.tunnels.vxlan", ("10.0.0.1", "8", "10.0.0.2", "0", "icmp"), "history"),
    # One Teredo bubble from a relay Zeek did not confirm as Teredo; tshark's dissector names it.
    ("core.tunnels.teredo", ("192.168.2.16", "3797", "65.55.158.81", "3544", "udp"), "service"),
}


def read_zeek(path: Path) -> list[dict[str, str]]:
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def zeek_value(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN: unset
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}" if not value.is_integer() or value == 0 else str(int(value))
    return str(value)


def need(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"corpus file {path} not present")


TRACES = ["ssh/ssh.pcap", "ssh/ssh_kex_curve25519.pcap", "ssh/ssh_version_199.pcap", "tunnels/gre-sample.pcap",
          "tunnels/vxlan.pcap", "tunnels/geneve.pcap", "tunnels/Teredo.pcap", "tunnels/ayiya3.pcap", "dns53.pcap"]


@pytest.fixture(scope="module")
def zeek_case(tmp_path_factory):
    """Every Zeek trace in one case (one evidence file each)."""
    present = [ZEEK / "traces" / t for t in TRACES if (ZEEK / "traces" / t).exists()]
    if not present:
        pytest.skip("Zeek traces not present")
    case = Case(tmp_path_factory.mktemp("zeek") / "case.duckdb")
    case.ingest([str(p) for p in present])
    yield case
    case.close()


def rows(case: Case, table: str, trace: Path, order: str = "ts") -> list[dict]:
    return case.sql(f"SELECT t.* FROM {table} t JOIN evidence e USING (evidence_id) WHERE e.path = ? ORDER BY {order}",
                    [str(trace)]).to_dict("records")


CONN_CASES = [
    ("ssh/ssh.pcap", "scripts.base.protocols.ssh.basic"),
    ("tunnels/gre-sample.pcap", "core.tunnels.gre"),
    ("tunnels/vxlan.pcap", "core.tunnels.vxlan"),
    ("tunnels/geneve.pcap", "core.tunnels.geneve"),
    ("tunnels/Teredo.pcap", "core.tunnels.teredo"),
    ("tunnels/ayiya3.pcap", "core.tunnels.ayiya"),
]


@pytest.mark.parametrize("trace, baseline", CONN_CASES)
def test_flows_agree_with_zeek_conn_log(zeek_case, trace, baseline):
    trace_path, log = ZEEK / "traces" / trace, ZEEK / "baselines" / baseline / "conn.log"
    need(trace_path, log)
    flows = rows(zeek_case, "flows", trace_path)
    ours: dict[tuple, list[dict]] = {}
    for row in flows:
        key = (row["orig_h"], str(row["orig_p"]), row["resp_h"], str(row["resp_p"]), row["proto"])
        ours.setdefault(key, []).append(row)
    expected = read_zeek(log)
    differences = []
    for zrow in expected:
        key = (zrow["id.orig_h"], zrow["id.orig_p"], zrow["id.resp_h"], zrow["id.resp_p"], zrow["proto"])
        assert ours.get(key), f"{baseline}: Zeek's connection {key} is missing"
        row = ours[key].pop(0)
        for field in CONN_FIELDS:
            if (baseline, key, field) in KNOWN_DIFFERENCES:
                continue
            ours_value = zeek_value(row[field])
            if field == "duration" and zrow[field] != "-" and ours_value != "-":
                if abs(float(zrow[field]) - float(ours_value)) > DURATION_TOLERANCE_S:
                    differences.append((key, field, zrow[field], ours_value))
            elif ours_value != zrow[field]:
                differences.append((key, field, zrow[field], ours_value))
    extra = [key for key, rows in ours.items() for _ in rows]
    assert not differences, differences
    assert not extra, f"connections Zeek does not have: {extra}"
    assert len(flows) == len(expected)
    uids = [r["uid"] for r in flows]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"C[0-9a-f]{17}", u) for u in uids)
    assert all(re.fullmatch(r"frame:\d+", r["locator"]) for r in flows)


SSH_CASES = [
    ("ssh/ssh.pcap", "scripts.base.protocols.ssh.basic"),
    ("ssh/ssh_kex_curve25519.pcap", "scripts.base.protocols.ssh.curve25519_kex"),
    ("ssh/ssh_version_199.pcap", "scripts.base.protocols.ssh.ssh_version_199"),
    ("tunnels/gre-sample.pcap", "core.tunnels.gre"),
]
SSH_FIELDS = ["version", "client", "server", "cipher_alg", "mac_alg", "compression_alg", "kex_alg", "host_key_alg"]


@pytest.mark.parametrize("trace, baseline", SSH_CASES)
def test_ssh_sessions_agree_with_zeek_ssh_log(zeek_case, trace, baseline):
    trace_path, log = ZEEK / "traces" / trace, ZEEK / "baselines" / baseline / "ssh.log"
    need(trace_path, log)
    ours = {(r["orig_h"], str(r["orig_p"]), r["resp_h"], str(r["resp_p"])): r
            for r in rows(zeek_case, "ssh_sessions", trace_path)}
    expected = read_zeek(log)
    assert len(ours) == len(expected)
    differences = []
    for zrow in expected:
        key = (zrow["id.orig_h"], zrow["id.orig_p"], zrow["id.resp_h"], zrow["id.resp_p"])
        row = ours[key]
        for field in SSH_FIELDS:
            if zeek_value(row[field]) != zrow[field]:
                differences.append((key, field, zrow[field], row[field]))
    assert not differences, differences


def test_dns_of_a_lone_response_is_flipped_like_zeek(zeek_case):
    trace, log = ZEEK / "traces" / "dns53.pcap", ZEEK / "baselines" / "scripts.base.protocols.dns.flip" / "dns.log"
    need(trace, log)
    zrow = read_zeek(log)[0]
    row = rows(zeek_case, "dns", trace)
    assert len(row) == 1
    row = row[0]
    assert (row["orig_h"], str(row["orig_p"]), row["resp_h"]) == (zrow["id.orig_h"], zrow["id.orig_p"], zrow["id.resp_h"])
    assert row["query"] == zrow["query"] and str(row["trans_id"]) == zrow["trans_id"]
    assert row["rcode_name"] == zrow["rcode_name"] == "NOERROR"
    assert (row["aa"], row["tc"], row["rd"], row["ra"]) == tuple(zrow[k] == "T" for k in ("AA", "TC", "RD", "RA"))
    assert ",".join(row["answers"]) == zrow["answers"]
    assert [f"{t:.6f}" for t in row["ttls"]] == zrow["TTLs"].split(",")
    assert [f["history"] for f in rows(zeek_case, "flows", trace)] == ["^d"]  # the response came first: Zeek flips the connection


def test_unanswered_dns_queries_in_gre_are_two_transactions(zeek_case):
    trace, log = ZEEK / "traces" / "tunnels" / "gre-sample.pcap", ZEEK / "baselines" / "core.tunnels.gre" / "dns.log"
    need(trace, log)
    expected = read_zeek(log)
    found = rows(zeek_case, "dns", trace)
    assert len(found) == len(expected) == 2
    for row, zrow in zip(found, expected):
        assert (row["orig_h"], str(row["orig_p"]), row["resp_h"], str(row["resp_p"])) == (
            zrow["id.orig_h"], zrow["id.orig_p"], zrow["id.resp_h"], zrow["id.resp_p"])
        assert row["query"] == zrow["query"] and row["qtype_name"] == zrow["qtype_name"] == "*"
        assert str(row["trans_id"]) == zrow["trans_id"] and row["rcode"] is None and row["answers"] is None
