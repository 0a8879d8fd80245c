"""GPU telemetry parsers: real captures from the corpus and small samples of each format.

What a responder checks: the right GPU (UUID, normalised bus id), the right time (UTC, local
stamps converted with the zone hint and marked inferred), the right process with its memory,
and nothing dropped silently (bad rows and no-value sentinels are parse warnings).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics import Case

DATA = Path(__file__).resolve().parent / "data" / "gpu"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
GPU = CORPUS / "gpu"

UUID6 = "GPU-3c6f0b2e-6d1a-4b7e-9c1a-000000000306"
UUID7 = "GPU-3c6f0b2e-6d1a-4b7e-9c1a-000000000307"


def corpus_file(relative: str) -> Path:
    path = GPU / relative
    if not path.exists():
        pytest.skip(f"corpus file {relative} is not present")
    return path


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def case(tmp_path):
    with Case(tmp_path / "case.duckdb") as opened:
        yield opened


def ingest_one(case: Case, path: Path, **hints):
    summary = case.ingest([str(path)], **hints)
    outcome = summary.outcomes[0]
    assert outcome.status == "parsed", outcome.message
    return outcome


def rows(case: Case, sql: str, params=None) -> list[tuple]:
    return [tuple(r) for r in case.con.execute(sql, params or []).fetchall()]


def warnings(case: Case) -> list[str]:
    return [r[0] for r in rows(case, "SELECT reason FROM parse_warnings ORDER BY locator, reason")]


# ----------------------------------------------------------------------------- the corpus

def test_h100_load_capture_has_gpu_burn_and_memhogs_with_their_memory(case):
    path = corpus_file("nvidia_gpu_exporter-captures/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt")
    outcome = ingest_one(case, path)
    assert outcome.parser == "nvidia_smi_capture"
    running = rows(case, """SELECT pid, process_name, used_mib FROM gpu_processes
                            WHERE record_kind = 'running' ORDER BY pid""")
    assert running == [(11327, "/root/tools/memhog", 2566.0), (11328, "/root/tools/memhog", 1542.0),
                       (11345, "./gpu_burn", 15690.0)]
    # pmon: 5 samples x 3 processes, gpu_burn at 99 % SM; rows carry the UUID from the -L section.
    pmon = rows(case, """SELECT process_name, count(*), max(sm_util), min(gpu_uuid) FROM gpu_processes
                         WHERE record_kind = 'utilization' GROUP BY ALL ORDER BY 1""")
    assert pmon == [("gpu_burn", 5, 99.0, "GPU-00000000-0000-0000-0000-000000000000"),
                    ("memhog", 10, None, "GPU-00000000-0000-0000-0000-000000000000")]
    # dmon under load: 631-636 W, SM 100 %, clocks 2619/1980; the capture's collected_at says UTC.
    dmon = rows(case, """SELECT min(power_w), max(power_w), min(util), max((extra->>'mclk')::INT), max(sm_clock_mhz)
                         FROM gpu_samples WHERE locator >= 'line:2162' AND locator <= 'line:2167'
                           AND gpu_model IS NULL""")
    assert dmon == [(631.0, 636.0, 100.0, 2619.0, 1980.0)]
    query = rows(case, """SELECT ts, util, fb_used_mib, power_w, pci_bus_id FROM gpu_samples
                          WHERE gpu_model = 'NVIDIA H100 80GB HBM3' ORDER BY ts""")
    assert query[1] == (utc("2026-07-14 08:12:53.353"), 100.0, 19818.0, 631.95, "00000000:00:09.0")
    # The 212 query-gpu fields are all kept: those with a value and no column of their own in extra.
    extra = rows(case, """SELECT len(json_keys(extra)), extra->>'driver_version', extra->>'pstate',
                                 extra->>'clocks.max.sm [MHz]' FROM gpu_samples WHERE gpu_model IS NOT NULL""")
    assert extra == [(127, "590.48.01", "P0", "1980 MHz")] * 2
    assert any("capture sections hold no samples" in w for w in warnings(case))


def test_mig_capture_processes(case):
    ingest_one(case, corpus_file("nvidia_gpu_exporter-captures/linux-x86_64__nvidia-h100-mig__590.48.01.txt"))
    assert rows(case, """SELECT pid, used_mib FROM gpu_processes WHERE record_kind = 'running' ORDER BY pid""") == [
        (21180, 2296.0), (21181, 1272.0), (21198, 7484.0)]


def test_exporter_metrics_counts_match_the_projects_golden_files(case):
    for name, expected in (("linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__idle.metrics", 132),
                           ("linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__load.metrics", 138),
                           ("linux-x86_64__nvidia-h100-mig__590.48.01__load.metrics", 128)):
        case.ingest([str(corpus_file(f"nvidia_gpu_exporter-metrics/{name}"))], options={"scrape_time": "2026-07-14T08:12:53Z"})
    samples = rows(case, """
        SELECT e.path, sum(coalesce(len(json_keys(s.extra)), 0)
               + (s.util IS NOT NULL)::INT + (s.mem_util IS NOT NULL)::INT + (s.fb_used_mib IS NOT NULL)::INT
               + (s.power_w IS NOT NULL)::INT + (s.temp_c IS NOT NULL)::INT + (s.sm_clock_mhz IS NOT NULL)::INT)
        FROM gpu_samples s JOIN evidence e USING (evidence_id) GROUP BY ALL ORDER BY 1""")
    procs = rows(case, """SELECT e.path, sum(len(json_keys(p.extra)) + (p.used_mib IS NOT NULL)::INT)
                          FROM gpu_processes p JOIN evidence e USING (evidence_id) GROUP BY ALL ORDER BY 1""")
    per_file = {path.rsplit("/", 1)[1]: n for path, n in samples}
    for path, n in procs:
        per_file[path.rsplit("/", 1)[1]] += n
    # Every sample of the exposition is a value in a column or in extra (idle: no processes).
    assert per_file["linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__idle.metrics"] == 132
    assert per_file["linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__load.metrics"] == 138
    assert per_file["linux-x86_64__nvidia-h100-mig__590.48.01__load.metrics"] == 128
    load = rows(case, """SELECT util, fb_used_mib, power_w, sm_clock_mhz FROM gpu_samples s JOIN evidence e
                         USING (evidence_id) WHERE e.path LIKE '%hbm3__590.48.01__load%' AND s.gpu_uuid IS NOT NULL""")
    assert load == [(100.0, 19818.0, 631.95, 1980.0)]
    assert rows(case, """SELECT ts FROM gpu_samples LIMIT 1""") == [(utc("2026-07-14 08:12:53"),)]


def test_datadog_dcgm_exporter_scrape(case):
    ingest_one(case, corpus_file("datadog-dcgm/dcgm-exporter-metrics.txt"))
    t4 = rows(case, """SELECT host, sm_clock_mhz, extra->>'DCGM_FI_DEV_MEM_CLOCK', temp_c, power_w,
                              extra->>'DCGM_FI_DEV_FB_FREE', fb_used_mib
                       FROM gpu_samples WHERE gpu_uuid = 'GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e'""")
    assert t4 == [("424773df46e0", 300.0, "405.0", 25.0, 8.969, "15109.0", 0.0)]
    a10g = rows(case, "SELECT pod, namespace, container, dram_active FROM gpu_samples WHERE gpu_uuid = 'GPU-abc'")
    assert a10g == [("ray-1111111", "ray-llm", "ray-worker", 0.000003)]
    assert rows(case, "SELECT value FROM entities WHERE kind = 'pod'") == [("ray-llm/ray-1111111",)]
    assert any("38 samples have no time" in w for w in warnings(case))


def test_nvidia_smi_xml_old_and_new_power_elements_and_processes(case):
    case.ingest([str(corpus_file("telegraf-nvidia-smi-xml"))], timezone="UTC")
    gpus = rows(case, """SELECT gpu_model, gpu_uuid, fb_used_mib, power_w, temp_c, sm_clock_mhz FROM gpu_samples
                         ORDER BY gpu_model""")
    assert ("NVIDIA A100-SXM4-80GB", "GPU-513536b6-7d19-9063-b049-1e69664bb298", 50.0, 67.03, 27.0, 1275.0) in gpus
    assert ("Quadro P400", "GPU-8f750be4-dfbc-23b9-b33f-da729a536494", 0.0, None, 33.0, 139.0) in gpus
    assert ("Tesla T4", "GPU-d37e67a5-91dd-3774-a5cb-99096249601a", 1032.0, 26.78, 40.0, 585.0) in gpus
    t4 = rows(case, """SELECT pid, process_name, used_mib FROM gpu_processes p JOIN gpu_samples s USING (evidence_id)
                       WHERE s.gpu_model = 'Tesla T4' ORDER BY pid""")
    assert t4 == [(675, "/usr/lib/xorg/Xorg", 22.0), (5762, "python", 1005.0)]
    # Every leaf is kept: the A100's clocks_event_reasons and pstate are in extra.
    assert rows(case, "SELECT extra->>'performance_state' FROM gpu_samples WHERE gpu_model LIKE '%A100%'") == [("P0",)]
    assert rows(case, "SELECT extra->>'log/cuda_version' FROM gpu_samples WHERE gpu_model LIKE '%A100%'") == [("12.2",)]


def test_query_gpu_corpus_csvs_and_the_copied_bus_ids(case):
    case.ingest([str(corpus_file("virtualclient/query-gpu-8xH100.csv")),
                 str(corpus_file("virtualclient/query-gpu-1xT4-NA.csv"))], timezone="UTC")
    assert rows(case, "SELECT count(*) FROM gpu_samples WHERE gpu_model LIKE '%H100%'") == [(8,)]
    t4 = rows(case, "SELECT power_w, extra->>'temperature.memory', util, fb_used_mib FROM gpu_samples "
                    "WHERE gpu_model = 'Tesla T4'")
    assert t4 == [(None, None, 2.0, 100.0)]  # N/A and [N/A] are no value
    copied = [w for w in warnings(case) if "report the same PCI bus id" in w]
    assert len(copied) == 4 and "GPUs 0, 4 report the same PCI bus id 00000000:0A:00.0" in copied[0] + " ".join(copied)


def test_dcgmi_dmon_corpus_and_discovery(case):
    ingest_one(case, corpus_file("virtualclient/DCGMIDmonResults.txt"),
               options={"dcgmi_start": "2024-01-04T13:54:35Z", "dcgmi_delay_ms": "1000"})
    got = rows(case, "SELECT ts, gpu_index, gr_engine_active, tensor_active, dram_active FROM gpu_samples ORDER BY ts")
    assert len(got) == 15
    assert got[2] == (utc("2024-01-04 13:54:37"), 0, 0.998, 0.885, 0.305)
    assert got[-1][2:] == (0.0, 0.0, 0.0)
    outcome = ingest_one(case, corpus_file("virtualclient/DCGMIDiscoveryResults.txt"))
    assert outcome.parser == "dcgmi_discovery"
    assert rows(case, "SELECT value, json_extract_string(attributes, '$.pci_bus_id') FROM entities WHERE kind = 'gpu_uuid'") \
        == [("GPU-934a71d6-e50c-86a3-f752-3743a8c1bbb2", "00000001:00:00.0")]


def test_dcgmi_diag_results_are_gpu_events(case):
    ingest_one(case, corpus_file("virtualclient/DCGMIDiag_r3_results.json"), options={"diag_time": "2024-01-04T14:00:00Z"})
    got = rows(case, "SELECT ts, gpu_index, detail FROM gpu_events WHERE event = 'dcgm_diag' ORDER BY locator")
    assert len(got) == 16
    assert ("Stress / Targeted Power: Pass; info: GPU 0 GPU 0 power average:\t70 W") in [g[2] for g in got]
    assert ("Hardware / EUD Test: Skip") in [g[2] for g in got]
    assert {g[0] for g in got} == {utc("2024-01-04 14:00:00")}


def test_non_telemetry_dcgm_files_are_not_claimed(case):
    summary = case.ingest([str(corpus_file("virtualclient/DCGMIProftesterResults.txt"))])
    assert summary.outcomes[0].status == "unclaimed"


# ----------------------------------------------------------------------------- small samples

def test_compute_apps_csv_local_time_and_bad_row(case):
    ingest_one(case, DATA / "compute_apps.csv", timezone="Asia/Shanghai", host="gpu-node-03")
    got = rows(case, """SELECT ts, ts_raw, ts_inferred, host, gpu_uuid, pci_bus_id, pid, process_name, used_mib
                        FROM gpu_processes ORDER BY locator""")
    assert got[1] == (utc("2026-02-17 02:31:15.512"), "2026/02/17 10:31:15.512", True, "gpu-node-03", UUID6,
                      "00000000:BA:00.0", 48211, "/tmp/.cache/xmrig-6.21.0/xmrig", 2354.0)
    assert got[2][8] is None  # [N/A] memory is no value, not zero
    assert warnings(case) == ["nvidia-smi CSV row has 4 fields, the header has 8"]


def test_accounted_apps_keep_lifetime_util_and_run_time(case):
    ingest_one(case, DATA / "accounted_apps.csv", timezone="Asia/Shanghai")
    assert rows(case, "SELECT pid, record_kind, sm_util, mem_util, used_mib, duration_ms FROM gpu_processes") == [
        (48211, "accounting", 61.0, 79.0, 2354.0, 7730000)]


def test_query_gpu_without_units(case):
    ingest_one(case, DATA / "query_gpu_nounits.csv", timezone="Asia/Shanghai")
    assert rows(case, "SELECT gpu_index, util, fb_used_mib, extra->>'memory.total', power_w, sm_clock_mhz, "
                      "extra->>'pstate' FROM gpu_samples ORDER BY gpu_index") == [
        (6, 100.0, 74458.0, "81559", 696.51, 1747.0, "P0"), (7, 100.0, 74470.0, "81559", None, 1749.0, "P0")]


def test_pmon_with_date_time_columns(case):
    ingest_one(case, DATA / "pmon_dt.txt", timezone="Asia/Shanghai", host="gpu-node-03")
    got = rows(case, """SELECT ts, gpu_index, pid, process_name, sm_util, mem_util FROM gpu_processes
                        WHERE process_name = 'xmrig' ORDER BY locator""")
    assert got == [(utc("2026-02-17 02:31:15"), 6, 48211, "xmrig", 61.0, 79.0),
                   (utc("2026-02-17 02:31:15"), 7, 48211, "xmrig", 62.0, 80.0),
                   (utc("2026-02-17 02:31:16"), 6, 48211, "xmrig", 60.0, 79.0)]
    assert rows(case, "SELECT count(*) FROM gpu_processes") == [(6,)]  # the idle "-" row is no process


def test_dmon_without_stamps_takes_a_start_option(case):
    ingest_one(case, DATA / "dmon_plain.txt", options={"smi_start": "2026-02-17T02:31:00Z", "smi_interval_s": "5"})
    assert rows(case, "SELECT ts, gpu_index, power_w, util, extra->>'mtemp' FROM gpu_samples ORDER BY ts, gpu_index") \
        == [(utc("2026-02-17 02:31:00"), 0, 631.0, 100.0, "57"), (utc("2026-02-17 02:31:00"), 1, 420.0, 85.0, None),
            (utc("2026-02-17 02:31:05"), 0, 634.0, 100.0, "58"), (utc("2026-02-17 02:31:05"), 1, 418.0, 84.0, None)]


def test_dcgmi_dmon_with_leading_stamps_strings_mig_rows_and_sentinels(case):
    ingest_one(case, DATA / "dcgmi_dmon_ts.txt", timezone="Asia/Shanghai", host="gpu-node-03")
    got = rows(case, """SELECT ts, gpu_index, mig_instance, util, power_w, tensor_active, fb_used_mib,
                               extra->>'DCGM_FI_DEV_MEMORY_TEMP',
                               extra->>'DCGM_FI_DEV_NAME' FROM gpu_samples ORDER BY locator""")
    assert got[0] == (utc("2026-02-17 02:31:00"), 6, None, 100.0, 696.512, 0.081, 74458.0, None, "NVIDIA H100 80GB HBM3")
    assert got[1][7] is None  # 9223372036854775794 is DCGM's NOT_SUPPORTED, not a temperature
    assert got[2][1:3] == (None, "GPU-I 1")
    assert len(got) == 5
    assert "1 DCGM blank values (N/A sentinels) read as no value" in warnings(case)


def test_exposition_scrapes_label_drift_exported_pod_and_sentinels(case):
    ingest_one(case, DATA / "dcgm_scrapes.prom")
    got = rows(case, """SELECT ts, host, gpu_uuid, pci_bus_id, util, power_w, extra->>'DCGM_FI_DEV_MEMORY_TEMP',
                               fb_used_mib, pod, namespace,
                               container, job FROM gpu_samples WHERE gpu_uuid = ? ORDER BY ts""", [UUID6])
    # Scrape 1 names the exporter pod as Hostname and pod: the workload is exported_pod; the
    # host falls back to the scrape target's address. Scrape 2 uses lower-case label names.
    assert got[0] == (utc("2026-02-17 02:40:00"), "10.20.1.13", UUID6, "00000000:BA:00.0", 100.0, 696.512, None, None,
                      "rl-run-0217-worker-2", "rl-training", "trainer", "rl-run-0217")
    assert got[1] == (utc("2026-02-17 02:40:15"), "gpu-node-03", UUID6, "00000000:BA:00.0", 100.0, 697.002, None,
                      74458.0, None, None, None, "rl-run-0217")
    xid = rows(case, "SELECT extra FROM gpu_samples WHERE ts = '2026-02-17 02:40:00Z' AND gpu_uuid = ?", [UUID6])
    assert '"DCGM_EXP_XID_ERRORS_COUNT{xid=\\"79\\",window_size_in_ms=\\"300000\\"}":0.0' in xid[0][0]
    reasons = warnings(case)
    assert "1 values of DCGM_FI_DEV_GPU_UTIL are NaN or Inf (kept as no value)" in reasons
    assert "1 values of DCGM_FI_DEV_MEMORY_TEMP are DCGM blank sentinels (kept as no value)" in reasons
    assert "not an exposition sample, comment or time-stamp line" in reasons
    assert rows(case, "SELECT value FROM entities WHERE kind = 'pod'") == [("rl-training/rl-run-0217-worker-2",)]


def test_exposition_host_from_inventory_address(case, tmp_path):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("kind: cluster-forensics/inventory\nversion: 1\nhosts:\n"
                         "  - {name: gpu-node-03, ips: [10.20.1.13]}\n")
    case.ingest([str(inventory), str(DATA / "dcgm_scrapes.prom")])
    assert rows(case, "SELECT DISTINCT host FROM gpu_samples WHERE gpu_uuid IS NOT NULL") == [("gpu-node-03",)]


def test_range_json_dedupes_overlapping_chunks(case):
    ingest_one(case, DATA / "range_util.json")
    got = rows(case, "SELECT ts, util, locator FROM gpu_samples WHERE gpu_uuid = ? ORDER BY ts", [UUID6])
    assert [g[0] for g in got] == [utc(f"2026-02-17 04:0{m}") for m in
                                   ("0:00", "0:15", "0:30", "0:45", "1:00")]
    assert [g[1] for g in got] == [100.0, 100.0, None, 99.0, 100.0]
    assert got[-1][2] == "result:2 point:1"
    reasons = warnings(case)
    assert "1 values of DCGM_FI_DEV_GPU_UTIL are NaN or Inf (kept as no value)" in reasons
    assert any("appear more than once" in r for r in reasons)
    assert rows(case, "SELECT job, valid_from, valid_to FROM entities WHERE kind = 'gpu_uuid' AND job IS NOT NULL "
                      "AND value = ?", [UUID6]) == [("rl-run-0217", utc("2026-02-17 04:00:00"), utc("2026-02-17 04:01:00"))]


def test_victoriametrics_jsonl(case):
    ingest_one(case, DATA / "vm_export.jsonl")
    assert rows(case, "SELECT ts, util, power_w FROM gpu_samples ORDER BY ts") == [
        (utc("2026-02-17 03:30:00"), 95.0, 610.5), (utc("2026-02-17 03:30:15"), 41.0, 305.25),
        (utc("2026-02-17 03:30:30"), 96.0, 612.0)]


def test_promtool_dump(case):
    ingest_one(case, DATA / "promtool_dump.txt")
    assert rows(case, "SELECT ts, host, util, tensor_active, fb_used_mib FROM gpu_samples ORDER BY ts") == [
        (utc("2026-02-17 03:30:00"), "gpu-node-04", 95.0, 0.53, 67212.0),
        (utc("2026-02-17 03:30:15"), "gpu-node-04", 41.0, None, None)]
    assert warnings(case) == ["not a promtool dump line"]


def test_slurm_sacct_and_scontrol_map_gpu_indexes_to_uuids(case, tmp_path):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "kind: cluster-forensics/inventory\nversion: 1\ntimezone: Asia/Shanghai\nhosts:\n"
        "  - name: gpu-node-04\n    gpus:\n" +
        "".join(f"      - {{index: {i}, uuid: GPU-4a000000-0000-0000-0000-00000000040{i}}}\n" for i in range(8)))
    case.ingest([str(inventory), str(DATA / "sacct.txt"), str(DATA / "scontrol.txt")])
    jobs = rows(case, "SELECT value, valid_from, valid_to FROM entities WHERE kind = 'job' AND source = 'slurm' "
                      "ORDER BY value, locator")
    assert (("4101", utc("2026-02-16 23:31:40"), None)) in jobs
    assert ("4102", utc("2026-02-17 03:30:00"), utc("2026-02-17 03:50:00")) in jobs
    assert rows(case, "SELECT value FROM entities WHERE kind = 'job_node' AND job = '4101' ORDER BY value") == [
        ("gpu-node-01",), ("gpu-node-02",), ("gpu-node-03",), ("gpu-node-04",)]
    owners = rows(case, "SELECT gpu_uuid, job, basis FROM gpu_job_owner WHERE job = '4102' ORDER BY gpu_uuid")
    assert [o[0] for o in owners] == [f"GPU-4a000000-0000-0000-0000-00000000040{i}" for i in (4, 5, 6, 7)]
    assert owners[0][2] == "slurm (IDX = inventory index)"
    assert "sacct row has 3 fields, the header has 13" in warnings(case)


def test_pod_resources_give_pods_their_gpus(case):
    ingest_one(case, DATA / "pod_resources.json", host="gpu-node-03")
    owners = rows(case, "SELECT gpu_uuid, host, pod FROM gpu_job_owner ORDER BY gpu_uuid")
    assert owners == [(UUID6, "gpu-node-03", "rl-training/rl-run-0217-worker-2"),
                      (UUID7, "gpu-node-03", "rl-training/rl-run-0217-worker-2")]


def test_bus_id_spellings_resolve_to_one_gpu(case):
    got = rows(case, """SELECT gpu_bus_id(x) FROM (VALUES ('00000000:18:00.0'), ('0000:18:00.0'), ('18:00.0'),
                        ('PCI:0000:18:00'), ('0000:18:00.0 ')) t(x)""")
    assert {g[0] for g in got} == {"00000000:18:00.0"}
    assert rows(case, "SELECT gpu_uuid_norm('00000000-0000-0000-0000-00000000ABCD')") == [
        ("GPU-00000000-0000-0000-0000-00000000abcd",)]


def test_samples_without_uuid_resolve_through_bus_id_or_same_host_index(case):
    case.ingest([str(DATA / "query_gpu_nounits.csv")], timezone="Asia/Shanghai", host="gpu-node-03")
    case.ingest([str(DATA / "pmon_dt.txt")], timezone="Asia/Shanghai", host="gpu-node-03")
    got = rows(case, """SELECT DISTINCT gpu_index, gpu_uuid, uuid_basis FROM gpu_processes_resolved ORDER BY 1""")
    assert got == [(6, UUID6, "host_index"), (7, UUID7, "host_index")]
