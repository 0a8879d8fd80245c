-- title: Clock offset of each host from its matched pairs
-- description: Per host and matching method, and once per host over every exact pair together
--   (the estimate the *_corrected views apply, chosen): the offset (host minus reference) as the
--   mean of the pairs within max(3 x IQR, resolution + 0.5 s) of their median (whole-second stamps
--   on both sides make the median land on a whole second; the mean of the near pairs does not),
--   the interquartile spread, the number of pairs and the coarsest stamp resolution. A host with
--   approximate pairs only (agent step vs the launch it caused) gets that estimate, which
--   includes the launch latency (a fraction of a second), and says so. Hosts that stamp evidence
--   but have no pair at all are listed with n_pairs 0.
-- param min_pairs: 1  -- fewest pairs that make an estimate
WITH raw AS (
    SELECT * FROM clock_pairs
), centre AS (
    SELECT host, method, median(offset_s) AS m_method,
           quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) AS iqr_method,
           max(greatest(host_resolution_s, ref_resolution_s)) AS res_method
    FROM raw GROUP BY host, method
), centre_host AS (
    SELECT host, median(offset_s) AS m_host,
           quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) AS iqr_host,
           max(greatest(host_resolution_s, ref_resolution_s)) AS res_host
    FROM raw WHERE exact GROUP BY host
), p AS (
    SELECT r.*, abs(r.offset_s - c.m_method) <= greatest(3 * c.iqr_method, c.res_method + 0.5) AS near_method,
           coalesce(abs(r.offset_s - h.m_host) <= greatest(3 * h.iqr_host, h.res_host + 0.5), false) AS near_host
    FROM raw r JOIN centre c USING (host, method) LEFT JOIN centre_host h USING (host)
), per_method AS (
    SELECT host, method, any_value(reference) AS reference, avg(offset_s) FILTER (WHERE near_method) AS offset_s,
           quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) AS spread_s, count(*) AS n_pairs,
           max(greatest(host_resolution_s, ref_resolution_s)) AS resolution_s, min(offset_s) AS min_s,
           max(offset_s) AS max_s, bool_and(exact) AS exact,
           arg_min({'host': {'tbl': host_tbl, 'evidence_id': host_evidence_id, 'locator': host_locator},
                    'reference': {'tbl': ref_tbl, 'evidence_id': ref_evidence_id, 'locator': ref_locator}},
                   host_ts) AS first_pair
    FROM p GROUP BY host, method
), chosen_exact AS (
    SELECT host,
           'same connections stamped by the host and a reference: '
               || string_agg(method || ' (' || n || ')', ', ' ORDER BY method) AS method,
           string_agg(DISTINCT reference, ', ' ORDER BY reference) AS reference
    FROM (SELECT host, method, any_value(reference) AS reference, count(*) AS n FROM p WHERE exact GROUP BY ALL)
    GROUP BY host
), exact_stats AS (
    SELECT host, avg(offset_s) FILTER (WHERE near_host) AS offset_s,
           quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) AS spread_s, count(*) AS n_pairs,
           max(greatest(host_resolution_s, ref_resolution_s)) AS resolution_s, min(offset_s) AS min_s,
           max(offset_s) AS max_s
    FROM p WHERE exact GROUP BY host
), approx_only AS (
    SELECT m.host, 'approximate: ' || m.method AS method, m.reference, m.offset_s, m.spread_s, m.n_pairs,
           m.resolution_s, m.min_s, m.max_s
    FROM per_method m
    WHERE NOT m.exact AND m.host NOT IN (SELECT host FROM exact_stats)
), hosts AS (
    SELECT DISTINCT host FROM (
        SELECT n.host FROM net_events n SEMI JOIN host_clock_evidence h ON h.evidence_id = n.evidence_id
        UNION ALL SELECT p.host FROM processes p SEMI JOIN host_clock_evidence h ON h.evidence_id = p.evidence_id
        UNION ALL SELECT a.host FROM falco_alerts a SEMI JOIN host_clock_evidence h ON h.evidence_id = a.evidence_id
        UNION ALL SELECT g.host FROM gpu_processes g SEMI JOIN host_clock_evidence h ON h.evidence_id = g.evidence_id
    ) WHERE host IS NOT NULL
)
SELECT host, round(offset_s, 3) AS offset_s, round(spread_s, 3) AS spread_s, n_pairs, method, reference,
       resolution_s, round(min_s, 3) AS min_s, round(max_s, 3) AS max_s, false AS chosen,
       to_json({'first_pair': first_pair}) AS detail
FROM per_method WHERE n_pairs >= $min_pairs
UNION ALL
SELECT e.host, round(e.offset_s, 3), round(e.spread_s, 3), e.n_pairs, c.method, c.reference, e.resolution_s,
       round(e.min_s, 3), round(e.max_s, 3), true, NULL::JSON
FROM exact_stats e JOIN chosen_exact c USING (host) WHERE e.n_pairs >= $min_pairs
UNION ALL
SELECT host, round(offset_s, 3), round(spread_s, 3), n_pairs, method, reference, resolution_s, round(min_s, 3),
       round(max_s, 3), true, to_json({'approximate': true})
FROM approx_only WHERE n_pairs >= $min_pairs
UNION ALL
SELECT host, NULL, NULL, 0, 'no pairs', NULL, NULL, NULL, NULL, false,
       to_json({'note': 'no event of this host was matched to a reference clock; its stamps are used as written'})
FROM hosts
WHERE host NOT IN (SELECT host FROM p WHERE host IS NOT NULL)
ORDER BY host, chosen DESC, method
