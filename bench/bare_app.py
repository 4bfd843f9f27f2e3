"""The baseline: a bare Litestar app with one GET route and a short text/plain body.

The benchmark (`python -m bench`) serves it with uvicorn under the same options as the shop (one
worker, access log off, log level warning, the same loop and HTTP parser), so the shop's figures
can be read as a share of what the framework and server alone manage on this machine.
"""

from __future__ import annotations

from litestar import Litestar, get
from litestar.enums import MediaType

BODY = "Hello from a bare Litestar route.\n"


@get("/", media_type=MediaType.TEXT)
async def index() -> str:
    return BODY


app = Litestar(route_handlers=[index], openapi_config=None)
