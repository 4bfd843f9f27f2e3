"""SIGTERM while a request and a live stream are in flight: the request completes (its order placed
entirely), the stream ends (without `closed`: a browser reconnects to a worker that is up), and the
process exits well within its grace period (uvicorn's timeout_graceful_shutdown, 10 s).

The request is held at its pause point (STOREFRONT_TEST_PAUSE, web/faults.py) while the signal
arrives, and let go after it.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.conftest import REVIEW_FIELD, Shopper, sql
from tests.faults.conftest import send, wait_for_file
from tests.livestreams import EventStream, live_server
from web.settings import Settings

GRACE_SECONDS = 10


def test_sigterm_lets_the_request_in_flight_finish_ends_the_streams_and_stops_within_its_grace(
    app: Litestar, settings: Settings, tmp_path: Path, shopper: Shopper, other_shopper: Shopper
) -> None:
    other_shopper.add("linen-shirt", label="M")
    number = other_shopper.checkout()  # an order whose page is open, following it
    shopper.add("test-1", 2)
    review = shopper.review()
    form = {**dict(REVIEW_FIELD.findall(review.text)), "csrf_token": shopper.csrf}
    paused = tmp_path / "paused"
    with live_server(settings, tmp_path, STOREFRONT_TEST_PAUSE=f"placement:{paused}") as server:
        live = EventStream(f"{server.url}/orders/{number}/events", {"session": str(other_shopper.session_cookie)})
        live.next("status")
        answers: list[Any] = []
        placing = threading.Thread(
            target=lambda: answers.append(send(server, "/checkout/place", form, str(shopper.session_cookie)))
        )
        placing.start()
        wait_for_file(paused)  # the order's stock taken, its rows written, not committed
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.3)
        assert server.process.poll() is None, "the request in flight holds the server"
        paused.unlink()
        placing.join(timeout=GRACE_SECONDS)
        assert answers and answers[0] is not None, server.output()
        assert answers[0].status_code == 303 and answers[0].headers["location"].startswith("/orders/")
        assert live.wait_end(GRACE_SECONDS)
        with pytest.raises(EOFError):
            live.next("closed", timeout=1)
        server.process.wait(timeout=GRACE_SECONDS)
        assert time.monotonic() - signalled < GRACE_SECONDS / 2, server.output()

    placed = answers[0].headers["location"].rsplit("/", 1)[1]
    lines = (
        "SELECT l.product_slug, l.quantity FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.number = :n"
    )
    assert sql(app, lines, n=placed) == [("test-1", 2)]
    assert sql(
        app, "SELECT count(*) FROM order_events JOIN orders ON orders.id = order_id WHERE number = :n", n=placed
    ) == [(1,)]
    assert sql(app, "SELECT count(*) FROM outbox WHERE dedupe_key = :key", key=f"order-confirmation:{placed}") == [(1,)]
    assert sql(
        app, "SELECT v.stock FROM variants v JOIN products p ON p.id = v.product_id WHERE p.slug = 'test-1'"
    ) == [(48,)]
    assert shopper.quantities() == {}
