-- title: GPU telemetry tables
-- description: gpu_samples holds one GPU at one time (DCGM, dcgm-exporter, Prometheus, nvidia-smi,
--   NVML snapshots); gpu_processes one process on one GPU at one time (running process, utilisation
--   sample or accounting record); gpu_events one XID or other device event. Views resolve GPUs to
--   UUIDs through PCI bus ids (or, on one host and in one numbering, an index) and tie GPUs to jobs.

CREATE TABLE IF NOT EXISTS gpu_samples (
    ts TIMESTAMPTZ,           -- UTC
    ts_raw VARCHAR,           -- the stamp as written (local nvidia-smi time, epoch, ...)
    ts_inferred BOOLEAN,      -- zone, date or time came from a hint (nvidia-smi local time, dcgmi rows)
    host VARCHAR,
    gpu_uuid VARCHAR,         -- GPU-... (MIG-... for a MIG instance), normalised lower-case hex
    pci_bus_id VARCHAR,       -- normalised 00000000:18:00.0
    gpu_index INTEGER,        -- as the source numbers GPUs; see index_kind. Never a join key across sources
    index_kind VARCHAR,       -- nvml (nvidia-smi, NVML), dcgm (dcgmi, dcgm-exporter gpu label)
    gpu_model VARCHAR,
    mig_instance VARCHAR,     -- MIG GPU instance (id or profile) when the row is one
    util DOUBLE,              -- % of time a kernel ran (DCGM 203 GPUTL, utilization.gpu)
    mem_util DOUBLE,          -- % of time memory was read or written (DCGM 204 MCUTL, utilization.memory)
    gr_engine_active DOUBLE,  -- ratio 0..1 (DCGM 1001 GRACT)
    sm_active DOUBLE,         -- ratio 0..1 (DCGM 1002 SMACT; not in dcgm-exporter's default set)
    tensor_active DOUBLE,     -- ratio 0..1 (DCGM 1004 TENSO)
    dram_active DOUBLE,       -- ratio 0..1 (DCGM 1005 DRAMA)
    fb_used_mib DOUBLE,       -- frame buffer (GPU memory) used
    power_w DOUBLE,
    temp_c DOUBLE,            -- GPU temperature
    sm_clock_mhz DOUBLE,
    -- memory total/free, memory clock and temperature, power limit, energy, occupancy, ECC, PCIe,
    -- NVLink ... are in extra under their source names (DCGM_FI_DEV_FB_FREE, memory.total [MiB], ...)
    pod VARCHAR,              -- workload labels (dcgm-exporter exported_pod/pod, ...)
    namespace VARCHAR,
    container VARCHAR,
    job VARCHAR,              -- hpc_job label or the job the source names
    labels JSON,              -- every label or identity field of the record
    extra JSON,               -- every other value of the record, by its source name (nothing is dropped)
    source_format VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

CREATE TABLE IF NOT EXISTS gpu_processes (
    ts TIMESTAMPTZ,
    ts_raw VARCHAR,
    ts_inferred BOOLEAN,
    host VARCHAR,
    gpu_uuid VARCHAR,
    pci_bus_id VARCHAR,
    gpu_index INTEGER,
    index_kind VARCHAR,
    mig_instance VARCHAR,
    pid BIGINT,               -- as the source saw it (host pid unless captured inside a container)
    process_name VARCHAR,     -- as reported: a path for compute-apps/NVML, the short name for pmon
    process_type VARCHAR,     -- C (compute), G (graphics), C+G
    record_kind VARCHAR,      -- running (a snapshot of running processes), utilization (pmon, NVML
                              -- per-process samples) or accounting (accounted-apps, NVML accounting)
    used_mib DOUBLE,          -- GPU memory the process holds (accounting: max_memory_usage)
    sm_util DOUBLE,           -- % SM use over the sample (accounting: gpu_util over the lifetime)
    mem_util DOUBLE,
    enc_util DOUBLE,
    dec_util DOUBLE,
    duration_ms BIGINT,       -- accounting: run time (0 while running)
    start_time TIMESTAMPTZ,   -- accounting: process start
    is_running BOOLEAN,       -- accounting
    cmdline VARCHAR,          -- full command line when the collector read it
    pod VARCHAR,
    namespace VARCHAR,
    container VARCHAR,
    job VARCHAR,
    labels JSON,
    extra JSON,
    source_format VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

CREATE TABLE IF NOT EXISTS gpu_events (
    ts TIMESTAMPTZ,
    ts_raw VARCHAR,
    ts_inferred BOOLEAN,
    host VARCHAR,
    gpu_uuid VARCHAR,
    pci_bus_id VARCHAR,
    gpu_index INTEGER,
    index_kind VARCHAR,
    event VARCHAR,            -- xid, collector_start, collector_stop, ...
    xid INTEGER,
    pid BIGINT,
    detail VARCHAR,
    source_format VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

-- PCI bus ids are written 00000000:18:00.0 (nvidia-smi, NVML), 0000:18:00.0 (lspci, sysfs),
-- 18:00.0 or PCI:0000:18:00 (kernel Xid lines): all become 00000000:18:00.0.
CREATE OR REPLACE MACRO _gpu_bus_clean(x) AS
    upper(regexp_replace(trim(CAST(x AS VARCHAR)), '^[Pp][Cc][Ii]:', ''));
CREATE OR REPLACE MACRO _gpu_bus_parts(v) AS (
    CASE WHEN regexp_full_match(v, '(?:(?:0X)?[0-9A-F]{1,8}:)?[0-9A-F]{1,2}:[0-9A-F]{1,2}(?:\.[0-7])?') THEN
        lpad(CASE WHEN len(string_split(v, ':')) = 3 THEN regexp_replace(split_part(v, ':', 1), '^0X', '')
                  ELSE '0' END, 8, '0')
        || ':' || lpad(split_part(v, ':', -2), 2, '0')
        || ':' || lpad(split_part(split_part(v, ':', -1), '.', 1), 2, '0')
        || '.' || coalesce(nullif(split_part(split_part(v, ':', -1), '.', 2), ''), '0')
    END
);
CREATE OR REPLACE MACRO gpu_bus_id(x) AS
    CASE WHEN regexp_full_match(x, '[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-7]') THEN x  -- already canonical
         ELSE _gpu_bus_parts(_gpu_bus_clean(x)) END;

-- GPU UUIDs: GPU-<8-4-4-4-12 hex>, lower-case; exporters that strip the GPU- prefix get it back.
CREATE OR REPLACE MACRO gpu_uuid_norm(x) AS (
    CASE
        WHEN regexp_full_match(x, '(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}') THEN x
        WHEN x IS NULL OR trim(CAST(x AS VARCHAR)) IN ('', 'N/A', '[N/A]') THEN NULL
        WHEN regexp_full_match(lower(trim(x)), '(gpu-|mig-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
            THEN CASE WHEN starts_with(lower(trim(x)), 'mig-') THEN 'MIG-' || substr(lower(trim(x)), 5)
                      ELSE 'GPU-' || regexp_replace(lower(trim(x)), '^gpu-', '') END
        ELSE trim(x)
    END
);

-- DCGM writes blanks as sentinels (int64 0x7ffffffffffffff0 and up, double 2^47): not values.
CREATE OR REPLACE MACRO dcgm_value(v) AS
    CASE WHEN v >= 140737488355328.0 OR isnan(v) OR isinf(v) THEN NULL ELSE v END;

-- Every GPU the evidence or the inventory names, with what is known of it.
CREATE OR REPLACE VIEW gpu_devices AS
SELECT DISTINCT
    host,
    gpu_uuid_norm(value) AS gpu_uuid,
    gpu_bus_id(json_extract_string(attributes, '$.pci_bus_id')) AS pci_bus_id,
    TRY_CAST(json_extract_string(attributes, '$.index') AS INTEGER) AS gpu_index,
    coalesce(json_extract_string(attributes, '$.index_kind'), 'nvml') AS index_kind,
    TRY_CAST(json_extract_string(attributes, '$.minor_number') AS INTEGER) AS minor_number,
    json_extract_string(attributes, '$.model') AS gpu_model,
    source
FROM entities
WHERE kind = 'gpu_uuid' AND value IS NOT NULL;

-- Samples and processes with the GPU's UUID filled in where the record lacked it: through the
-- PCI bus id, or through the index on the same host in the same numbering (nvml indexes with
-- nvml identities, dcgm with dcgm) when exactly one GPU matches. uuid_basis says which.
CREATE OR REPLACE VIEW gpu_samples_resolved AS
WITH by_bus AS (
    SELECT host, pci_bus_id, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE pci_bus_id IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
), by_index AS (
    SELECT host, index_kind, gpu_index, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE gpu_index IS NOT NULL AND host IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
)
SELECT s.* REPLACE (coalesce(s.gpu_uuid, b.gpu_uuid, i.gpu_uuid) AS gpu_uuid),
       CASE WHEN s.gpu_uuid IS NOT NULL THEN 'record' WHEN b.gpu_uuid IS NOT NULL THEN 'pci_bus_id'
            WHEN i.gpu_uuid IS NOT NULL THEN 'host_index' END AS uuid_basis
FROM gpu_samples s
LEFT JOIN by_bus b ON s.gpu_uuid IS NULL AND b.pci_bus_id = s.pci_bus_id
    AND (b.host = s.host OR (b.host IS NULL AND s.host IS NULL))
LEFT JOIN by_index i ON s.gpu_uuid IS NULL AND s.pci_bus_id IS NULL AND i.host = s.host
    AND i.index_kind = s.index_kind AND i.gpu_index = s.gpu_index;

CREATE OR REPLACE VIEW gpu_processes_resolved AS
WITH by_bus AS (
    SELECT host, pci_bus_id, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE pci_bus_id IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
), by_index AS (
    SELECT host, index_kind, gpu_index, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE gpu_index IS NOT NULL AND host IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
)
SELECT p.* REPLACE (coalesce(p.gpu_uuid, b.gpu_uuid, i.gpu_uuid) AS gpu_uuid),
       CASE WHEN p.gpu_uuid IS NOT NULL THEN 'record' WHEN b.gpu_uuid IS NOT NULL THEN 'pci_bus_id'
            WHEN i.gpu_uuid IS NOT NULL THEN 'host_index' END AS uuid_basis
FROM gpu_processes p
LEFT JOIN by_bus b ON p.gpu_uuid IS NULL AND b.pci_bus_id = p.pci_bus_id
    AND (b.host = p.host OR (b.host IS NULL AND p.host IS NULL))
LEFT JOIN by_index i ON p.gpu_uuid IS NULL AND p.pci_bus_id IS NULL AND i.host = p.host
    AND i.index_kind = p.index_kind AND i.gpu_index = p.gpu_index;

-- Which job owned which GPU, and when: the inventory and telemetry labels (entities gpu_uuid
-- with a job), Kubernetes pod-resources and Slurm allocations. Slurm names GPUs by their index
-- on the node (GRES IDX, the device minor number); it is resolved to a UUID through the same
-- host's minor numbers, or the inventory's index when no source states minor numbers.
CREATE OR REPLACE VIEW gpu_job_owner AS
WITH direct AS (
    SELECT gpu_uuid_norm(value) AS gpu_uuid, host, job, NULL::VARCHAR AS pod, valid_from, valid_to,
           source AS basis, evidence_id, locator
    FROM entities WHERE kind = 'gpu_uuid' AND job IS NOT NULL
    UNION ALL
    SELECT gpu_uuid_norm(json_extract_string(attributes, '$.gpu_uuid')), host, job,
           value, valid_from, valid_to, source, evidence_id, locator
    FROM entities WHERE kind = 'pod' AND json_extract_string(attributes, '$.gpu_uuid') IS NOT NULL
), minors AS (
    SELECT host, minor_number AS idx, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE minor_number IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
), inventory_index AS (
    SELECT host, gpu_index AS idx, min(gpu_uuid) AS gpu_uuid FROM gpu_devices
    WHERE source = 'inventory' AND gpu_index IS NOT NULL GROUP BY ALL HAVING count(DISTINCT gpu_uuid) = 1
), slurm AS (
    SELECT e.host, e.job, TRY_CAST(e.value AS INTEGER) AS idx, e.valid_from, e.valid_to, e.source,
           e.evidence_id, e.locator
    FROM entities e WHERE e.kind = 'gpu_index' AND e.job IS NOT NULL
)
SELECT * FROM direct WHERE gpu_uuid IS NOT NULL
UNION ALL
SELECT coalesce(m.gpu_uuid, i.gpu_uuid), s.host, s.job, NULL, s.valid_from, s.valid_to,
       s.source || CASE WHEN m.gpu_uuid IS NOT NULL THEN ' (IDX = minor number)' ELSE ' (IDX = inventory index)' END,
       s.evidence_id, s.locator
FROM slurm s
LEFT JOIN minors m ON m.host = s.host AND m.idx = s.idx
LEFT JOIN inventory_index i ON i.host = s.host AND i.idx = s.idx
WHERE coalesce(m.gpu_uuid, i.gpu_uuid) IS NOT NULL;

-- nvidia-smi CSV cells: "[N/A]", "N/A", "[Not Supported]" and the like are no value; numbers
-- carry their unit after a space ("19818 MiB", "100 %") unless nounits was given.
CREATE OR REPLACE MACRO smi_value(v) AS
    CASE WHEN v IS NULL OR v = '' OR v = 'N/A' OR (starts_with(v, '[') AND ends_with(v, ']')) THEN NULL ELSE v END;
-- The number is the text before the first space (split_part's answer, at half its cost per row).
CREATE OR REPLACE MACRO smi_number(v) AS
    TRY_CAST(CASE WHEN instr(v, ' ') > 0 THEN left(v, instr(v, ' ') - 1) ELSE v END AS DOUBLE);
-- nvidia-smi stamps: local time without a zone, "2026/02/17 10:04:05.123".
CREATE OR REPLACE MACRO smi_local_time(v) AS
    try_strptime(v, ['%Y/%m/%d %H:%M:%S.%g', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M:%S.%g', '%Y-%m-%d %H:%M:%S']);

-- Known miner binaries, by base name (case-insensitive, also cut to the 15 characters of a
-- kernel comm): Falco's miner_binaries plus common GPU miners. Renamed binaries are caught by
-- the mining signature, not by names.
CREATE OR REPLACE MACRO gpu_miner_name(base) AS (
    list_contains(['xmrig', 'xmrig-cuda', 'xmrig-notls', 'xmr-stak', 'xmr-stak-rx', 'minerd', 'minergate',
                   'cpuminer', 'ccminer', 'ethminer', 'cgminer', 'bfgminer', 'sgminer', 'claymore', 'nbminer',
                   't-rex', 'trex', 'gminer', 'miner', 'lolminer', 'phoenixminer', 'teamredminer', 'nanominer',
                   'bminer', 'wildrig', 'srbminer', 'srbminer-multi', 'rigel', 'bzminer', 'onezerominer',
                   'excavator', 'kawpowminer', 'nsfminer', 'z-enemy', 'cryptodredge', 'suprminer'],
                  lower(base))
    OR regexp_matches(lower(coalesce(base, '')),
        '^(xmrig|xmr-stak|t-rex|lolminer|nbminer|gminer|teamredminer|nanominer|phoenixminer|srbminer|ethminer|cgminer|bfgminer|cpuminer|ccminer|minerd)')
);
CREATE OR REPLACE MACRO gpu_miner_cmdline(cmd) AS
    regexp_matches(lower(coalesce(cmd, '')), 'stratum2?\+(tcp|ssl|tls)://|--donate-level|--algo[= ](rx|kawpow|ethash|autolykos)');

-- One row per process seen on a GPU (keyed by host, GPU and pid across every source), with the
-- job that owned the GPU meanwhile.
CREATE OR REPLACE VIEW gpu_process_spans AS
WITH obs AS (
    SELECT p.*, coalesce(p.gpu_uuid, p.pci_bus_id, 'index ' || p.gpu_index) AS gpu_key,
           nullif(regexp_extract(coalesce(p.process_name, ''), '[^/\\]+$'), '') AS base
    FROM gpu_processes_resolved p WHERE p.pid IS NOT NULL
), spans AS (
    SELECT host, gpu_key, pid, max(gpu_uuid) AS gpu_uuid, max(pci_bus_id) AS pci_bus_id, max(gpu_index) AS gpu_index,
           arg_max(process_name, length(process_name)) AS process_name,
           coalesce(arg_max(base, length(base)), '') AS base,
           min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS observations,
           count(*) FILTER (WHERE record_kind = 'running') AS running_observations,
           max(used_mib) FILTER (WHERE record_kind = 'running') AS max_used_mib,
           max(job) AS process_job, max(pod) AS process_pod, max(cmdline) AS cmdline,
           list(DISTINCT source_format ORDER BY source_format) AS sources,
           list({'tbl': 'gpu_processes', 'evidence_id': evidence_id, 'locator': locator}
                ORDER BY ts, evidence_id, locator) AS refs
    FROM obs GROUP BY host, gpu_key, pid
)
SELECT s.* REPLACE (coalesce(s.gpu_index, (SELECT min(d.gpu_index) FROM gpu_devices d
                                            WHERE d.gpu_uuid = s.gpu_uuid AND d.index_kind = 'nvml'
                                              AND (d.host IS NULL OR s.host IS NULL OR d.host = s.host))) AS gpu_index),
       (SELECT string_agg(DISTINCT o.job, ', ' ORDER BY o.job) FROM gpu_job_owner o
        WHERE o.gpu_uuid = s.gpu_uuid AND (o.host IS NULL OR s.host IS NULL OR o.host = s.host)
          AND (o.valid_from IS NULL OR o.valid_from <= s.last_seen)
          AND (o.valid_to IS NULL OR o.valid_to >= s.first_seen)) AS owner_job,
       (SELECT string_agg(DISTINCT o.pod, ', ' ORDER BY o.pod) FROM gpu_job_owner o
        WHERE o.gpu_uuid = s.gpu_uuid AND o.pod IS NOT NULL AND (o.host IS NULL OR s.host IS NULL OR o.host = s.host)
          AND (o.valid_from IS NULL OR o.valid_from <= s.last_seen)
          AND (o.valid_to IS NULL OR o.valid_to >= s.first_seen)) AS owner_pod
FROM spans s;

-- Processes that do not belong on their GPU: a known miner (name or stratum command line), a
-- process whose own job/pod differs from the GPU's owner, or a name that runs on fewer than
-- min_peer_share of the owning job's GPUs (when at least min_job_gpus of them have process data).
CREATE OR REPLACE MACRO gpu_foreign_processes(min_peer_share, min_job_gpus) AS TABLE
WITH s AS (SELECT * FROM gpu_process_spans),
job_gpus AS (
    SELECT owner_job, count(DISTINCT host || '|' || gpu_key) AS n_gpus FROM s WHERE owner_job IS NOT NULL GROUP BY ALL
), job_names AS (
    SELECT owner_job, lower(base) AS name, count(DISTINCT host || '|' || gpu_key) AS n_with
    FROM s WHERE owner_job IS NOT NULL GROUP BY ALL
), judged AS (
    SELECT s.*, g.n_gpus AS job_gpus_with_process_data, n.n_with AS job_gpus_with_this_name,
           gpu_miner_name(s.base) AS miner_name, gpu_miner_cmdline(s.cmdline) AS miner_cmdline,
           (s.process_job IS NOT NULL AND s.owner_job IS NOT NULL
                AND NOT list_contains(string_split(s.owner_job, ', '), s.process_job))
           OR (s.process_pod IS NOT NULL AND s.owner_pod IS NOT NULL
                AND NOT list_contains(string_split(s.owner_pod, ', '), s.process_pod)
                AND NOT list_contains(string_split(s.owner_pod, ', '), split_part(s.owner_pod, '/', -1))) AS job_mismatch,
           (s.owner_job IS NOT NULL AND g.n_gpus >= min_job_gpus
                AND n.n_with::DOUBLE / g.n_gpus < min_peer_share) AS not_among_job_processes
    FROM s LEFT JOIN job_gpus g USING (owner_job)
    LEFT JOIN job_names n ON n.owner_job = s.owner_job AND n.name = lower(s.base)
)
SELECT *, list_filter([CASE WHEN miner_name THEN 'known miner name' END,
                       CASE WHEN miner_cmdline THEN 'miner command line (stratum URL or miner options)' END,
                       CASE WHEN job_mismatch THEN 'runs for ' || coalesce(process_job, process_pod)
                            || ', not for the GPU''s owner ' || coalesce(owner_job, owner_pod) END,
                       CASE WHEN not_among_job_processes THEN 'not among the job''s processes: ' || base || ' runs on '
                            || job_gpus_with_this_name || ' of the ' || job_gpus_with_process_data
                            || ' GPUs of ' || owner_job || ' with process data' END],
                      lambda r: r IS NOT NULL) AS reasons
FROM judged
WHERE miner_name OR miner_cmdline OR job_mismatch OR not_among_job_processes;

-- Mining-like GPU behaviour, window by window: busy and flat (utilisation never below busy_util,
-- power varying less than max_power_cv) while the owning job's other GPUs show the synchronised
-- dips of training (at least peer_dip_share of them fall below dip_util in the window), or while
-- tensor activity is near zero (max_tensor) or well under the job's other GPUs (tensor_ratio).
-- A GPU changing role (RL rollout vs training) is not flagged by itself: rollout windows are
-- neither flat nor free of the job's dips. Flagged windows closer than max_gap_s join into one
-- interval; intervals shorter than min_duration_s are dropped.
CREATE OR REPLACE MACRO gpu_signature_intervals(window_s, min_samples, busy_util, max_power_cv, dip_util,
                                               peer_dip_share, max_tensor, tensor_ratio, max_gap_s, min_duration_s)
AS TABLE
WITH samples AS (
    SELECT s.*, time_bucket(to_seconds(window_s::BIGINT), s.ts) AS window_start
    FROM gpu_samples_resolved s WHERE s.ts IS NOT NULL AND s.gpu_uuid IS NOT NULL AND s.util IS NOT NULL
), windows AS (
    SELECT host, gpu_uuid, window_start, count(*) AS n, avg(util) AS avg_util, min(util) AS min_util,
           avg(power_w) AS avg_power, stddev_pop(power_w) / nullif(avg(power_w), 0) AS power_cv,
           avg(tensor_active) AS avg_tensor, avg(fb_used_mib) AS avg_fb_mib, avg(sm_clock_mhz) AS avg_sm_clock,
           max(gpu_index) AS gpu_index,
           arg_min({'tbl': 'gpu_samples', 'evidence_id': evidence_id, 'locator': locator}, ts) AS first_ref,
           arg_max({'tbl': 'gpu_samples', 'evidence_id': evidence_id, 'locator': locator}, ts) AS last_ref,
           min(ts) AS first_ts, max(ts) AS last_ts
    FROM samples GROUP BY ALL
), owned AS (
    SELECT w.*, (SELECT min(o.job) FROM gpu_job_owner o WHERE o.gpu_uuid = w.gpu_uuid AND o.job IS NOT NULL
                   AND (o.valid_from IS NULL OR o.valid_from <= w.last_ts)
                   AND (o.valid_to IS NULL OR o.valid_to >= w.first_ts)) AS job
    FROM windows w
), job_windows AS (
    SELECT job, window_start, count(*) AS gpus, count(*) FILTER (WHERE min_util < dip_util) AS dipped,
           sum(avg_tensor) AS sum_tensor, count(avg_tensor) AS n_tensor
    FROM owned WHERE job IS NOT NULL GROUP BY ALL
), judged AS (
    SELECT o.*, j.gpus - 1 AS peers,
           j.dipped - (o.min_util < dip_util)::INT AS peers_dipped,
           (j.sum_tensor - coalesce(o.avg_tensor, 0)) / nullif(j.n_tensor - (o.avg_tensor IS NOT NULL)::INT, 0)
               AS peer_tensor,
           o.n >= min_samples AND o.min_util >= busy_util AND coalesce(o.power_cv, 0) <= max_power_cv AS flat_busy
    FROM owned o LEFT JOIN job_windows j USING (job, window_start)
), flagged AS (
    SELECT *,
           peers > 0 AND peers_dipped >= peer_dip_share * peers AS peers_dipped_here,
           avg_tensor IS NOT NULL AND avg_tensor <= max_tensor AS tensor_idle,
           avg_tensor IS NOT NULL AND peer_tensor > 0 AND avg_tensor < tensor_ratio * peer_tensor AS tensor_below_peers
    FROM judged
    WHERE flat_busy
), runs AS (
    SELECT *, sum(CASE WHEN prev_end IS NULL OR epoch(window_start) - epoch(prev_end) > max_gap_s THEN 1 ELSE 0 END)
                  OVER (PARTITION BY host, gpu_uuid ORDER BY window_start) AS run
    FROM (SELECT *, lag(window_start + to_seconds(window_s::BIGINT)) OVER (PARTITION BY host, gpu_uuid ORDER BY window_start)
                    AS prev_end
          FROM flagged WHERE peers_dipped_here OR tensor_idle OR tensor_below_peers)
)
SELECT host, gpu_uuid, max(gpu_index) AS gpu_index, max(job) AS job, min(first_ts) AS ts_start, max(last_ts) AS ts_end,
       count(*) AS windows, sum(n) AS samples, avg(avg_util) AS avg_util, min(min_util) AS min_util,
       avg(avg_power) AS avg_power_w, max(power_cv) AS max_power_cv, avg(avg_tensor) AS avg_tensor,
       avg(peer_tensor) AS avg_peer_tensor, avg(avg_fb_mib) AS avg_fb_mib, avg(avg_sm_clock) AS avg_sm_clock_mhz,
       count(*) FILTER (WHERE peers_dipped_here) AS windows_with_peer_dips,
       count(*) FILTER (WHERE tensor_idle) AS windows_tensor_idle,
       count(*) FILTER (WHERE tensor_below_peers) AS windows_tensor_below_peers,
       list(first_ref ORDER BY window_start) || [arg_max(last_ref, window_start)] AS refs
FROM runs GROUP BY host, gpu_uuid, run
HAVING epoch(max(last_ts)) - epoch(min(first_ts)) >= min_duration_s;

-- How much GPU time each diverting process took, per GPU: by its own share where per-process
-- utilisation exists (pmon, NVML process samples: sum of sm% x sample interval; else NVML or
-- nvidia-smi accounting: lifetime util x run time), otherwise by the whole GPU for the time it
-- was seen on it (sum of the intervals between observations, each capped at max_gap_s, plus one
-- typical interval for the last). GPUs with a mining signature and no foreign process count as
-- whole GPUs for the signature's interval.
CREATE OR REPLACE MACRO gpu_diversion_usage(min_peer_share, min_job_gpus, max_gap_s, window_s, min_samples, busy_util,
                                           max_power_cv, dip_util, peer_dip_share, max_tensor, tensor_ratio,
                                           signature_gap_s, min_duration_s) AS TABLE
WITH foreign_procs AS (SELECT * FROM gpu_foreign_processes(min_peer_share, min_job_gpus)),
obs AS (
    SELECT p.host, coalesce(p.gpu_uuid, p.pci_bus_id, 'index ' || p.gpu_index) AS gpu_key, p.pid, p.ts,
           p.record_kind, p.sm_util, p.duration_ms, p.start_time
    FROM gpu_processes_resolved p WHERE p.pid IS NOT NULL AND p.ts IS NOT NULL
), running AS (
    SELECT host, gpu_key, pid, ts,
           -- least() skips NULLs: the last observation's interval stays NULL (counted as a typical one below)
           CASE WHEN lead(ts) OVER w IS NOT NULL THEN least(epoch(lead(ts) OVER w) - epoch(ts), max_gap_s) END AS dt
    FROM (SELECT DISTINCT host, gpu_key, pid, ts FROM obs WHERE record_kind = 'running')
    WINDOW w AS (PARTITION BY host, gpu_key, pid ORDER BY ts)
), presence AS (
    SELECT host, gpu_key, pid, sum(dt) + coalesce(median(dt), 0) AS seconds, median(dt) AS typical_interval_s,
           max(ts) AS last_ts
    FROM running GROUP BY ALL
), util AS (
    SELECT host, gpu_key, pid, ts, sm_util,
           CASE WHEN lead(ts) OVER w IS NOT NULL THEN least(epoch(lead(ts) OVER w) - epoch(ts), max_gap_s) END AS dt
    FROM (SELECT host, gpu_key, pid, ts, max(sm_util) AS sm_util FROM obs
          WHERE record_kind = 'utilization' AND sm_util IS NOT NULL GROUP BY ALL)
    WINDOW w AS (PARTITION BY host, gpu_key, pid ORDER BY ts)
), share AS (
    SELECT host, gpu_key, pid,
           sum(sm_util / 100.0 * coalesce(dt, m.typical)) AS seconds, avg(sm_util) AS avg_sm_util, count(*) AS samples
    FROM util JOIN (SELECT host, gpu_key, pid, coalesce(median(dt), 0) AS typical FROM util GROUP BY ALL) m
        USING (host, gpu_key, pid)
    GROUP BY ALL
), accounting AS (
    SELECT host, gpu_key, pid,
           arg_max(sm_util / 100.0 * CASE WHEN duration_ms > 0 THEN duration_ms / 1000.0
                                          ELSE epoch(ts) - epoch(start_time) END, ts) AS seconds,
           arg_max(sm_util, ts) AS lifetime_util
    FROM obs WHERE record_kind = 'accounting' AND sm_util IS NOT NULL
      AND (duration_ms > 0 OR start_time IS NOT NULL) GROUP BY ALL
), per_process AS (
    SELECT f.host, f.gpu_key, f.gpu_uuid, f.gpu_index, f.pid, f.base, f.process_name, f.owner_job, f.owner_pod,
           f.reasons, f.refs, f.first_seen AS ts_start,
           greatest(f.last_seen, coalesce(pr.last_ts + to_seconds(coalesce(pr.typical_interval_s, 0)::BIGINT), f.last_seen))
               AS ts_end,
           pr.seconds AS whole_gpu_seconds, sh.seconds AS share_seconds, sh.avg_sm_util, a.seconds AS accounting_seconds,
           a.lifetime_util,
           CASE WHEN sh.seconds IS NOT NULL THEN 'process_share'
                WHEN a.seconds IS NOT NULL THEN 'process_share_accounting'
                ELSE 'whole_gpu' END AS basis,
           coalesce(sh.seconds, a.seconds, pr.seconds, 0) AS gpu_seconds
    FROM foreign_procs f
    LEFT JOIN presence pr USING (host, gpu_key, pid)
    LEFT JOIN share sh USING (host, gpu_key, pid)
    LEFT JOIN accounting a USING (host, gpu_key, pid)
), signature AS (
    SELECT s.* FROM gpu_signature_intervals(window_s, min_samples, busy_util, max_power_cv, dip_util, peer_dip_share,
                                            max_tensor, tensor_ratio, signature_gap_s, min_duration_s) s
    WHERE NOT EXISTS (SELECT 1 FROM per_process p WHERE p.gpu_uuid = s.gpu_uuid
                      AND (p.host IS NULL OR s.host IS NULL OR p.host = s.host)
                      AND p.ts_start <= s.ts_end AND p.ts_end >= s.ts_start)
)
SELECT host, gpu_uuid, gpu_index, pid, base AS process, process_name, owner_job AS job, owner_pod AS pod, reasons,
       ts_start, ts_end, basis, gpu_seconds, whole_gpu_seconds, share_seconds, accounting_seconds, avg_sm_util,
       lifetime_util, refs
FROM per_process
UNION ALL
SELECT host, gpu_uuid, gpu_index, NULL, NULL, NULL, job, NULL, ['mining-like signature, no process data'],
       ts_start, ts_end, 'whole_gpu_signature', epoch(ts_end) - epoch(ts_start), epoch(ts_end) - epoch(ts_start),
       NULL, NULL, NULL, NULL, refs
FROM signature;
