-- title: Evidence registry
-- description: Every input file as given, with its size, SHA-256, the parser that read it, the
--   hints that applied, and its record and warning counts.
SELECT evidence_id, path || coalesce('!' || member, '') AS file, status, format, parser_version, size, sha256,
       host_hint, tz_hint, n_records, n_warnings
FROM evidence
ORDER BY evidence_id
