"""The curl smoke script passes against the live server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from e2e.conftest import free_port

SCRIPT = Path(__file__).resolve().parent / "smoke_curl.sh"
LOCAL = {**os.environ, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def test_curl_smoke_script_passes(server: str) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), server], capture_output=True, text=True, timeout=60, check=False, env=LOCAL
    )
    assert done.returncode == 0, f"smoke_curl.sh exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "smoke_curl: OK" in done.stdout


def test_curl_smoke_script_fails_clearly_when_the_shop_is_down() -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        ["bash", str(SCRIPT), nobody_listens], capture_output=True, text=True, timeout=60, check=False, env=LOCAL
    )
    assert done.returncode != 0
    assert "smoke_curl: FAIL" in done.stderr, done.stderr
