-- title: Mining-like GPU signature
-- description: A GPU busy and flat for a sustained time (utilisation never under busy_util and
--   power varying less than max_power_cv within each window) while its job's other GPUs show
--   training's synchronised dips (checkpoint, sync, NCCL waits), or while its tensor activity is
--   near zero or well under the job's other GPUs. Catches renamed miners that process names miss.
--   RL jobs alternate rollout and training: a GPU changing role is neither flat nor free of the
--   job's dips, so it is not flagged; neither is an evaluation's bursty spike.
-- param window_s: 600  -- window length in seconds (about one training step; needs min_samples samples)
-- param min_samples: 3  -- samples a window needs to be judged
-- param busy_util: 90  -- % GPU utilisation that every sample of a flagged window reaches
-- param max_power_cv: 0.03  -- largest power variation (stddev / mean) of a flat window
-- param dip_util: 50  -- a job GPU under this % in a window took part in a dip
-- param peer_dip_share: 0.5  -- share of the job's other GPUs that must dip for "the job dipped, this GPU did not"
-- param max_tensor: 0.05  -- tensor-pipe activity (ratio) at or under this is idle tensor cores
-- param tensor_ratio: 0.6  -- tensor activity under this share of the job's other GPUs is unlike the job
-- param max_gap_s: 1200  -- flagged windows closer than this join into one interval
-- param min_duration_s: 900  -- shortest interval reported
-- attack: T1496
SELECT
    'gpu_mining_signature' AS kind,
    'high' AS severity,
    least(0.95, 0.5 + 0.15 * ((windows_with_peer_dips > 0)::INT + (windows_tensor_idle > 0)::INT
                              + (windows_tensor_below_peers > 0)::INT)) AS confidence,
    ts_start, ts_end, host,
    'GPU ' || coalesce(gpu_index::VARCHAR, '?') || ' (' || gpu_uuid || ')' || coalesce(' of ' || host, '')
        || coalesce(' (job ' || job || ')', '') || ' ran mining-like for '
        || round((epoch(ts_end) - epoch(ts_start)) / 60)::BIGINT || ' min from '
        || strftime(ts_start, '%Y-%m-%d %H:%M') || ' UTC: utilisation ' || round(avg_util, 1)
        || ' % (never under ' || round(min_util)::BIGINT || ' %), power ' || round(avg_power_w)::BIGINT
        || ' W flat (cv <= ' || round(max_power_cv, 3) || ')'
        || CASE WHEN windows_with_peer_dips > 0 THEN ', no dips while the job''s other GPUs dipped in '
                || windows_with_peer_dips || ' of ' || windows || ' windows' ELSE '' END
        || CASE WHEN avg_tensor IS NOT NULL THEN ', tensor activity ' || round(avg_tensor, 3)
                || coalesce(' vs ' || round(avg_peer_tensor, 3) || ' on the job''s other GPUs', '') ELSE '' END
        AS summary,
    refs AS evidence_refs,
    json_object('gpu_uuid', gpu_uuid, 'gpu_index', gpu_index, 'job', job, 'windows', windows, 'samples', samples,
                'avg_util', avg_util, 'min_util', min_util, 'avg_power_w', avg_power_w,
                'max_power_cv', max_power_cv, 'avg_tensor', avg_tensor, 'avg_peer_tensor', avg_peer_tensor,
                'avg_fb_mib', avg_fb_mib, 'avg_sm_clock_mhz', avg_sm_clock_mhz,
                'windows_with_peer_dips', windows_with_peer_dips, 'windows_tensor_idle', windows_tensor_idle,
                'windows_tensor_below_peers', windows_tensor_below_peers,
                'thresholds', json_object('window_s', $window_s, 'busy_util', $busy_util,
                                          'max_power_cv', $max_power_cv, 'dip_util', $dip_util,
                                          'peer_dip_share', $peer_dip_share, 'max_tensor', $max_tensor,
                                          'tensor_ratio', $tensor_ratio)) AS details
FROM gpu_signature_intervals($window_s, $min_samples, $busy_util, $max_power_cv, $dip_util, $peer_dip_share,
                             $max_tensor, $tensor_ratio, $max_gap_s, $min_duration_s)
