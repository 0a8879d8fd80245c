"""Reverse-tunnel features of SSH sessions, from packet sizes, directions and timing.

SSH hides the content but not the rhythm. Each feature below is computed relative to the SSH
roles (client/server as the key exchange showed them, not the TCP SYN):

* keystroke-echo pairs: two payload packets of equal size (<= 100 bytes) in opposite directions
  within 0.5 s, the first preceded by more than 50 ms of quiet and not itself an echo (an echo
  answers faster than the pause before the keystroke it answers). In a
  forward shell the client leads (its user types, the server echoes); through ``ssh -R`` someone
  at the server end types into a shell on the client, so the server leads.
* bare ACKs: empty TCP ACKs; the side whose user reads the echoes sends most of them.
* nested key exchange: after the outer session's NEWKEYS and its authentication, both sides send
  a KEXINIT-sized packet (700-3000 bytes) within 2 s, outside any bulk transfer: an SSH
  handshake travelling inside the tunnel.
* long connection: RITA's buckets (1, 4, 8, 12 hours).

Measured on FoxIO's ssh-r.pcap (network-anchors.md §3): the reverse stream had 310 server-led
and 5 client-led pairs and 448 vs 29 bare ACKs; forward sessions had 85/0 and 116/12 the other
way round. The weights are ours; ``detect/ssh_reverse_tunnel`` adds context (external address,
command line).
"""

from __future__ import annotations

ECHO_MAX_BYTES = 100
ECHO_WINDOW_S = 0.5
ECHO_QUIET_S = 0.05
NESTED_MIN_BYTES = 700
NESTED_MAX_BYTES = 3000
NESTED_WINDOW_S = 2.0
AUTH_PACKETS = 10  # payload packets after NEWKEYS that belong to the outer authentication

WEIGHTS = {
    "role_inversion": 0.5,
    "server_led_echo": 0.25,
    "nested_kex": 0.25,
    "server_bare_acks": 0.15,
    "long_connection": 0.05,  # per RITA bucket reached: 1 h 0.05, 4 h 0.10, 8 h 0.15, 12 h 0.20
}


def ssh_features_sql(p: str) -> str:
    w = WEIGHTS
    return f"""
CREATE OR REPLACE TEMP TABLE {p}_feat AS
WITH pk AS (
    SELECT m.uid, s.frame, s.ts, s.len, s.flags,
           (s.from_lo = o.orig_is_lo) = (x.ssh_client_side = 'orig') AS from_client,
           x.newkeys_frame
    FROM {p}_spk s JOIN {p}_map m ON m.chunk = s.chunk AND m.part = s.part
         JOIN {p}_oriented o ON o.uid = m.uid
         JOIN {p}_streams_ssh x ON x.uid = m.uid
    WHERE s.is_ssh
), data AS (
    SELECT *, lag(ts) OVER w AS prev_ts, lag(from_client) OVER w AS prev_client, lag(len) OVER w AS prev_len,
           lag(ts, 2) OVER w AS prev2_ts,
           lead(ts) OVER w AS next_ts, lead(from_client) OVER w AS next_client, lead(len) OVER w AS next_len,
           sum(CASE WHEN newkeys_frame IS NULL OR frame > newkeys_frame THEN 1 ELSE 0 END)
               OVER (PARTITION BY uid ORDER BY frame ROWS UNBOUNDED PRECEDING) AS nth_encrypted
    FROM pk WHERE len > 0
    WINDOW w AS (PARTITION BY uid ORDER BY frame)
), echo AS (
    SELECT uid, count(*) FILTER (WHERE from_client) AS client_led, count(*) FILTER (WHERE NOT from_client) AS server_led
    FROM data
    WHERE len <= {ECHO_MAX_BYTES} AND next_client <> from_client AND next_len = len
      AND next_ts - ts <= {ECHO_WINDOW_S}
      AND (prev_ts IS NULL OR ts - prev_ts > {ECHO_QUIET_S})
      -- not itself the echo of the packet before (an answer comes faster than the pause before it)
      AND NOT coalesce(prev_client <> from_client AND prev_len = len AND ts - prev_ts <= {ECHO_WINDOW_S}
                       AND (prev2_ts IS NULL OR ts - prev_ts < prev_ts - prev2_ts), false)
      AND (newkeys_frame IS NULL OR frame > newkeys_frame)
    GROUP BY uid
), big AS (
    SELECT uid, frame, ts, from_client, len,
           count(*) FILTER (WHERE len >= 1000) OVER (PARTITION BY uid, from_client ORDER BY ts
               RANGE BETWEEN {NESTED_WINDOW_S} PRECEDING AND {NESTED_WINDOW_S} FOLLOWING) AS bulk_nearby
    FROM data
    WHERE nth_encrypted > {AUTH_PACKETS} AND (newkeys_frame IS NULL OR frame > newkeys_frame)
      AND len >= {NESTED_MIN_BYTES}
), nested AS (
    SELECT a.uid, min(least(a.frame, b.frame)) AS frame
    FROM big a JOIN big b ON a.uid = b.uid AND a.from_client AND NOT b.from_client
         AND abs(a.ts - b.ts) <= {NESTED_WINDOW_S}
    WHERE a.len <= {NESTED_MAX_BYTES} AND b.len <= {NESTED_MAX_BYTES} AND a.bulk_nearby < 5 AND b.bulk_nearby < 5
    GROUP BY a.uid
), counts AS (
    SELECT uid,
           count(*) FILTER (WHERE from_client) AS client_pkts, count(*) FILTER (WHERE NOT from_client) AS server_pkts,
           coalesce(sum(len) FILTER (WHERE from_client), 0) AS client_bytes,
           coalesce(sum(len) FILTER (WHERE NOT from_client), 0) AS server_bytes,
           count(*) FILTER (WHERE from_client AND len = 0 AND (flags & 16) > 0 AND (flags & 7) = 0) AS bare_acks_client,
           count(*) FILTER (WHERE NOT from_client AND len = 0 AND (flags & 16) > 0 AND (flags & 7) = 0) AS bare_acks_server,
           max(ts) - min(ts) AS span
    FROM pk GROUP BY uid
), f AS (
    SELECT x.uid, c.client_pkts, c.server_pkts, c.client_bytes, c.server_bytes,
           coalesce(e.client_led, 0) AS echo_pairs_client_led, coalesce(e.server_led, 0) AS echo_pairs_server_led,
           c.bare_acks_client, c.bare_acks_server,
           n.uid IS NOT NULL AS nested_kex, n.frame AS nested_kex_frame,
           CASE WHEN c.span >= 12 * 3600 THEN 12 WHEN c.span >= 8 * 3600 THEN 8 WHEN c.span >= 4 * 3600 THEN 4
                WHEN c.span >= 3600 THEN 1 ELSE 0 END AS long_conn_hours,
           x.role_inverted
    FROM {p}_streams_ssh x LEFT JOIN counts c ON c.uid = x.uid LEFT JOIN echo e ON e.uid = x.uid
         LEFT JOIN nested n ON n.uid = x.uid
), s AS (
    SELECT f.*, list_filter([
            CASE WHEN role_inverted THEN 'role_inversion' END,
            CASE WHEN echo_pairs_server_led >= 5 AND echo_pairs_server_led > 2 * echo_pairs_client_led
                 THEN 'server_led_echo' END,
            CASE WHEN nested_kex THEN 'nested_kex' END,
            CASE WHEN bare_acks_server >= 10 AND bare_acks_server > 2 * bare_acks_client THEN 'server_bare_acks' END,
            CASE WHEN long_conn_hours > 0 THEN 'long_connection' END], lambda x: x IS NOT NULL) AS tunnel_signals
    FROM f
)
SELECT s.*, least(1.0, round(
        CASE WHEN list_contains(tunnel_signals, 'role_inversion') THEN {w['role_inversion']} ELSE 0 END
      + CASE WHEN list_contains(tunnel_signals, 'server_led_echo') THEN {w['server_led_echo']} ELSE 0 END
      + CASE WHEN list_contains(tunnel_signals, 'nested_kex') THEN {w['nested_kex']} ELSE 0 END
      + CASE WHEN list_contains(tunnel_signals, 'server_bare_acks') THEN {w['server_bare_acks']} ELSE 0 END
      + {w['long_connection']} * CASE long_conn_hours WHEN 12 THEN 4 WHEN 8 THEN 3 WHEN 4 THEN 2 WHEN 1 THEN 1 ELSE 0 END,
      3)) AS tunnel_score
FROM s
"""
