"""GPU telemetry: the pieces the GPU parsers share, and the NVML collector.

- :mod:`forensics.gpu.fields` names the metrics (DCGM field ids, dcgm-exporter and nvidia-smi
  names) and says which ``gpu_samples`` column each one fills;
- :mod:`forensics.gpu.writer` turns rows built in Python into ``gpu_samples``/``gpu_processes``/
  ``gpu_events`` batches and GPU identities into ``entities``;
- :mod:`forensics.gpu.smi` reads nvidia-smi output (CSV queries, pmon/dmon, ``-q -x`` XML);
- :mod:`forensics.gpu.prom` loads Prometheus-shaped data (exposition text, range JSON, promtool);
- :mod:`forensics.gpu.collector` is ``forensics collect gpu``: an NVML sampler for live nodes.

GPUs are joined on UUID or PCI bus id, never on an index: indexes are kept with the numbering
they come from (``index_kind``) and only resolved on the same host in the same numbering.
"""
