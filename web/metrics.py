"""Prometheus metrics: one registry per app, or the multiprocess directory when several workers serve."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Methods a client may send are many; beyond these they share one label, so clients cannot grow the series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "storefront_request_duration_seconds",
            "Time to answer a request, by route name, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sessions_created = self._counter("sessions_created", "Sessions issued to new visitors")
        self.session_rotations = self._counter("session_rotations", "Session IDs rotated (login, logout, password)")
        self.cart_adds = self._counter("cart_adds", "Successful add-to-cart requests")
        self.cart_clamps = self._counter("cart_clamps", "Quantities reduced to stock or the per-line maximum")
        self.merges = Counter(
            "storefront_cart_merges",
            "Guest carts handled at login, by outcome (merged, empty, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.csrf_rejections = self._counter("csrf_rejections", "Unsafe requests refused by the CSRF checks")
        self.login_throttled = self._counter("login_throttled", "Login attempts refused by the throttle")
        self.orders_placed = self._counter("orders_placed", "Orders placed (a replayed checkout is not counted again)")
        self.placements_refused = Counter(
            "storefront_placements_refused",
            "Checkouts refused, by reason (out_of_stock, not_deliverable, stale_review, empty_cart)",
            ["reason"],
            registry=self.registry,
        )
        self.cancellations = self._counter("order_cancellations", "Orders cancelled, by shoppers or staff")
        self.mail_sent = self._counter("mail_sent", "Outbox messages delivered")
        self.mail_failures = self._counter("mail_failures", "Outbox delivery attempts that failed (each is retried)")
        self.outbox = Gauge(
            "storefront_outbox_messages",
            "Outbox messages by status (pending, sent, failed), read from the database at each scrape",
            ["status"],
            registry=self.registry,
            multiprocess_mode="max",  # every worker reads the same table
        )
        self.outbox_oldest_pending = Gauge(
            "storefront_outbox_oldest_pending_seconds",
            "Age of the oldest message still waiting to be sent (0 when none)",
            registry=self.registry,
            multiprocess_mode="max",
        )

        self.live_streams = Gauge(
            "storefront_live_streams",
            "Live order streams open now",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.live_events_published = self._counter(
            "live_events_published", "Order changes announced to live streams (status moves, messages)"
        )

        self._latency: dict[tuple[str, str, int], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request in the latency histogram; its labelled series is looked up once."""
        key = (route, method if method in METHODS else "OTHER", status)
        series = self._latency.get(key)
        if series is None:
            series = self._latency[key] = self.requests.labels(key[0], key[1], str(status))
        series.observe(seconds)

    def _counter(self, name: str, documentation: str) -> Counter:
        return Counter(f"storefront_{name}", documentation, registry=self.registry)

    def exposition(self) -> bytes:
        """The text format; with PROMETHEUS_MULTIPROC_DIR set, the sum over every worker process."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
