"""Firewall and flow logs at scale: a flow log DuckDB reads and numbers by itself must give the
same rows, locators and warnings as the block reader that numbers lines in Python; the survey
that decides between them refuses what would shift DuckDB's line numbers; direction in SQL agrees
with the Python reference for partial-octet networks and inventory addresses; the parsers keep
DuckDB to a memory budget and give the setting back."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import duckdb
import pytest

from forensics import Case
from forensics.firewall.addresses import ClusterAddresses
from forensics.firewall.textlines import LineSurvey, survey_lines
from forensics.registry import get_parser

DATA = Path(__file__).resolve().parent / "data" / "firewall"
TWO_LAYOUTS = DATA / "vpcflow_two_layouts.log"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------
# The survey
# ------------------------------------------------------------------------------------------------

def test_survey_counts_lines_blanks_and_letter_lines(tmp_path):
    survey = survey_lines(TWO_LAYOUTS)
    assert survey.exact and not survey.trailing_space
    assert (survey.lines, survey.blank) == (20, 2)  # the last line has no newline and still counts
    assert [n for n, _ in survey.letter_lines] == [1, 12, 15]  # two headers and a pasted line
    assert survey.letter_lines[1][1] == "this line was pasted by mistake"
    assert survey.records == 15
    # blocks cut anywhere give the same answer (state carried across reads)
    assert survey_lines(TWO_LAYOUTS, block_size=7) == survey
    assert survey_lines(write(tmp_path / "t", b"a b\n1 2 \n3 4\n")).trailing_space


@pytest.mark.parametrize("data, reason", [
    (b"a b\r\n1 2\r\n", "carriage returns"),  # DuckDB ends a row at a lone CR too
    (b"a b\n1 \x00 2\n", "carriage returns, NUL"),
    (b"a b\n1 \xff 2\n", "not UTF-8"),  # DuckDB stops the read with an error
    (b"a b\n  1 2\n", "white space"),
    (b"a b\n" + b"x" * (1 << 20) + b"\n", "longer than 1 MiB"),
])
def test_survey_refuses_what_would_shift_or_stop_duckdb(tmp_path, data, reason):
    survey = survey_lines(write(tmp_path / "f.log", data))
    assert not survey.exact and reason in survey.reason


def test_survey_accepts_utf8_text(tmp_path):
    survey = survey_lines(write(tmp_path / "f.log", "a b\n1 é\n".encode()))
    assert survey.exact and survey.records == 1


# ------------------------------------------------------------------------------------------------
# One INSERT over DuckDB's reading, against the block reader
# ------------------------------------------------------------------------------------------------

def ingest_vpc(tmp_path: Path, name: str, path: Path, block_reader: bool, monkeypatch) -> tuple[list, list]:
    parse_globals = get_parser("aws_vpcflow").parse.__globals__
    if block_reader:
        monkeypatch.setitem(parse_globals, "survey_lines", lambda _path: LineSurvey(reason="forced"))
    try:
        with Case(tmp_path / f"{name}.duckdb") as case:
            case.ingest([str(DATA / "inventory.yaml")])
            case.ingest([str(path)], format="aws_vpcflow")
            rows = case.con.execute(
                "SELECT * EXCLUDE (evidence_id) FROM net_events WHERE source_format = 'aws_vpcflow' "
                "ORDER BY locator").fetchall()
            names = [d[0] for d in case.con.description]
            warned = case.con.execute(
                "SELECT locator, reason, excerpt FROM parse_warnings w JOIN evidence e USING (evidence_id) "
                "WHERE e.parser = 'aws_vpcflow' ORDER BY ALL").fetchall()
    finally:
        monkeypatch.undo()
    return [dict(zip(names, r)) for r in rows], warned


def test_flow_log_read_by_duckdb_matches_the_block_reader(tmp_path, monkeypatch):
    fast, fast_warned = ingest_vpc(tmp_path, "fast", TWO_LAYOUTS, False, monkeypatch)
    slow, slow_warned = ingest_vpc(tmp_path, "slow", TWO_LAYOUTS, True, monkeypatch)
    assert fast == slow and fast_warned == slow_warned
    by_line = {r["locator"]: r for r in fast}
    assert len(by_line) == 11  # 15 records, 4 rejected
    tunnel = by_line["line:2"]
    assert (tunnel["src_ip"], tunnel["dst_ip"], tunnel["dst_port"], tunnel["direction"], tunnel["host"]) == \
        ("10.20.1.13", "203.0.113.50", 22, "outbound", "gpu-node-03")
    assert json.loads(tunnel["extra"]) == {"account-id": "123456789010", "interface-id": "eni-0node03"}
    assert by_line["line:7"]["label"] == "NODATA" and json.loads(by_line["line:7"]["extra"])["log-status"] == "NODATA"
    assert (by_line["line:13"]["action"], by_line["line:13"]["extra"]) == ("allow", by_line["line:2"]["extra"])
    assert by_line["line:14"]["src_ip"] == "2001:db8::1" and by_line["line:14"]["direction"] == "inbound"
    # after the second header, fields are found by its names
    pool = by_line["line:16"]
    assert (pool["dst_ip"], pool["dst_port"], pool["tcp_flags"], pool["bytes_out"]) == \
        ("198.51.100.77", 3333, "SYN ACK FIN", 48000)
    assert json.loads(pool["extra"]) == {"vpc-id": "vpc-0cluster", "flow-direction": "egress"}
    assert by_line["line:20"]["locator"] == "line:20"  # the last line, without a newline
    reasons = {loc: reason for loc, reason, _ in fast_warned}
    assert reasons["line:9"] == "port out of range"
    assert reasons["line:10"] == "record without a start time in Unix seconds"
    assert reasons["line:11"] == "record with 5 fields, the header has 14"
    assert reasons["line:12"] == "not a flow-log record or header"
    assert reasons["line:18"] == "record with 4 fields, the header has 15"
    assert any("SKIPDATA" in reason for reason in reasons.values())


def test_flow_log_with_windows_line_endings_goes_to_the_block_reader(tmp_path, monkeypatch):
    crlf = write(tmp_path / "crlf.log", TWO_LAYOUTS.read_bytes().replace(b"\n", b"\r\n"))
    assert "carriage returns" in survey_lines(crlf).reason
    rows, warned = ingest_vpc(tmp_path, "crlf", crlf, False, monkeypatch)
    fast, fast_warned = ingest_vpc(tmp_path, "lf", TWO_LAYOUTS, False, monkeypatch)
    assert rows == fast and warned == fast_warned


# ------------------------------------------------------------------------------------------------
# Direction in SQL
# ------------------------------------------------------------------------------------------------

def test_direction_sql_agrees_with_python_on_partial_octets_and_inventory_addresses():
    addresses = ClusterAddresses(
        v4_networks=[ipaddress.ip_network(n) for n in ("172.16.0.0/12", "10.20.1.0/25", "100.64.0.0/10")],
        v6_networks=[ipaddress.ip_network("fd00::/8")],
        host_ips={"198.51.100.11", "2001:db8::13"},
    )
    probes = ["172.15.255.255", "172.16.0.1", "172.31.255.255", "172.32.0.1", "10.20.1.0", "10.20.1.127",
              "10.20.1.128", "10.20.10.1", "100.63.0.1", "100.64.0.1", "100.127.255.255", "100.128.0.1",
              "198.51.100.11", "198.51.100.110", "98.51.100.11", "224.0.0.251", "239.255.255.250",
              "240.0.0.1", "127.0.0.1", "169.254.169.254", "255.255.255.255", "0.0.0.0", "8.8.8.8",
              "2001:db8::13", "2001:db8::130", "fd00::14", "fe80::1", "ff02::1", "::1", "2606:4700::1111"]
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT unnest(?::VARCHAR[]) AS ip", [probes])
    got = dict(con.execute(f"SELECT ip, {addresses.is_cluster_sql('ip')} FROM a").fetchall())
    assert got == {ip: addresses.is_cluster(ip) for ip in probes}
    assert got["172.31.255.255"] and not got["172.32.0.1"] and got["10.20.1.127"] and not got["10.20.1.128"]


# ------------------------------------------------------------------------------------------------
# Memory budget
# ------------------------------------------------------------------------------------------------

def limit(case: Case) -> str:
    return case.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_parsers_keep_duckdb_to_a_budget_and_give_the_setting_back(tmp_path, monkeypatch):
    seen = []
    parse_globals = get_parser("aws_vpcflow").parse.__globals__
    real_load = parse_globals["_load_whole"]

    def load_and_look(ctx, *args):
        seen.append(ctx.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return real_load(ctx, *args)

    monkeypatch.setitem(parse_globals, "_load_whole", load_and_look)
    with Case(tmp_path / "default.duckdb") as case:  # DuckDB's default: most of the machine
        before = limit(case)
        case.ingest([str(TWO_LAYOUTS)], options={"fw_memory_limit": "100MB"})
        assert seen[-1] == "95.3 MiB" and limit(case) == before
    with Case(tmp_path / "small.duckdb", memory_limit="64MB") as case:  # a lower limit is kept
        case.ingest([str(TWO_LAYOUTS)])
        assert seen[-1] == limit(case) == "61.0 MiB"
    with Case(tmp_path / "bad.duckdb") as case:
        before = limit(case)
        summary = case.ingest([str(TWO_LAYOUTS)], options={"fw_memory_limit": "lots"})
        assert summary.outcomes[0].status == "parsed" and limit(case) == before
        reasons = [r for (r,) in case.con.execute("SELECT reason FROM parse_warnings").fetchall()]
        assert any("fw_memory_limit='lots' is not a DuckDB memory size" in r for r in reasons)
