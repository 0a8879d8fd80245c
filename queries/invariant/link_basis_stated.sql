-- title: Invariant: every link states its basis, and time alone is labelled weak
-- description: Links without a basis, whose strongest basis has no detail (an indicator link that
--   does not say what matched, a place link that does not say where), without the time detail, or
--   that rest on time alone without being labelled weak with a low confidence. Must be empty.
SELECT link_id, rule, trajectory_id, step, effect_kind, basis, weak, confidence
FROM links
WHERE basis IS NULL OR basis NOT IN ('indicator', 'place', 'time')
   OR (basis = 'indicator' AND basis_indicator IS NULL)
   OR (basis = 'place' AND basis_place IS NULL)
   OR basis_time IS NULL
   OR (basis = 'time' AND (NOT weak OR confidence > 0.5))
   OR (weak AND basis <> 'time')
   OR confidence IS NULL OR confidence <= 0 OR confidence > 1
