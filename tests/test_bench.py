"""The benchmark's own parts that decide what its figures mean (bench/, issue #15): the options that
pick engines and workers, the servers' ports, and the in-process counts of round trips per request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.__main__ import parse_args
from bench.engines import Engine
from bench.servers import free_port, granian_argv, worker_rss
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
    # Pages are timed by the shop's own access log; a 50-line cart page is the one with a target.
    for name in ("cart_page", "product_page"):
        timed = [count.server_ms for count in counts if count.scenario == name]
        assert len(timed) == len(CART_LINES) and all(ms is not None and ms > 0 for ms in timed), timed
    assert all(count.server_ms is None for count in counts if count.scenario in ("add_to_cart", "place_order"))


def test_worker_memory_is_read_for_the_serving_processes() -> None:
    """A server without worker processes is its own worker; one with workers (uvicorn's supervisor,
    granian's main process) is measured by its children."""
    import subprocess
    import sys
    import time

    own = worker_rss(os.getpid())
    assert len(own) >= 1 and all(mib > 1 for mib in own)  # pytest's own children, or pytest itself
    parent = subprocess.Popen([sys.executable, "-c", CHILD_SLEEPS])
    try:
        deadline = time.monotonic() + 10
        while len(worker_rss(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(worker_rss(parent.pid)) == 2  # its two children, not the parent
    finally:
        parent.kill()
        parent.wait()


CHILD_SLEEPS = """
import subprocess, sys, time
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
time.sleep(30)
"""


def test_granian_is_a_server_choice_only_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    with pytest.raises(SystemExit):
        parse_args(["--http", "granian"])
    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: "/somewhere/granian")
    assert parse_args(["--http", "granian"]).http == "granian"
    argv = granian_argv("web.app:create_app", 8123, "--factory", workers=2)
    assert argv[argv.index("--workers") + 1] == "2" and "--factory" in argv and argv[-1] == "web.app:create_app"
