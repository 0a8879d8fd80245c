-- title: Invariant: no effect precedes its cause
-- description: Links whose effect starts before the agent step that caused it, after clock
--   correction, by more than the link's tolerance (stamp resolution and clock spread). Must be empty.
SELECT link_id, rule, trajectory_id, step, cause_ts, effect_kind, effect_tbl, effect_locator, effect_ts_corrected,
       delta_s, tolerance_s
FROM links
WHERE delta_s IS NULL OR delta_s < -coalesce(tolerance_s, 0)
   OR effect_ts_corrected < cause_ts - to_microseconds(CAST(round(coalesce(tolerance_s, 0) * 1000000) AS BIGINT))
