-- title: Agent step -> network records (firewall, flow-log, kernel-log and capture connections)
-- description: Connections a step caused, in net_events (kernel log, cloud firewall, flow logs) and
--   flows (captures). Indicator: the destination is an address, range or resolved name the step
--   names, on a port it names (a range's ports come from the same loop). Place: the record comes
--   from the step's sandbox address while leased, or from its host's address (source NAT) or
--   public address (cloud firewall, with the private address behind it); a record from an address
--   of another place is never this step's. Time: the record starts within link_window_s after the
--   step ended (clock-corrected), at most clock_tolerance_s before it began. Without an indicator,
--   records from the sandbox's own address during the step (plus place_window_s) link on place.
--   Later records of a linked connection (same source port, destination and place: a firewall's
--   10-minute records, an IPS alert) belong to it for up to session_max_s. One link per step,
--   table, evidence file and effect kind (probe, connection, blocked_connection, firewall_alert).
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param place_window_s: 5  -- for place-only links: how long after the step ends, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look (stamp resolution, clock spread), in seconds
-- param session_max_s: 172800  -- how long later records of a linked connection still belong to it
WITH steps AS (
    SELECT * FROM link_steps
), targets AS (
    SELECT * FROM link_step_targets WHERE target_kind = 'address'
), step_ports AS (
    SELECT evidence_id, locator, list(DISTINCT port ORDER BY port) AS ports
    FROM link_step_targets WHERE port IS NOT NULL GROUP BY evidence_id, locator
), places AS (
    -- each place of each step, once per 5-minute bucket its window touches: the records of a place
    -- are joined on (address, bucket), so the work grows with the records, not records x steps
    SELECT p.evidence_id AS s_eid, p.locator AS s_loc, p.ip AS place_ip, p.place, p.sandbox AS place_sandbox,
           p.host AS place_host, p.valid_from, p.valid_to, s.ts AS s_ts, s.ts_end AS s_end, s.serious,
           unnest(range(CAST(floor((epoch(s.ts) - $clock_tolerance_s) / 300) AS BIGINT),
                        CAST(floor((epoch(s.ts_end) + $link_window_s) / 300) AS BIGINT) + 1)) AS bucket
    FROM link_step_places p JOIN steps s ON s.evidence_id = p.evidence_id AND s.locator = p.locator
), rec AS (
    SELECT 'net_events' AS tbl, n.ts, n.ts_corrected AS ts_c,
           coalesce(n.ts_end_corrected, n.ts_corrected) AS ts_end_c, n.host, n.src_ip, n.src_private_ip,
           n.src_port, n.dst_ip, n.dst_port, lower(n.proto) AS proto, n.action, n.bytes_out, n.bytes_in,
           n.rule, n.source_format, n.clock_offset_s, n.evidence_id, n.locator
    FROM net_events_corrected n WHERE n.ts IS NOT NULL AND n.dst_ip IS NOT NULL
    UNION ALL
    SELECT 'flows', f.ts, f.ts_corrected,
           f.ts_corrected + to_microseconds(CAST(round(coalesce(f.duration, 0) * 1000000) AS BIGINT)), f.host,
           f.orig_h, NULL, f.orig_p, f.resp_h, f.resp_p, lower(f.proto), NULL, f.orig_bytes, f.resp_bytes,
           f.conn_state, f.source_format, f.clock_offset_s, f.evidence_id, f.locator
    FROM flows_corrected f WHERE f.ts IS NOT NULL AND f.resp_h IS NOT NULL
), rec_b AS (
    SELECT *, CAST(floor(epoch(ts_c) / 300) AS BIGINT) AS bucket FROM rec
), at_place AS (
    -- records sent from a step's place (its sandbox's address, its host's address or public address,
    -- or the private address a cloud firewall names behind the public one) in the step's window
    SELECT r.*, p.* EXCLUDE (bucket)
    FROM rec_b r JOIN places p ON p.bucket = r.bucket AND p.place_ip = r.src_ip
    WHERE r.ts_c BETWEEN p.s_ts - to_seconds($clock_tolerance_s) AND p.s_end + to_seconds($link_window_s)
    UNION ALL
    SELECT r.*, p.* EXCLUDE (bucket)
    FROM rec_b r JOIN places p ON p.bucket = r.bucket AND p.place_ip = r.src_private_ip
    WHERE r.ts_c BETWEEN p.s_ts - to_seconds($clock_tolerance_s) AND p.s_end + to_seconds($link_window_s)
), leased AS (
    SELECT * FROM at_place
    WHERE (valid_from IS NULL OR ts_c >= valid_from - to_seconds($link_window_s))
      AND (valid_to IS NULL OR ts_c <= valid_to + to_seconds($link_window_s))
), with_target AS (
    SELECT l.*, t.value AS t_value, t.via AS t_via, t.port AS t_port, t.category AS t_category, sp.ports AS step_ports
    FROM leased l
    LEFT JOIN targets t ON t.evidence_id = l.s_eid AND t.locator = l.s_loc
        AND ((t.ip_lo IS NOT NULL AND ipv4_to_int(l.dst_ip) BETWEEN t.ip_lo AND t.ip_hi)
             OR (t.ip_lo IS NULL AND t.ip = l.dst_ip))
    LEFT JOIN step_ports sp ON sp.evidence_id = l.s_eid AND sp.locator = l.s_loc
), indicated AS (
    SELECT * EXCLUDE (step_ports), true AS has_indicator, false AS continued FROM with_target
    WHERE t_value IS NOT NULL
      AND (t_port = dst_port OR (t_port IS NULL AND (step_ports IS NULL OR list_contains(step_ports, dst_port))))
), unplaced AS (
    -- records that name no source at all: the destination alone (rare: some flow logs)
    SELECT r.*, s.evidence_id AS s_eid, s.locator AS s_loc, NULL AS place_ip, NULL AS place, NULL AS place_sandbox,
           NULL AS place_host, NULL::TIMESTAMPTZ AS valid_from, NULL::TIMESTAMPTZ AS valid_to, s.ts AS s_ts,
           s.ts_end AS s_end, s.serious, t.value AS t_value, t.via AS t_via, t.port AS t_port, t.category AS t_category,
           true AS has_indicator, false AS continued
    FROM (SELECT * FROM rec WHERE src_ip IS NULL AND src_private_ip IS NULL) r
    JOIN targets t ON (t.ip_lo IS NOT NULL AND ipv4_to_int(r.dst_ip) BETWEEN t.ip_lo AND t.ip_hi)
                   OR (t.ip_lo IS NULL AND t.ip = r.dst_ip)
    JOIN steps s ON s.evidence_id = t.evidence_id AND s.locator = t.locator
    LEFT JOIN step_ports sp ON sp.evidence_id = s.evidence_id AND sp.locator = s.locator
    WHERE r.ts_c BETWEEN s.ts - to_seconds($clock_tolerance_s) AND s.ts_end + to_seconds($link_window_s)
      AND (t.port = r.dst_port OR (t.port IS NULL AND (sp.ports IS NULL OR list_contains(sp.ports, r.dst_port))))
), placed AS (
    -- no indicator: from the sandbox's own address while the step ran
    SELECT * EXCLUDE (step_ports, t_value, t_via, t_port, t_category), NULL AS t_value, NULL AS t_via,
           NULL::INTEGER AS t_port, NULL AS t_category, false AS has_indicator, false AS continued
    FROM with_target
    WHERE t_value IS NULL AND place = 'sandbox' AND serious
      AND ts_c <= s_end + to_seconds($place_window_s)
), hits AS (
    SELECT * FROM indicated UNION ALL BY NAME SELECT * FROM unplaced UNION ALL BY NAME SELECT * FROM placed
), session_keys AS (
    SELECT s_eid, s_loc, src_port, dst_ip, dst_port, min(ts_c) AS first_c,
           bool_or(has_indicator) AS has_indicator, any_value(t_value) AS t_value, any_value(t_via) AS t_via,
           any_value(t_category) AS t_category
    FROM hits WHERE src_port IS NOT NULL
    GROUP BY s_eid, s_loc, src_port, dst_ip, dst_port
), continued AS (
    -- later records of a linked connection: same source port and destination, from a place of the step
    SELECT r.*, k.s_eid, k.s_loc, p.ip AS place_ip, p.place, p.sandbox AS place_sandbox, p.host AS place_host,
           p.valid_from, p.valid_to, s.ts AS s_ts, s.ts_end AS s_end, s.serious, k.t_value, k.t_via,
           NULL::INTEGER AS t_port, k.t_category, k.has_indicator, true AS continued
    FROM session_keys k
    JOIN rec r ON r.src_port = k.src_port AND r.dst_ip = k.dst_ip AND r.dst_port = k.dst_port
    JOIN link_step_places p ON p.evidence_id = k.s_eid AND p.locator = k.s_loc AND (r.src_ip = p.ip OR r.src_private_ip = p.ip)
    JOIN steps s ON s.evidence_id = k.s_eid AND s.locator = k.s_loc
    WHERE r.ts_c BETWEEN k.first_c - to_seconds($clock_tolerance_s) AND k.first_c + to_seconds($session_max_s)
), every AS (
    -- a cloud firewall record names the public address and the private one behind it: say both
    SELECT *, CASE place WHEN 'sandbox' THEN 0
                         WHEN 'public' THEN CASE WHEN src_private_ip IS NOT NULL THEN 1 ELSE 2 END
                         WHEN 'host' THEN CASE WHEN src_private_ip IS NOT NULL THEN 2 ELSE 1 END
                         ELSE 3 END AS place_rank
    FROM (SELECT * FROM hits UNION ALL BY NAME SELECT * FROM continued)
), best AS (
    -- one row per step and record: its strongest basis
    SELECT * FROM every
    QUALIFY row_number() OVER (PARTITION BY s_eid, s_loc, tbl, evidence_id, locator
                               ORDER BY has_indicator DESC, place_rank, continued, t_value) = 1
), classified AS (
    SELECT b.*, (b.ts_c, b.ts_end_c, b.evidence_id, b.locator) AS row_order,
           CASE WHEN b.t_category = 'scan' THEN 'probe'
                     WHEN b.action = 'alert' THEN 'firewall_alert'
                     WHEN b.action = 'deny' THEN 'blocked_connection'
                     ELSE 'connection' END AS effect_kind
    FROM best b
), grouped AS (
    SELECT c.s_eid, c.s_loc, c.tbl, c.evidence_id, c.effect_kind,
           count(*) AS n, min(c.ts_c) AS first_c, max(c.ts_end_c) AS last_c,
           arg_min(c.ts, c.row_order) AS first_ts, arg_min(c.locator, c.row_order) AS first_locator,
           arg_min(c.host, c.row_order) AS first_host, arg_min(c.clock_offset_s, c.row_order) AS first_offset,
           any_value(c.source_format) AS source_format,
           count(DISTINCT c.dst_ip) AS n_dst, count(DISTINCT c.dst_port) AS n_ports,
           list(DISTINCT c.dst_ip || ':' || c.dst_port ORDER BY c.dst_ip || ':' || c.dst_port)[1:20] AS destinations,
           list(DISTINCT c.src_ip ORDER BY c.src_ip) AS sources,
           list(DISTINCT c.src_port ORDER BY c.src_port)[1:20] AS src_ports,
           count(*) FILTER (WHERE c.action = 'allow') AS n_allow, count(*) FILTER (WHERE c.action = 'deny') AS n_deny,
           count(*) FILTER (WHERE c.action = 'alert') AS n_alert,
           sum(c.bytes_out) AS bytes_out, sum(c.bytes_in) AS bytes_in,
           bool_or(c.has_indicator) AS has_indicator, min(c.place_rank) AS place_rank,
           arg_min(c.place, c.place_rank) AS place, arg_min(c.place_ip, c.place_rank) AS place_ip,
           arg_min(c.place_sandbox, c.place_rank) AS place_sandbox,
           arg_min(c.place_host, c.place_rank) AS place_host,
           arg_min(c.src_private_ip, c.place_rank) AS src_private_ip,
           list(DISTINCT c.t_value ORDER BY c.t_value) FILTER (WHERE c.t_value IS NOT NULL) AS named,
           list(DISTINCT c.t_via ORDER BY c.t_via) FILTER (WHERE c.t_via IS NOT NULL AND c.t_via <> 'named in the command') AS resolved,
           count(*) FILTER (WHERE c.continued) AS n_continued,
           list({'tbl': c.tbl, 'evidence_id': c.evidence_id, 'locator': c.locator, 'ts': c.ts_c}
                ORDER BY c.ts_c, c.locator) AS member_refs
    FROM classified c
    GROUP BY c.s_eid, c.s_loc, c.tbl, c.evidence_id, c.effect_kind
)
SELECT g.s_eid AS cause_evidence_id, g.s_loc AS cause_locator, g.effect_kind, g.tbl AS effect_tbl,
       g.evidence_id AS effect_evidence_id, g.first_locator AS effect_locator, NULL AS finding_id,
       g.first_ts AS effect_ts, g.first_c AS effect_ts_corrected, g.last_c AS effect_ts_end,
       g.first_host AS effect_host, g.n AS effect_count,
       format('{} {} record{} from {} to {}{}', g.n, g.source_format, CASE WHEN g.n = 1 THEN '' ELSE 's' END,
              array_to_string(g.sources, ', '),
              CASE WHEN g.n_dst > 1 OR g.n_ports > 1
                   THEN format('{} addresses x {} ports', g.n_dst, g.n_ports) ELSE g.destinations[1] END,
              CASE WHEN g.n_deny + g.n_alert > 0
                   THEN format(' ({} allowed, {} denied, {} alerted)', g.n_allow, g.n_deny, g.n_alert) ELSE '' END)
           AS effect_summary,
       round(epoch(g.first_c) - epoch(s.ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       CASE WHEN g.has_indicator THEN 'indicator' WHEN g.place_rank < 3 THEN 'place' ELSE 'time' END AS basis,
       CASE WHEN g.has_indicator THEN
           CASE WHEN g.n_dst > 1 OR g.n_ports > 1
                THEN format('destinations {} inside {} named by the command', array_to_string(g.destinations[1:3], ', ')
                            || CASE WHEN g.n_dst * g.n_ports > 3 THEN ', ...' ELSE '' END, array_to_string(g.named, ', '))
                ELSE format('destination {} named in the command', g.destinations[1]) END
           || CASE WHEN len(g.resolved) > 0 THEN '; ' || array_to_string(g.resolved, '; ') ELSE '' END
       END AS basis_indicator,
       CASE g.place
           WHEN 'sandbox' THEN format('from {}, the address of sandbox {} at the time', g.place_ip, g.place_sandbox)
           WHEN 'host' THEN format('from {}, the address of {} where sandbox {} runs (source NAT)', g.place_ip,
                                   g.place_host, coalesce(s.sandbox, '?'))
           WHEN 'public' THEN format('from {}{}, the public address of {} where sandbox {} runs', g.place_ip,
                              CASE WHEN g.src_private_ip IS NOT NULL THEN ' (' || g.src_private_ip || ')' ELSE '' END,
                              g.place_host, coalesce(s.sandbox, '?'))
       END AS basis_place,
       format('first record {:.3f} s after the step{}{}', epoch(g.first_c) - epoch(s.ts),
              CASE WHEN coalesce(g.first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -g.first_offset, g.first_host)
                   ELSE '' END,
              CASE WHEN g.n_continued > 0 THEN format('; {} later record(s) of the same connection', g.n_continued)
                   ELSE '' END) AS basis_time,
       false AS weak,
       CASE WHEN g.has_indicator AND g.place_rank = 0 THEN 0.97
            WHEN g.has_indicator AND g.place_rank < 3 THEN 0.9
            WHEN g.has_indicator THEN 0.75
            ELSE 0.6 END AS confidence,
       to_json({'destinations': g.destinations, 'distinct_destinations': g.n_dst, 'distinct_ports': g.n_ports,
                'sources': g.sources, 'src_ports': g.src_ports, 'src_private_ip': g.src_private_ip,
                'allowed': g.n_allow, 'denied': g.n_deny, 'alerted': g.n_alert,
                'bytes_out': g.bytes_out, 'bytes_in': g.bytes_in, 'source_format': g.source_format,
                'named': g.named, 'resolved': g.resolved}) AS details,
       g.member_refs
FROM grouped g JOIN steps s ON s.evidence_id = g.s_eid AND s.locator = g.s_loc
