"""``forensics collect gpu``: the NVML sampler, tested through the fake NVML backend (no GPU
here), its rotating files, its clean one-line failure without a driver, and the round trip
through the ``nvml_snapshots`` parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forensics import Case
from forensics.gpu.collector import Collector, CollectorUnavailable, FakeNvml, read_process, run_collector

DATA = Path(__file__).resolve().parent / "data" / "gpu"
FIXTURE = DATA / "fake_nvml.json"
MINER_GPU = "GPU-3c6f0b2e-6d1a-4b7e-9c1a-000000000306"


def fake_proc(root: Path, pid: int, comm: str, argv: list[str], cgroup: str) -> None:
    folder = root / str(pid)
    folder.mkdir(parents=True)
    (folder / "comm").write_text(comm + "\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (folder / "cgroup").write_text(cgroup)


@pytest.fixture
def proc_root(tmp_path):
    root = tmp_path / "proc"
    fake_proc(root, 48211, "xmrig", ["/tmp/.cache/xmrig-6.21.0/xmrig", "--cuda", "-o",
                                      "stratum+tcp://xmr.pool.example.com:3333"],
              "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3f2a9c1e_77aa_4c1e_9a7f_2d8e41b0c317"
              ".slice/cri-containerd-" + "ab" * 32 + ".scope\n")
    fake_proc(root, 31877, "python3", ["/opt/conda/bin/python3", "train.py"], "0::/system.slice/trainer.service\n")
    return root


def read_records(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


def test_collector_writes_samples_processes_utilisation_accounting_and_xid(tmp_path, proc_root):
    files = run_collector(FakeNvml(FIXTURE), tmp_path / "out", interval_s=0.01, count=2, host="gpu-node-03",
                          proc_root=str(proc_root))
    assert len(files) == 1 and files[0].name.startswith("gpu-gpu-node-03-")
    records = read_records(files)
    kinds = [r["record"] for r in records]
    assert kinds[:3] == ["collector", "device", "device"]
    assert kinds[-1] == "collector_stop" and records[-1]["rounds"] == 2
    head = records[0]
    assert head["host"] == "gpu-node-03" and head["driver_version"] == "550.144.03"
    assert "timezone" in head and isinstance(head["utc_offset_s"], int)
    assert records[2]["unsupported"] == ["nvmlDeviceGetTotalEnergyConsumption"]
    samples = [r for r in records if r["record"] == "sample"]
    assert len(samples) == 4
    assert samples[0]["power_mw"] == 696500 and samples[0]["util_gpu"] == 100 and samples[1]["energy_mj"] is None
    miner = [r for r in records if r["record"] == "process" and r["pid"] == 48211]
    assert len(miner) == 2 and miner[0]["name"] == "xmrig"
    assert miner[0]["cmdline"].endswith("stratum+tcp://xmr.pool.example.com:3333")
    assert miner[0]["pod_uid"] == "3f2a9c1e-77aa-4c1e-9a7f-2d8e41b0c317" and miner[0]["container_id"] == "ab" * 32
    # Per-process samples are read once each: the second round only brings the newer one.
    util = [(r["pid"], r["sm_util"]) for r in records if r["record"] == "process_util"]
    assert util == [(31877, 38), (48211, 61), (48211, 62)]
    assert [r["gpu_util"] for r in records if r["record"] == "accounting"] == [61, 61]
    assert [(r["xid"], r["uuid"]) for r in records if r["record"] == "xid"] == [(79, MINER_GPU)]


def test_files_rotate_and_each_starts_with_the_header(tmp_path, proc_root):
    files = run_collector(FakeNvml(FIXTURE), tmp_path / "out", interval_s=0.01, count=6, host="n1",
                          proc_root=str(proc_root), max_bytes=2000, keep=3)
    remaining = sorted((tmp_path / "out").glob("*.jsonl"))
    assert len(files) == 3 and remaining == sorted(files)
    for path in remaining:
        first = json.loads(path.read_text().splitlines()[0])
        assert first["record"] == "collector"


def test_no_driver_is_a_clean_error(tmp_path):
    with pytest.raises(CollectorUnavailable, match="no NVIDIA GPU or driver usable on this machine"):
        Collector(FakeNvml({"init_error": "NVML Shared Library Not Found"})).start()
    assert not list(tmp_path.iterdir())


def test_cli_without_a_gpu_says_so_in_one_line(tmp_path):
    """The real binding on this machine (no GPU, no driver): one line on stderr, exit 1."""
    result = subprocess.run([sys.executable, "-m", "forensics", "collect", "gpu", "--out", str(tmp_path / "o"),
                             "--count", "1"], capture_output=True, text=True, timeout=120)
    if result.returncode == 0:
        pytest.skip("this machine has a usable NVIDIA GPU")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_with_the_fake_backend_and_the_round_trip_into_a_case(tmp_path):
    out = tmp_path / "telemetry"
    result = subprocess.run([sys.executable, "-m", "forensics", "collect", "gpu", "--out", str(out), "--count", "2",
                             "--interval", "0.01", "--host", "gpu-node-03", "--fake-nvml", str(FIXTURE)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote ")
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(out)])
        assert [o.parser for o in summary.outcomes] == ["nvml_snapshots"]
        samples = case.sql("SELECT gpu_uuid, util, power_w, fb_used_mib FROM gpu_samples ORDER BY ts, gpu_uuid")
        assert len(samples) == 4
        assert samples.iloc[1].tolist() == [MINER_GPU, 100.0, 696.5, pytest.approx(78000000000 / 1048576)]
        kinds = case.sql("SELECT record_kind, count(*) AS n FROM gpu_processes GROUP BY 1 ORDER BY 1")
        assert kinds.values.tolist() == [["accounting", 2], ["running", 6], ["utilization", 3]]
        events = case.sql("SELECT event, xid, gpu_uuid FROM gpu_events ORDER BY ts").values.tolist()
        assert events[0][0] == "collector_start" and ["xid", 79, MINER_GPU] in events
        device = case.sql("SELECT json_extract_string(attributes, '$.minor_number') AS minor FROM entities "
                          "WHERE kind = 'gpu_uuid' AND value = ? AND source = 'nvml_snapshots' LIMIT 1", [MINER_GPU])
        assert device["minor"].tolist() == ["6"]


def test_read_process_outside_our_namespace_is_empty(tmp_path):
    assert read_process(999999, str(tmp_path)) == {}
