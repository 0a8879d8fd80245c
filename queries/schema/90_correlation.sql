-- title: Correlation: clock offsets, links from agent steps to their effects, incidents, what is unattributed
-- description: clock_offsets holds each host's estimated clock offset (host clock minus the
--   reference clock) with its spread and number of matched pairs; the *_corrected views apply the
--   chosen offset to the records a host stamped itself (stored times are never rewritten). links
--   holds one cause (an agent step) -> effect (a group of evidence rows or a finding) with its
--   basis (indicator, place, time), time delta and confidence; link_rows lists every evidence row
--   behind each link. incidents chains links; unattributed lists what is suspicious and that no
--   agent step in evidence explains, with the reason. The link_* staging tables hold the steps,
--   targets and places the link queries start from (refilled by each link run).

-- Which parsers stamp records with the clock of the host the record names ('host'), and which
-- carry an independent reference clock (a traffic mirror, the cloud firewall, the trainer, a
-- Prometheus server). Formats not listed are taken as reference. A packet capture taken on the
-- host itself is host-clocked: UPDATE clock_domains SET domain = 'host' WHERE format = 'pcap'.
CREATE TABLE IF NOT EXISTS clock_domains (
    format VARCHAR,           -- parser name (evidence.format)
    domain VARCHAR,           -- host or reference
    note VARCHAR
);
INSERT INTO clock_domains
SELECT v.* FROM (VALUES
    ('netfilter', 'host', 'kern.log / syslog written by the node'),
    ('journald', 'host', 'journal of the node'),
    ('auditd', 'host', 'audit timestamps of the node'),
    ('laurel', 'host', 'audit timestamps of the node'),
    ('tetragon', 'host', 'node clock'),
    ('falco', 'host', 'node clock'),
    ('nvidia_smi_csv', 'host', 'nvidia-smi run on the node'),
    ('nvidia_smi_monitor', 'host', 'nvidia-smi run on the node'),
    ('nvidia_smi_xml', 'host', 'nvidia-smi run on the node'),
    ('nvidia_smi_capture', 'host', 'nvidia-smi run on the node'),
    ('dcgmi_dmon', 'host', 'dcgmi run on the node'),
    ('nvml_snapshots', 'host', 'collector on the node'),
    ('rock_command_log', 'host', 'the sandbox shares the node clock'),
    ('pcap', 'reference', 'a tap or traffic mirror; set to host for a capture taken on the node'),
    ('dcgm_exporter', 'reference', 'Prometheus server timestamps'),
    ('prometheus_range', 'reference', 'Prometheus server timestamps'),
    ('promtool_dump', 'reference', 'Prometheus server timestamps')
) AS v(format, domain, note)
WHERE v.format NOT IN (SELECT format FROM clock_domains WHERE format IS NOT NULL);

CREATE TABLE IF NOT EXISTS clock_offsets (
    host VARCHAR,
    offset_s DOUBLE,          -- host clock minus reference clock: corrected time = stamp - offset_s
    spread_s DOUBLE,          -- interquartile range of the pair offsets (after resolution adjustment)
    n_pairs BIGINT,           -- matched pairs behind the estimate
    method VARCHAR,           -- how pairs were matched (same connection in kern.log and the capture, ...)
    reference VARCHAR,        -- the reference clock(s): pcap, cloud firewall, trainer ...
    resolution_s DOUBLE,      -- coarsest stamp resolution among the pairs (1 for syslog seconds)
    min_s DOUBLE,             -- smallest and largest pair offset seen
    max_s DOUBLE,
    chosen BOOLEAN,           -- the estimate the *_corrected views apply for this host
    detail JSON               -- first pairs' evidence references and notes
);

-- One matched pair behind a clock estimate: the same event stamped by a host's clock and by a
-- reference clock (filled by each link run from queries/skew/pairs.sql).
CREATE TABLE IF NOT EXISTS clock_pairs (
    host VARCHAR,
    method VARCHAR,
    reference VARCHAR,
    host_ts TIMESTAMPTZ,      -- as the host stamped it
    ref_ts TIMESTAMPTZ,       -- as the reference stamped it
    host_resolution_s DOUBLE, -- 1 when the host's stamps are whole seconds (syslog), else 0
    ref_resolution_s DOUBLE,
    offset_s DOUBLE,          -- host - reference, adjusted by half of each side's resolution
    exact BOOLEAN,            -- the same packet or connection on both sides (false: a step and the
                              -- launch it caused, which adds the launch latency)
    host_tbl VARCHAR,
    host_evidence_id INTEGER,
    host_locator VARCHAR,
    ref_tbl VARCHAR,
    ref_evidence_id INTEGER,
    ref_locator VARCHAR
);

-- Evidence files whose records carry the clock of the host they name.
CREATE OR REPLACE VIEW host_clock_evidence AS
SELECT e.evidence_id, e.format
FROM evidence e JOIN clock_domains d ON d.format = e.format
WHERE d.domain = 'host';

CREATE OR REPLACE VIEW host_clock_offsets AS
SELECT host, any_value(offset_s) AS offset_s, any_value(spread_s) AS spread_s
FROM clock_offsets WHERE chosen GROUP BY host;

CREATE OR REPLACE MACRO clock_correct(ts, offset_s) AS
    ts - to_microseconds(CAST(round(coalesce(offset_s, 0) * 1000000) AS BIGINT));

-- The same rows with ts_corrected (and ts_end_corrected): the stamp minus the host's offset when
-- the record was stamped by that host's clock; clock_offset_s says what was applied, clock_domain
-- whose clock it was (host rows on a host without an estimate keep their stamp: offset NULL).
CREATE OR REPLACE VIEW net_events_corrected AS
SELECT n.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s,
       clock_correct(n.ts, o.offset_s) AS ts_corrected, clock_correct(n.ts_end, o.offset_s) AS ts_end_corrected
FROM net_events n
LEFT JOIN host_clock_evidence h ON h.evidence_id = n.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = n.host;

CREATE OR REPLACE VIEW flows_corrected AS
SELECT f.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s, clock_correct(f.ts, o.offset_s) AS ts_corrected
FROM flows f
LEFT JOIN host_clock_evidence h ON h.evidence_id = f.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = f.host;

CREATE OR REPLACE VIEW processes_corrected AS
SELECT p.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s,
       clock_correct(p.ts, o.offset_s) AS ts_corrected, clock_correct(p.ts_end, o.offset_s) AS ts_end_corrected
FROM processes p
LEFT JOIN host_clock_evidence h ON h.evidence_id = p.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = p.host;

CREATE OR REPLACE VIEW process_sockets_corrected AS
SELECT s.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s, clock_correct(s.ts, o.offset_s) AS ts_corrected
FROM process_sockets s
LEFT JOIN host_clock_evidence h ON h.evidence_id = s.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = s.host;

CREATE OR REPLACE VIEW falco_alerts_corrected AS
SELECT a.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s, clock_correct(a.ts, o.offset_s) AS ts_corrected
FROM falco_alerts a
LEFT JOIN host_clock_evidence h ON h.evidence_id = a.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = a.host;

CREATE OR REPLACE VIEW gpu_processes_corrected AS
SELECT g.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s, clock_correct(g.ts, o.offset_s) AS ts_corrected
FROM gpu_processes_resolved g
LEFT JOIN host_clock_evidence h ON h.evidence_id = g.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = g.host;

CREATE OR REPLACE VIEW gpu_samples_corrected AS
SELECT g.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s, clock_correct(g.ts, o.offset_s) AS ts_corrected
FROM gpu_samples_resolved g
LEFT JOIN host_clock_evidence h ON h.evidence_id = g.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = g.host;

CREATE OR REPLACE VIEW agent_steps_corrected AS
SELECT s.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s,
       clock_correct(s.ts, o.offset_s) AS ts_corrected, clock_correct(s.ts_end, o.offset_s) AS ts_end_corrected
FROM agent_steps s
LEFT JOIN host_clock_evidence h ON h.evidence_id = s.evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = s.host;

-- Findings on the clock of their first evidence row.
CREATE OR REPLACE VIEW findings_corrected AS
SELECT f.*, CASE WHEN h.evidence_id IS NULL THEN 'reference' ELSE 'host' END AS clock_domain,
       o.offset_s AS clock_offset_s,
       clock_correct(f.ts_start, o.offset_s) AS ts_start_corrected,
       clock_correct(f.ts_end, o.offset_s) AS ts_end_corrected
FROM findings f
LEFT JOIN host_clock_evidence h ON h.evidence_id = f.evidence_refs[1].evidence_id
LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = f.host;

-- Names and the addresses the evidence saw them resolve to: DNS answers, TLS server names and
-- HTTP Host headers with the address the connection went to.
CREATE OR REPLACE VIEW name_addresses AS
SELECT lower(rtrim(query, '.')) AS name, answer AS ip, ts, 'dns' AS tbl, evidence_id, locator
FROM (SELECT query, unnest(answers) AS answer, ts, evidence_id, locator FROM dns
      WHERE query IS NOT NULL AND answers IS NOT NULL AND len(answers) > 0)
WHERE regexp_full_match(answer, '\d{1,3}(\.\d{1,3}){3}') OR (contains(answer, ':') AND regexp_full_match(answer, '[0-9A-Fa-f:.]+'))
UNION ALL
SELECT lower(server_name), resp_h, ts, 'tls', evidence_id, locator FROM tls
WHERE server_name IS NOT NULL AND resp_h IS NOT NULL
UNION ALL
SELECT lower(split_part(host_header, ':', 1)), resp_h, ts, 'http', evidence_id, locator FROM http
WHERE host_header IS NOT NULL AND resp_h IS NOT NULL
  AND NOT regexp_full_match(split_part(host_header, ':', 1), '\d{1,3}(\.\d{1,3}){3}');

-- ---------------------------------------------------------------- staging for the link queries

-- Agent steps that carry indicators (agent_actions), with sandbox, container, host and sandbox
-- address filled from the trajectory's lease when the step lacks them; ts is clock-corrected.
-- serious: something other than reconnaissance or bare detachment.
CREATE TABLE IF NOT EXISTS link_steps (
    run_id VARCHAR,
    trajectory_id VARCHAR,
    step INTEGER,
    call_index INTEGER,
    ts TIMESTAMPTZ,           -- corrected start of the step
    ts_end TIMESTAMPTZ,       -- corrected time its result came back (ts when unknown)
    ts_recorded TIMESTAMPTZ,  -- as the transcript stamped it
    ts_basis VARCHAR,
    command VARCHAR,
    exit_code INTEGER,
    sandbox VARCHAR,
    container_id VARCHAR,
    host VARCHAR,
    sandbox_ip VARCHAR,
    categories VARCHAR[],
    techniques VARCHAR[],
    serious BOOLEAN,
    evidence_id INTEGER,
    locator VARCHAR
);

-- What each step names: addresses and ranges (ip_lo..ip_hi as integers for IPv4), names and the
-- addresses they resolved to, ports, URLs, wallets, binaries.
CREATE TABLE IF NOT EXISTS link_step_targets (
    evidence_id INTEGER,      -- the step
    locator VARCHAR,
    target_kind VARCHAR,      -- address, port, name, url, wallet, binary
    value VARCHAR,            -- as named (the range, the name, the URL ...)
    ip VARCHAR,               -- for address: the address (first of a range)
    ip_end VARCHAR,
    ip_lo BIGINT,
    ip_hi BIGINT,
    hostname VARCHAR,
    port INTEGER,
    via VARCHAR,              -- named in the command, or how a name was resolved (dns frame:N ...)
    category VARCHAR,
    technique VARCHAR
);

-- Where each step's traffic can come from: its sandbox's address while leased, its host's private
-- addresses (source NAT) and public addresses (EIP at the cloud firewall).
CREATE TABLE IF NOT EXISTS link_step_places (
    evidence_id INTEGER,
    locator VARCHAR,
    ip VARCHAR,
    place VARCHAR,            -- sandbox, host, public
    host VARCHAR,
    sandbox VARCHAR,
    valid_from TIMESTAMPTZ,
    valid_to TIMESTAMPTZ
);

-- Step -> process launches (host/step_processes refined by the shell parser), for linked steps.
CREATE TABLE IF NOT EXISTS link_step_processes (
    step_evidence_id INTEGER,
    step_locator VARCHAR,
    proc_id VARCHAR,
    host VARCHAR,
    pid BIGINT,
    proc_evidence_id INTEGER,
    proc_locator VARCHAR,
    basis VARCHAR,            -- shell -c, argv, argv (shell parser), descendant, program
    confidence DOUBLE,
    same_sandbox BOOLEAN
);

-- ---------------------------------------------------------------- results

CREATE TABLE IF NOT EXISTS links (
    link_id VARCHAR,          -- stable: hash of rule, cause and effect
    rule VARCHAR,             -- the link query: link/10_step_connections ...
    cause_kind VARCHAR,       -- agent_step
    run_id VARCHAR,
    trajectory_id VARCHAR,
    step INTEGER,
    call_index INTEGER,
    cause_ts TIMESTAMPTZ,     -- corrected
    cause_host VARCHAR,
    cause_sandbox VARCHAR,
    command VARCHAR,          -- the step's command (bounded)
    cause_evidence_id INTEGER,
    cause_locator VARCHAR,
    effect_kind VARCHAR,      -- connection, probe, blocked_connection, firewall_alert, dns_query,
                              -- http_request, tls_handshake, ssh_session, stratum_login, process_exec,
                              -- connect, falco_alert, gpu_process, gpu_telemetry, finding
    effect_tbl VARCHAR,       -- the table of the effect's rows (findings for a finding)
    effect_evidence_id INTEGER,  -- the first row of the effect
    effect_locator VARCHAR,
    finding_id VARCHAR,       -- when the effect is a finding
    effect_ts TIMESTAMPTZ,    -- first row, as stamped
    effect_ts_corrected TIMESTAMPTZ,
    effect_ts_end TIMESTAMPTZ,   -- last row, corrected
    effect_host VARCHAR,
    effect_count BIGINT,      -- rows behind the effect (link_rows)
    effect_summary VARCHAR,
    delta_s DOUBLE,           -- effect_ts_corrected - cause_ts
    tolerance_s DOUBLE,       -- how early an effect may look from stamp resolution and clock spread
    basis VARCHAR,            -- the strongest basis that holds: indicator, place or time
    basis_indicator VARCHAR,  -- what the command names that the effect shows (NULL: no indicator match)
    basis_place VARCHAR,      -- why the effect happened where the step ran (NULL: not shown)
    basis_time VARCHAR,       -- the order and delay after clock correction
    weak BOOLEAN,             -- time proximity alone
    confidence DOUBLE,
    incident_id INTEGER,
    evidence_refs STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[],  -- cause, then effect
    details JSON
);

CREATE TABLE IF NOT EXISTS link_rows (
    link_id VARCHAR,
    tbl VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR,
    ts_corrected TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS incidents (
    incident_id INTEGER,
    title VARCHAR,
    severity VARCHAR,
    first_ts TIMESTAMPTZ,     -- first suspicious step (corrected)
    last_ts TIMESTAMPTZ,      -- last effect seen
    hosts VARCHAR[],
    trajectories VARCHAR[],
    runs VARCHAR[],
    n_links BIGINT,
    n_findings BIGINT,
    summary VARCHAR,          -- the story in a few lines
    answers JSON              -- first agent action, tunnels, probes, mining, GPUs, detection latency,
                              -- trajectories to exclude, what remains unattributed
);

-- Findings an agent step without anything suspicious accounts for (a git clone the task asked
-- for): the agent did it, nothing about it is suspicious; neither an incident nor unattributed.
CREATE TABLE IF NOT EXISTS explained_benign (
    finding_id VARCHAR,
    kind VARCHAR,
    severity VARCHAR,
    ts_start TIMESTAMPTZ,     -- corrected
    host VARCHAR,
    src_ip VARCHAR,
    dst_ip VARCHAR,
    dst_port INTEGER,
    summary VARCHAR,
    run_id VARCHAR,
    trajectory_id VARCHAR,
    step INTEGER,
    step_ts TIMESTAMPTZ,
    command VARCHAR,
    reason VARCHAR,
    evidence_refs STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[]
);

CREATE TABLE IF NOT EXISTS unattributed (
    item_kind VARCHAR,        -- finding, or network (denied/alerted records no finding covers)
    finding_id VARCHAR,
    kind VARCHAR,
    title VARCHAR,
    severity VARCHAR,
    ts_start TIMESTAMPTZ,     -- corrected
    ts_end TIMESTAMPTZ,
    host VARCHAR,
    src_ip VARCHAR,
    dst_ip VARCHAR,
    dst_port INTEGER,
    n_records BIGINT,
    summary VARCHAR,
    reason VARCHAR,           -- why no agent step explains it
    related_incident_id INTEGER,  -- an incident it happened through (a session over its tunnel), if any
    evidence_refs STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[]
);
