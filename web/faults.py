"""Pause points, for tests only: where a fault test holds the server still inside a unit of work.

With STOREFRONT_TEST_PAUSE=<point>:<flag file>, a unit that reaches that point creates the flag
file and waits while it exists: the test then kills the process there (SIGKILL), or deletes the
file to let the request go on. Production refuses the setting (Settings.check) and this ignores
it there too, so nothing can ever wait in production; unset, pause_point() returns at once.

The points, each after its unit's writes and before its commit:
- "placement": an order's stock taken and its rows and mail written (web/orders/service.py);
- "merge": the guest cart moved into the user's at login (web/cart/service.py);
- "logout": the session's login forgotten (web/accounts/routes.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from web.settings import Settings


def pause_point(settings: Settings, name: str) -> None:
    point, _, flag = settings.test_pause.partition(":")
    if point != name or settings.production:
        return
    paused = Path(flag)
    paused.touch()
    while paused.exists():
        time.sleep(0.01)
