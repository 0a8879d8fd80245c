-- title: Clock offsets
-- description: Each host's estimated clock offset (host clock minus the reference clock: capture,
--   cloud firewall, trainer), its spread and the matched pairs behind it. The chosen estimate is
--   what the corrected times of the incident sections and figures apply; stored times are unchanged.
-- empty: omit
SELECT host, chosen, offset_s, spread_s, n_pairs, method, reference, resolution_s, min_s, max_s
FROM clock_offsets
ORDER BY host, chosen DESC, method, reference, offset_s
