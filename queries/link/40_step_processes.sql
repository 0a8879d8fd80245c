-- title: Agent step -> process launches on the host
-- description: The launches each step explains (link_step_processes: host/step_processes refined
--   by the shell parser, the most likely step per launch). Indicator: a shell ran the step's text
--   (shell -c), or the launch's argv is one of its simple commands with loop and $(...) expansions
--   (argv), or only the program is named (program, weaker). Place: the launch is in the step's
--   sandbox process tree (descends from the sandbox's init), or below a launch of the step
--   (descendant). Time: the launch starts after the step (host clock corrected). One link per step
--   and evidence file with every launch in it.
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH lp AS (
    SELECT l.*, p.ts, p.ts_corrected AS ts_c, p.clock_offset_s, p.exe, p.argv, p.pid AS proc_pid, p.ppid, p.sandbox,
           s.ts AS s_ts, s.sandbox AS s_sandbox,
           CASE WHEN l.basis IN ('shell -c', 'argv', 'argv (shell parser)') THEN 0 WHEN l.basis = 'program' THEN 1
                ELSE 2 END AS indicator_rank
    FROM link_step_processes l
    JOIN processes_corrected p ON p.evidence_id = l.proc_evidence_id AND p.locator = l.proc_locator
    JOIN link_steps s ON s.evidence_id = l.step_evidence_id AND s.locator = l.step_locator
    WHERE p.ts IS NOT NULL AND p.ts_corrected >= s.ts - to_seconds($clock_tolerance_s)
), grouped AS (
    SELECT step_evidence_id AS s_eid, step_locator AS s_loc, proc_evidence_id AS evidence_id,
           any_value(s_ts) AS s_ts, any_value(s_sandbox) AS s_sandbox, count(*) AS n,
           min(ts_c) AS first_c, max(ts_c) AS last_c, arg_min(ts, ts_c) AS first_ts,
           arg_min(proc_locator, ts_c) AS first_locator, arg_min(host, ts_c) AS first_host,
           arg_min(clock_offset_s, ts_c) AS first_offset,
           list(DISTINCT proc_pid ORDER BY proc_pid)[1:20] AS pids, count(DISTINCT proc_pid) AS n_pids,
           list(DISTINCT regexp_extract(exe, '[^/]*$') ORDER BY regexp_extract(exe, '[^/]*$')) AS programs,
           arg_min(array_to_string(argv, ' '), ts_c) AS first_argv, arg_min(proc_pid, ts_c) AS first_pid,
           min(indicator_rank) AS indicator_rank, bool_or(same_sandbox) AS same_sandbox,
           list(DISTINCT basis ORDER BY basis) AS bases, max(confidence) AS max_confidence,
           list({'tbl': 'processes', 'evidence_id': proc_evidence_id, 'locator': proc_locator, 'ts': ts_c}
                ORDER BY ts_c, proc_locator) AS member_refs
    FROM lp GROUP BY step_evidence_id, step_locator, proc_evidence_id
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, 'process_exec' AS effect_kind, 'processes' AS effect_tbl,
       evidence_id AS effect_evidence_id, first_locator AS effect_locator, NULL AS finding_id, first_ts AS effect_ts,
       first_c AS effect_ts_corrected, last_c AS effect_ts_end, first_host AS effect_host, n AS effect_count,
       CASE WHEN n = 1 THEN format('{} pid {}: {}', first_host, first_pid, left(first_argv, 200))
            ELSE format('{} launches on {} ({}), {} pids, first pid {}: {}', n, first_host,
                        array_to_string(programs[1:6], ', '), n_pids, first_pid, left(first_argv, 160)) END AS effect_summary,
       round(epoch(first_c) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       CASE WHEN indicator_rank < 2 THEN 'indicator' ELSE 'place' END AS basis,
       CASE indicator_rank
           WHEN 0 THEN format('argv of the launch is the command''s ({})', array_to_string(bases, ', '))
           WHEN 1 THEN 'the program is named in the command'
       END AS basis_indicator,
       CASE WHEN same_sandbox THEN format('in the process tree of sandbox {} (descends from its init)', s_sandbox)
            ELSE format('on {}, the host the step ran on', first_host) END
       || CASE WHEN list_contains(bases, 'descendant') THEN '; some launches descend from a launch of the step' ELSE '' END
           AS basis_place,
       format('first launch {:.3f} s after the step{}', epoch(first_c) - epoch(s_ts),
              CASE WHEN coalesce(first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -first_offset, first_host)
                   ELSE '' END) AS basis_time,
       false AS weak, round(max_confidence, 3) AS confidence,
       to_json({'pids': pids, 'distinct_pids': n_pids, 'programs': programs, 'bases': bases}) AS details,
       member_refs
FROM grouped
