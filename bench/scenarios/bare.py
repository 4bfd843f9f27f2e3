"""The yardstick: bench/bare_app.py's one GET route, served like the shop."""

from __future__ import annotations

import os

from bench.scenarios.base import Load, Scenario


class Bare(Scenario):
    title = "bare Litestar GET /"
    name = "bare"
    reference = True

    def setup(self) -> None:
        self.server = self.stack.serve("bare", "bare Litestar app", "bench.bare_app:app", dict(os.environ), "/")

    def load(self, number: int) -> Load:
        return Load("/", self.stack.plain_script)
