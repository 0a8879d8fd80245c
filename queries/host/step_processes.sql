-- title: Agent step -> process: the launches each step's command explains
-- description: For every executed command of a trajectory, the processes launched in the same
--   sandbox (or container, or on the step's host when the step names neither) while the step ran,
--   with the basis of the match: "shell -c" (a shell ran exactly the step's text), "argv" (the
--   process's argv appears as a run of words in the text; paths match by their last component),
--   "descendant" (a child, grandchild ... of a process matched by shell -c or argv), "program"
--   (only the program's name appears as a command word). Process times are the host's clock:
--   skew_s widens the window on both sides. best_for_process marks each process's most likely
--   step. forensics.host.links refines "argv" with the shell parser used for agent_actions.
-- param window_s: 120  -- how long after the step a launch still counts when the step has no end time
-- param skew_s: 10  -- clock difference tolerated between transcript and host, in seconds
-- param min_confidence: 0.5  -- drop candidates below this
SELECT * FROM step_process_candidates(window_s := $window_s, skew_s := $skew_s)
WHERE confidence >= $min_confidence
ORDER BY proc_ts, trajectory_id, step, call_index
