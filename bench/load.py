"""The load: wrk (installed if missing), the Lua scripts it runs, and what it measured."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.servers import cpu_sample, cpu_split, services_cpu

THREADS = 2
CONNECTIONS = 8

LUA_SAFE = re.compile(r"^[A-Za-z0-9_.:/=&%-]*$")

# Appended to every script: wrk's own summary as one JSON line, in microseconds. A script that
# keeps its own account of the run defines finish(), called first.
REPORT_LUA = r"""
function done(summary, latency, requests)
  if finish then finish() end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"requests\": %.0f, \"duration_us\": %.0f, \"bytes\": %.0f, \"p50_us\": %.0f, " ..
    "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f, \"connect\": %.0f, \"read\": %.0f, " ..
    "\"write\": %.0f, \"status\": %.0f, \"timeout\": %.0f}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def ensure_wrk() -> str:
    """wrk's path; installed with apt-get when missing and we may, otherwise exit 2."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed; installing it with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    print(
        "error: this benchmark needs wrk (https://github.com/wg/wrk) on PATH.\n"
        "Install it with your package manager (Debian/Ubuntu: `sudo apt-get install wrk`, macOS: `brew install wrk`)"
        " and run again.",
        file=sys.stderr,
    )
    sys.exit(2)


def wrk_version(wrk: str) -> str:
    """The first line of `wrk --version`."""
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "wrk"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bytes_per_request: float
    non_2xx: int
    socket_errors: int
    server_cpu_us: float | None = None  # the server's CPU time per request (user + system), all its workers
    postgres_cpu_us: float | None = None  # PostgreSQL's server processes' CPU time per request
    redis_cpu_us: float | None = None  # Redis's, per request
    other_cpu: float | None = None  # CPUs used meanwhile by processes other than wrk and our servers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def run_wrk(
    wrk: str,
    url: str,
    script: Path,
    seconds: float,
    headers: Sequence[str] = (),
    pids: Sequence[int] = (),
    target: int = 0,
) -> WrkResult:
    """One wrk run of `seconds` against `url`; the CPU time of server `target` is measured among `pids`."""
    argv = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    argv += ["-s", str(script), url]
    before = cpu_sample(pids)
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    after = cpu_sample(pids)
    server_cpu, other_cpu = cpu_split(before, after, target)
    services = services_cpu(before, after)
    if other_cpu is not None and before is not None and after is not None and after.at > before.at:
        # PostgreSQL and Redis work for the servers measured: not other load (whoever else they serve).
        other_cpu = max(other_cpu - sum(filter(None, services.values())) / (after.at - before.at), 0.0)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    requests = int(data["requests"])
    return WrkResult(
        requests=requests,
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        bytes_per_request=data["bytes"] / requests if requests else 0.0,
        non_2xx=int(data["status"]),
        socket_errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
        server_cpu_us=per_request_us(server_cpu, requests),
        other_cpu=other_cpu,
        postgres_cpu_us=per_request_us(services["postgres"], requests),
        redis_cpu_us=per_request_us(services["redis"], requests),
    )


def per_request_us(seconds: float | None, requests: int) -> float | None:
    return seconds * 1e6 / requests if seconds is not None and requests else None


def write_script(path: Path, lua: str = "") -> Path:
    """A wrk script: `lua` (none for plain GETs of the URL) followed by the summary run_wrk reads."""
    path.write_text(lua + REPORT_LUA)
    return path


def lua_string(value: str) -> str:
    """`value` as a Lua string literal; only characters that need no escaping are accepted."""
    if not LUA_SAFE.match(value):
        raise BenchError(f"unexpected characters in a value for the wrk script: {value!r}")
    return f'"{value}"'
