"""A failed-connection fan-out in a capture is found by the one probe detection (detect/internal_probe),
which reads flows through the connection_attempts view with Zeek's conn_state semantics.

gpu-node-03 sends SYNs to 30 internal hosts on port 22 that nobody answers (S0) and is refused by
five more (REJ); monitor-01 connects successfully to 20 ports of one node (SF): not a scan.
"""

from __future__ import annotations

import json

import pytest

from forensics import Case
from pcap_synth import ACK, RST, SYN, Capture, TcpConversation

BASE = 1771294510.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fan_out(path):
    cap = Capture()
    for i in range(1, 31):
        TcpConversation(cap, ("10.20.1.13", 41500 + i), (f"10.20.1.{100 + i}", 22))._emit(BASE + i * 0.3, True, SYN)
    for i in range(1, 6):
        conv = TcpConversation(cap, ("10.20.1.13", 41600 + i), (f"10.20.1.{200 + i}", 22))
        conv._emit(BASE + 10 + i * 0.3, True, SYN)
        conv.seq[True] += 1
        conv._emit(BASE + 10.001 + i * 0.3, False, RST | ACK)
    for i, port in enumerate([22, 80, 443, 2379, 3000, 5000, 6379, 6443, 8000, 8080, 8443, 9090, 9091, 9093, 9100,
                              9200, 9400, 10250, 10255, 27017]):
        conv = TcpConversation(cap, ("10.20.0.5", 52000 + i), ("10.20.1.13", port))
        t = conv.handshake(BASE + 20 + i * 0.051)
        conv.close(t + 0.01)
    return cap.write(path)


def test_syn_fan_out_in_a_capture_is_an_internal_probe(tmp_path):
    case = Case(tmp_path / "case.duckdb")
    case.ingest([str(fan_out(tmp_path / "probe.pcap"))], host="gpu-node-03")
    states = dict(case.sql("SELECT conn_state, count(*) AS n FROM flows GROUP BY ALL").values.tolist())
    assert states == {"S0": 30, "REJ": 5, "SF": 20}
    attempts = case.sql("SELECT outcome, count(*) AS n FROM connection_attempts GROUP BY ALL")
    assert dict(attempts.values.tolist()) == {"failed": 35, "succeeded": 20}
    case.detect(names=["internal_probe"])
    probes = case.findings(kind="probe")
    assert list(probes.src_ip) == ["10.20.1.13"]
    probe = probes.iloc[0]
    assert probe.host == "gpu-node-03" and probe.dst_port == 22
    assert "flows" in {r["tbl"] for r in probe.evidence_refs}
    assert json.loads(probe.details)  # the detection's own account of hosts and ports
    case.close()
