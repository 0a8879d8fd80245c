"""Kubernetes kubelet pod-resources ``List`` responses saved as JSON (``grpcurl`` or a client):
which pod and container hold which GPU (``nvidia.com/gpu`` device ids are GPU UUIDs or MIG ids).

Each allocation becomes a ``pod`` and a ``container`` entity with the GPU's UUID, on the node
named by the host hint (the kubelet's node). The response carries no time: ``--option
snapshot_time=ISO-TIME`` bounds the facts to that moment, otherwise they hold always.
"""

from __future__ import annotations

import json
from datetime import datetime

from forensics.context import ParseContext
from forensics.gpu.jobs import entity_rows
from forensics.registry import Parser, Sniff, register


def sniff(s: Sniff) -> float:
    head = s.text[:4096]
    if ('"pod_resources"' in head or '"podResources"' in head) and ("device" in s.text or "containers" in s.text):
        return 0.95
    return 0.0


def _get(obj: dict, *names: str):
    for name in names:
        if name in obj:
            return obj[name]
    return None


def parse(ctx: ParseContext) -> None:
    raw = ctx.local_path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        ctx.warn(None, f"pod-resources file is not JSON: {exc}", raw[:200])
        return
    snapshot = ctx.options.get("snapshot_time")
    when = None
    if snapshot:
        try:
            when = datetime.fromisoformat(snapshot.replace("Z", "+00:00"))
        except ValueError:
            ctx.warn(None, "--option snapshot_time is not an ISO 8601 time", snapshot)
    rows = []
    pods = _get(doc, "pod_resources", "podResources") or []
    for p, pod in enumerate(pods):
        name, namespace = _get(pod, "name"), _get(pod, "namespace")
        if not name:
            ctx.warn(f"pod_resources[{p}]", "pod without a name", json.dumps(pod)[:200])
            continue
        for c, container in enumerate(_get(pod, "containers") or []):
            for d, device in enumerate(_get(container, "devices") or []):
                resource = _get(device, "resource_name", "resourceName") or ""
                if "gpu" not in resource:
                    continue
                for g, device_id in enumerate(_get(device, "device_ids", "deviceIds") or []):
                    locator = f"pod_resources[{p}].containers[{c}].devices[{d}].device_ids[{g}]"
                    attributes = {"gpu_uuid": device_id, "namespace": namespace, "pod": name,
                                  "container": _get(container, "name"), "resource_name": resource}
                    full = f"{namespace}/{name}" if namespace else name
                    rows.append({"kind": "pod", "value": full, "host": ctx.hints.host, "valid_from": when,
                                 "valid_to": when, "attributes": attributes, "locator": locator})
                    if _get(container, "name"):
                        rows.append({"kind": "container", "value": f"{full}/{_get(container, 'name')}",
                                     "host": ctx.hints.host, "valid_from": when, "valid_to": when,
                                     "attributes": attributes, "locator": locator})
    if not rows:
        ctx.warn(None, "no GPU allocations in the pod-resources response")
        return
    ctx.add_entities(entity_rows(rows))


register(Parser(
    name="k8s_pod_resources",
    description="Kubernetes kubelet pod-resources List JSON: GPU UUIDs per pod and container",
    tables=("entities",),
    sniff=sniff,
    parse=parse,
    extensions=(".json",),
))
