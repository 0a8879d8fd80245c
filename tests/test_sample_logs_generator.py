"""sample_logs/ is generated: regenerating it gives the same bytes, it scales, and it parses."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs"
GENERATOR = SAMPLE / "generate.py"
NOT_GENERATED = {"README.md", "generate.py"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(base: Path) -> dict[str, Path]:
    return {p.relative_to(base).as_posix(): p for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.name not in NOT_GENERATED}


def _generate(out: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *args], check=True,
                   capture_output=True, text=True, timeout=120)


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_logs")
    _generate(out)
    return out


def test_regenerating_gives_the_committed_bytes(regenerated):
    committed, fresh = _files(SAMPLE), _files(regenerated)
    assert sorted(fresh) == sorted(committed), "the generator writes a different set of files"
    changed = [name for name in fresh if _sha256(fresh[name]) != _sha256(committed[name])]
    assert not changed, f"regenerated files differ from the committed ones: {changed}"


def test_committed_sample_stays_small():
    sizes = {name: p.stat().st_size for name, p in _files(SAMPLE).items()}
    assert sum(sizes.values()) < 6_200_000
    assert max(sizes.values()) < 2_000_000


def test_every_json_line_parses():
    count = 0
    for name, path in _files(SAMPLE).items():
        if name.endswith((".jsonl", ".jsonl.gz")) or name.startswith("cloudfirewall/"):
            with _open_text(path) as fh:
                for line in fh:
                    json.loads(line)
                    count += 1
    assert count > 500
    json.loads((SAMPLE / "ground_truth.json").read_text(encoding="utf-8"))


def test_cloud_firewall_values_are_strings_and_first_alert_is_mining():
    records = [json.loads(line) for line in
               (SAMPLE / "cloudfirewall/cloudfirewall-logstore_dump_0.json").read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(v, str) for r in records for v in r.values())
    first_alert = min((r for r in records if r["rule_result"] == "alert"), key=lambda r: int(r["__time__"]))
    truth = json.loads((SAMPLE / "ground_truth.json").read_text(encoding="utf-8"))["first_firewall_alert"]
    assert first_alert["__time__"] == truth["__time__"]
    assert first_alert["attack_type_name_en"] == "Mining Behavior"
    assert first_alert["src_private_ip"] == "10.20.1.13"


def test_ground_truth_matches_the_trajectory_file():
    truth = json.loads((SAMPLE / "ground_truth.json").read_text(encoding="utf-8"))
    mal = truth["malicious_trajectories"][0]
    with _open_text(SAMPLE / mal["file"]) as fh:
        record = next(r for r in map(json.loads, fh) if r["trajectory_id"] == mal["trajectory_id"])
    assert record["sandbox_ip"] == mal["sandbox_ip"] and record["host"] == "gpu-node-03"
    for step in mal["steps"]:
        msg = record["messages"][step["message_index"]]
        call = msg["tool_calls"][0]
        assert call["id"] == step["tool_call_id"]
        assert json.loads(call["function"]["arguments"])["command"] == step["command"]
    # the kern.log of the skewed node has the tunnel SYN at true time - 4.2 s, in local time
    kern = (SAMPLE / "nodes/gpu-node-03/kern.log").read_text(encoding="utf-8")
    tunnel = [line for line in kern.splitlines() if "DST=203.0.113.50" in line]
    assert len(tunnel) == 1 and tunnel[0].startswith("Feb 17 10:21:36 gpu-node-03 kernel:")
    assert f"SRC={mal['sandbox_ip']} " in tunnel[0] and "SPT=43218 DPT=22" in tunnel[0]


def test_scaled_run_streams_the_requested_number_of_trajectories(tmp_path):
    _generate(tmp_path, "--trajectories", "2000", "--only", "trajectories")
    files = sorted((tmp_path / "trajectories" / "rl-run-0217").iterdir())
    assert [f.name for f in tmp_path.iterdir()] == ["trajectories"]
    ids = []
    for path in files:
        with _open_text(path) as fh:
            ids += [json.loads(line)["trajectory_id"] for line in fh]
    assert len(ids) == 2000 and len(set(ids)) == 2000
    assert {"traj-000317", "traj-000842", "traj-000120"} <= set(ids)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_pcap_reads_cleanly_in_tshark():
    pcap = str(SAMPLE / "pcap/gpu-node-03-egress.pcap")

    def tshark(*args: str) -> str:
        return subprocess.run(["tshark", "-n", "-r", pcap, *args], check=True, capture_output=True,
                              text=True, timeout=60).stdout

    fields = ["tcp.stream", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "ssh.protocol", "ssh.kex.hassh",
              "_ws.malformed", "_ws.expert.severity"]
    rows = [line.split("\t") for line in tshark("-T", "fields", "-E", "separator=/t",
                                                *[a for f in fields for a in ("-e", f)]).splitlines()]
    rows = [dict(zip(fields, r + [""] * (len(fields) - len(r)))) for r in rows]
    assert not any(r["_ws.malformed"] for r in rows), "malformed packets"
    error = 0x00800000  # expert severity 'error'; tshark 4.0 warns about ed25519 signatures, as on real captures
    assert all(int(v) < error for r in rows for v in r["_ws.expert.severity"].split(",") if v)
    banners = {r["ssh.protocol"].split()[0] for r in rows if r["ssh.protocol"]}
    assert {"SSH-2.0-OpenSSH_9.6p1", "SSH-2.0-OpenSSH_8.9p1", "SSH-2.0-OpenSSH_9.2p1"} <= banners
    assert "a847a8c6d69990ad4d24b5b95eda17f3" in {r["ssh.kex.hassh"] for r in rows}
    syn_to_pool = [r for r in rows if r["tcp.dstport"] == "3333" and r["tcp.flags.syn"] in ("1", "True")
                   and r["tcp.flags.ack"] in ("0", "False")]
    stream = syn_to_pool[0]["tcp.stream"]
    follow = tshark("-q", "-z", f"follow,tcp,ascii,{stream}")
    lines = [ln for ln in follow.splitlines() if ln.startswith("{") and ln.endswith("}")]
    methods = [json.loads(ln).get("method") for ln in lines]
    assert methods.count("login") == 1 and methods.count("submit") > 100
