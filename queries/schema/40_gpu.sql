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
    sm_active DOUBLE,         -- ratio 0..1 (DCGM 1002 SMACT)
    sm_occupancy DOUBLE,      -- ratio 0..1 (DCGM 1003 SMOCC)
    tensor_active DOUBLE,     -- ratio 0..1 (DCGM 1004 TENSO)
    dram_active DOUBLE,       -- ratio 0..1 (DCGM 1005 DRAMA)
    fb_used_mib DOUBLE,
    fb_free_mib DOUBLE,
    fb_total_mib DOUBLE,
    power_w DOUBLE,
    power_limit_w DOUBLE,
    energy_mj DOUBLE,         -- total energy since driver load (DCGM 156, NVML)
    temp_c DOUBLE,
    mem_temp_c DOUBLE,
    sm_clock_mhz DOUBLE,
    mem_clock_mhz DOUBLE,
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
CREATE OR REPLACE MACRO gpu_bus_id(x) AS _gpu_bus_parts(_gpu_bus_clean(x));

-- GPU UUIDs: GPU-<8-4-4-4-12 hex>, lower-case; exporters that strip the GPU- prefix get it back.
CREATE OR REPLACE MACRO gpu_uuid_norm(x) AS (
    CASE
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
CREATE OR REPLACE MACRO smi_number(v) AS TRY_CAST(split_part(v, ' ', 1) AS DOUBLE);
-- nvidia-smi stamps: local time without a zone, "2026/02/17 10:04:05.123".
CREATE OR REPLACE MACRO smi_local_time(v) AS
    try_strptime(v, ['%Y/%m/%d %H:%M:%S.%g', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M:%S.%g', '%Y-%m-%d %H:%M:%S']);
