-- title: Core case tables
-- description: The evidence registry, parse warnings, identity facts, ingest runs and findings.
--   Every other table carries evidence_id and a locator back into the evidence.

CREATE TABLE IF NOT EXISTS case_meta (
    key VARCHAR,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER,
    tool_version VARCHAR,
    command VARCHAR,          -- the command line, as a JSON list
    parameters JSON,          -- hints and options the run used
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,     -- NULL when the run was interrupted
    status VARCHAR,           -- running, completed, interrupted, failed
    n_new_evidence INTEGER
);

CREATE TABLE IF NOT EXISTS evidence (
    evidence_id INTEGER,
    parent_id INTEGER,        -- the archive this member came from
    path VARCHAR,             -- as given on the command line (joined with the walked folder path)
    member VARCHAR,           -- member name inside a zip archive
    size BIGINT,              -- bytes on disk (for a member: uncompressed size)
    sha256 VARCHAR,
    compression VARCHAR,      -- gzip, zstd, bzip2, xz, zip, or NULL for plain files
    format VARCHAR,           -- the parser that claimed the file, or unclaimed / archive / failed
    parser VARCHAR,
    parser_version VARCHAR,
    tool_version VARCHAR,
    host_hint VARCHAR,
    tz_hint VARCHAR,
    year_hint INTEGER,
    hint_sources JSON,        -- where each hint came from (cli, inventory, path)
    sniff_score DOUBLE,
    status VARCHAR,           -- parsed, unclaimed, archive, failed
    n_records BIGINT,
    n_warnings BIGINT,
    records_by_table JSON,
    run_id INTEGER,
    ingested_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS parse_warnings (
    evidence_id INTEGER,
    locator VARCHAR,          -- line:N, offset:N, frame:N, member:NAME, traj:ID step:N ...
    reason VARCHAR,
    excerpt VARCHAR,          -- at most 240 characters of the offending input, unescaped
    parser VARCHAR
);

CREATE TABLE IF NOT EXISTS entities (
    kind VARCHAR,             -- host, ip, public_ip, network, gpu_uuid, pci_bus_id, job, sandbox,
                              -- container, pod, trajectory, evidence_hint
    value VARCHAR,
    host VARCHAR,             -- the host the value lives on
    job VARCHAR,              -- the job it belongs to (GPUs, pods)
    sandbox VARCHAR,          -- the sandbox it belongs to (IPs, containers)
    valid_from TIMESTAMPTZ,   -- NULL: always
    valid_to TIMESTAMPTZ,
    attributes JSON,          -- kind-specific facts: role, zone, timezone, gpu index, model ...
    source VARCHAR,           -- the parser (or tool) that stated the fact
    evidence_id INTEGER,
    locator VARCHAR
);

CREATE TABLE IF NOT EXISTS findings (
    finding_id VARCHAR,       -- stable across re-runs: hash of detector and key fields
    detector VARCHAR,         -- the query that produced it, e.g. detect/internal_probe
    kind VARCHAR,             -- probe, tunnel, mining, egress, gpu_diversion, ids_alert, ...
    title VARCHAR,
    severity VARCHAR,         -- info, low, medium, high, critical
    confidence DOUBLE,        -- 0..1
    ts_start TIMESTAMPTZ,
    ts_end TIMESTAMPTZ,
    host VARCHAR,
    src_ip VARCHAR,
    dst_ip VARCHAR,
    dst_port INTEGER,
    summary VARCHAR,
    attack_ids VARCHAR[],     -- MITRE ATT&CK technique ids
    evidence_refs STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[],
    details JSON
);
