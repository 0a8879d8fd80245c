"""The sample incident's GPU evidence against its ground truth: the miner on GPUs 6 and 7 of
gpu-node-03 is a finding with its GPU-hours and cost; the evaluation job's spike on gpu-node-04
is not; the RL job's rollout/train alternation is not.

Uses ``sample_logs/`` when its ``ground_truth.json`` is there; otherwise writes the inventory,
GPU files and ground truth with ``sample_logs/generate.py`` into a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from forensics import Case

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    if (SAMPLE_LOGS / "ground_truth.json").is_file():
        return SAMPLE_LOGS
    generator = SAMPLE_LOGS / "generate.py"
    if not generator.is_file():
        pytest.skip("sample_logs/ is not present")
    out = tmp_path_factory.mktemp("sample_logs")
    result = subprocess.run([sys.executable, str(generator), "--out", str(out), "--only", "inventory,gpu,truth"],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not (out / "ground_truth.json").is_file():
        pytest.skip(f"sample_logs/generate.py did not write the GPU evidence: {result.stderr[-300:]}")
    return out


@pytest.fixture(scope="module")
def truth(sample) -> dict:
    return json.loads((sample / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def case(sample, tmp_path_factory):
    paths = [sample / "inventory.yaml", sample / "gpu"] + sorted((sample / "nodes").glob("*/nvidia-smi*"))
    with Case(tmp_path_factory.mktemp("case") / "case.duckdb") as opened:
        summary = opened.ingest([str(p) for p in paths if p.exists()])
        assert not [o for o in summary.outcomes if o.status in ("failed", "unclaimed")]
        opened.detect(names=["gpu_foreign_process", "gpu_mining_signature", "gpu_diversion"],
                      params={"gpu_hour_price": 2.5})
        yield opened


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_miner_on_two_gpus_is_a_diversion_finding_with_gpu_hours_and_cost(case, truth):
    expected = truth["gpu_diversion"]
    found = case.sql("SELECT * FROM findings WHERE kind = 'gpu_diversion' ORDER BY summary")
    assert len(found) == len(expected["gpus"]) == 2
    details = [json.loads(d) for d in found["details"]]
    assert sorted(d["gpu_uuid"] for d in details) == sorted(g["uuid"] for g in expected["gpus"])
    assert {d["pid"] for d in details} == {expected["pid"]}
    assert {d["process_name"] for d in details} == {expected["process"]}
    assert {d["job"] for d in details} == {expected["job"]}
    assert set(found["host"]) == {expected["host"]}
    # Only process snapshots (compute-apps, once a minute): the whole GPU while the miner was on it.
    assert {d["basis"] for d in details} == {"whole_gpu"}
    total_hours = sum(d["gpu_hours"] for d in details)
    one_sample_per_gpu = 2 * 60 / 3600
    assert abs(total_hours - expected["gpu_hours"]) <= one_sample_per_gpu
    assert details[0]["process_gpu_hours"] == pytest.approx(total_hours)
    assert details[0]["process_cost"] == pytest.approx(total_hours * 2.5)
    # The stamps are gpu-node-03's clock (4.2 s slow, corrected later by the skew views): the
    # interval matches the truth within that skew and one sampling interval.
    for start in found["ts_start"]:
        assert abs((start.to_pydatetime() - iso(expected["start"])).total_seconds()) <= 60 + 5
    for end in found["ts_end"]:
        assert abs((end.to_pydatetime() - iso(expected["end"])).total_seconds()) <= 60 + 5
    summary = found.iloc[0]["summary"]
    assert summary.startswith(f"xmrig (pid {expected['pid']}) used GPU ")
    assert "GPU-hours" in summary and "USD at 2.5 USD/GPU-hour" in summary
    assert f"the process on its 2 GPUs: {total_hours:.2f} GPU-hours, about {total_hours * 2.5:.2f} USD" in summary
    refs = found.iloc[0]["evidence_refs"]
    assert refs[0]["tbl"] == "gpu_processes" and refs[0]["locator"].startswith("line:")


def test_the_miner_is_a_foreign_process_and_the_trainers_are_not(case, truth):
    expected = truth["gpu_diversion"]
    found = case.sql("SELECT details FROM findings WHERE kind = 'gpu_foreign_process'")
    details = [json.loads(d) for d in found["details"]]
    assert sorted(d["gpu_uuid"] for d in details) == sorted(g["uuid"] for g in expected["gpus"])
    assert all("known miner name" in d["reasons"] for d in details)
    assert all(d["max_used_mib"] == expected["used_memory_mib_per_gpu"] for d in details)


def test_mining_signature_on_the_two_gpus_and_not_on_the_evaluation_spike(case, truth):
    expected = truth["gpu_diversion"]
    signature = case.sql("SELECT host, details FROM findings WHERE kind = 'gpu_mining_signature'")
    assert sorted(json.loads(d)["gpu_uuid"] for d in signature["details"]) == sorted(g["uuid"] for g in expected["gpus"])
    spike = next(d for d in truth["decoys"] if d["kind"] == "evaluation_gpu_spike")
    spike_gpus = {g["uuid"] for g in spike["gpus"]}
    every = case.sql("SELECT kind, host, details FROM findings WHERE kind LIKE 'gpu_%'")
    assert not [d for d in every["details"] if json.loads(d).get("gpu_uuid") in spike_gpus]
    assert spike["host"] not in set(every["host"])
    # The spike is in the evidence: busy GPUs that were judged and not flagged.
    busy = case.sql("""SELECT count(*) AS n FROM gpu_samples WHERE host = ? AND util >= 90
                       AND ts BETWEEN ?::TIMESTAMPTZ AND ?::TIMESTAMPTZ""", [spike["host"], spike["start"], spike["end"]])
    assert busy["n"][0] > 50


def test_the_gpu_evidence_is_on_the_timeline(case, truth):
    expected = truth["gpu_diversion"]
    events = case.timeline(source="gpu", host=expected["host"])
    starts = events[(events["kind"] == "gpu_process_start") & events["summary"].str.contains(expected["process"])]
    assert len(starts) == 2
