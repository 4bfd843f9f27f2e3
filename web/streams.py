"""Live order streams: `GET /orders/{number}/events`, server-sent events over the one session cookie.

A committed change to an order (a status move, a message) is announced by visit() through `Live`,
which publishes a bare "changed" on the order's channel: Litestar's channels plugin, through Redis
pub/sub between workers when EVENTS_URL (or a Redis session store) is set, in this process
otherwise. Each open stream then reads from the database what is new since its cursor and sends
it, rendered with the same partials as the page. The announcement carries no data, so a lost one
loses nothing: the stream checks again at every heartbeat, and a reconnecting browser sends its
Last-Event-ID and is given what it missed.

A stream ends when its session logs out (with an event `closed`, which the page's SSE extension
takes as the end) or rotates (logging in: the browser reconnects with its new cookie and is
authorised again); visit() announces both on the session's channel. It ends when its order reaches
a final state (after `closed`), on SIGTERM (so the server stops within its grace period; the browser
reconnects to whichever worker is up), and when the pub/sub connection is lost (the browser
reconnects and is replayed from the database).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from itertools import count
from typing import Any

import anyio
from litestar import Request, Router, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.channels.subscriber import Subscriber
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from web.headers import cookie, header
from web.metrics import Metrics
from web.orders import live
from web.orders import service as orders
from web.pages import Renderer, renderer
from web.problems import LiveUnavailable, NotFound, TooManyAttempts
from web.sessions import session_key
from web.settings import Settings
from web.unit import Visit
from web.visit import shop_of, visit

log = logging.getLogger("storefront")

# What a stream's queue can be told: its order changed, its session ended (logged out) or was
# rotated (logged in: the browser has a new cookie), the server is stopping, or the pub/sub lost
# its connection (so announcements may have been missed).
CHANGED, ENDED, ROTATED, STOPPING, LOST = b"changed", b"ended", b"rotated", b"stopping", b"lost"
RETRY_MS = 2000  # how soon a browser reconnects after a stream ends without `closed`
TOO_MANY = "This session already follows as many live orders as it may. Close a tab and try again."


def order_channel(number: str) -> str:
    return f"order:{number.upper()}"


def session_channel(session_id: str) -> str:
    return f"session:{session_key(session_id)[:32]}"


class RedisBackend(RedisChannelsPubSubBackend):
    """Redis pub/sub that survives Redis going away: a failed publish is logged (what it announced
    is stored, and streams are replayed from the database), and a lost subscription connection is
    told to the open streams (`on_lost`) and reconnected, with a growing pause."""

    def __init__(self, url: str, on_lost: Callable[[], None]) -> None:
        from redis.asyncio import Redis

        self.client = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
        super().__init__(redis=self.client)
        self.on_lost = on_lost

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        await self.client.aclose()

    async def publish(self, data: bytes, channels: Any) -> None:
        from redis.exceptions import RedisError

        try:
            await super().publish(data, channels)
        except (RedisError, OSError) as error:
            # What it announced is stored: streams catch up from the database.
            log.warning("live: an announcement to %s was not published (%s)", list(channels), error)

    async def unsubscribe(self, channels: Any) -> None:
        from redis.exceptions import RedisError

        try:
            await super().unsubscribe(channels)
        except (RedisError, OSError) as error:
            log.warning("live: unsubscribe failed (%s)", error)

    async def stream_events(self) -> AsyncIterator[tuple[str, Any]]:  # type: ignore[override]
        from redis.exceptions import RedisError

        pause = 0.1
        while True:
            try:
                async for event in super().stream_events():
                    pause = 0.1
                    yield event
            except (RedisError, OSError) as error:
                log.warning("live: the pub/sub connection was lost (%s); open streams end and reconnect", error)
                self.on_lost()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)


class Signals(Subscriber):
    """A subscriber that hands each signal straight to its stream's own queue: no task of its own,
    and a full queue drops its oldest signal (each only says "look again")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signals: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)

    def put_nowait(self, item: bytes | None) -> bool:
        if item is not None:
            if self.signals.full():
                self.signals.get_nowait()
            self.signals.put_nowait(item)
        return True

    async def put(self, item: bytes | None) -> None:
        self.put_nowait(item)


class Live:
    """The announcer visit() tells about committed changes, and the registry of open streams."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.channels = self.new_channels()
        self.streams: dict[int, Signals] = {}
        self.per_session: Counter[str] = Counter()
        self.ids = count(1)
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.users = 0

    def new_channels(self) -> ChannelsPlugin:
        """Litestar's channels over Redis pub/sub, or in this process: new for each event loop the
        app starts on (an asyncio Redis client belongs to one loop)."""
        backend: ChannelsBackend = (
            RedisBackend(self.settings.events_url, self.lost) if self.settings.events_url else MemoryChannelsBackend()
        )
        return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True, subscriber_class=Signals)

    async def start(self) -> None:
        """Start the channels on the first start-up of the app; a second one (tests run several
        clients on one app, each with its own event loop) shares them."""
        self.users += 1
        if self.users == 1:
            self.loop = asyncio.get_running_loop()
            self.stopping = False
            self.channels = self.new_channels()
            await self.channels.__aenter__()
            self.watch_stop_signals()

    async def shutdown(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.stop()
            await self.channels.__aexit__(None, None, None)
            self.loop = None

    def publish(self, data: bytes, channel: str) -> None:
        """Publish from any thread or loop; before start-up or after shut-down there is nobody to tell."""
        loop = self.loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.channels.publish(data, channel)
        else:
            loop.call_soon_threadsafe(self.channels.publish, data, channel)

    # Announcer (web/unit.py), called by visit() after its commit
    def order_changed(self, number: str) -> None:
        self.publish(CHANGED, order_channel(number))
        self.metrics.live_events_published.inc()

    def session_ended(self, session_id: str, *, signed_in: bool) -> None:
        self.publish(ROTATED if signed_in else ENDED, session_channel(session_id))

    def tell_all(self, signal_: bytes) -> None:
        for subscriber in self.streams.values():
            subscriber.put_nowait(signal_)

    def lost(self) -> None:
        self.tell_all(LOST)

    def stop(self) -> None:
        """SIGTERM: every open stream ends now, so the server's graceful shutdown is not held up."""
        self.stopping = True
        self.tell_all(STOPPING)

    def watch_stop_signals(self) -> None:
        """Chain stop() before the server's own SIGTERM/SIGINT handlers (uvicorn's); without a
        server's handler (tests, scripts) there is nothing to chain."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(number)
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Callable[[int, Any], Any] = previous) -> None:
                loop.call_soon_threadsafe(self.stop)
                previous(signum, frame)

            signal.signal(number, handler)

    def check_room(self, session_id: str) -> None:
        """Whether this session may open one more stream (a few at most), before its answer starts:
        TooManyAttempts (429) or, while stopping, LiveUnavailable (503). Nothing is taken yet."""
        if self.stopping:
            raise LiveUnavailable("The shop is restarting: live updates resume in a moment.")
        if self.per_session[session_key(session_id)] >= self.settings.streams_per_session:
            raise TooManyAttempts(TOO_MANY, 30)

    async def open(self, session_id: str, number: str) -> tuple[int, Signals]:
        """Take one of the session's places and subscribe to its order's and its session's
        channels, before the stream first looks at the order (so nothing committed after that look
        is missed). Called from inside the stream's body, whose `finally` gives the place back: a
        browser that left before the body started has taken nothing. The subscription is shielded
        from cancellation, so it is either made and handed over, or not made."""
        self.check_room(session_id)
        digest = session_key(session_id)
        self.per_session[digest] += 1
        try:
            with anyio.CancelScope(shield=True):
                subscriber = await self.channels.subscribe([order_channel(number), session_channel(session_id)])
        except Exception as error:  # the pub/sub is unreachable: the browser retries
            self.give_back(digest)
            log.warning("live: a stream could not subscribe (%s)", error)
            raise LiveUnavailable("Live updates are unavailable just now: this page will retry.") from error
        assert isinstance(subscriber, Signals)
        stream_id = next(self.ids)
        self.streams[stream_id] = subscriber
        self.metrics.live_streams.inc()
        return stream_id, subscriber

    def give_back(self, digest: str) -> None:
        self.per_session[digest] -= 1
        if self.per_session[digest] <= 0:
            del self.per_session[digest]

    async def close(self, stream_id: int, session_id: str) -> None:
        subscriber = self.streams.pop(stream_id, None)
        if subscriber is None:
            return
        self.give_back(session_key(session_id))
        self.metrics.live_streams.dec()
        with anyio.CancelScope(shield=True):  # also when the browser went away and the stream is cancelled
            await self.channels.unsubscribe(subscriber)


def live_of(request: Request) -> Live:
    return request.app.state.live  # type: ignore[no-any-return]


def rendered(out: Renderer, seen: live.Follow, csrf_token: str) -> list[ServerSentEventMessage]:
    """The events for one look at the order: `status` (the timeline, and on the staff page its
    allowed moves, out of band) if it moved, one `message` per new message, `closed` when final."""
    cursor = str(seen.cursor)
    events = []
    context: dict[str, Any] = {"order": seen.order, "audience": seen.audience, "csrf_token": csrf_token}
    if seen.status_changed:
        parts = [out.render("orders/partials/timeline.html", context)]
        if seen.audience == "staff":
            moves = {**context, "allowed": orders.TRANSITIONS[seen.order.status], "labels": orders.LABELS, "oob": True}
            parts.append(out.render("staff/partials/order_actions.html", moves))
        else:
            parts.append(out.render("orders/partials/cancel.html", {**context, "oob": True}))
        events.append(ServerSentEventMessage(data="\n".join(parts), event="status", id=cursor))
    for message in seen.messages:
        html = out.render("orders/partials/message.html", {"message": message, "audience": seen.audience})
        events.append(ServerSentEventMessage(data=html, event="message", id=cursor))
    if seen.final:
        events.append(ServerSentEventMessage(data=seen.order.status, event="closed", id=cursor))
    return events


def side_of(request: Request) -> live.Side:
    """Which page the stream is for: the staff's order page says so (`side=staff`), else the shopper's."""
    return "staff" if request.query_params.get("side") == "staff" else "shopper"


@get("/orders/{number:str}/events", name="orders.events")
async def order_events(request: Request, number: FromPath[str]) -> ServerSentEvent:
    """The order's live stream, for whoever may see its page (404 otherwise, as the page)."""
    since = live.Cursor.parse(header(request, "last-event-id") or request.query_params.get("after"))
    session_id = cookie(request, shop_of(request).settings.cookie_name)
    number = number.strip().upper()
    if not session_id or not orders.looks_like_number(number):
        raise NotFound("There is no order with that number.")  # a visitor without a session sees no order
    side = side_of(request)
    hub = live_of(request)
    out = renderer(request)

    def look(after: live.Cursor) -> Callable[[Visit], tuple[live.Follow, str]]:
        return lambda v: (live.follow(v, number, after, side), v.session.csrf_token)

    # Answered with a status before the stream starts: 429 past the session's streams, 404 for an
    # order it may not follow. The stream itself takes its place and looks again once subscribed.
    hub.check_room(session_id)
    await visit(request, look(since), keep_alive=False)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        yield ServerSentEventMessage(data=None, retry=RETRY_MS, comment="live")
        try:
            stream_id, subscriber = await hub.open(session_id, number)
        except (TooManyAttempts, LiveUnavailable):
            return  # another tab took the last place meanwhile, or Redis is away: the browser retries
        try:
            seen, csrf = await visit(request, look(since), keep_alive=False)
            for event in rendered(out, seen, csrf):
                yield event
            while not seen.final:
                try:
                    signal_ = await asyncio.wait_for(subscriber.signals.get(), hub.settings.stream_heartbeat_seconds)
                except TimeoutError:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
                    signal_ = CHANGED  # and look again: an announcement may have been lost
                if signal_ in (STOPPING, LOST, ROTATED):
                    return  # no `closed`: the browser reconnects (with its new cookie) from its cursor
                if signal_ == ENDED:
                    yield ServerSentEventMessage(data="session", event="closed")
                    return
                seen, csrf = await visit(request, look(seen.cursor), keep_alive=False)
                for event in rendered(out, seen, csrf):
                    yield event
        except NotFound:  # logged out, expired, or no longer theirs
            yield ServerSentEventMessage(data="gone", event="closed")
        finally:
            await hub.close(stream_id, session_id)

    return ServerSentEvent(events(), headers={"X-Accel-Buffering": "no"})


router = Router(path="/", route_handlers=[order_events])
