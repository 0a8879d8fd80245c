"""SQL files of cluster-forensics (schema, detections, links, timeline, reports), found by glob."""
