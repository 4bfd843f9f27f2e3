"""End-to-end fixtures: one live server on a fresh demo database, one Chromium, a fresh context per test.

The server is the real thing (`python -m web serve`) on a free port; every test gets its own browser
context, so each test is its own shopper with its own cookie jar and its own cart. The database is
shared by the whole run: the tests that place orders buy only the tea tin, whose stock no other test
counts, and their order mail goes to the run's own outbox folder.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Playwright, sync_playwright

from e2e import shop

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# The one staff member of the e2e shop, made by `python -m web create-staff` before it serves.
STAFF_EMAIL = "staff@e2e.example"
STAFF_PASSWORD = "staff passphrase for the e2e shop"
STARTUP_SECONDS = 15.0
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the local server, never via a proxy
ACTION_TIMEOUT_MS = 10_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with code {process.returncode} while starting:\n{log_tail(log)}")
        try:
            # A static file: answers as soon as the app is up and creates no session.
            with DIRECT.open(f"{base_url}/static/css/shop.css", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer within {STARTUP_SECONDS:.0f} s:\n{log_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-server")


@pytest.fixture(scope="session")
def server(server_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The shop served by `python -m web serve` on a migrated database with the demo catalogue."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{server_dir / 'shop.db'}",
        "APP_ENV": "development",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "COOKIE_SECURE": "false",  # plain HTTP: the cookie is `session`, without Secure
        "SMTP_URL": "",  # order mail as .eml files in this run's folder, never to a real mail server
        "OUTBOX_DIR": str(server_dir / "outbox"),
        "PYTHONUNBUFFERED": "1",
    }
    commands = [("migrate",), ("load-demo",), ("create-staff", STAFF_EMAIL, "--password-stdin")]
    for command in commands:
        done = subprocess.run(
            [str(PYTHON), "-m", "web", *command],
            cwd=ROOT,
            env=env,
            input=STAFF_PASSWORD + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"`python -m web {command[0]}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    log = server_dir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(PYTHON), "-m", "web", "serve"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    shop.OUTBOX_DIR = server_dir / "outbox"  # where shop.register() reads the confirmation links
    try:
        wait_until_up(base_url, process, log)
        yield base_url
    finally:
        stop(process)
        if request.session.testsfailed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / "server.log")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if CHROMIUM.exists():
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    else:
        browser = playwright.chromium.launch()
    yield browser
    browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def save_artifacts(request: pytest.FixtureRequest, context: BrowserContext) -> None:
    """After a failed test: a screenshot and the HTML of each page the shopper had open."""
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(context.pages):
        try:
            page.screenshot(path=str(folder / f"page-{number}.png"), full_page=True)
            (folder / f"page-{number}.html").write_text(page.content())
        except Error:
            pass


def new_context(browser: Browser, base_url: str, *, javascript: bool) -> BrowserContext:
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context


def shopper_context(
    browser: Browser, server: str, request: pytest.FixtureRequest, *, javascript: bool
) -> Iterator[BrowserContext]:
    """A fresh shopper's browser (own cookie jar, own cart), saved as artifacts if the test fails."""
    context = new_context(browser, server, javascript=javascript)
    yield context
    save_artifacts(request, context)
    context.close()


@pytest.fixture
def context(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh shopper with JavaScript on: new cookie jar, new cart."""
    yield from shopper_context(browser, server, request, javascript=True)


@pytest.fixture
def other_context(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A second shopper's browser with JavaScript on, e.g. to register or to be the same user elsewhere."""
    yield from shopper_context(browser, server, request, javascript=True)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def nojs_context(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh shopper whose browser runs no JavaScript: forms post and pages reload."""
    yield from shopper_context(browser, server, request, javascript=False)


@pytest.fixture
def other_nojs_context(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A second shopper's browser without JavaScript."""
    yield from shopper_context(browser, server, request, javascript=False)


@pytest.fixture
def nojs_page(nojs_context: BrowserContext) -> Page:
    return nojs_context.new_page()


# Recorded in every page before the site's own scripts run (Playwright's init scripts are not subject
# to the page's CSP), so CSP violations are caught even when the console does not mention them.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class BrowserProblems:
    """Console errors, uncaught page errors and CSP violations seen by one browser context."""

    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            where = message.location.get("url", "")
            self.console.append(f"{message.type}: {message.text} ({where})")

    def csp_violations(self, page: Page) -> list[str]:
        return [message for message in self.console if "Content Security Policy" in message] + list(
            page.evaluate("window.__cspViolations || []")
        )


@pytest.fixture
def browser_problems(context: BrowserContext) -> BrowserProblems:
    problems = BrowserProblems()
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    context.on("console", problems.on_console)
    context.on("weberror", lambda error: problems.page_errors.append(str(error.error)))
    return problems
