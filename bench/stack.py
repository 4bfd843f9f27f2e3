"""What a run shares (`Plan`), and one setup's servers and scenarios (`Stack`): an engine, a number
of uvicorn workers and an HTTP parser."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench.engines import Engine
from bench.load import write_script
from bench.servers import GRANIAN, HOST, PYTHON, Server, free_port, granian_argv, uvicorn_argv, worker_rss
from bench.shop import ShopClient, ShopSetup
from web.settings import Settings

if TYPE_CHECKING:
    from bench.scenarios.base import Scenario

S = TypeVar("S", bound="Scenario")

SHOP_READY = "/products/test-1"


@dataclass(frozen=True)
class Plan:
    """What every setup's run shares: the options, the shop's environment (less its database), the timings."""

    args: argparse.Namespace
    wrk: str
    tmp: Path
    env: dict[str, str]
    settings: Settings
    rounds: int
    duration: float
    warmup: float


class Stack:
    """One setup's servers and scenarios: an engine, its workers per server, an HTTP parser. Each
    scenario starts or finds its server in its setup()."""

    def __init__(
        self,
        plan: Plan,
        engine: Engine,
        workers: int,
        parser: str,
        exit_stack: contextlib.ExitStack,
        kinds: Iterable[type[Scenario]],
    ) -> None:
        self.plan = plan
        self.engine = engine
        self.workers = workers
        self.parser = parser
        self.env = {**plan.env, **engine.env}  # the shop's, on this engine
        self.exit_stack = exit_stack  # stops the servers, also on Ctrl-C or SIGTERM
        self.servers: list[Server] = []  # in the order they started
        self.scenarios = [kind(self) for kind in kinds]  # in the order each round measures them
        # The shop's workers' resident memory in MiB: after the first round (warmed up) and at the end.
        self.shop_memory: dict[str, list[float]] = {}

    def note_shop_memory(self, when: str) -> None:
        """Record the shop's workers' memory as `when` ("warm" or "end"), if the shop was started."""
        if "shop" in vars(self):  # the cached_property below has run
            self.shop_memory[when] = worker_rss(self.shop.server.pid)

    @property
    def label(self) -> str:
        """How the report names this setup, e.g. "postgres, 2 workers, httptools"."""
        return f"{self.engine.name}, {self.workers} worker{'s' if self.workers > 1 else ''}, {self.parser}"

    @property
    def key(self) -> str:
        """This setup in file names, e.g. "postgres-2-httptools"."""
        return f"{self.engine.name}-{self.workers}-{self.parser}"

    def scenario(self, kind: type[S]) -> S:
        """This stack's scenario of that class."""
        return next(each for each in self.scenarios if isinstance(each, kind))

    def shown(self) -> list[Scenario]:
        """The scenarios in the summary's order: the yardsticks (bare route, floor) first, the rest as they run."""
        return sorted(self.scenarios, key=lambda each: not each.reference)

    def start(self, server: Server) -> Server:
        self.exit_stack.callback(server.stop)
        server.start()
        self.servers.append(server)
        return server

    def serve(
        self,
        key: str,
        name: str,
        app: str,
        env: dict[str, str],
        ready_path: str,
        *options: str,
        ready_status: int = 200,
    ) -> Server:
        """Start uvicorn with `app` on a free port: the shop's uvicorn options and this stack's HTTP parser."""
        port = free_port()
        if self.parser == GRANIAN:
            argv = granian_argv(app, port, *options, workers=self.workers)
        else:
            argv = uvicorn_argv(app, port, *options, "--http", self.parser, workers=self.workers)
        return self.start(Server(key, name, argv, env, port, self.log_path(key), ready_path, ready_status))

    def log_path(self, key: str) -> Path:
        return self.plan.tmp / f"{key}-{self.key}.log"

    @cached_property
    def shop(self) -> ShopSetup:
        """The shop's server, started for the first scenario that asks, and what it is prepared with."""
        plan = self.plan
        if plan.args.shop_cli:
            port = free_port()
            argv = [PYTHON, "-m", "web", "serve", "--workers", str(self.workers)]
            env = {**self.env, "HOST": HOST, "PORT": str(port)}
            server = self.start(Server("shop", "shop", argv, env, port, self.log_path("shop"), SHOP_READY))
        else:
            server = self.serve("shop", "shop", "web.app:create_app", self.env, SHOP_READY, "--factory")
        return ShopSetup.prepare(ShopClient(server, plan.settings.cookie_name))

    @cached_property
    def plain_script(self) -> Path:
        """A wrk script for plain GETs of the URL."""
        return write_script(self.plan.tmp / "report.lua")
