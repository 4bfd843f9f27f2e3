"""The soak (#13, bench/soak.py) for 30 s: mixed shopper journeys against one live server in
production mode, on a database, outbox and port of its own. It passes only when every criterion
holds (no 5xx, no transport error, every answer as expected, memory flat within 20% after the
warm-up, no more file descriptors or database connections at rest than after it, every cart and
order as its shopper's model, the database's orders and stock as placed), and only when the
journeys did what the criteria speak of. No throughput is asserted: the machine may be busy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import report, soak

SECONDS = 30
# The server's bounded caches fill during about the first minute of this load: partial()'s HTML and
# the URL cache (4,096 entries each, web/pages.py) and SQLite's page cache per connection, about
# 25 MiB over a base of about 220 (bench/soak.py's 300-s run: +25 MiB by 60 s, then +2% to the end).
# 20% of 30 s (6 s) sees them half full: the end measured +9.6% and +10.0% above it. Half the run
# as warm-up still sees them filling: +11.1% once in CI (2026-12-03), since the catalogue's pages
# (search, sorting, paging, quantities in addresses) make more distinct partials and URLs. So this
# short run allows 20%, #15's memory target; the 300-s `make soak`, past the filling, keeps 10%.
WARMUP = 15
MEMORY_TOLERANCE = 0.20


# Its server runs on an SQLite file of its own (the PostgreSQL pass would run the same soak again).
@pytest.mark.own_sqlite
@pytest.mark.long
def test_soak_30_seconds(tmp_path: Path) -> None:
    figures = soak(SECONDS, out=tmp_path / "soak.json", warmup=WARMUP, memory_tolerance=MEMORY_TOLERANCE)
    failed = [name for name, ok in figures["criteria"].items() if not ok]
    assert not failed, f"failed: {failed}\n{report(figures)}"
    assert figures["shoppers_checked"] == figures["shoppers"]
    assert figures["registrations"] == figures["members"] > 0
    assert figures["orders"] > 0 and figures["streams_followed"] > 0
    assert not any(status.startswith("5") for status in figures["statuses"])
    assert (tmp_path / "soak.json").exists()
