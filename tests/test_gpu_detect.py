"""GPU detections on tiny tables: foreign processes, the mining signature and the diversion tally.

Each test builds the few rows an investigation would have (GPU samples every minute, process
snapshots, the inventory's GPU-to-job mapping) and reads the findings as a responder would.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from forensics import Case
from forensics.errors import QueryError

T0 = datetime(2026, 2, 17, 2, 0, tzinfo=timezone.utc)
JOB = "rl-run-0217"


def uuid(n: int) -> str:
    return f"GPU-00000000-0000-0000-0000-{n:012d}"


@pytest.fixture
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as opened:
        yield opened


def insert(case: Case, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    case.con.register("tiny_rows", frame)
    case.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM tiny_rows")
    case.con.unregister("tiny_rows")


def own(case: Case, gpus: dict[int, str], host: str = "gpu-node-03") -> None:
    """The inventory's mapping: GPU n (index n) belongs to a job."""
    insert(case, "entities", [{"kind": "gpu_uuid", "value": uuid(n), "host": host, "job": job, "source": "inventory",
                               "attributes": json.dumps({"index": n}), "locator": f"hosts[0].gpus[{n}]"}
                              for n, job in gpus.items()])


def process_rows(n_gpu: int, pid: int, name: str, minutes: range, used: float = 1000.0, host: str = "gpu-node-03",
                 kind: str = "running", **extra) -> list[dict]:
    return [{"ts": T0 + timedelta(minutes=m), "host": host, "gpu_uuid": uuid(n_gpu), "pid": pid, "process_name": name,
             "record_kind": kind, "used_mib": used, "source_format": "nvidia_smi_csv", "evidence_id": 1,
             "locator": f"line:{1000 * n_gpu + m}", **extra} for m in minutes]


def training_sample(n_gpu: int, minute: int, host: str = "gpu-node-03") -> dict:
    """A training GPU: a 10-minute step with rollout, train and a sync dip in minute 9."""
    phase = minute % 10
    util, power, tensor = (88 + (minute % 3), 470 + 7 * (minute % 4), 0.2) if phase < 5 else (
        (98, 665 + 3 * (minute % 2), 0.63) if phase < 9 else (7, 131, 0.01))
    return {"ts": T0 + timedelta(minutes=minute, seconds=n_gpu), "host": host, "gpu_uuid": uuid(n_gpu),
            "gpu_index": n_gpu, "util": util, "power_w": power, "tensor_active": tensor, "fb_used_mib": 72000,
            "source_format": "dcgm_exporter", "evidence_id": 2, "locator": f"line:{n_gpu}{minute:04d}"}


def findings(case: Case, kind: str) -> pd.DataFrame:
    return case.sql("SELECT * FROM findings WHERE kind = ? ORDER BY host, summary", [kind])


# ----------------------------------------------------------------------------- foreign processes

def test_a_miner_on_two_gpus_of_the_job_is_foreign_and_the_trainer_is_not(case):
    own(case, {n: JOB for n in range(8)})
    rows = []
    for n in range(8):
        rows += process_rows(n, 31877 + n, "/opt/conda/bin/python3", range(0, 30), used=71000)
    for n in (6, 7):
        rows += process_rows(n, 48211, "/tmp/.cache/xmrig-6.21.0/xmrig", range(10, 40), used=2354)
    insert(case, "gpu_processes", rows)
    case.detect(names=["gpu_foreign_process"])
    found = findings(case, "gpu_foreign_process")
    assert len(found) == 2
    first = found.iloc[0]
    assert first["severity"] == "critical"
    assert first["host"] == "gpu-node-03"
    assert first["ts_start"] == pd.Timestamp(T0 + timedelta(minutes=10))
    assert first["summary"].startswith(f"xmrig (pid 48211) on GPU 6 ({uuid(6)}) of gpu-node-03, a GPU of {JOB}: "
                                       "known miner name; not among the job's processes: xmrig runs on 2 of the 8 GPUs")
    details = json.loads(first["details"])
    assert (details["pid"], details["process_name"], details["job"], details["max_used_mib"]) == (
        48211, "/tmp/.cache/xmrig-6.21.0/xmrig", JOB, 2354.0)
    refs = first["evidence_refs"]
    assert refs[0] == {"tbl": "gpu_processes", "evidence_id": 1, "locator": "line:6010"}
    assert len(refs) == 20 + 1 and refs[-1]["locator"] == "line:6039"  # the first 20 observations and the last


def test_names_are_matched_whatever_the_path_case_and_comm_cut(case):
    own(case, {0: JOB, 1: JOB})
    insert(case, "gpu_processes",
           process_rows(0, 700, "/dev/shm/.x/lolMiner", range(3)) + process_rows(1, 701, "T-Rex", range(3))
           + process_rows(0, 702, "/usr/bin/python3", range(3)) + process_rows(1, 703, "/usr/bin/python3", range(3)))
    case.detect(names=["gpu_foreign_process"])
    assert sorted(json.loads(d)["pid"] for d in findings(case, "gpu_foreign_process")["details"]) == [700, 701]


def test_process_of_another_job_and_a_stratum_command_line(case):
    own(case, {n: JOB for n in range(4)})
    rows = []
    for n in range(4):
        rows += process_rows(n, 100 + n, "python3", range(5))
    rows += process_rows(2, 900, "python3", range(2, 5), job="eval-0217")
    rows += process_rows(3, 901, "python3", range(2, 5), cmdline="python3 -m x -o stratum+ssl://pool.example:443")
    insert(case, "gpu_processes", rows)
    case.detect(names=["gpu_foreign_process"])
    found = {json.loads(d)["pid"]: (s, summary) for d, s, summary in
             findings(case, "gpu_foreign_process")[["details", "severity", "summary"]].itertuples(index=False)}
    assert set(found) == {900, 901}
    assert found[900][0] == "high" and "runs for eval-0217, not for the GPU's owner rl-run-0217" in found[900][1]
    assert found[901][0] == "critical" and "miner command line" in found[901][1]


def test_a_process_on_a_gpu_without_an_owner_is_judged_by_name_only(case):
    insert(case, "gpu_processes", process_rows(0, 1, "python3", range(3)) + process_rows(0, 2, "nbminer", range(3)))
    case.detect(names=["gpu_foreign_process"])
    found = findings(case, "gpu_foreign_process")
    assert len(found) == 1 and json.loads(found.iloc[0]["details"])["pid"] == 2


def test_foreign_process_threshold_is_a_parameter(case):
    own(case, {n: JOB for n in range(4)})
    rows = []
    for n in range(4):
        rows += process_rows(n, 100 + n, "python3", range(3))
    rows += process_rows(0, 555, "rank0_helper", range(3))  # on 1 of 4 GPUs
    insert(case, "gpu_processes", rows)
    case.detect(names=["gpu_foreign_process"])
    found = findings(case, "gpu_foreign_process")
    assert len(found) == 1 and found.iloc[0]["severity"] == "medium"
    case.detect(names=["gpu_foreign_process"], params={"min_peer_share": 0.2})
    assert findings(case, "gpu_foreign_process").empty


# ----------------------------------------------------------------------------- mining signature

def flat_miner_sample(n_gpu: int, minute: int) -> dict:
    row = training_sample(n_gpu, minute)
    row.update(util=100, power_w=696.5 + (minute % 3) * 0.8, tensor_active=row["tensor_active"] * 0.4)
    return row


def test_flat_gpu_among_dipping_job_gpus_is_a_mining_signature(case):
    own(case, {n: JOB for n in range(4)})
    rows = [training_sample(n, m) for n in range(3) for m in range(120)]
    rows += [training_sample(3, m) if m < 20 or m >= 100 else flat_miner_sample(3, m) for m in range(120)]
    insert(case, "gpu_samples", rows)
    case.detect(names=["gpu_mining_signature"])
    found = findings(case, "gpu_mining_signature")
    assert len(found) == 1
    hit = found.iloc[0]
    assert hit["host"] == "gpu-node-03"
    details = json.loads(hit["details"])
    assert details["gpu_uuid"] == uuid(3) and details["job"] == JOB
    # 10-minute windows wholly inside the miner's 80 minutes: 20:00-100:00 -> 8 windows.
    assert details["windows"] == 8 and details["windows_with_peer_dips"] == 8
    assert hit["ts_start"] == pd.Timestamp(T0 + timedelta(minutes=20, seconds=3))
    assert "no dips while the job's other GPUs dipped in 8 of 8 windows" in hit["summary"]
    assert hit["evidence_refs"][0]["tbl"] == "gpu_samples"


def test_training_rollout_alternation_and_an_evaluation_spike_are_not_mining(case):
    own(case, {0: JOB, 1: JOB, 2: "eval-0217", 3: "eval-0217"})
    rows = [training_sample(n, m) for n in (0, 1) for m in range(120)]
    for n in (2, 3):  # evaluation: busy with a loading dip every few minutes, power swinging
        for m in range(120):
            loading = (m + n) % 4 == 0
            rows.append({"ts": T0 + timedelta(minutes=m), "host": "gpu-node-04", "gpu_uuid": uuid(n), "gpu_index": n,
                         "util": 41 if loading else 95, "power_w": 305 if loading else 610,
                         "tensor_active": 0.06 if loading else 0.53, "source_format": "dcgm_exporter",
                         "evidence_id": 3, "locator": f"line:{n}{m}"})
    insert(case, "gpu_samples", rows)
    case.detect(names=["gpu_mining_signature"])
    assert findings(case, "gpu_mining_signature").empty


def test_steady_inference_with_busy_tensor_cores_and_no_peers_is_not_mining(case):
    insert(case, "gpu_samples", [{"ts": T0 + timedelta(minutes=m), "host": "infer-01", "gpu_uuid": uuid(9),
                                  "util": 99, "power_w": 600 + (m % 2), "tensor_active": 0.55,
                                  "source_format": "dcgm_exporter", "evidence_id": 4, "locator": f"line:{m}"}
                                 for m in range(90)])
    case.detect(names=["gpu_mining_signature"])
    assert findings(case, "gpu_mining_signature").empty
    # The same GPU with idle tensor cores is mining-like even without a job to compare with.
    case.con.execute("UPDATE gpu_samples SET tensor_active = 0.0")
    case.detect(names=["gpu_mining_signature"])
    found = findings(case, "gpu_mining_signature")
    assert len(found) == 1 and json.loads(found.iloc[0]["details"])["windows_tensor_idle"] >= 8


# ----------------------------------------------------------------------------- diversion

def test_diversion_whole_gpu_from_process_snapshots_with_cost(case):
    own(case, {n: JOB for n in range(8)})
    rows = []
    for n in range(8):
        rows += process_rows(n, 100 + n, "python3", range(0, 130))
    for n in (6, 7):
        rows += process_rows(n, 48211, "/tmp/.cache/xmrig-6.21.0/xmrig", range(30, 130), used=2354)  # 100 snapshots
    insert(case, "gpu_processes", rows)
    case.detect(names=["gpu_diversion"], params={"gpu_hour_price": 3.0})
    found = findings(case, "gpu_diversion")
    assert len(found) == 2
    details = [json.loads(d) for d in found["details"]]
    # 100 snapshots a minute apart: 99 intervals plus one typical interval = 6000 GPU-seconds each.
    assert [d["gpu_seconds"] for d in details] == [6000.0, 6000.0]
    assert [d["basis"] for d in details] == ["whole_gpu", "whole_gpu"]
    assert details[0]["process_gpu_hours"] == pytest.approx(12000 / 3600)
    assert details[0]["cost"] == pytest.approx(6000 / 3600 * 3.0)
    summary = found.iloc[0]["summary"]
    assert "1.67 GPU-hours (6000 GPU-seconds, whole GPU: no per-process utilisation), about 5.00 USD at 3.0 USD/GPU-hour" \
        in summary
    assert "the process on its 2 GPUs: 3.33 GPU-hours, about 10.00 USD" in summary
    assert found.iloc[0]["ts_end"] == pd.Timestamp(T0 + timedelta(minutes=130))


def test_diversion_by_process_share_and_by_accounting(case):
    own(case, {0: JOB, 1: JOB})
    rows = process_rows(0, 10, "python3", range(5)) + process_rows(1, 11, "python3", range(5))
    # pmon-like samples every minute at 50 % SM for 10 minutes: 10 x 60 s x 0.5 = 300 GPU-seconds.
    rows += process_rows(0, 4242, "xmrig", range(0, 10), kind="utilization", used=None, sm_util=50.0)
    # accounting: 60 % over 1000 s of run time = 600 GPU-seconds.
    rows += [{"ts": T0 + timedelta(minutes=30), "host": "gpu-node-03", "gpu_uuid": uuid(1), "pid": 4343,
              "process_name": "t-rex", "record_kind": "accounting", "sm_util": 60.0, "duration_ms": 1_000_000,
              "source_format": "nvidia_smi_csv", "evidence_id": 5, "locator": "line:2"}]
    insert(case, "gpu_processes", rows)
    case.detect(names=["gpu_diversion"])
    got = {json.loads(d)["pid"]: json.loads(d) for d in findings(case, "gpu_diversion")["details"]}
    assert got[4242]["basis"] == "process_share" and got[4242]["gpu_seconds"] == pytest.approx(300.0)
    assert got[4343]["basis"] == "process_share_accounting" and got[4343]["gpu_seconds"] == pytest.approx(600.0)
    assert got[4343]["cost"] == pytest.approx(600 / 3600 * 2.5)


def test_diversion_by_signature_when_there_is_no_process_data(case):
    own(case, {n: JOB for n in range(4)})
    rows = [training_sample(n, m) for n in range(3) for m in range(120)]
    rows += [flat_miner_sample(3, m) for m in range(120)]
    insert(case, "gpu_samples", rows)
    case.detect(names=["gpu_diversion"])
    found = findings(case, "gpu_diversion")
    assert len(found) == 1
    details = json.loads(found.iloc[0]["details"])
    assert details["basis"] == "whole_gpu_signature" and details["pid"] is None
    assert details["gpu_seconds"] == pytest.approx(119 * 60)
    assert "An unidentified workload used GPU 3" in found.iloc[0]["summary"]


def test_an_unknown_setting_is_refused(case):
    with pytest.raises(QueryError, match="no detection takes parameter gpu_hour_cost"):
        case.detect(params={"gpu_hour_cost": 1})
