-- title: Sandbox processes that no agent step explains
-- description: Every launch in a sandbox covered by a transcript that neither a step's command nor
--   a launch above it accounts for (the sandbox's init and what it started in its first setup_s
--   seconds are its own machinery), grouped into trees by unexplained_root: something the model
--   started indirectly, or someone else entirely (a session through a tunnel, an injected exec).
-- param min_confidence: 0.6  -- step matches at least this strong explain a launch
-- param setup_s: 5  -- launches this soon after the sandbox's init are its machinery
-- param window_s: 120  -- how long after a step without end time a launch still counts
-- param skew_s: 10  -- clock difference tolerated between transcript and host
SELECT unexplained_root, depth_in_tree, host, sandbox, trajectories, pid, ppid, ts, exe, argv, uid, cwd,
       step_confidence, proc_id, evidence_id, locator
FROM unexplained_processes(min_confidence := $min_confidence, setup_s := $setup_s, window_s := $window_s,
                           skew_s := $skew_s)
ORDER BY ts, host, pid
