-- title: Agent step -> DNS lookups of the names it uses
-- description: DNS queries for a host name the step names (a URL's host, an ssh destination, a
--   pool), sent from one of the step's places (the sandbox's address, or the host's address it is
--   NATed to), within link_window_s after the step (clock-corrected). Indicator: the name; place:
--   the querying address; time: the order. One link per step and evidence file, with the answers.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH names AS (
    SELECT DISTINCT evidence_id, locator, hostname FROM link_step_targets WHERE hostname IS NOT NULL
), d AS (
    SELECT q.*, lower(rtrim(q.query, '.')) AS name, clock_correct(q.ts, o.offset_s) AS ts_c, o.offset_s
    FROM dns q
    LEFT JOIN host_clock_evidence h ON h.evidence_id = q.evidence_id
    LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = q.host
    WHERE q.ts IS NOT NULL AND q.query IS NOT NULL
), hits AS (
    SELECT d.*, s.evidence_id AS s_eid, s.locator AS s_loc, s.ts AS s_ts, s.sandbox AS s_sandbox, p.place,
           p.ip AS place_ip, p.host AS place_host,
           CASE p.place WHEN 'sandbox' THEN 0 WHEN 'host' THEN 1 ELSE 2 END AS place_rank
    FROM d
    JOIN names n ON n.hostname = d.name
    JOIN link_steps s ON s.evidence_id = n.evidence_id AND s.locator = n.locator
    JOIN link_step_places p ON p.evidence_id = s.evidence_id AND p.locator = s.locator AND p.ip = d.orig_h
    WHERE d.ts_c BETWEEN s.ts - to_seconds($clock_tolerance_s) AND s.ts_end + to_seconds($link_window_s)
    QUALIFY row_number() OVER (PARTITION BY s.evidence_id, s.locator, d.evidence_id, d.locator ORDER BY place_rank) = 1
), grouped AS (
    SELECT s_eid, s_loc, evidence_id, any_value(s_ts) AS s_ts, any_value(s_sandbox) AS s_sandbox, count(*) AS n,
           min(ts_c) AS first_c, max(ts_c) AS last_c, arg_min(ts, ts_c) AS first_ts, arg_min(locator, ts_c) AS first_locator,
           arg_min(host, ts_c) AS first_host, arg_min(offset_s, ts_c) AS first_offset,
           list(DISTINCT name ORDER BY name) AS names,
           list(DISTINCT a ORDER BY a) FILTER (WHERE a IS NOT NULL) AS answers,
           min(place_rank) AS place_rank, arg_min(place_ip, place_rank) AS place_ip, arg_min(place_host, place_rank) AS place_host,
           list({'tbl': 'dns', 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_c} ORDER BY ts_c, locator) AS member_refs
    FROM (SELECT *, unnest(CASE WHEN len(coalesce(answers, [])) = 0 THEN [NULL] ELSE answers END) AS a FROM hits)
    GROUP BY s_eid, s_loc, evidence_id
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, 'dns_query' AS effect_kind, 'dns' AS effect_tbl,
       evidence_id AS effect_evidence_id, first_locator AS effect_locator, NULL AS finding_id, first_ts AS effect_ts,
       first_c AS effect_ts_corrected, last_c AS effect_ts_end, first_host AS effect_host,
       len(member_refs) AS effect_count,
       format('DNS lookup of {} from {}: {}', array_to_string(names, ', '), place_ip,
              CASE WHEN len(answers) > 0 THEN array_to_string(answers, ', ') ELSE 'no answer' END) AS effect_summary,
       round(epoch(first_c) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'indicator' AS basis,
       format('looks up {}, named in the command', array_to_string(names, ', ')) AS basis_indicator,
       CASE place_rank WHEN 0 THEN format('from {}, the address of sandbox {} at the time', place_ip, s_sandbox)
                       ELSE format('from {}, the address of {} where sandbox {} runs (source NAT)', place_ip, place_host,
                                   coalesce(s_sandbox, '?')) END AS basis_place,
       format('query {:.3f} s after the step{}', epoch(first_c) - epoch(s_ts),
              CASE WHEN coalesce(first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -first_offset, first_host)
                   ELSE '' END) AS basis_time,
       false AS weak, CASE WHEN place_rank = 0 THEN 0.95 ELSE 0.9 END AS confidence,
       to_json({'names': names, 'answers': answers}) AS details,
       member_refs
FROM grouped
