"""The benchmark's own parts that decide what its figures mean (bench/, issue #15): the options that
pick engines and workers, the servers' ports, and the in-process counts of round trips per request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import parse_args
from bench.engines import Engine
from bench.servers import free_port
from bench.sql_counts import CART_LINES, count_requests


def test_engines_and_workers_default_to_all_and_can_be_narrowed() -> None:
    default = parse_args([])
    assert default.engines == ("sqlite", "postgres")
    assert default.workers == (1, 2)
    quick = parse_args(["--engines", "postgres", "--workers", "2"])
    assert quick.engines == ("postgres",)
    assert quick.workers == (2,)


@pytest.mark.parametrize("option", [["--engines", "mysql"], ["--engines", ""], ["--workers", "0"], ["--workers", "x"]])
def test_unknown_engines_and_worker_counts_are_refused(option: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(option)


def test_servers_get_distinct_ports_of_the_agreed_range() -> None:
    first, second = free_port(), free_port()
    assert first != second
    assert all(8100 <= port <= 8199 for port in (first, second))


def test_sqlite_counts_include_commit_and_stay_constant_in_the_cart_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'counts.db'}"
    counts = count_requests(Engine("sqlite", url, url), tmp_path)
    for name in ("add_to_cart", "cart_page", "product_page", "place_order"):
        rows = [count for count in counts if count.scenario == name]
        assert [row.lines for row in rows] == list(CART_LINES)
        assert len({row.round_trips for row in rows}) == 1, rows
        assert all(row.redis_commands is None for row in rows)  # no Redis on SQLite
    add = next(count for count in counts if count.scenario == "add_to_cart")
    # What SQLite ran is the app's count (db.statements leaves the driver's COMMIT out) and the COMMIT.
    assert add.trips[0] == "BEGIN IMMEDIATE"
    assert add.trips[-1] == "COMMIT"
    assert add.round_trips == add.count + 1
