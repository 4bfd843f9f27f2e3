"""The two ways a benchmark run fails (exit 1); the figures themselves never fail it."""


class BenchError(RuntimeError):
    """Something the benchmark needs did not work (a server, a request, the prepared data)."""


class ServerFailed(BenchError):
    """A server (or the shop's database setup) did not start, or a server died."""
