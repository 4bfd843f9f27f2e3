"""The servers under load: starting and stopping them, asking them things, and the CPU they use."""

from __future__ import annotations

import http.client
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ServerFailed

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
BUSY_CPU = 0.2  # other processes using more than this many CPUs during a measurement: figures suspect


# The servers' ports: the first free one of this range (BENCH_PORTS=first-last), as this shared
# machine's sessions agree, or any free one if the range is empty ("0-0").
PORTS = tuple(int(end) for end in os.environ.get("BENCH_PORTS", "8100-8199").split("-", 1))
_taken: set[int] = set()  # handed out already: a server may not be listening yet


def free_port() -> int:
    first, last = PORTS
    for port in [p for p in range(first, last + 1) if p not in _taken] if first else ():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        _taken.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def uvicorn_argv(app: str, port: int, *extra: str, workers: int = 1) -> list[str]:
    """The shop's uvicorn options, access log off: `workers` workers, default loop and HTTP (uvloop,
    httptools) unless `extra` picks another HTTP parser."""
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        *extra,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-proxy-headers",  # `python -m web serve` passes proxy_headers=False
    ]


GRANIAN = "granian"  # `--http granian`: the servers run on granian instead of uvicorn


def granian_argv(app: str, port: int, *extra: str, workers: int = 1) -> list[str]:
    """The same servers on granian (pip install granian): ASGI, HTTP/1, uvloop, access log off; `extra`
    as for uvicorn_argv(), of which granian takes --factory alike."""
    return [
        str(Path(PYTHON).parent / GRANIAN),
        "--interface",
        "asgi",
        *extra,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--http",
        "1",
        "--loop",
        "uvloop",
        "--no-ws",
        "--log-level",
        "warning",
        "--no-access-log",
        app,
    ]


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 10,
) -> tuple[int, http.client.HTTPMessage, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@dataclass
class Server:
    """One server process, ready once `ready_path` answers `ready_status`; its output goes to `log_path`."""

    key: str  # its short name in the "servers:" line
    name: str  # its name in error messages
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str
    ready_status: int = 200
    process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with {self.process.returncode} on start:\n{self.log_tail()}")
            try:
                status, _headers, _body = request(self.port, "GET", self.ready_path, timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            if status == self.ready_status:
                return
            raise ServerFailed(f"{self.name} answered {status} on {self.ready_path}:\n{self.log_tail()}")
        raise ServerFailed(f"{self.name} did not answer on port {self.port} within {timeout:g} s:\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise ServerFailed(f"{self.name} died:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------------------------
# CPU accounting


@dataclass(frozen=True)
class CpuSample:
    at: float  # monotonic seconds
    busy: float  # CPU seconds the whole machine spent busy since boot
    servers: dict[int, float]  # CPU seconds per server pid, its worker processes included
    ours: float  # CPU seconds of this process and its finished children (wrk)
    services: dict[str, dict[int, float]]  # CPU seconds per process of PostgreSQL's and Redis's servers


# The database servers' processes, by their /proc name: PostgreSQL's postmaster and backends, Redis.
SERVICES = {"postgres": "postgres", "redis": "redis-server"}
# PostgreSQL names each backend after its database in its process title ("postgres: postgres
# storefront_bench_123 127.0.0.1(4567) idle"): once the run has its database, only those backends
# count, not the ones other sessions' tests keep busy on the same server. Set by bench/engines.py.
POSTGRES_DATABASE: list[str] = []


def serves_us(pid: int, name: str) -> bool:
    """Whether a server process's CPU is ours: Redis's (one process), or a backend of our database."""
    if name != SERVICES["postgres"] or not POSTGRES_DATABASE:
        return True
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(f" {database} " in title for database in POSTGRES_DATABASE)


def processes(tick: int) -> dict[int, tuple[str, int, float]]:
    """Every process's (name, parent pid, CPU seconds), from /proc/<pid>/stat."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, int(rest[1]), (int(rest[11]) + int(rest[12])) / tick)  # utime + stime
    return found


def tree_cpu(table: dict[int, tuple[str, int, float]], root: int) -> float:
    """CPU seconds of `root` and its descendants (uvicorn's supervisor and its worker processes)."""
    children: dict[int, list[int]] = {}
    for pid, (_name, parent, _cpu) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += table[pid][2] if pid in table else 0.0
        todo += children.get(pid, [])
    return total


def worker_rss(root: int) -> list[float]:
    """Resident memory in MiB of each process serving requests under `root`: its descendants (uvicorn's
    workers under its supervisor), or `root` itself when it has none (one worker); [] off Linux."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    table = processes(tick) if Path("/proc").is_dir() else {}
    children: dict[int, list[int]] = {}
    for pid, (_name, parent, _cpu) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    sizes = []
    for pid in sorted(found) or [root]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:  # gone meanwhile
            continue
        kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), None)
        if kib is not None:
            sizes.append(kib / 1024)
    return sizes


def cpu_sample(pids: Sequence[int]) -> CpuSample | None:
    """Linux /proc accounting; None elsewhere."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        busy = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
        table = processes(tick)
        servers = {pid: tree_cpu(table, pid) for pid in pids}
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    services = {
        key: {pid: cpu for pid, (name, _parent, cpu) in table.items() if name == proc and serves_us(pid, name)}
        for key, proc in SERVICES.items()
    }
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    ours = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
    return CpuSample(time.monotonic(), busy, servers, ours, services)


def cpu_split(start: CpuSample | None, end: CpuSample | None, target: int) -> tuple[float | None, float | None]:
    """(CPU seconds the target server used, CPUs the rest of the machine used on average).

    The rest is everything but our servers, wrk and this process: other sessions' test runs on a
    shared 2-core machine skew the figures, and this makes that visible. PostgreSQL and Redis are
    in the rest, and reported on their own by services_cpu().
    """
    if start is None or end is None or end.at <= start.at:
        return None, None
    servers = {pid: end.servers[pid] - start.servers.get(pid, 0.0) for pid in end.servers}
    ours = sum(servers.values()) + end.ours - start.ours
    return servers.get(target), max(end.busy - start.busy - ours, 0.0) / (end.at - start.at)


def services_cpu(start: CpuSample | None, end: CpuSample | None) -> dict[str, float | None]:
    """CPU seconds PostgreSQL's and Redis's server processes used in between, whoever they served
    (other sessions' tests on a shared server count too); a process started meanwhile counts whole."""
    if start is None or end is None:
        return dict.fromkeys(SERVICES)
    used: dict[str, float | None] = {}
    for key in SERVICES:
        before, after = start.services[key], end.services[key]
        used[key] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) if after else None
    return used


def wait_until_quiet(limit: float, pids: Sequence[int]) -> None:
    """Wait (at most `limit` seconds) until other processes use at most BUSY_CPU for 3 s in a row."""
    deadline = time.monotonic() + limit
    quiet = 0
    told = False
    while quiet < 3 and time.monotonic() < deadline:
        start = cpu_sample(pids)
        time.sleep(1)
        _server, other = cpu_split(start, cpu_sample(pids), 0)
        if other is None:
            return
        quiet = quiet + 1 if other <= BUSY_CPU else 0
        if not quiet and not told:
            print(
                f"    (other processes use {other:.2f} CPU; waiting up to {limit:g} s for a quiet machine)", flush=True
            )
            told = True
