"""The sample incident's egress capture (sample_logs/pcap) against its ground truth.

gpu-node-03's traffic mirror holds the reverse tunnel to 203.0.113.50, the XMRig session to
xmr.pool.example.com, the probe, and the decoys (git clone over SSH, pip over TLS, monitoring
sweeps). The inventory's evidence rule ``pcap/**`` names the host.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from forensics import Case

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
TRUTH_FILE = SAMPLE / "ground_truth.json"
PCAP = SAMPLE / "pcap" / "gpu-node-03-egress.pcap"
TRAJECTORIES = SAMPLE / "trajectories" / "rl-run-0217" / "rollouts-1524.jsonl"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def truth() -> dict:
    if not TRUTH_FILE.exists() or not PCAP.exists():
        pytest.skip("sample_logs not generated")
    return json.loads(TRUTH_FILE.read_text())


@pytest.fixture(scope="module")
def case(truth, tmp_path_factory):
    case = Case(tmp_path_factory.mktemp("sample") / "case.duckdb")
    case.ingest([str(SAMPLE / "inventory.yaml"), str(PCAP)])
    case.detect(names=["ssh_reverse_tunnel", "mining_stratum", "mining_pool_names"])
    yield case
    case.close()


def test_capture_loads_without_warnings_under_its_host(case):
    row = case.sql("SELECT status, host_hint, n_warnings FROM evidence WHERE path = ?", [str(PCAP)]).iloc[0]
    assert (row.status, row.host_hint, row.n_warnings) == ("parsed", "gpu-node-03", 0)
    assert set(case.sql("SELECT DISTINCT host FROM flows").host) == {"gpu-node-03"}


def test_the_reverse_tunnel_is_a_finding(case, truth):
    tunnel = truth["tunnel"]
    found = case.findings(kind="tunnel")
    assert len(found) == 1
    f = found.iloc[0]
    d = json.loads(f.details)
    assert (f.host, f.src_ip, f.dst_ip, f.dst_port) == ("gpu-node-03", tunnel["client"]["node_ip"],
                                                        tunnel["endpoint"]["ip"], tunnel["endpoint"]["port"])
    assert abs((f.ts_start.to_pydatetime() - utc(tunnel["start"])).total_seconds()) < 0.001
    # someone at 203.0.113.50 typed through the tunnel twice: a nested handshake, server-led echoes
    assert {"nested_kex", "server_led_echo", "outbound_external"} <= set(d["signals"])
    assert d["echo_pairs_server_led"] > 50 and d["echo_pairs_client_led"] == 0
    assert d["hassh"] == tunnel["hassh"] and d["hassh_server"] == tunnel["hassh_server"]
    assert d["ssh_client"] == tunnel["client_banner"] and d["ssh_server"] == tunnel["server_banner"]
    session = case.sql("SELECT * FROM ssh_sessions WHERE resp_h = ?", [tunnel["endpoint"]["ip"]]).iloc[0]
    assert session.orig_p == tunnel["client"]["port"] and session.cipher_alg == tunnel["cipher"]
    assert session.kex_alg == tunnel["kex"]
    counts = tunnel["pcap"]
    assert (session.client_pkts, session.server_pkts) == (counts["packets_client_to_server"],
                                                          counts["packets_server_to_client"])
    assert (session.client_bytes, session.server_bytes) == (counts["payload_bytes_client_to_server"],
                                                            counts["payload_bytes_server_to_client"])
    flow = case.sql("SELECT * FROM flows WHERE uid = ?", [session.uid]).iloc[0]
    assert (flow.orig_ip_bytes, flow.resp_ip_bytes) == (counts["ip_bytes_client_to_server"],
                                                        counts["ip_bytes_server_to_client"])
    assert flow.service == "ssh" and flow.conn_state == "S1"  # still open when the capture ends


def test_git_clone_over_ssh_is_not_a_tunnel(case, truth):
    git = case.sql("SELECT * FROM ssh_sessions WHERE resp_h = '192.0.2.40'").iloc[0]
    assert git.server == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    assert git.hassh == truth["tunnel"]["hassh"]  # the same ssh client as the tunnel
    assert git.server_bytes > 121_873 and len(git.tunnel_signals) == 0
    assert "192.0.2.40" not in set(case.findings(kind="tunnel").dst_ip)


def test_the_pool_login_wallet_and_share_counts_are_a_finding(case, truth):
    mining = truth["mining"]
    found = case.findings(kind="mining")
    session = found[found.detector == "detect/mining_stratum"]
    assert len(session) == 1
    f = session.iloc[0]
    d = json.loads(f.details)
    assert (f.host, f.src_ip, f.dst_ip, f.dst_port) == ("gpu-node-03", "10.20.1.13", mining["pool_ip"],
                                                        mining["pool_port"])
    assert d["wallet"] == mining["wallet"] and d["agent"] == mining["agent"]
    assert d["pool_dns"] == mining["pool_host"] and d["algo"] == mining["algo"] and d["coin"] == mining["coin"]
    pcap = mining["pcap"]
    assert (d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == (
        pcap["submitted"], pcap["accepted"], pcap["rejected"])
    assert d["keepalives"] == pcap["keepalived"] and d["jobs"] == pcap["jobs_pushed"]
    error = pcap["rejected_share"]["error"]
    assert d["rejection_reasons"] == [f"{error['code']} {error['message']}"]
    assert abs((utc(d["first_accepted"]) - utc(pcap["first_share"])).total_seconds()) < 0.001
    assert mining["wallet"] in f.summary and "151 submitted / 150 accepted / 1 rejected" in f.summary
    # the pool name is covered by the stratum session; pip's TLS to pypi.example.org is no pool
    assert found[found.detector == "detect/mining_pool_names"].empty


def test_segment_with_two_messages_and_message_split_over_two_segments(case, truth):
    pcap = truth["mining"]["pcap"]
    two = case.sql("SELECT method, msg_kind, locator FROM jsonrpc_msgs WHERE abs(epoch(ts) - epoch(?::TIMESTAMPTZ)) < 0.0005",
                   [pcap["segment_with_two_messages"]])
    assert len(two) == 2 and two.locator.nunique() == 1
    assert set(two.msg_kind) == {"response", "notification"}
    split = case.sql("SELECT method FROM jsonrpc_msgs WHERE abs(epoch(ts) - epoch(?::TIMESTAMPTZ)) < 0.0005",
                     [pcap["message_split_over_two_segments"]])
    assert list(split.method) == ["job"]


def test_the_probe_leaves_failed_connections_in_flows(case, truth):
    probe = case.sql("""SELECT resp_h, resp_p, conn_state FROM flows
                        WHERE orig_h = '10.20.1.13' AND resp_h LIKE '10.20.1.%' AND resp_p IN (22, 6379)
                          AND ts BETWEEN '2026-02-17 02:15:10' AND '2026-02-17 02:16:10'""")
    truth_probe = truth["probe"]
    assert len(probe) == truth_probe["syns_in_pcap"]  # the SYNs that left the node (not to itself)
    answered = {f"{r.resp_h}:{r.resp_p}" for r in probe.itertuples() if r.conn_state != "S0"}
    assert answered == {a for a in truth_probe["answered"] if not a.startswith(truth_probe["node_ip"] + ":")}
    assert (probe.conn_state == "S0").sum() == truth_probe["outcomes"]["timeout"]
    # the probe detection reads flows; monitor-01's sweeps all succeed and are not probes
    case.detect(names=["internal_probe"])
    probes = case.findings(kind="probe")
    assert list(probes.src_ip) == [truth_probe["node_ip"]]
    assert "74 failed" in probes.iloc[0].summary


def test_agent_command_line_raises_the_tunnel_score(tmp_path, truth):
    if not TRAJECTORIES.exists():
        pytest.skip("sample trajectories not generated")
    case = Case(tmp_path / "case.duckdb")
    case.ingest([str(SAMPLE / "inventory.yaml"), str(PCAP), str(TRAJECTORIES)])
    if case.sql("SELECT count(*) AS n FROM agent_actions WHERE category = 'tunnel'").n[0] == 0:
        pytest.skip("no agent parser filled agent_actions")
    case.detect(names=["ssh_reverse_tunnel", "mining_stratum"])
    tunnel = case.findings(kind="tunnel").iloc[0]
    d = json.loads(tunnel.details)
    assert "command_line" in d["signals"] and tunnel.severity == "high"
    assert d["agent_commands"] == ["trajectory traj-000317 step 12 (ssh_reverse_forward)"]
    assert "agent_steps" in {r["tbl"] for r in tunnel.evidence_refs}
    mining = json.loads(case.findings(kind="mining").iloc[0].details)
    assert "trajectory traj-000317 step 14 (pool_url)" in mining["agent_commands"]
    case.close()


def test_timeline_shows_the_tunnel_and_the_pool_login_from_the_capture(case, truth):
    case.refresh_views()
    events = case.timeline(source="pcap")
    tunnel = events[(events.kind == "ssh_session") & events.summary.str.contains("203.0.113.50:22")]
    assert len(tunnel) == 1 and tunnel.iloc[0].severity == "high"
    assert "nested_kex" in tunnel.iloc[0].summary
    login = events[(events.kind == "jsonrpc") & events.summary.str.contains(" login login ")]
    assert len(login) == 1 and truth["mining"]["wallet"] in login.iloc[0].summary
    assert abs((login.iloc[0].ts.to_pydatetime() - utc(truth["mining"]["login"])).total_seconds()) < 0.001
    pip = events[(events.kind == "tls") & events.summary.str.contains("SNI pypi.example.org")]
    assert len(pip) >= 3 and set(pip.severity) == {"info"}
