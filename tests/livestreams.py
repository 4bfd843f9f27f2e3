"""A live shop server in its own process, a streaming reader of its server-sent events, and a Redis
server of a test's own.

The live-stream tests need a real server: a stream stays open while other requests change the
order, which the in-process test client cannot do. The server runs on the test's own database
(and Redis, in the scale-out pass), so the in-process app can set things up beside it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from web.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()[-3000:]


@contextmanager
def live_server(settings: Settings, folder: Path, *, workers: int = 1, **env: str) -> Iterator[Server]:
    """`python -m web serve` on the settings' database, sessions and events, until the block ends."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SESSION_STORE_URL": settings.session_store_url,
        "EVENTS_URL": settings.events_url,
        "OUTBOX_DIR": str(settings.outbox_dir),
        "MEDIA_DIR": str(settings.media_dir),
        "MAIL_IN_BACKGROUND": "0",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "APP_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / f"metrics-{port}"),
        **env,
    }
    (folder / f"metrics-{port}").mkdir(parents=True)
    log = folder / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "web", "serve", "--workers", str(workers)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=out,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the shop did not start: " + server.output())
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class RedisServer:
    """A redis-server of the test's own on a free port (never the shared one), which the test may
    stop (SIGKILL: the shop sees connections refused) and start again. With `persist`, every write
    is on disk before it is acknowledged (append-only file, fsync always), so what was stored
    survives the kill, as it does on a production Redis; without, a restart starts empty."""

    def __init__(self, folder: Path, *, persist: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
        self.command = ["redis-server", "--port", str(self.port), "--save", "", *durability, "--dir", str(folder)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Event:
    kind: str
    id: str
    data: str


@dataclass
class EventStream:
    """One `text/event-stream` read in a thread, its events queued as they arrive. Like a browser's
    EventSource, it can reconnect with the last event id it saw (`reconnect()`)."""

    url: str
    cookies: dict[str, str]
    last_id: str = ""
    status: int = 0
    events: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)
    _client: httpx.Client | None = None

    def __post_init__(self) -> None:
        self._open()

    def _open(self) -> None:
        self.ended.clear()
        headers = {"Accept": "text/event-stream"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        client = self._client = httpx.Client(cookies=self.cookies, timeout=httpx.Timeout(10, read=60))
        opened = threading.Event()
        threading.Thread(target=self._read, args=(client, headers, opened), daemon=True).start()
        if not opened.wait(10):
            raise TimeoutError(f"no answer from {self.url}")

    def _read(self, client: httpx.Client, headers: dict[str, str], opened: threading.Event) -> None:
        try:
            with client.stream("GET", self.url, headers=headers) as response:
                self.status = response.status_code
                opened.set()
                if response.status_code != 200:
                    return
                kind, data, event_id = "message", [], ""
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    elif line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line == "":
                        if data:
                            if event_id:
                                self.last_id = event_id
                            self.events.put(Event(kind, event_id, "\n".join(data)))
                        kind, data, event_id = "message", [], ""
        except Exception:  # closed from the test's side, or the server went away
            pass
        finally:
            client.close()
            opened.set()
            self.ended.set()
            self.events.put(None)

    def next(self, kind: str | None = None, timeout: float = 5) -> Event:
        """The next event (of `kind`, skipping others) within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind or ''} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                raise EOFError("the stream ended")
            if kind is None or event.kind == kind:
                return event

    def wait_end(self, timeout: float = 5) -> bool:
        return self.ended.wait(timeout)

    def reconnect(self) -> None:
        self.close()
        self.events = queue.Queue()
        self._open()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
