-- title: Sandbox process tree that no agent step explains
-- description: One finding per tree of launches in a sandbox that no agent step's command accounts
--   for (see host/unexplained_processes): its root launch, how many launches are under it, their
--   programs, any connect outside the cluster, and, for a tree rooted at a login service, the
--   local connection it entered through (a reverse tunnel's forwarded channel reaching the
--   sandbox's sshd). High when the tree reached outside, came in, or starts with a login service
--   or shell; medium otherwise.
-- param min_confidence: 0.6  -- step matches at least this strong explain a launch
-- param setup_s: 5  -- launches this soon after the sandbox's init are its machinery
-- param window_s: 120  -- how long after a step without end time a launch still counts
-- param skew_s: 10  -- clock difference tolerated between transcript and host
-- attack: T1059
WITH u AS (
    SELECT * FROM unexplained_processes(min_confidence := $min_confidence, setup_s := $setup_s,
                                        window_s := $window_s, skew_s := $skew_s)
), out AS (
    SELECT u.unexplained_root, arg_min(c.remote_ip, c.ts) AS dst_ip, arg_min(c.remote_port, c.ts) AS dst_port,
           count(*) AS n_external
    FROM u JOIN process_connections c USING (proc_id)
    WHERE c.remote_ip IS NOT NULL AND coalesce(c.remote_port, 0) <> 53 AND NOT ip_is_private(c.remote_ip)
      AND NOT ip_is_internal(c.remote_ip)
    GROUP BY u.unexplained_root
), via AS (
    -- a tree rooted at a login service that starts as a local connection to it opens: the session
    -- came in through whatever made that connection (a reverse tunnel's forwarded channel)
    SELECT r.unexplained_root, arg_min(c.pid, abs(epoch(c.ts) - epoch(r.ts))) AS via_pid,
           arg_min(c.launch_pid, abs(epoch(c.ts) - epoch(r.ts))) AS via_launch_pid,
           arg_min(array_to_string(c.launch_argv, ' '), abs(epoch(c.ts) - epoch(r.ts))) AS via_argv,
           arg_min(c.remote_ip || ':' || c.remote_port, abs(epoch(c.ts) - epoch(r.ts))) AS via_endpoint
    FROM u r JOIN process_connections c
      ON c.sandbox = r.sandbox AND c.remote_ip IN ('127.0.0.1', '::1', 'localhost')
     AND c.ts BETWEEN r.ts - INTERVAL 2 SECOND AND r.ts + INTERVAL 1 SECOND
    WHERE r.depth_in_tree = 0 AND c.proc_id IS DISTINCT FROM r.proc_id
    GROUP BY r.unexplained_root
), g AS (
    SELECT unexplained_root, any_value(host) AS host, any_value(sandbox) AS sandbox,
           any_value(trajectories) AS trajectories, count(*) AS n_processes, min(ts) AS ts_start, max(ts) AS ts_end,
           arg_min(pid, depth_in_tree) AS root_pid, arg_min(exe, depth_in_tree) AS root_exe,
           arg_min(argv, depth_in_tree) AS root_argv,
           list(DISTINCT regexp_extract(coalesce(exe, argv[1]), '[^/]*$')) FILTER (WHERE depth_in_tree > 0) AS programs,
           list({'tbl': 'processes', 'evidence_id': evidence_id, 'locator': locator} ORDER BY depth_in_tree, ts)[1:20]
               AS refs
    FROM u GROUP BY unexplained_root
)
SELECT 'unexplained_process' AS kind,
       'Sandbox process tree that no agent step explains' AS title,
       CASE WHEN o.n_external > 0 OR v.via_pid IS NOT NULL OR regexp_extract(g.root_exe, '[^/]*$') IN
                 ('sshd', 'dropbear', 'login', 'su', 'sudo', 'bash', 'sh', 'dash', 'zsh', 'socat', 'nc', 'ncat')
            THEN 'high' ELSE 'medium' END AS severity,
       0.7 AS confidence,
       g.ts_start, g.ts_end, g.host, NULL AS src_ip, o.dst_ip, o.dst_port,
       'sandbox ' || g.sandbox || ' on ' || coalesce(g.host, '?') || ': ' || array_to_string(g.root_argv[1:8], ' ')
           || ' (pid ' || coalesce(g.root_pid::VARCHAR, '?') || ')'
           || CASE WHEN g.n_processes > 1 THEN ' and ' || (g.n_processes - 1) || ' launches under it ('
                   || array_to_string(list_sort(g.programs)[1:10], ', ') || ')' ELSE '' END
           || coalesce(', reaching ' || o.dst_ip || ':' || o.dst_port, '')
           || coalesce(', entered through ' || v.via_endpoint || ' from pid ' || v.via_pid
                       || CASE WHEN v.via_launch_pid <> v.via_pid THEN ' (forked from pid ' || v.via_launch_pid || ')' ELSE '' END
                       || ' ' || left(v.via_argv, 160), '')
           || '; no step of ' || array_to_string(list_sort(g.trajectories)[1:5], ', ') || ' explains it' AS summary,
       ['T1059'] AS attack_ids,
       g.refs AS evidence_refs,
       json_object('sandbox', g.sandbox, 'root_pid', g.root_pid, 'root_argv', g.root_argv, 'processes', g.n_processes,
                   'programs', list_sort(g.programs), 'trajectories', g.trajectories,
                   'external_connects', coalesce(o.n_external, 0), 'root_proc_id', g.unexplained_root,
                   'entered_via', CASE WHEN v.via_pid IS NOT NULL THEN json_object('pid', v.via_pid,
                       'launch_pid', v.via_launch_pid, 'argv', v.via_argv, 'endpoint', v.via_endpoint) END) AS details
FROM g LEFT JOIN out o USING (unexplained_root) LEFT JOIN via v USING (unexplained_root)
