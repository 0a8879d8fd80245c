"""Kernel firewall logs: kern.log, the journal, and the lines a gateway truncates.

The sample tests/data/firewall/kern.log is gpu-node-03's kernel log over a New Year's Eve: an
inbound SSH probe, an outbound SSH SYN to the tunnel host with the owner's UID, a REJECT of the
monitoring host, a Calico-logged pod connection to a mining pool, ufw, firewalld, nftables and
EdgeOS prefixes, an ICMP error quoting another packet, IPv6, other kernel messages (NVIDIA), and
broken lines: a port out of range, an impossible address, a gateway fragment, Feb 30, a truncated
packet and binary junk.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics import Case
from forensics.firewall.netfilter import STRING_FIELDS, INT_FIELDS, NetfilterReader, TimeContext, iter_line_blocks
from forensics.firewall.netfilter_line import action_for_prefix, parse_line
from forensics.registry import Sniff, get_parser

DATA = Path(__file__).resolve().parent / "data" / "firewall"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ELASTIC = CORPUS / "flowlogs" / "elastic-integrations" / "iptables"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


@pytest.fixture
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as c:
        yield c


def rows(case: Case, sql: str) -> list[dict]:
    cursor = case.con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def ingest_kern_log(case: Case, **hints):
    case.ingest([str(DATA / "inventory.yaml")])
    return case.ingest([str(DATA / "kern.log")], **hints)


@pytest.fixture(scope="module")
def kern_case(tmp_path_factory):
    """The sample kern.log with the test inventory and --year 2025, read once for the tests below."""
    with Case(tmp_path_factory.mktemp("kern") / "case.duckdb") as c:
        summary = ingest_kern_log(c, year=2025)
        c.summary_of_kern_log = summary
        yield c


# ------------------------------------------------------------------------------------------------
# kern.log
# ------------------------------------------------------------------------------------------------

def test_kern_log_packets_land_in_net_events_with_direction_and_action(kern_case):
    case = kern_case
    summary = case.summary_of_kern_log
    outcome = [o for o in summary.outcomes if o.parser == "netfilter"][0]
    assert outcome.status == "parsed" and outcome.n_records == 15
    events = {r["locator"]: r for r in rows(case, "SELECT * FROM net_events")}
    assert len(events) == 15

    probe = events["line:1"]  # inbound SSH SYN from the brute-force source, blocked by ufw
    assert (probe["src_ip"], probe["src_port"], probe["dst_ip"], probe["dst_port"]) == \
        ("203.0.113.200", 51515, "10.20.1.13", 22)
    assert probe["proto"] == "tcp" and probe["tcp_flags"] == "SYN" and probe["bytes_out"] == 60
    assert probe["direction"] == "inbound" and probe["action"] == "deny" and probe["rule"] == "[UFW BLOCK]"
    assert probe["host"] == "gpu-node-03" and probe["source_format"] == "netfilter"
    # Asia/Shanghai comes from the inventory; the stamp had neither year nor zone
    assert probe["ts"] == utc("2025-12-31T23:59:58+08:00") and probe["ts_inferred"]
    assert probe["ts_raw"] == "Dec 31 23:59:58"

    tunnel = events["line:2"]  # OUTPUT chain: no MAC=, the socket owner's UID
    assert (tunnel["direction"], tunnel["action"], tunnel["dst_ip"], tunnel["dst_port"]) == \
        ("outbound", None, "203.0.113.50", 22)
    assert json.loads(tunnel["extra"])["uid"] == 1000

    assert events["line:3"]["direction"] == "internal" and events["line:3"]["action"] == "deny"  # REJECT
    assert events["line:4"]["rule"] == "calico-packet:" and events["line:4"]["direction"] == "outbound"
    assert events["line:4"]["dst_port"] == 3333
    # the quoted packet of an ICMP error does not lend its ports to the error itself
    icmp = events["line:6"]
    assert icmp["proto"] == "icmp" and icmp["src_port"] is None and icmp["dst_port"] is None
    assert json.loads(icmp["extra"])["icmp_type"] == 3
    assert events["line:7"]["action"] == "allow"  # [UFW ALLOW]
    v6 = events["line:8"]  # fully expanded IPv6 as the kernel prints it, stored compressed
    assert (v6["src_ip"], v6["dst_ip"], v6["direction"]) == ("2001:db8::1", "fd00::13", "inbound")
    assert events["line:9"]["rule"] == "[wan-lan-default-D]" and events["line:9"]["action"] == "deny"
    assert events["line:9"]["tcp_flags"] == "ACK PSH FIN"
    assert events["line:19"]["rule"] == "DROP(src wan)"  # prefix glued to IN=
    assert events["line:21"]["proto"] == "esp" and events["line:21"]["dst_port"] is None
    assert events["line:22"]["dst_ip"] == "203.0.113.80"  # CRLF line ending
    assert events["line:24"]["bytes_out"] == 60 and events["line:24"]["src_port"] == 7
    # the RFC 3339 line keeps its own offset, exactly
    iso = events["line:16"]
    assert iso["ts"] == utc("2026-01-01T00:00:14.123456+00:00") and not iso["ts_inferred"]
    # the <pri> header line is read too
    assert events["line:17"]["src_port"] == 4


def test_rfc3164_year_rolls_over_at_new_year(kern_case):
    case = kern_case
    ts = dict(case.con.execute("SELECT locator, ts FROM net_events").fetchall())
    assert ts["line:2"] == utc("2025-12-31T23:59:59+08:00")
    assert ts["line:3"] == utc("2026-01-01T00:00:01+08:00")
    assert ts["line:24"] == utc("2026-01-01T00:00:22+08:00")  # last line, without a newline
    reasons = [r for (r,) in case.con.execute("SELECT reason FROM parse_warnings").fetchall()]
    assert any("roll over into a new year" in r for r in reasons)


def test_broken_lines_become_warnings_with_line_numbers(kern_case):
    case = kern_case
    warned = {loc: (reason, excerpt) for loc, reason, excerpt in case.con.execute(
        "SELECT locator, reason, excerpt FROM parse_warnings WHERE locator IS NOT NULL").fetchall()}
    assert warned["line:12"][0] == "port out of range"
    assert warned["line:13"][0] == "netfilter line with an invalid SRC or DST address"
    assert warned["line:14"][0].startswith("incomplete netfilter line")  # gateway fragment
    assert warned["line:15"][0] == "impossible date or time in the stamp"  # Feb 30
    assert warned["line:20"][0] == "TCP packet without SPT/DPT (truncated?)"
    assert "\\xff\\xfe" in warned["line:23"][1] and "\\x00" in warned["line:23"][1]  # junk, escaped
    # NVIDIA messages and the sshd line in Chinese are other messages: counted, not warned about
    assert "line:10" not in warned and "line:18" not in warned
    summary = case.con.execute("SELECT reason FROM parse_warnings WHERE reason LIKE '%not netfilter%'").fetchall()
    assert summary == [("3 lines are not netfilter packet logs (other messages), skipped",)]


def test_year_from_modification_time_and_zone_warning(case, tmp_path):
    copy = tmp_path / "kern.log"
    copy.write_bytes((DATA / "kern.log").read_bytes())
    modified = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
    os.utime(copy, (modified, modified))
    case.ingest([str(copy)])  # no inventory, no --tz, no --year
    ts = dict(case.con.execute("SELECT locator, ts FROM net_events").fetchall())
    assert ts["line:1"] == utc("2025-12-31T23:59:58+00:00")  # December before a January mtime
    assert ts["line:3"] == utc("2026-01-01T00:00:01+00:00")
    reasons = " | ".join(r for (r,) in case.con.execute("SELECT reason FROM parse_warnings").fetchall())
    assert "2025 assumed from the file's modification time" in reasons
    assert "read as UTC" in reasons


def test_skew_is_not_corrected(case, tmp_path):
    """gpu-node-03's clock runs 4.2 s slow in the sample incident: the parser stores what the
    log says; correlation estimates and applies skew later."""
    line = ("Feb 17 10:31:02 gpu-node-03 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.200 "
            "DST=10.20.1.13 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=1 DF PROTO=TCP SPT=5 DPT=22 WINDOW=1 RES=0x00 SYN URGP=0\n")
    path = tmp_path / "kern.log"
    path.write_text(line)
    case.ingest([str(path)], year=2026, timezone="Asia/Shanghai")
    assert case.con.execute("SELECT ts FROM net_events").fetchone()[0] == utc("2026-02-17T10:31:02+08:00")


def test_half_written_gzip_keeps_what_was_written(case, tmp_path):
    data = (DATA / "kern.log").read_bytes()
    packed = gzip.compress(data)
    path = tmp_path / "kern.log.2.gz"
    path.write_bytes(packed[: int(len(packed) * 0.8)])
    case.ingest([str(path)], year=2025, timezone="Asia/Shanghai")
    assert 0 < case.con.execute("SELECT count(*) FROM net_events").fetchone()[0] < 15
    assert case.con.execute("SELECT count(*) FROM parse_warnings WHERE reason ILIKE '%gzip%' "
                            "OR reason ILIKE '%truncat%' OR reason ILIKE '%compressed%'").fetchone()[0] >= 1


# ------------------------------------------------------------------------------------------------
# The fast reader and the reference parser agree
# ------------------------------------------------------------------------------------------------

def read_all(path: Path, block_size: int = 1 << 20) -> tuple[list[dict], int]:
    reader = NetfilterReader(TimeContext("Asia/Shanghai", 2025))
    out, slow = [], 0
    with open(path, "rb") as handle:
        for block, first, _ in iter_line_blocks(handle, block_size):
            result = reader.read_block(block, first)
            slow += result.n_slow
            out.extend(result.table.to_pylist())
    return out, slow


def assert_agrees_with_reference(path: Path) -> int:
    lines = path.read_bytes().split(b"\n")
    records, slow = read_all(path)
    for row in records:
        text = lines[row["line"] - 1].decode("utf-8", "replace").rstrip("\r")
        ref = parse_line(text)
        expected = dict(ref.record, ts_raw=ref.stamp.raw)
        for name in STRING_FIELDS + INT_FIELDS:
            assert row[name] == expected.get(name), (path.name, row["line"], name)
    return slow


TEMPLATES = [
    "{stamp} {host} kernel: [{up}] [UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e:0a:14:0d:ee:ff:ff:ff:ff:ff:08:00 "
    "SRC={src} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID={id} DF PROTO=TCP SPT={sp} DPT={dp} "
    "WINDOW=64240 RES=0x00 {flags} URGP=0 ",
    "{stamp} {host} kernel: OUT-{n}: IN= OUT=eth0 SRC={src} DST={dst} LEN=76 TOS=0x00 PREC=0x00 TTL=64 "
    "ID={id} PROTO=UDP SPT={sp} DPT={dp} LEN=56 UID={n} GID={n}",
    "{stamp} {host} kernel: [{up}] [edge-{n}-A]IN=eth1 OUT=eth0 MAC=aa:bb SRC={src} DST={dst} LEN=84 TOS=0x00 "
    "PREC=0x00 TTL=64 ID={id} PROTO=ICMP TYPE=8 CODE=0 ID={n} SEQ={n}",
    "{stamp} {host} kernel: nf: IN=eth0 OUT= SRC={src} DST={dst} LEN=40 TC=0 HOPLIMIT=64 FLOWLBL=0 "
    "PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=2",
    "{stamp} {host} kernel: x IN=eth0 OUT= SRC={src} DST={dst} LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID={id} "
    "PROTO=47",
    "{stamp} {host} kernel: [{up}] DROP IN=eth0 OUT= SRC={src} DST={dst} LEN=40 TOS=0x00 PREC=0x00 TTL=64 "
    "ID={id} PROTO=TCP SPT={sp} DPT={dp} SEQ=1 ACK=2 WINDOW=1 RES=0x00 {flags} URGP=0 OPT (020405B4)",
]


def test_fast_reader_agrees_with_reference_on_generated_variety(tmp_path):
    rnd = random.Random(7)
    out = []
    for i in range(3000):
        stamp = rnd.choice([f"Feb {rnd.randint(1, 28):2d} {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00",
                            f"2026-02-17T10:{rnd.randint(0, 59):02d}:01.{rnd.randint(0, 999999):06d}+08:00",
                            f"2026-02-17T10:00:0{rnd.randint(0, 9)}Z", f"<{rnd.randint(0, 191)}>Feb 17 10:00:00"])
        v6 = "ICMPv6" in (template := rnd.choice(TEMPLATES))
        src = rnd.choice(["10.20.1.13", "203.0.113.200", "010.1.1.1", "2001:db8::1"] if not v6 else
                         ["fe80:0000:0000:0000:0000:0000:0000:0001", "2001:db8::2"])
        dst = rnd.choice(["10.20.1.1", "198.51.100.77", "fd00::13"] if v6 else ["10.20.1.1", "198.51.100.77"])
        out.append(template.format(stamp=stamp, host=rnd.choice(["gpu-node-03", "h"]), up=f"{rnd.uniform(0, 9e5):12.6f}",
                                   src=src, dst=dst, id=rnd.randint(0, 70000), sp=rnd.randint(0, 70000),
                                   dp=rnd.choice([22, 443, 3333]), n=rnd.randint(0, 99),
                                   flags=rnd.choice(["SYN", "ACK PSH", "ACK  FIN", ""])))
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(out) + "\n")
    slow = assert_agrees_with_reference(path)
    assert slow < 3000  # most lines take the fast path


def test_fast_reader_agrees_with_reference_on_samples():
    assert_agrees_with_reference(DATA / "kern.log")


def test_prefix_actions():
    assert action_for_prefix("[UFW BLOCK]") == "deny"
    assert action_for_prefix("filter_IN_public_REJECT:") == "deny"
    assert action_for_prefix("[LAN_LOCAL-default-A]") == "allow"
    assert action_for_prefix("[source-dest-default-D]") == "deny"
    assert action_for_prefix("[UFW AUDIT]") == "allow"
    assert action_for_prefix("calico-packet:") is None
    assert action_for_prefix(None) is None


# ------------------------------------------------------------------------------------------------
# The journal, and one event seen twice
# ------------------------------------------------------------------------------------------------

def test_journal_json_and_export_read_the_same_packets(case):
    case.ingest([str(DATA / "inventory.yaml")])
    case.ingest([str(DATA / "journal.json")])
    events = rows(case, "SELECT * FROM net_events ORDER BY ts")
    assert len(events) == 9
    first = events[0]
    assert first["source_format"] == "journald" and first["host"] == "gpu-node-03"
    assert first["ts"] == utc("2025-12-31T23:59:58.25+08:00") and not first["ts_inferred"]
    assert first["ts_raw"] == "1767196798250000" and first["rule"] == "[UFW BLOCK]"
    warned = case.con.execute("SELECT locator, reason FROM parse_warnings ORDER BY locator").fetchall()
    assert ("line:11", "not a JSON object (truncated or corrupt journal line)") in warned
    assert (None, "1 journal entries are not netfilter packet logs, skipped") in warned


def test_same_kernel_line_in_kern_log_and_journal_is_one_event(case):
    ingest_kern_log(case, year=2025)
    case.ingest([str(DATA / "journal.json"), str(DATA / "journal.export")])
    assert case.con.execute("SELECT count(*) FROM net_events").fetchone()[0] == 15
    assert case.con.execute("SELECT count(*) FROM net_event_duplicates").fetchone()[0] == 18
    sightings = case.con.execute("""
        SELECT count(*), list(DISTINCT source_format ORDER BY source_format)
        FROM net_event_provenance p JOIN evidence e ON e.evidence_id = p.evidence_id
        WHERE e.path LIKE '%kern.log' AND p.locator = 'line:1'""").fetchone()
    assert sightings == (3, ["journald", "netfilter"])


def test_filebeat_envelope_from_the_corpus(case):
    path = ELASTIC / "test-journald.json"
    if not path.exists():
        pytest.skip("corpus not present")
    case.ingest([str(path)])
    event = rows(case, "SELECT * FROM net_events")[0]
    assert (event["src_ip"], event["src_port"], event["dst_ip"], event["dst_port"]) == \
        ("10.10.10.18", 443, "10.10.10.34", 40702)
    assert event["tcp_flags"] == "RST" and event["action"] == "deny" and event["locator"] == "events[0]"
    assert event["ts"] == utc("2022-01-12T12:43:58.224+00:00")


# ------------------------------------------------------------------------------------------------
# The corpus, against Elastic's own pipeline output
# ------------------------------------------------------------------------------------------------

def test_iptables_corpus_agrees_with_elastic(case):
    raw = ELASTIC / "test-iptables-raw.log"
    if not raw.exists():
        pytest.skip("corpus not present")
    expected = json.loads((ELASTIC / "test-iptables-raw.log-expected.json").read_text())["expected"]
    case.ingest([str(raw)], year=2023)
    ours = {int(r["locator"].split(":")[1]): r for r in rows(case, "SELECT * FROM net_events")}
    assert len(ours) == len(expected) == 24
    for number, event in enumerate(expected, start=1):
        row = ours[number]
        extra = json.loads(row["extra"])
        assert row["src_ip"] == _compressed(event["source"]["ip"]), number
        assert row["dst_ip"] == _compressed(event["destination"]["ip"]), number
        assert row["src_port"] == event["source"].get("port"), number
        assert row["dst_port"] == event["destination"].get("port"), number
        ipt = event.get("iptables", {})
        assert extra.get("in", "") == ipt.get("input_device", ""), number
        assert extra.get("out", "") == ipt.get("output_device", ""), number
        assert row["bytes_out"] == ipt["length"], number
        assert extra["ttl"] == ipt["ttl"], number
        flags = ipt.get("tcp", {}).get("flags")
        assert (row["tcp_flags"].split() if row["tcp_flags"] else None) == flags, number
        transport = {"ipv6-icmp": "icmpv6"}.get(event["network"]["transport"], event["network"]["transport"])
        assert row["proto"] == transport, number
        if event["event"]["original"][:4].isdigit() or event["event"]["original"].startswith("<6>20"):
            assert row["ts"] == utc(event["@timestamp"].replace("Z", "+00:00")), number
        else:  # RFC 3164: Elastic stamps the test run's year; compare the rest
            assert row["ts"].strftime("%m-%d %H:%M:%S") == event["@timestamp"][5:19].replace("T", " "), number
        elastic_action = event["event"].get("action")
        ours_action = row["action"]
        if number in (23, 24):
            # Elastic reads no rule from "[SOMETHING-1234-A]" without a "kernel:" tag; by the EdgeOS
            # convention (-A: accept) we call it allow. We believe ours is the better reading.
            assert elastic_action is None and ours_action == "allow"
        elif elastic_action is None:
            assert ours_action is None, number
        else:
            assert ours_action == ("allow" if elastic_action == "accept" else "deny"), number


def test_ubiquiti_fragments_do_not_invent_addresses(case):
    path = ELASTIC / "test-ubiquiti.log"
    if not path.exists():
        pytest.skip("corpus not present")
    case.ingest([str(path)], year=2023)
    assert case.con.execute("SELECT count(*) FROM net_events").fetchone()[0] == 5
    fragments = case.con.execute("SELECT locator, reason FROM parse_warnings WHERE locator IS NOT NULL "
                                 "ORDER BY locator").fetchall()
    assert sorted(int(loc.split(":")[1]) for loc, _ in fragments) == list(range(6, 12))
    assert all(reason.startswith("incomplete netfilter line") for _, reason in fragments)


def _compressed(ip: str) -> str:
    import ipaddress

    return str(ipaddress.ip_address(ip))


def test_sniffing_claims_by_content_not_name():
    kern = (DATA / "kern.log").read_bytes()
    assert get_parser("netfilter").sniff(Sniff(name="data.bin", path="data.bin", head=kern)) >= 0.9
    assert get_parser("journald").sniff(Sniff(name="x", path="x", head=(DATA / "journal.json").read_bytes())) >= 0.9
    assert get_parser("journald").sniff(Sniff(name="x", path="x", head=(DATA / "journal.export").read_bytes())) >= 0.9
    assert get_parser("netfilter").sniff(Sniff(name="kern.log", path="kern.log", head=b"Feb 17 10:00:00 h sshd[1]: hi\n")) == 0
