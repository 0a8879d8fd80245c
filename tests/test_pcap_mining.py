"""Mining in packet captures: stratum and XMRig JSON-RPC on any port, shares, coin and pool names.

The corpus holds real pool sessions (nesfit, peafowl, nDPI) and node-to-node Monero/Ethereum
traffic that is *not* mining. No public capture shows XMRig shares being accepted, so the share
accounting is tested on a capture built here: messages split across segments and packed several
to a segment, a rejected share, keepalives, and a capture that ends mid-message.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from forensics import Case
from pcap_synth import WALLET, Capture, TcpConversation, jline

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PCAPS = CORPUS / "pcap"
BASE = 1771293000.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def corpus(rel: str) -> Path:
    path = PCAPS / rel
    if not path.exists():
        pytest.skip(f"corpus file {rel} not present")
    return path


def dns_message(ident: int, name: str, answer: str | None = None) -> bytes:
    flags = 0x8180 if answer else 0x0100
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00" + struct.pack(">HH", 1, 1)
    msg = struct.pack(">HHHHHH", ident, flags, 1, 1 if answer else 0, 0, 0) + question
    if answer:
        msg += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes(int(x) for x in answer.split("."))
    return msg


def client_hello(server_name: str) -> bytes:
    name = server_name.encode()
    sni = struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack(">HH", 0, len(sni)) + sni
    body = (b"\x03\x03" + b"\x5a" * 32 + b"\x00" + struct.pack(">H", 4) + b"\x13\x01\xc0\x2f" + b"\x01\x00"
            + struct.pack(">H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def xmrig_capture(path: Path) -> Path:
    """gpu-node-03 (10.20.1.13) runs XMRig against xmr.pool.example.com (198.51.100.77:3333)."""
    cap = Capture()
    cap.udp(BASE - 1, "10.20.1.13", 53001, "10.20.0.2", 53, dns_message(0x1234, "xmr.pool.example.com"))
    cap.udp(BASE - 0.99, "10.20.0.2", 53, "10.20.1.13", 53001,
            dns_message(0x1234, "xmr.pool.example.com", "198.51.100.77"))
    conv = TcpConversation(cap, ("10.20.1.13", 40400), ("198.51.100.77", 3333))
    t = conv.handshake(BASE)
    login = jline({"id": 1, "jsonrpc": "2.0", "method": "login",
                   "params": {"login": WALLET + ".gpu-node-03", "pass": "x",
                              "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                              "algo": ["rx/0", "cn/r"]}})
    conv.send(t + 0.01, True, login, segment=70)  # the login split over several segments
    job = {"blob": "0707" + "ab" * 38, "job_id": "j1", "target": "b88d0600", "algo": "rx/0", "height": 3000000}
    conv.send(t + 0.2, False, jline({"id": 1, "jsonrpc": "2.0", "error": None,
                                     "result": {"id": "sess1", "job": job, "status": "OK",
                                                "extensions": ["algo", "keepalive"]}}))
    submit = lambda i, nonce: jline({"id": i, "jsonrpc": "2.0", "method": "submit",  # noqa: E731
                                     "params": {"id": "sess1", "job_id": "j1", "nonce": nonce, "result": "cd" * 32}})
    # two submits packed into one segment
    conv.send(t + 30, True, submit(2, "0a0b0c0d") + submit(3, "0e0f1011"))
    conv.send(t + 30.2, False, jline({"id": 2, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
              + jline({"id": 3, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}}))
    conv.send(t + 60, True, jline({"id": 4, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "sess1"}}))
    conv.send(t + 60.1, False, jline({"id": 4, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}}))
    conv.send(t + 70, False, jline({"jsonrpc": "2.0", "method": "job", "params": {**job, "job_id": "j2"}}))
    conv.send(t + 80, True, submit(5, "12131415"))
    # the reply to submit 5 is split across two segments
    reply = jline({"id": 5, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
    conv.send(t + 80.2, False, reply, segment=20)
    # the capture ends in the middle of the next submit
    conv.send(t + 90, True, submit(6, "16171819")[:50])
    return cap.write(path)


def stratum_tls_capture(path: Path) -> Path:
    """gpu-node-01 tries a pool over TLS (stratum+ssl): only the SNI shows."""
    cap = Capture()
    conv = TcpConversation(cap, ("10.20.1.11", 44000), ("198.51.100.90", 443))
    t = conv.handshake(BASE + 5)
    conv.send(t + 0.01, True, client_hello("gulf.moneroocean.stream"))
    conv.reset(t + 0.2, False)
    return cap.write(path)


@pytest.fixture(scope="module")
def xmrig_case(tmp_path_factory) -> Case:
    folder = tmp_path_factory.mktemp("mining")
    paths = [xmrig_capture(folder / "xmrig.pcap"), stratum_tls_capture(folder / "tls.pcap")]
    case = Case(folder / "case.duckdb")
    case.ingest([str(p) for p in paths], host="gpu-node-03")
    case.detect(names=["mining_stratum", "mining_pool_names"])
    yield case
    case.close()


def test_xmrig_messages_are_framed_across_and_within_segments(xmrig_case):
    msgs = xmrig_case.sql("SELECT direction, msg_kind, id, method, status, error_code, locator "
                          "FROM jsonrpc_msgs WHERE resp_p = 3333 ORDER BY ts, direction DESC, msg_index")
    methods = list(msgs.method.dropna())
    assert methods == ["login", "submit", "submit", "keepalived", "job", "submit"]
    assert list(msgs[msgs.direction == "resp"].status.fillna("-")) == ["OK", "OK", "-", "KEEPALIVED", "-", "OK"]
    assert int(msgs[msgs.id == "3"].query("direction == 'resp'").error_code.iloc[0]) == -1
    # the two packed submits come from one frame
    packed = msgs[(msgs.method == "submit") & msgs.id.isin(["2", "3"])]
    assert packed.locator.nunique() == 1
    login = xmrig_case.sql("SELECT login, wallet, worker, agent, algo FROM jsonrpc_msgs WHERE method = 'login'")
    row = login.iloc[0]
    assert row.wallet == WALLET and row.worker == "gpu-node-03"
    assert row.agent.startswith("XMRig/6.21.0") and row.algo == "rx/0,cn/r"


def test_message_that_breaks_off_is_a_warning_with_its_frame(xmrig_case):
    warnings = xmrig_case.warnings()
    broken = warnings[warnings.reason.str.contains("breaks off")]
    assert len(broken) == 1
    assert broken.locator.iloc[0].startswith("frame:")
    assert '"id":6' in broken.excerpt.iloc[0]


def test_xmrig_session_is_a_mining_finding_with_shares_and_coin(xmrig_case):
    findings = xmrig_case.findings(kind="mining")
    session = findings[findings.detector == "detect/mining_stratum"]
    assert len(session) == 1
    f = session.iloc[0]
    d = json.loads(f.details)
    assert (f.host, f.src_ip, f.dst_ip, f.dst_port) == ("gpu-node-03", "10.20.1.13", "198.51.100.77", 3333)
    assert d["wallet"] == WALLET and d["coin"] == "Monero"
    assert d["algo"] == "rx/0" and d["client_algos"] == "rx/0,cn/r"  # the pool chose rx/0 from the offer
    assert (d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == (3, 2, 1)
    assert d["shares_unanswered"] == 0  # submit 6 never completed, so it is not a message
    assert d["rejection_reasons"] == ["-1 Low difficulty share"]
    assert d["keepalives"] == 1 and d["pool_dns"] == "xmr.pool.example.com"
    assert "xmr.pool.example.com (198.51.100.77):3333" in f.summary
    assert "3 submitted / 2 accepted / 1 rejected" in f.summary
    assert f.severity == "critical" and list(f.attack_ids) == ["T1496.001"]
    assert {r["tbl"] for r in f.evidence_refs} == {"jsonrpc_msgs", "flows"}


def test_pool_name_in_tls_sni_is_a_mining_finding(xmrig_case):
    tls = xmrig_case.sql("SELECT server_name, ja3 FROM tls").iloc[0]
    assert tls.server_name == "gulf.moneroocean.stream" and len(tls.ja3) == 32
    names = xmrig_case.findings(kind="mining").query("detector == 'detect/mining_pool_names'")
    # the DNS name of the plaintext pool is covered by its stratum session already
    assert list(names.dst_ip) == ["198.51.100.90"]
    assert names.iloc[0].summary.startswith("TLS connection to mining-pool name gulf.moneroocean.stream")


# ---------------------------------------------------------------------------- the corpus
NESFIT = {
    # file: (pool port, first client methods, login, coin)
    "xmr-eu1.nanopool.org.pcapng": (14444, {"login"}, "47mr7jYT", "Monero"),
    "xmr.suprnova.cc.pcapng": (5222, {"login", "submit"}, "kvetak.worker1", "unknown"),
    "zec-eu1.nanopool.org.pcapng": (6666, {"mining.subscribe", "mining.authorize", "mining.extranonce.subscribe",
                                           "mining.submit"}, "t1KJk", "Zcash"),
    "zec-eu.suprnova.cc.pcapng": (2142, {"mining.subscribe", "mining.authorize", "mining.extranonce.subscribe",
                                         "mining.submit"}, "kvetak.worker1", "unknown"),
    "eth-eu1.nanopool.org.pcapng": (9999, {"eth_submitLogin", "eth_getWork", "eth_submitHashrate", "eth_submitWork"},
                                    "0x9c99", "Ethereum"),
    "pool.eth.pp.ua.pcapng": (80, {"eth_getWork", "eth_submitHashrate"}, None, "Ethereum"),
}


OTHER = ["peafowl/stratum.pcap", "ndpi/pcap/mining.pcapng", "ndpi/pcap/monero.pcap", "ndpi/pcap/ethereum.pcap"]


@pytest.fixture(scope="module")
def corpus_case(tmp_path_factory):
    rels = ["nesfit-mining/" + n for n in sorted(NESFIT)] + OTHER
    present = [PCAPS / rel for rel in rels if (PCAPS / rel).exists()]
    if not present:
        pytest.skip("corpus not present")
    case = Case(tmp_path_factory.mktemp("mining_corpus") / "case.duckdb")
    case.ingest([str(p) for p in present])
    case.detect(names=["mining_stratum", "mining_pool_names"])
    yield case
    case.close()


def _evidence(case: Case, rel: str) -> int:
    return int(case.sql("SELECT evidence_id FROM evidence WHERE path = ?", [str(corpus(rel))]).evidence_id[0])


def _findings(case: Case, rel: str):
    eid = _evidence(case, rel)
    found = case.findings(kind="mining")
    return found[[refs[0]["evidence_id"] == eid for refs in found.evidence_refs]]


@pytest.mark.parametrize("name", sorted(NESFIT))
def test_every_nesfit_pool_capture_yields_its_stratum_session(corpus_case, name):
    port, methods, login, coin = NESFIT[name]
    rel = "nesfit-mining/" + name
    msgs = corpus_case.sql("SELECT * FROM jsonrpc_msgs WHERE evidence_id = ?", [_evidence(corpus_case, rel)])
    assert set(msgs.resp_p) == {port}
    assert methods <= set(msgs[msgs.direction == "orig"].method.dropna())
    assert (msgs.msg_kind == "response").sum() > 0  # the pool's results are there too
    if login:
        assert msgs.login.dropna().iloc[0].startswith(login)
    findings = _findings(corpus_case, rel)
    assert len(findings) == 1 and json.loads(findings.iloc[0].details)["coin"] == coin


def test_peafowl_stratum_capture_counts_shares_and_the_stale_rejection(corpus_case):
    by_pool = {f.dst_ip: json.loads(f.details) for f in _findings(corpus_case, "peafowl/stratum.pcap").itertuples()}
    flypool = by_pool["94.23.199.191"]
    assert flypool["agent"] == "EWBF 0.3.4b" and flypool["login"] == "t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4"
    assert (flypool["shares_submitted"], flypool["shares_accepted"], flypool["shares_rejected"]) == (46, 45, 1)
    assert flypool["rejection_reasons"] == ["21 Stale job!"]
    assert by_pool["116.211.167.195"]["shares_accepted"] == 1


def test_ndpi_mining_capture_has_its_four_mining_flows(corpus_case):
    pools = sorted((f.dst_ip, f.dst_port) for f in _findings(corpus_case, "ndpi/pcap/mining.pcapng").itertuples())
    # nDPI's verdict: four flows, all Mining
    assert pools == [("116.211.167.195", 3333), ("178.32.196.217", 9050), ("185.71.66.39", 9999),
                     ("94.23.199.191", 3333)]


@pytest.mark.parametrize("rel", ["ndpi/pcap/monero.pcap", "ndpi/pcap/ethereum.pcap"])
def test_monero_and_ethereum_node_traffic_is_not_mining(corpus_case, rel):
    eid = _evidence(corpus_case, rel)
    assert corpus_case.sql("SELECT count(*) AS n FROM flows WHERE evidence_id = ?", [eid]).n[0] > 0
    assert corpus_case.sql("SELECT count(*) AS n FROM jsonrpc_msgs WHERE evidence_id = ?", [eid]).n[0] == 0
    assert _findings(corpus_case, rel).empty


# ---------------------------------------------------------------------------- the query on tiny tables
def _msg(uid, direction, kind, id_, method=None, ts=0, **extra):
    base = {"ts": BASE + ts, "uid": uid, "host": "gpu-node-03", "orig_h": "10.20.1.13", "orig_p": 40000,
            "resp_h": "198.51.100.77", "resp_p": 3333, "transport": "tcp", "direction": direction,
            "msg_kind": kind, "id": id_, "method": method, "evidence_id": 1, "locator": f"frame:{int(ts) + 1}"}
    base.update(extra)
    return base


def test_shares_match_replies_by_id_even_when_ids_are_reused(tmp_path):
    import pandas as pd

    rows = [
        _msg("C1", "orig", "request", "1", "mining.subscribe", 0, agent="cgminer/4.10"),
        _msg("C1", "orig", "request", "2", "mining.authorize", 1, login="acct.rig1", wallet="acct", worker="rig1"),
        _msg("C1", "resp", "response", "2", None, 2, result="true"),
        # the miner reuses id 4 for every submit
        _msg("C1", "orig", "request", "4", "mining.submit", 10),
        _msg("C1", "resp", "response", "4", None, 11, result="true"),
        _msg("C1", "orig", "request", "4", "mining.submit", 20),
        _msg("C1", "resp", "response", "4", None, 21, result="null", error='[23, "Low difficulty share", null]',
             error_code=23, error_message="Low difficulty share"),
        _msg("C1", "orig", "request", "4", "mining.submit", 30),
        _msg("C1", "resp", "response", "4", None, 31, result="false"),
        _msg("C1", "orig", "request", "4", "mining.submit", 40),  # never answered
        _msg("C1", "orig", "request", "9", "mining.extranonce.subscribe", 41),
    ]
    case = Case(tmp_path / "case.duckdb")
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    case.con.register("tiny", frame)
    case.con.execute("INSERT INTO jsonrpc_msgs BY NAME SELECT * EXCLUDE (result, error), result::JSON AS result, "
                     "error::JSON AS error FROM tiny")
    result = case.query("detect/mining_stratum")
    assert len(result) == 1
    d = json.loads(result.details[0])
    assert (d["shares_submitted"], d["shares_accepted"], d["shares_rejected"], d["shares_unanswered"]) == (4, 1, 2, 1)
    assert sorted(d["rejection_reasons"]) == ["23 Low difficulty share", "result false"]
    assert d["coin"] == "unknown"
    assert d["coin_reason"] == ("login 'acct.rig1' is a pool account name, not a wallet address, and no algorithm "
                                "was announced (miner cgminer/4.10)")
    case.close()
