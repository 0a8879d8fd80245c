-- title: Agent step -> findings close in time on the same host (weak)
-- description: What the stronger rules left: a finding on the host a serious step ran on, starting
--   within link_window_s after the step (clock-corrected, no earlier than clock_tolerance_s before
--   it), whose source address, when it has one, is one of the step's places and whose destination
--   is not (traffic into the step's host from elsewhere is never the step's). Nothing but time
--   ties them: the link is labelled weak (basis time, confidence 0.3) for a responder to judge.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH f AS (
    SELECT * FROM findings_corrected
    WHERE finding_id IS NOT NULL AND ts_start IS NOT NULL AND host IS NOT NULL
      AND NOT list_bool_and(list_transform(coalesce(evidence_refs, []), lambda r: r.tbl = 'agent_steps'))
      AND finding_id NOT IN (SELECT finding_id FROM links WHERE finding_id IS NOT NULL)
), cand AS (
    SELECT f.*, s.evidence_id AS s_eid, s.locator AS s_loc, s.ts AS s_ts, s.sandbox AS s_sandbox
    FROM f JOIN link_steps s ON s.serious AND s.host = f.host
        AND f.ts_start_corrected BETWEEN s.ts - to_seconds($clock_tolerance_s) AND s.ts_end + to_seconds($link_window_s)
    WHERE (f.src_ip IS NULL OR EXISTS (SELECT 1 FROM link_step_places p WHERE p.evidence_id = s.evidence_id
                                       AND p.locator = s.locator AND p.ip = f.src_ip))
      AND (f.dst_ip IS NULL OR f.src_ip IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM link_step_places p WHERE p.evidence_id = s.evidence_id
                          AND p.locator = s.locator AND p.ip = f.dst_ip))
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, 'finding' AS effect_kind, 'findings' AS effect_tbl,
       NULL::INTEGER AS effect_evidence_id, finding_id AS effect_locator, finding_id, ts_start AS effect_ts,
       ts_start_corrected AS effect_ts_corrected, coalesce(ts_end_corrected, ts_start_corrected) AS effect_ts_end,
       host AS effect_host, 1 AS effect_count,
       format('{} ({}, {}): {}', kind, severity, detector, left(summary, 300)) AS effect_summary,
       round(epoch(ts_start_corrected) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'time' AS basis, NULL AS basis_indicator, NULL AS basis_place,
       format('weak: starts {:.3f} s after the step on the same host ({}); no address, name, process or sandbox ties them',
              epoch(ts_start_corrected) - epoch(s_ts), host) AS basis_time,
       true AS weak, 0.3 AS confidence,
       to_json({'finding_kind': kind, 'detector': detector, 'severity': severity}) AS details,
       [{'tbl': evidence_refs[1].tbl, 'evidence_id': evidence_refs[1].evidence_id, 'locator': evidence_refs[1].locator,
         'ts': ts_start_corrected}] AS member_refs
FROM cand
