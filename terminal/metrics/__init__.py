"""The unit's Prometheus metrics: codes decoded, decode time, liveness outcomes, payment
latency, outbox backlog and age, errors by kind, uptime — served at ``/metrics``.

``prometheus_client`` is imported only when metrics are made (``[metrics] enabled``).
"""

from terminal.metrics.runtime import BikeNoticeMeter, serve_unit_metrics
from terminal.metrics.unit import UnitMetrics

__all__ = ["BikeNoticeMeter", "UnitMetrics", "serve_unit_metrics"]
