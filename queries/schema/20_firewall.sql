-- title: Firewall and flow-log tables, and the connection attempts both kinds of record describe
-- description: dedup_key on net_events (one kernel line seen in kern.log and journald is one
--   event), the later sightings in net_event_duplicates, the view net_event_provenance (every
--   file and line an event was read from), address helpers that count the inventory's host and
--   public addresses as the cluster's, and the view connection_attempts over net_events and
--   flows with one outcome vocabulary (denied, failed, succeeded, attempted).

-- A hash of the packet's identifying fields (host, addresses, ports, protocol, length, IP id,
-- flags, log prefix): the same record logged twice has the same key. Added to net_events for
-- cases created before it existed.
ALTER TABLE net_events ADD COLUMN IF NOT EXISTS dedup_key UBIGINT;

CREATE TABLE IF NOT EXISTS net_event_duplicates (
    evidence_id INTEGER,          -- the file that repeated the record
    locator VARCHAR,              -- where in that file
    ts_raw VARCHAR,               -- its stamp as written there
    source_format VARCHAR,
    canonical_evidence_id INTEGER,  -- the net_events row it repeats
    canonical_locator VARCHAR
);

-- Every sighting of a net_events row: the row itself and each repetition in another file.
CREATE OR REPLACE VIEW net_event_provenance AS
SELECT evidence_id, locator, evidence_id AS seen_evidence_id, locator AS seen_locator, source_format, ts_raw
FROM net_events
UNION ALL
SELECT canonical_evidence_id, canonical_locator, evidence_id, locator, source_format, ts_raw
FROM net_event_duplicates;

-- Addresses of the cluster: its networks, any address the inventory gives a host or sandbox
-- (public/elastic IPs included), and link-scope addresses.
CREATE OR REPLACE MACRO ip_is_cluster(ip) AS (
    ip IS NOT NULL AND (
        ip_is_internal(ip)
        OR ip IN (SELECT a.ip FROM host_addresses a)
        OR ip_in_cidr(ip, '127.0.0.0/8') OR ip_in_cidr(ip, '169.254.0.0/16') OR ip_in_cidr(ip, '224.0.0.0/4')
        OR ip = '255.255.255.255'
        OR regexp_matches(lower(ip), '^(ff|fe[89ab]|f[cd])[0-9a-f]*:') OR ip IN ('::1', '::')
    )
);

CREATE OR REPLACE MACRO net_direction(src, dst) AS (
    CASE WHEN src IS NULL OR dst IS NULL THEN NULL
         WHEN ip_is_cluster(src) THEN (CASE WHEN ip_is_cluster(dst) THEN 'internal' ELSE 'outbound' END)
         ELSE (CASE WHEN ip_is_cluster(dst) THEN 'inbound' ELSE 'external' END) END
);

-- One row per connection attempt seen by a firewall, flow log, IDS or packet capture.
-- outcome: denied (a firewall dropped or rejected it), failed (no answer or refused: Zeek
-- conn_state S0, REJ, or RSTO/RSTOS0/RSTR/SH/SHR/OTH with nothing back from the responder; a
-- flow-log TCP record whose flags show a SYN and nothing more), succeeded (the responder
-- answered), attempted (allowed or logged, outcome unknown).
CREATE OR REPLACE VIEW connection_attempts AS
SELECT ts, host, src_ip, src_port, dst_ip, dst_port, proto, direction,
       CASE WHEN action = 'deny' THEN 'denied'
            WHEN coalesce(packets_in, 0) > 0 OR coalesce(bytes_in, 0) > 0 THEN 'succeeded'
            WHEN proto = 'tcp' AND tcp_flags IN ('SYN', '2') AND source_format NOT IN ('netfilter', 'journald', 'ulogd')
                THEN 'failed'
            ELSE 'attempted' END AS outcome,
       action, tcp_flags AS state, rule, label, source_format,
       'net_events' AS tbl, evidence_id, locator
FROM net_events
WHERE action IS DISTINCT FROM 'alert'
  -- connection records that are also in flows are counted there, with their conn_state
  AND NOT (source_format = 'zeek_conn'
           OR (source_format = 'suricata_eve' AND json_extract_string(extra, '$.event_type') = 'flow'))
UNION ALL
SELECT ts, host, orig_h, orig_p, resp_h, resp_p, lower(proto), net_direction(orig_h, resp_h),
       CASE WHEN conn_state IN ('S0', 'REJ') THEN 'failed'
            WHEN conn_state IN ('RSTO', 'RSTOS0', 'RSTR', 'RSTRH', 'SH', 'SHR', 'OTH')
                 AND coalesce(resp_pkts, 0) = 0 AND coalesce(resp_bytes, 0) = 0 THEN 'failed'
            WHEN conn_state IS NULL THEN 'attempted'
            ELSE 'succeeded' END,
       NULL, conn_state, NULL, service, source_format,
       'flows', evidence_id, locator
FROM flows;

-- Inventory roles of hosts (gpu-node, monitoring, service ...), and of the addresses they own.
CREATE OR REPLACE VIEW host_roles AS
SELECT value AS host, json_extract_string(attributes, '$.role') AS role
FROM entities WHERE kind = 'host';
