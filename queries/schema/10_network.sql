-- title: Network tables shared by firewall, flow-log and packet-capture parsers
-- description: net_events holds one firewall or flow-log record each; flows holds one connection
--   each with Zeek conn.log column names (from pcaps, Zeek or Suricata).

CREATE TABLE IF NOT EXISTS net_events (
    ts TIMESTAMPTZ,           -- UTC start of the record
    ts_end TIMESTAMPTZ,       -- end of an aggregation window or connection, when known
    ts_raw VARCHAR,           -- the stamp as written in the evidence
    ts_inferred BOOLEAN,      -- year or zone came from a hint, not the record
    host VARCHAR,             -- the host that logged it (or the cluster host it concerns)
    src_ip VARCHAR,
    src_port INTEGER,
    dst_ip VARCHAR,
    dst_port INTEGER,
    proto VARCHAR,            -- tcp, udp, icmp, icmpv6, or the IANA number
    direction VARCHAR,        -- inbound, outbound, internal, external (relative to the cluster)
    action VARCHAR,           -- allow, deny, alert
    bytes_out BIGINT,         -- source to destination
    bytes_in BIGINT,          -- destination to source
    packets_out BIGINT,
    packets_in BIGINT,
    tcp_flags VARCHAR,
    rule VARCHAR,             -- rule id, log prefix or ACL
    label VARCHAR,            -- attack type or other label given by the source
    src_private_ip VARCHAR,   -- private address behind a NAT, when the source says
    source_format VARCHAR,    -- the parser name
    evidence_id INTEGER,
    locator VARCHAR,
    extra JSON                -- source-specific fields kept for the record
);

CREATE TABLE IF NOT EXISTS flows (
    ts TIMESTAMPTZ,           -- first packet
    uid VARCHAR,              -- connection id (Zeek uid, Suricata flow_id, or our own)
    orig_h VARCHAR,
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    proto VARCHAR,
    service VARCHAR,
    duration DOUBLE,          -- seconds
    orig_bytes BIGINT,
    resp_bytes BIGINT,
    conn_state VARCHAR,
    missed_bytes BIGINT,
    history VARCHAR,
    orig_pkts BIGINT,
    orig_ip_bytes BIGINT,
    resp_pkts BIGINT,
    resp_ip_bytes BIGINT,
    host VARCHAR,             -- the cluster host the capture or log belongs to
    source_format VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

-- Address helpers (IPv4 arithmetic in plain SQL: no extension needed offline).
CREATE OR REPLACE MACRO ipv4_to_int(ip) AS (
    CASE WHEN regexp_full_match(ip, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}') THEN
        (split_part(ip, '.', 1)::BIGINT << 24) + (split_part(ip, '.', 2)::BIGINT << 16)
        + (split_part(ip, '.', 3)::BIGINT << 8) + split_part(ip, '.', 4)::BIGINT
    END
);

CREATE OR REPLACE MACRO ip_in_cidr(ip, cidr) AS (
    coalesce(
        (ipv4_to_int(ip) >> (32 - coalesce(nullif(split_part(cidr, '/', 2), '')::INTEGER, 32)))
        = (ipv4_to_int(split_part(cidr, '/', 1)) >> (32 - coalesce(nullif(split_part(cidr, '/', 2), '')::INTEGER, 32))),
        false)
);

CREATE OR REPLACE MACRO ip_is_private(ip) AS (
    ip_in_cidr(ip, '10.0.0.0/8') OR ip_in_cidr(ip, '172.16.0.0/12') OR ip_in_cidr(ip, '192.168.0.0/16')
    OR ip_in_cidr(ip, '127.0.0.0/8') OR ip_in_cidr(ip, '169.254.0.0/16') OR ip_in_cidr(ip, '100.64.0.0/10')
    OR regexp_matches(lower(ip), '^(f[cd][0-9a-f]{2}|fe[89ab][0-9a-f]):') OR ip = '::1'
);

-- The cluster's own networks: the inventory's, or RFC 1918 when the inventory names none.
CREATE OR REPLACE VIEW cluster_networks AS
SELECT value AS cidr, coalesce(json_extract_string(attributes, '$.zone'), 'internal') AS zone,
       json_extract_string(attributes, '$.name') AS name, 'inventory' AS source
FROM entities WHERE kind = 'network'
UNION ALL
SELECT cidr, 'internal', 'rfc1918', 'default'
FROM (VALUES ('10.0.0.0/8'), ('172.16.0.0/12'), ('192.168.0.0/16')) AS t(cidr)
WHERE NOT EXISTS (SELECT 1 FROM entities WHERE kind = 'network');

CREATE OR REPLACE MACRO ip_is_internal(ip) AS (
    EXISTS (SELECT 1 FROM cluster_networks n WHERE n.zone = 'internal' AND ip_in_cidr(ip, n.cidr))
);

-- Which host an address belonged to, and when (inventory IPs and EIPs, sandbox leases).
CREATE OR REPLACE VIEW host_addresses AS
SELECT value AS ip, host, sandbox, kind AS address_kind, valid_from, valid_to, source, evidence_id
FROM entities WHERE kind IN ('ip', 'public_ip');
