"""cluster-forensics: an offline forensic analyser for the logs of GPU training clusters.

Load firewall and flow logs, packet captures, GPU telemetry, agent trajectories and host audit
logs into one DuckDB case, then let SQL rebuild the timeline that links agent actions to tunnels,
probes, mining and GPU diversion. Start with :class:`forensics.Case`.
"""

__version__ = "0.1.0"

from .case import Case  # noqa: E402
from .errors import ForensicsError  # noqa: E402

__all__ = ["Case", "ForensicsError", "__version__"]
