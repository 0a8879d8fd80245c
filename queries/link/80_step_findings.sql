-- title: Agent step -> findings of the single-source detections
-- description: A finding is caused by a step when one of its evidence rows is an effect row linked
--   to that step by an earlier rule (link_rows): the finding inherits that link's basis and takes
--   its best confidence. Findings that only describe agent steps (every reference is an agent
--   step: the agent_* detections) are the causes themselves and are not linked here. delta_s is
--   from the step to the finding's start (clock-corrected).
WITH f AS (
    SELECT * FROM findings_corrected
    WHERE finding_id IS NOT NULL AND evidence_refs IS NOT NULL
      AND NOT list_bool_and(list_transform(evidence_refs, lambda r: r.tbl = 'agent_steps'))
), refs AS (
    SELECT finding_id, unnest(evidence_refs) AS r FROM f
), shared AS (
    SELECT refs.finding_id, l.cause_evidence_id AS s_eid, l.cause_locator AS s_loc, l.link_id, l.effect_kind,
           l.basis, l.basis_indicator, l.basis_place, l.confidence, lr.tbl, lr.evidence_id, lr.locator, lr.ts_corrected,
           CASE l.basis WHEN 'indicator' THEN 0 WHEN 'place' THEN 1 ELSE 2 END AS basis_rank
    FROM refs
    JOIN link_rows lr ON lr.tbl = refs.r.tbl AND lr.evidence_id = refs.r.evidence_id AND lr.locator = refs.r.locator
    JOIN links l ON l.link_id = lr.link_id
    WHERE l.effect_kind <> 'finding'
), best AS (
    SELECT finding_id, s_eid, s_loc, count(DISTINCT tbl || evidence_id || locator) AS n_rows,
           list(DISTINCT effect_kind ORDER BY effect_kind) AS via_kinds,
           arg_min(basis, basis_rank * 10 - confidence) AS basis,
           arg_min(basis_indicator, basis_rank * 10 - confidence) AS basis_indicator,
           arg_min(basis_place, basis_rank * 10 - confidence) AS basis_place, max(confidence) AS confidence,
           list(DISTINCT {'tbl': tbl, 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_corrected}) AS member_refs
    FROM shared GROUP BY finding_id, s_eid, s_loc
)
SELECT b.s_eid AS cause_evidence_id, b.s_loc AS cause_locator, 'finding' AS effect_kind, 'findings' AS effect_tbl,
       NULL::INTEGER AS effect_evidence_id, f.finding_id AS effect_locator, f.finding_id, f.ts_start AS effect_ts,
       f.ts_start_corrected AS effect_ts_corrected, coalesce(f.ts_end_corrected, f.ts_start_corrected) AS effect_ts_end,
       f.host AS effect_host, b.n_rows AS effect_count,
       format('{} ({}, {}): {}', f.kind, f.severity, f.detector, left(f.summary, 300)) AS effect_summary,
       round(epoch(f.ts_start_corrected) - epoch(s.ts), 3) AS delta_s, 2.0 AS tolerance_s,
       b.basis, b.basis_indicator, b.basis_place,
       format('finding starts {:.3f} s after the step; {} of its evidence rows are effects of the step ({})',
              epoch(f.ts_start_corrected) - epoch(s.ts), b.n_rows, array_to_string(b.via_kinds, ', ')) AS basis_time,
       false AS weak, b.confidence,
       to_json({'finding_kind': f.kind, 'detector': f.detector, 'severity': f.severity, 'via': b.via_kinds}) AS details,
       list_sort(b.member_refs) AS member_refs
FROM best b JOIN f ON f.finding_id = b.finding_id
JOIN link_steps s ON s.evidence_id = b.s_eid AND s.locator = b.s_loc
