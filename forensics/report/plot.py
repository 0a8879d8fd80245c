"""The incident timeline figure: GPU utilisation with agent steps, sessions and alerts on one axis.

Top panel: utilisation (percent of time a kernel ran) of every GPU of one host, averaged into at
most ~600 buckets over the window. GPUs whose utilisation jumps after the pivot (the first mining
or GPU-diversion finding, else the first mining step of an agent) by 20 points or more are drawn
in colour and named in the legend; the others are thin grey lines.

Bottom panel, same UTC time axis, one lane each: agent steps on the host (flagged steps as red
diamonds, reconnaissance in orange, the rest as grey ticks), and findings as bars from start to
end, grouped by kind into tunnel, mining, GPU diversion, probe and firewall-alert lanes; firewall
records with action ``alert`` concerning the host are marked in the firewall lane too.

Every table is optional: a lane whose table is missing or empty is left out. Text from evidence
(trajectory ids, kinds) is drawn with mathtext off, so ``$`` in it is just a dollar sign. The PNG
is drawn with the Agg backend and no wall-clock metadata, so the same case gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ..textsafe import terminal_safe
from .values import iso_utc

JUMP_POINTS = 20.0  # utilisation points a GPU must gain after the pivot to count as affected
FLAT_BUSY = 90.0  # ... or its lowest utilisation after the pivot (once settled) is at least this
FLAT_PEER_DIP = 50.0  # ... while the median other GPU of the host still dips below this
SETTLE = dt.timedelta(seconds=60)  # time the new load needs to show after the pivot
BUCKETS = 600
LANES = ("agent steps", "tunnel", "mining", "GPU diversion", "probe", "firewall alerts", "host alerts",
         "other findings")
LANE_COLOURS = {"agent steps": "#b2182b", "tunnel": "#7b3294", "mining": "#d7191c", "GPU diversion": "#fdae61",
                "probe": "#2c7bb6", "firewall alerts": "#1a9641", "host alerts": "#8c510a",
                "other findings": "#636363"}
ZOOM_BEFORE = dt.timedelta(seconds=60)
PIVOT_TOLERANCE = dt.timedelta(seconds=30)
ZOOM_AFTER = dt.timedelta(minutes=3)
SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END"


@dataclass
class TimelinePlot:
    """A drawn figure: the PNG bytes, the matplotlib figure, and the facts it shows."""

    png: bytes
    figure: Any
    facts: dict[str, Any] = field(default_factory=dict)

    def _repr_png_(self) -> bytes:  # shown inline by Jupyter
        return self.png

    def __repr__(self) -> str:
        facts = self.facts
        return (f"TimelinePlot(host={facts.get('host')!r}, {facts.get('window_start')} to {facts.get('window_end')}, "
                f"affected_gpus={facts.get('affected_gpus')}, {len(self.png)} PNG bytes)")

    def save(self, path: str) -> str:
        with open(path, "wb") as handle:
            handle.write(self.png)
        return path


def lane_of(kind: str | None) -> str:
    """The figure lane a finding kind belongs to (agent_* findings mark agent steps)."""
    k = (kind or "").lower()
    if k.startswith("agent"):
        return "agent steps"
    if "tunnel" in k:
        return "tunnel"
    if "gpu" in k or "divers" in k:
        return "GPU diversion"
    if "mining" in k or "miner" in k or "stratum" in k or "pool" in k:
        return "mining"
    if "probe" in k or "scan" in k or "sweep" in k:
        return "probe"
    if "firewall" in k or "ids" in k or "egress" in k or "deny" in k or "acl" in k or k == "alert":
        return "firewall alerts"
    if "alert" in k or "falco" in k:
        return "host alerts"
    return "other findings"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    try:
        return con.execute(sql, params or []).fetchall()
    except duckdb.Error:
        return []  # the table is not in this case


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if hasattr(value, "to_pydatetime"):
        return _as_utc(value.to_pydatetime())
    raise TypeError(f"not a time: {value!r}")


def sources(con: duckdb.DuckDBPyConnection, corrected: bool = True) -> dict[str, str]:
    """What to read each table from: the clock-corrected views when the case has them (times on
    the reference clock; the host's offset applied to what the host stamped), else the table."""
    chosen = {t: t for t in ("gpu_samples", "agent_steps", "findings", "net_events")}
    if not corrected:
        return chosen
    names = {r[0] for r in _fetch(con, "SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = 'main'")}
    replace = {
        "gpu_samples": "coalesce(ts_corrected, ts) AS ts",
        "agent_steps": "coalesce(ts_corrected, ts) AS ts, coalesce(ts_end_corrected, ts_end) AS ts_end",
        "findings": "coalesce(ts_start_corrected, ts_start) AS ts_start, coalesce(ts_end_corrected, ts_end) AS ts_end",
        "net_events": "coalesce(ts_corrected, ts) AS ts, coalesce(ts_end_corrected, ts_end) AS ts_end",
    }
    for table, columns in replace.items():
        if f"{table}_corrected" in names:
            chosen[table] = f"(SELECT * REPLACE ({columns}) FROM {table}_corrected)"
    return chosen


def choose_host(con: duckdb.DuckDBPyConnection) -> str | None:
    """The host with the most serious findings; else the host with most flagged agent actions;
    else the first host with GPU samples."""
    for sql in (
        f"""SELECT host FROM findings WHERE host IS NOT NULL AND ts_start IS NOT NULL
            GROUP BY host ORDER BY max({SEVERITY_RANK}) DESC, sum({SEVERITY_RANK}) DESC, host LIMIT 1""",
        """SELECT host FROM agent_actions WHERE host IS NOT NULL AND category <> 'recon'
           GROUP BY host ORDER BY count(*) DESC, host LIMIT 1""",
        "SELECT min(host) FROM gpu_samples WHERE host IS NOT NULL",
    ):
        rows = _fetch(con, sql)
        if rows and rows[0][0] is not None:
            return rows[0][0]
    return None


def choose_window(con: duckdb.DuckDBPyConnection, host: str,
                  src: dict[str, str] | None = None) -> tuple[dt.datetime, dt.datetime] | None:
    src = src or sources(con, corrected=False)
    rows = _fetch(con, f"""SELECT min(ts_start), max(coalesce(ts_end, ts_start)) FROM {src['findings']} f
                           WHERE host = ? AND ts_start IS NOT NULL AND {SEVERITY_RANK} >= 1""", [host])
    if rows and rows[0][0] is not None:
        return _as_utc(rows[0][0]), _as_utc(rows[0][1])
    for sql in ("SELECT min(ts), max(ts) FROM agent_actions WHERE host = ? AND category <> 'recon'",
                f"SELECT min(ts), max(ts) FROM {src['gpu_samples']} g WHERE host = ?"):
        rows = _fetch(con, sql, [host])
        if rows and rows[0][0] is not None:
            return _as_utc(rows[0][0]), _as_utc(rows[0][1])
    return None


def _gather(con: duckdb.DuckDBPyConnection, host: str, start: dt.datetime, end: dt.datetime,
            gpus: list[int] | None, src: dict[str, str]) -> dict[str, Any]:
    span = max((end - start).total_seconds(), 1.0)
    bucket = max(1.0, span / BUCKETS)
    gpu_filter = ""
    args: list[Any] = [bucket, bucket, host, start, end]
    if gpus:
        gpu_filter = f" AND gpu_index IN ({', '.join('?' for _ in gpus)})"
        args += list(gpus)
    samples = _fetch(con, f"""
        WITH s AS (
            SELECT coalesce(gpu_uuid, 'index ' || gpu_index) AS gpu_key, gpu_index,
                   to_timestamp(floor(epoch(ts) / ?) * ?) AS bucket_ts, util
            FROM {src['gpu_samples']} g
            WHERE host = ? AND ts BETWEEN ? AND ? AND util IS NOT NULL {gpu_filter}
        )
        SELECT gpu_key, min(min(gpu_index)) OVER (PARTITION BY gpu_key) AS first_index, bucket_ts, avg(util)
        FROM s
        GROUP BY gpu_key, bucket_ts
        ORDER BY first_index NULLS LAST, gpu_key, bucket_ts""", args)
    series: dict[str, dict[str, Any]] = {}
    for key, index, ts, util in samples:
        entry = series.setdefault(key, {"index": index, "ts": [], "util": []})
        entry["ts"].append(_as_utc(ts))
        entry["util"].append(float(util))
    steps = _fetch(con, f"""
        SELECT s.ts, s.trajectory_id, s.step,
               (SELECT string_agg(DISTINCT a.category, ',' ORDER BY a.category) FROM agent_actions a
                WHERE a.trajectory_id = s.trajectory_id AND a.step = s.step) AS categories
        FROM {src['agent_steps']} s
        WHERE s.host = ? AND s.ts BETWEEN ? AND ?
        ORDER BY s.ts, s.trajectory_id, s.step""", [host, start, end])
    if not steps:  # agent_actions may be missing: plain steps still show
        steps = [(ts, traj, step, None) for ts, traj, step in _fetch(con, f"""
            SELECT ts, trajectory_id, step FROM {src['agent_steps']} s WHERE host = ? AND ts BETWEEN ? AND ?
            ORDER BY ts, trajectory_id, step""", [host, start, end])]
    findings = _fetch(con, f"""
        SELECT kind, ts_start, coalesce(ts_end, ts_start), severity, coalesce(title, kind)
        FROM {src['findings']} f
        WHERE host = ? AND ts_start <= ? AND coalesce(ts_end, ts_start) >= ?
        ORDER BY ts_start, kind, finding_id""", [host, end, start])
    alerts = _fetch(con, f"""
        SELECT ts FROM {src['net_events']} n
        WHERE action = 'alert' AND ts BETWEEN ? AND ?
          AND (host = ? OR src_ip IN (SELECT ip FROM host_addresses WHERE host = ?)
               OR dst_ip IN (SELECT ip FROM host_addresses WHERE host = ?))
        ORDER BY ts""", [start, end, host, host, host])
    return {"series": series, "steps": steps, "findings": findings, "alerts": alerts, "bucket_s": bucket}


def _pivot(data: dict[str, Any]) -> tuple[dt.datetime | None, str | None]:
    """The moment the GPUs should change: the agent step that launched the miner, else the start
    of the first mining or GPU-diversion finding.

    The launching step is the flagged mining step closest to the first mining/diversion finding
    among those no later than PIVOT_TOLERANCE after it (host clocks may run behind the trainer's),
    so a step that only downloaded the miner minutes earlier is not taken for the launch. Without
    such findings it is the first flagged mining step (or agent mining finding)."""
    steps = [(_as_utc(s[0]), f"{s[1]} step {s[2]} launched a miner") for s in data["steps"]
             if s[3] and "mining" in s[3]]
    if not steps:
        steps = [(_as_utc(f[1]), f"{f[0]} finding") for f in data["findings"]
                 if lane_of(f[0]) == "agent steps" and "min" in (f[0] or "")]
    sessions = sorted((_as_utc(f[1]), f"first {f[0]} finding") for f in data["findings"]
                      if lane_of(f[0]) in ("mining", "GPU diversion"))
    if sessions and steps:
        start = sessions[0][0]
        before = [st for st in steps if st[0] <= start + PIVOT_TOLERANCE]
        if before:
            return min(before, key=lambda st: (abs((st[0] - start).total_seconds()), st[0], st[1]))
    if steps:
        return min(steps)
    if sessions:
        return sessions[0]
    return None, None


def _gpus_named_by_findings(con: duckdb.DuckDBPyConnection, host: str, start: dt.datetime,
                            end: dt.datetime, src: dict[str, str]) -> dict[str, list[str]]:
    """GPUs that findings on the host name in their details (gpu_uuid, else gpu_index), with the
    finding kinds: the GPU detections say which GPUs a miner held."""
    rows = _fetch(con, f"""
        SELECT coalesce(lower(json_extract_string(details, '$.gpu_uuid')),
                        'index ' || json_extract_string(details, '$.gpu_index')) AS gpu, kind
        FROM {src['findings']} f
        WHERE host = ? AND details IS NOT NULL AND ts_start <= ? AND coalesce(ts_end, ts_start) >= ?
          AND (json_extract_string(details, '$.gpu_uuid') IS NOT NULL
               OR json_extract_string(details, '$.gpu_index') IS NOT NULL)
        GROUP BY ALL ORDER BY gpu, kind""", [host, end, start])
    named: dict[str, list[str]] = {}
    for gpu, kind in rows:
        named.setdefault(gpu, []).append(kind)
    return named


def _utilisation_around(con: duckdb.DuckDBPyConnection, src: dict[str, str], host: str, start: dt.datetime,
                        end: dt.datetime, pivot: dt.datetime | None,
                        gpus: list[int] | None) -> dict[str, dict[str, float | None]]:
    """Per GPU, from the raw samples (not the drawn buckets): mean utilisation before the pivot,
    mean and minimum from SETTLE after it to the end of the window."""
    if pivot is None:
        return {}
    gpu_filter = ""
    args: list[Any] = [pivot, pivot + SETTLE, pivot + SETTLE, host, start, end]
    if gpus:
        gpu_filter = f" AND gpu_index IN ({', '.join('?' for _ in gpus)})"
        args += list(gpus)
    rows = _fetch(con, f"""
        SELECT coalesce(gpu_uuid, 'index ' || gpu_index) AS gpu_key,
               avg(util) FILTER (WHERE ts < ?), avg(util) FILTER (WHERE ts >= ?),
               min(util) FILTER (WHERE ts >= ?)
        FROM {src['gpu_samples']} g
        WHERE host = ? AND ts BETWEEN ? AND ? AND util IS NOT NULL {gpu_filter}
        GROUP BY gpu_key ORDER BY gpu_key""", args)
    return {key: {"before": before, "after": after, "after_min": after_min}
            for key, before, after, after_min in rows}


def _draw_panel(ax_gpu: Any, ax_ev: Any, data: dict[str, Any], gpu_facts: list[dict[str, Any]],
                lanes: dict[str, list[tuple]], flagged_steps: list[tuple], y_of: dict[str, int],
                pivot: dt.datetime | None, pivot_basis: str | None, w_start: dt.datetime, w_end: dt.datetime,
                zoomed: bool, mdates: Any) -> None:
    palette = ["#d7191c", "#e66101", "#7b3294", "#0571b0", "#008837", "#a6611a", "#c51b7d", "#5e3c99"]
    colour_index = 0
    others_labelled = False
    for fact, entry in zip(gpu_facts, data["series"].values()):
        times = mdates.date2num(entry["ts"]) if entry["ts"] else []
        if fact["affected"]:
            ax_gpu.plot(times, entry["util"], color=palette[colour_index % len(palette)], linewidth=1.8,
                        label=f"{fact['label']}: mean {fact['mean_before']}% before, {fact['mean_after']}% after")
            colour_index += 1
        else:
            ax_gpu.plot(times, entry["util"], color="#9e9e9e", linewidth=0.7, alpha=0.8,
                        label=None if others_labelled else "other GPUs on the host")
            others_labelled = True
    ax_gpu.set_ylim(-3, 105)
    ax_gpu.grid(True, axis="y", color="#e0e0e0", linewidth=0.6)
    if not data["series"]:
        ax_gpu.text(0.5, 0.5, "no GPU samples for this host in the window", transform=ax_gpu.transAxes,
                    ha="center", va="center", color="#616161")
    inside = [s for s in data["steps"] if w_start <= _as_utc(s[0]) <= w_end]
    if "agent steps" in y_of:
        y = y_of["agent steps"]
        flagged_keys = {(s[1], s[2], s[0]) for s in flagged_steps}
        ordinary = [s[0] for s in inside if (s[1], s[2], s[0]) not in flagged_keys and not (s[3] and "recon" in s[3])]
        recon = [s[0] for s in inside if (s[1], s[2], s[0]) not in flagged_keys and s[3] and "recon" in s[3]]
        ordinary = list(mdates.date2num(ordinary)) if ordinary else []
        recon = list(mdates.date2num(recon)) if recon else []
        flagged = [s for s in flagged_steps if w_start <= _as_utc(s[0]) <= w_end]
        ax_ev.scatter(ordinary, [y] * len(ordinary), marker="|", s=120, color="#9e9e9e", linewidths=1)
        if recon:
            ax_ev.scatter(recon, [y] * len(recon), marker="D", s=24, color="#f4a582", zorder=3)
        if flagged:
            ax_ev.scatter([mdates.date2num(_as_utc(s[0])) for s in flagged], [y] * len(flagged),
                          marker="D", s=36, color=LANE_COLOURS["agent steps"], zorder=4)
        if not data["steps"]:  # no steps table: agent findings stand in for the flagged steps
            marks = [mdates.date2num(f[0]) for f in lanes.get("agent steps", []) if w_start <= f[0] <= w_end]
            ax_ev.scatter(marks, [y] * len(marks), marker="D", s=36, color=LANE_COLOURS["agent steps"], zorder=4)
        if zoomed:
            span = (w_end - w_start).total_seconds() or 1.0
            for i, s in enumerate(flagged[:12]):
                late = (_as_utc(s[0]) - w_start).total_seconds() / span > 0.6
                ax_ev.annotate(terminal_safe(f"#{s[2]} {s[3]}", max_len=32), (mdates.date2num(_as_utc(s[0])), y),
                               xytext=(0, 6 + 7 * (i % 3)), textcoords="offset points", fontsize=6.5,
                               color=LANE_COLOURS["agent steps"], ha="right" if late else "left")
    for lane, y in y_of.items():
        if lane == "agent steps":
            continue
        bars, points = [], []
        for f_start, f_end, _kind in lanes[lane]:
            if f_end < w_start or f_start > w_end:
                continue
            width = (f_end - f_start).total_seconds()
            if width > 0:
                bars.append((mdates.date2num(f_start), width / 86400.0))
            else:
                points.append(mdates.date2num(f_start))
        if bars:
            ax_ev.broken_barh(bars, (y - 0.3, 0.6), facecolors=LANE_COLOURS[lane], alpha=0.75)
        if points:
            ax_ev.scatter(points, [y] * len(points), marker="v", s=45, color=LANE_COLOURS[lane], zorder=3)
    if pivot is not None and w_start <= pivot <= w_end:
        for axis in (ax_gpu, ax_ev):
            axis.axvline(mdates.date2num(pivot), color="#b2182b", linestyle="--", linewidth=1)
        ax_gpu.text(mdates.date2num(pivot), 50, " " + terminal_safe(f"pivot: {pivot_basis}", max_len=70),
                    rotation=90, va="center", ha="right", fontsize=7.5, color="#b2182b")
    ax_ev.grid(True, axis="x", color="#eeeeee", linewidth=0.6)
    ax_gpu.set_xlim(mdates.date2num(w_start), mdates.date2num(w_end))
    ax_ev.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=dt.timezone.utc))
    ax_ev.xaxis.set_major_locator(mdates.AutoDateLocator(tz=dt.timezone.utc, minticks=4 if zoomed else 3,
                                                         maxticks=9 if zoomed else 8))
    for label in ax_gpu.get_xticklabels():
        label.set_visible(False)


def plot_timeline(con: duckdb.DuckDBPyConnection, host: str | None = None, start: Any = None, end: Any = None,
                  gpus: list[int] | None = None, title: str | None = None, path: str | None = None,
                  widen_to_agent_actions: bool | None = None, corrected: bool = True) -> TimelinePlot:
    """Draw the timeline figure for ``host`` between ``start`` and ``end`` (UTC; chosen from the
    findings when not given) and return it; ``path`` also writes the PNG there.

    ``corrected`` reads the clock-corrected views when the case has them (records a host stamped
    with a clock that runs behind move to the reference clock); False draws times as stamped.

    ``widen_to_agent_actions`` moves the start back to the first flagged agent action on the host
    in the two hours before it (the step that launched what the findings saw); by default only
    when ``start`` was not given."""
    import matplotlib
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..errors import QueryError

    src = sources(con, corrected)
    host = host or choose_host(con)
    if host is None:
        raise QueryError("nothing to plot: the case has no findings, agent actions or GPU samples with a host")
    start_ts, end_ts = _as_utc(start), _as_utc(end)
    if start_ts is None or end_ts is None:
        window = choose_window(con, host, src)
        if window is None:
            raise QueryError(f"nothing to plot for host {host}: no findings, agent actions or GPU samples")
        start_ts, end_ts = start_ts or window[0], end_ts or window[1]
    if widen_to_agent_actions is None:
        widen_to_agent_actions = start is None
    if widen_to_agent_actions:
        # The step that launched something comes before the finding that saw it: show it.
        rows = _fetch(con, """SELECT min(ts) FROM agent_actions WHERE host = ? AND category <> 'recon'
                              AND ts BETWEEN ? AND ?""",
                      [host, start_ts - dt.timedelta(hours=2), end_ts])
        if rows and rows[0][0] is not None:
            start_ts = min(start_ts, _as_utc(rows[0][0]))
    pad = max(dt.timedelta(seconds=60), (end_ts - start_ts) * 0.05)
    start_ts, end_ts = start_ts - pad, end_ts + pad
    data = _gather(con, host, start_ts, end_ts, gpus, src)
    pivot, pivot_basis = _pivot(data)

    named = _gpus_named_by_findings(con, host, start_ts, end_ts, src)
    stats = _utilisation_around(con, src, host, start_ts, end_ts, pivot, gpus)
    after_mins = sorted(v["after_min"] for v in stats.values() if v["after_min"] is not None)
    gpu_facts = []
    for key, entry in data["series"].items():
        before, after, after_min = (stats.get(key) or {}).get("before"), (stats.get(key) or {}).get("after"), \
            (stats.get(key) or {}).get("after_min")
        jump = (after - before) if before is not None and after is not None else None
        label = f"GPU {entry['index']}" if entry["index"] is not None else terminal_safe(key, max_len=24)
        kinds = named.get(key.lower()) or (named.get(f"index {entry['index']}") if entry["index"] is not None
                                           else None)
        if named:
            affected, basis = bool(kinds), ("named by " + ", ".join(kinds)) if kinds else None
        elif jump is not None and jump >= JUMP_POINTS:
            affected, basis = True, f"utilisation up {round(jump, 1)} points after the pivot"
        else:
            # Busy and flat after the pivot while most other GPUs of the host still dip: a miner
            # on a GPU that was already training (the jump alone is small there).
            others = list(after_mins)
            if after_min is not None:
                others.remove(after_min)
            peers_dip = bool(others) and others[len(others) // 2] < FLAT_PEER_DIP
            affected = (after_min is not None and after_min >= FLAT_BUSY and jump is not None and jump >= 5
                        and peers_dip)
            basis = (f"flat at {round(after_min, 1)}% or more after the pivot while the host's other GPUs dip"
                     if affected else None)
        gpu_facts.append({"gpu": key, "gpu_index": entry["index"], "label": label,
                          "first_sample": iso_utc(entry["ts"][0]) if entry["ts"] else None,
                          "mean_before": None if before is None else round(before, 1),
                          "mean_after": None if after is None else round(after, 1),
                          "min_after": None if after_min is None else round(after_min, 1),
                          "affected": affected, "basis": basis})

    lanes: dict[str, list[tuple]] = {}
    for kind, f_start, f_end, severity, f_title in data["findings"]:
        lanes.setdefault(lane_of(kind), []).append((_as_utc(f_start), _as_utc(f_end), kind))
    for (ts,) in data["alerts"]:
        lanes.setdefault("firewall alerts", []).append((_as_utc(ts), _as_utc(ts), "alert"))
    flagged_steps = [s for s in data["steps"] if s[3] and set(s[3].split(",")) - {"recon"}]

    zoom = None
    if pivot is not None:
        first_flag = min([_as_utc(st[0]) for st in flagged_steps] + [pivot])
        zoom_start = max(start_ts, min(first_flag, pivot) - ZOOM_BEFORE)
        zoom_end = min(end_ts, pivot + ZOOM_AFTER)
        if (zoom_end - zoom_start) < (end_ts - start_ts) * 0.4:
            zoom = (zoom_start, zoom_end)

    with matplotlib.rc_context({"text.parse_math": False, "svg.hashsalt": "cluster-forensics",
                                "font.size": 9, "axes.titlesize": 10}):
        figure = Figure(figsize=(13, 6.8) if zoom else (12, 6.8), dpi=100)
        FigureCanvasAgg(figure)
        grid = figure.add_gridspec(2, 2 if zoom else 1, height_ratios=[3, 2], hspace=0.08, wspace=0.06,
                                   width_ratios=[3, 2] if zoom else None)
        ax_gpu = figure.add_subplot(grid[0, 0])
        ax_ev = figure.add_subplot(grid[1, 0], sharex=ax_gpu)
        panels = [(ax_gpu, ax_ev, start_ts, end_ts, False)]
        if zoom:
            ax_zgpu = figure.add_subplot(grid[0, 1], sharey=ax_gpu)
            ax_zev = figure.add_subplot(grid[1, 1], sharex=ax_zgpu, sharey=ax_ev)
            panels.append((ax_zgpu, ax_zev, zoom[0], zoom[1], True))
        shown_lanes = [lane for lane in LANES
                       if (lane == "agent steps" and (data["steps"] or lanes.get(lane))) or
                       (lane != "agent steps" and lanes.get(lane))]
        y_of = {lane: len(shown_lanes) - i for i, lane in enumerate(shown_lanes)}
        for ax_g, ax_e, w_start, w_end, zoomed in panels:
            _draw_panel(ax_g, ax_e, data, gpu_facts, lanes, flagged_steps, y_of, pivot, pivot_basis,
                        w_start, w_end, zoomed, mdates)
        other_kinds = sorted({kind for _, _, kind in lanes.get("other findings", [])})
        labels = {lane: lane for lane in shown_lanes}
        if "other findings" in labels and len(other_kinds) <= 2:
            labels["other findings"] = "\n".join(textwrap.fill(terminal_safe(k.replace("_", " "), max_len=40), 14)
                                                  for k in other_kinds)
        ax_ev.set_yticks([y_of[lane] for lane in shown_lanes], labels=[labels[lane] for lane in shown_lanes])
        ax_ev.set_ylim(0.3, len(shown_lanes) + 0.6 + 0.12 * len(shown_lanes) + 0.5)
        ax_gpu.set_ylabel("GPU utilisation %")
        figure.suptitle(terminal_safe(title or f"{host}: GPU utilisation and incident events (UTC)", max_len=150),
                        x=0.01, ha="left", fontsize=11)
        ax_gpu.set_title(f"{host}, whole window", loc="left")
        ax_ev.set_xlabel(f"{start_ts:%Y-%m-%d %H:%M:%S} to {end_ts:%Y-%m-%d %H:%M:%S} UTC")
        if zoom:
            ax_zgpu.set_title(f"zoom: {zoom[0]:%H:%M:%S} to {zoom[1]:%H:%M:%S} around the pivot", loc="left")
            ax_zev.set_xlabel("flagged agent steps numbered; red dashes: pivot")
            for label in ax_zgpu.get_yticklabels() + ax_zev.get_yticklabels():
                label.set_visible(False)
        if data["series"]:
            ax_gpu.legend(loc="center right", fontsize=8, framealpha=0.9)
        figure.subplots_adjust(left=0.085, right=0.985, top=0.9, bottom=0.09)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": "cluster-forensics"})
    offsets = _fetch(con, "SELECT offset_s FROM clock_offsets WHERE chosen AND host = ? ORDER BY offset_s LIMIT 1",
                     [host]) if corrected else []
    facts = {
        "host": host,
        "clock": ("corrected" if any(v.startswith("(") for v in src.values()) else "as stamped"),
        "host_clock_offset_s": round(offsets[0][0], 3) if offsets and offsets[0][0] is not None else None,
        "window_start": iso_utc(start_ts),
        "window_end": iso_utc(end_ts),
        "bucket_seconds": round(data["bucket_s"], 3),
        "pivot": iso_utc(pivot) if pivot else None,
        "pivot_basis": pivot_basis,
        "gpus": gpu_facts,
        "affected_gpus": [g["gpu_index"] if g["gpu_index"] is not None else g["gpu"] for g in gpu_facts
                          if g["affected"]],
        "agent_steps": len(data["steps"]),
        "flagged_steps": [{"trajectory_id": s[1], "step": s[2], "categories": s[3],
                           "ts": iso_utc(_as_utc(s[0]))} for s in flagged_steps],
        "lanes": {lane: len(lanes.get(lane, [])) for lane in LANES if lanes.get(lane)},
        "zoom": [iso_utc(zoom[0]), iso_utc(zoom[1])] if zoom else None,
    }
    plot = TimelinePlot(png=buffer.getvalue(), figure=figure, facts=facts)
    if path:
        plot.save(path)
    return plot
