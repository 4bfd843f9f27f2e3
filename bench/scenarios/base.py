"""What every scenario is: a kind of request, measured once a round against one server."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from bench.load import WrkResult
    from bench.servers import Server
    from bench.stack import Stack


@dataclass(frozen=True)
class Load:
    """What wrk sends in one measurement: the script, to this path on the scenario's server, with these headers."""

    path: str
    script: Path
    headers: Sequence[str] = ()


class Scenario:
    """One kind of request. A subclass sets `title`, starts or finds its `server` in setup() and says in load()
    what wrk sends each round; describe() and measured() are for the few that say or check more.

    One instance per setup (its `stack`: engine, workers, HTTP parser), which keeps that setup's results.
    """

    title: ClassVar[str]  # its row in the tables
    name: ClassVar[str]  # its name in the JSON (var/bench/latest.json)
    reference: ClassVar[bool] = False  # a yardstick rather than the shop: listed first in the summary
    server: Server  # the server its load goes to, set by setup()

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.results: list[WrkResult] = []  # one per round

    def setup(self) -> None:
        """Once per parser, before the rounds: start the server (or find a shared one) and prepare its data."""
        raise NotImplementedError

    def describe(self) -> str | None:
        """A clause for the "load:" line, if the load needs explaining."""
        return None

    def load(self, number: int) -> Load:
        """What wrk sends in round `number` (from 1), prepared just before the measurement."""
        raise NotImplementedError

    def measured(self, number: int, sent: int) -> None:
        """After round `number`'s measurement, which completed `sent` requests (warm-up included)."""

    def median(self, pick: Callable[[WrkResult], float]) -> float:
        return statistics.median(pick(r) for r in self.results) if self.results else math.nan
