-- title: Clock pairs: the same event stamped by a host's clock and by a reference clock
-- description: One connection seen twice: the host's own kernel log (netfilter
--   LOG lines) or Falco alert against the packet capture's first packet of the same connection
--   (host, source port, destination address and port; the capture may show the source NATed to
--   the host's address), and the host's kernel log against the cloud firewall's record of the same
--   connection (source and destination port, the outside address). Only the first host record of
--   each connection counts (retransmitted SYNs are logged again). offset_s is host
--   minus reference, adjusted by half of each side's stamp resolution (syslog writes whole
--   seconds, truncated).
-- param max_skew_s: 300  -- largest clock offset looked for, in seconds
WITH res AS (
    SELECT 'net_events' AS tbl, evidence_id,
           CASE WHEN bool_and(epoch_us(ts) % 1000000 = 0) THEN 1.0 ELSE 0.0 END AS resolution_s
    FROM net_events WHERE ts IS NOT NULL GROUP BY evidence_id
    UNION ALL
    SELECT 'flows', evidence_id, CASE WHEN bool_and(epoch_us(ts) % 1000000 = 0) THEN 1.0 ELSE 0.0 END
    FROM flows WHERE ts IS NOT NULL GROUP BY evidence_id
    UNION ALL
    SELECT 'falco_alerts', evidence_id, CASE WHEN bool_and(epoch_us(ts) % 1000000 = 0) THEN 1.0 ELSE 0.0 END
    FROM falco_alerts WHERE ts IS NOT NULL GROUP BY evidence_id
), node_addresses AS (
    SELECT DISTINCT ip, host FROM host_addresses WHERE sandbox IS NULL AND ip IS NOT NULL AND host IS NOT NULL
), host_net AS (
    -- the first record of each connection a host logged itself
    SELECT n.host, n.ts, n.ts + to_seconds($max_skew_s) AS probe_ts, n.src_ip, n.src_port, n.dst_ip, n.dst_port,
           coalesce(lower(n.proto), '') AS proto, n.direction, n.evidence_id, n.locator
    FROM net_events n SEMI JOIN host_clock_evidence h ON h.evidence_id = n.evidence_id
    WHERE n.ts IS NOT NULL AND n.host IS NOT NULL AND n.src_port IS NOT NULL AND n.dst_port IS NOT NULL
      AND n.dst_ip IS NOT NULL
    QUALIFY coalesce(epoch(n.ts) - epoch(lag(n.ts) OVER (
        PARTITION BY n.host, n.src_port, n.dst_ip, n.dst_port, n.proto ORDER BY n.ts)) > 2 * $max_skew_s, true)
), ref_flows AS (
    SELECT f.host, f.ts, f.orig_h, f.orig_p, f.resp_h, f.resp_p, coalesce(lower(f.proto), '') AS proto,
           f.evidence_id, f.locator
    FROM flows f ANTI JOIN host_clock_evidence h ON h.evidence_id = f.evidence_id
    WHERE f.ts IS NOT NULL AND f.host IS NOT NULL AND f.orig_p IS NOT NULL
), captured_hosts AS (
    SELECT DISTINCT host FROM ref_flows
), kernel_vs_capture AS (
    SELECT hn.host, 'kernel log vs capture, same connection' AS method, 'pcap' AS reference,
           hn.ts AS host_ts, rf.ts AS ref_ts, 'net_events' AS host_tbl, hn.evidence_id AS host_evidence_id,
           hn.locator AS host_locator, 'flows' AS ref_tbl, rf.evidence_id AS ref_evidence_id,
           rf.locator AS ref_locator, true AS exact
    FROM (SELECT * FROM host_net WHERE host IN (SELECT host FROM captured_hosts)) hn
    ASOF JOIN ref_flows rf ON rf.host = hn.host AND rf.orig_p = hn.src_port AND rf.resp_h = hn.dst_ip
        AND rf.resp_p = hn.dst_port AND rf.proto = hn.proto AND hn.probe_ts >= rf.ts
    LEFT JOIN node_addresses na ON na.ip = rf.orig_h AND na.host = hn.host
    WHERE abs(epoch(hn.ts) - epoch(rf.ts)) <= $max_skew_s
      AND (rf.orig_h = hn.src_ip OR na.ip IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY rf.evidence_id, rf.locator
                               ORDER BY abs(epoch(hn.ts) - epoch(rf.ts)), hn.locator) = 1
), ref_net AS (
    -- records of a reference clock (cloud firewall, flow logs), on the host their address names
    SELECT coalesce(r.host, na1.host, na2.host) AS host, r.ts, r.src_port, r.dst_port,
           CASE WHEN r.direction = 'inbound' THEN r.src_ip ELSE r.dst_ip END AS remote_ip,
           coalesce(lower(r.proto), '') AS proto, r.evidence_id, r.locator
    FROM net_events r
    ANTI JOIN host_clock_evidence h ON h.evidence_id = r.evidence_id
    LEFT JOIN node_addresses na1 ON na1.ip = r.src_private_ip
    LEFT JOIN node_addresses na2 ON na2.ip = CASE WHEN r.direction = 'inbound' THEN r.dst_ip ELSE r.src_ip END
    WHERE r.ts IS NOT NULL AND r.src_port IS NOT NULL AND r.dst_port IS NOT NULL
), host_net_remote AS (
    -- a cloud firewall only sees traffic to and from outside the cluster
    SELECT *, CASE WHEN direction = 'inbound' THEN src_ip ELSE dst_ip END AS remote_ip FROM host_net
    WHERE direction IS DISTINCT FROM 'internal'
      AND EXISTS (SELECT 1 FROM net_events r ANTI JOIN host_clock_evidence h ON h.evidence_id = r.evidence_id LIMIT 1)
), kernel_vs_firewall AS (
    SELECT hn.host, 'kernel log vs cloud firewall, same connection' AS method, 'cloud firewall' AS reference,
           hn.ts AS host_ts, rn.ts AS ref_ts, 'net_events' AS host_tbl, hn.evidence_id AS host_evidence_id,
           hn.locator AS host_locator, 'net_events' AS ref_tbl, rn.evidence_id AS ref_evidence_id,
           rn.locator AS ref_locator, true AS exact
    FROM host_net_remote hn
    ASOF JOIN ref_net rn ON rn.host = hn.host AND rn.src_port = hn.src_port AND rn.dst_port = hn.dst_port
        AND rn.remote_ip = hn.remote_ip AND rn.proto = hn.proto AND hn.probe_ts >= rn.ts
    WHERE abs(epoch(hn.ts) - epoch(rn.ts)) <= $max_skew_s
    QUALIFY row_number() OVER (PARTITION BY rn.evidence_id, rn.locator
                               ORDER BY abs(epoch(hn.ts) - epoch(rn.ts)), hn.locator) = 1
), host_falco AS (
    SELECT a.host, a.ts, a.ts + to_seconds($max_skew_s) AS probe_ts, a.local_port, a.remote_ip, a.remote_port,
           a.evidence_id, a.locator
    FROM falco_alerts a SEMI JOIN host_clock_evidence h ON h.evidence_id = a.evidence_id
    WHERE a.ts IS NOT NULL AND a.host IS NOT NULL AND a.local_port IS NOT NULL AND a.remote_ip IS NOT NULL
      AND a.remote_port IS NOT NULL
), falco_vs_capture AS (
    SELECT hf.host, 'Falco connection alert vs capture, same connection' AS method, 'pcap' AS reference,
           hf.ts AS host_ts, rf.ts AS ref_ts, 'falco_alerts' AS host_tbl, hf.evidence_id AS host_evidence_id,
           hf.locator AS host_locator, 'flows' AS ref_tbl, rf.evidence_id AS ref_evidence_id,
           rf.locator AS ref_locator, true AS exact
    FROM host_falco hf
    ASOF JOIN ref_flows rf ON rf.host = hf.host AND rf.orig_p = hf.local_port AND rf.resp_h = hf.remote_ip
        AND rf.resp_p = hf.remote_port AND hf.probe_ts >= rf.ts
    WHERE abs(epoch(hf.ts) - epoch(rf.ts)) <= $max_skew_s
), pairs AS (
    SELECT * FROM kernel_vs_capture
    UNION ALL SELECT * FROM kernel_vs_firewall
    UNION ALL SELECT * FROM falco_vs_capture
)
SELECT p.host, p.method, p.reference, p.host_ts, p.ref_ts,
       coalesce(hr.resolution_s, 0.0) AS host_resolution_s, coalesce(rr.resolution_s, 0.0) AS ref_resolution_s,
       round(epoch(p.host_ts) - epoch(p.ref_ts)
             + (coalesce(hr.resolution_s, 0.0) - coalesce(rr.resolution_s, 0.0)) / 2, 6) AS offset_s,
       p.exact, p.host_tbl, p.host_evidence_id, p.host_locator, p.ref_tbl, p.ref_evidence_id, p.ref_locator
FROM pairs p
LEFT JOIN res hr ON hr.tbl = p.host_tbl AND hr.evidence_id = p.host_evidence_id
LEFT JOIN res rr ON rr.tbl = p.ref_tbl AND rr.evidence_id = p.ref_evidence_id
ORDER BY p.host, p.method, p.host_ts, p.host_locator
