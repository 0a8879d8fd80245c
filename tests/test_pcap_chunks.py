"""A capture split into chunks (editcap -c N) gives the same tables as one tshark pass.

Big captures are cut into chunks so tshark's memory stays bounded; connections, SSH streams and
stratum sessions cross the cuts and are stitched back. Forcing tiny chunks on a small capture
must change nothing a responder sees.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from forensics import Case
from pcap_synth import Capture, TcpConversation, jline, opaque, ssh_auth, ssh_handshake, ssh_interactive

BASE = 1771295000.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def build(path: Path) -> Path:
    rng = random.Random(5)
    cap = Capture()
    tunnel = TcpConversation(cap, ("10.20.1.13", 43218), ("203.0.113.50", 22))
    t = tunnel.handshake(BASE)
    t = ssh_handshake(tunnel, t + 0.01)
    t = ssh_auth(tunnel, t + 0.05, rng)
    tunnel.send(t + 30, False, opaque(1436, rng))
    tunnel.send(t + 30.05, True, opaque(1316, rng))
    ssh_interactive(tunnel, t + 40, keystrokes=15, typist_is_client=False, rng=rng)
    pool = TcpConversation(cap, ("10.20.1.13", 44512), ("198.51.100.77", 3333))
    p = pool.handshake(BASE + 5)
    pool.send(p + 0.01, True, jline({"id": 1, "method": "login", "params": {"login": "4" + "B" * 94, "pass": "x",
                                                                         "agent": "XMRig/6.21.0"}}), segment=40)
    pool.send(p + 0.2, False, jline({"id": 1, "error": None, "result": {"status": "OK", "job": {"job_id": "a"}}}))
    for i in range(2, 12):
        pool.send(p + i * 3, True, jline({"id": i, "method": "submit", "params": {"job_id": "a", "nonce": f"{i:08x}"}}),
                  segment=30)
        pool.send(p + i * 3 + 0.1, False, jline({"id": i, "error": None, "result": {"status": "OK"}}))
    for i in range(40):
        cap.udp(BASE + i * 2, "10.20.1.13", 53000 + (i % 4), "10.20.0.2", 53, b"\x12\x34\x01\x00" + bytes(12))
    pool.close(p + 60)
    return cap.write(path)


TABLES = {
    "flows": "SELECT * EXCLUDE (evidence_id) FROM flows ORDER BY uid",
    "ssh_sessions": "SELECT * EXCLUDE (evidence_id) FROM ssh_sessions ORDER BY uid",
    "jsonrpc_msgs": "SELECT * EXCLUDE (evidence_id) FROM jsonrpc_msgs ORDER BY uid, direction, msg_index",
}


@pytest.mark.parametrize("chunk_packets,jobs", [(7, 3), (15, 1)])
def test_tiny_chunks_give_the_same_tables_as_one_pass(tmp_path, chunk_packets, jobs):
    """Chunks dissected one at a time or several at once (``pcap_tshark_jobs``) load in order."""
    capture = build(tmp_path / "mixed.pcap")
    whole = Case(tmp_path / "whole.duckdb")
    whole.ingest([str(capture)])
    split = Case(tmp_path / "split.duckdb")
    split.ingest([str(capture)], options={"pcap_split_bytes": "0", "pcap_chunk_packets": str(chunk_packets),
                                                  "pcap_tshark_jobs": str(jobs)})
    assert split.warnings().empty
    frames = int(whole.sql("SELECT sum(orig_pkts + resp_pkts) AS n FROM flows").n[0])
    assert frames > 10 * chunk_packets  # the capture really is cut many times
    for table, sql in TABLES.items():
        expected, got = whole.sql(sql), split.sql(sql)
        assert len(expected) > 0
        pd.testing.assert_frame_equal(expected, got, check_exact=False, rtol=1e-9, obj=table)
    tunnel = split.sql("SELECT tunnel_signals, echo_pairs_server_led FROM ssh_sessions").iloc[0]
    assert set(tunnel.tunnel_signals) == {"server_led_echo", "nested_kex", "server_bare_acks"}
    whole.close()
    split.close()
