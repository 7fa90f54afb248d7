"""The aiohttp application: middlewares, every declared endpoint, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import session_factory
from storage.hotpath import HotPath
from storage.repo.deliveries import Wake
from web import (
    citizen_sessions,
    drafts,
    events,
    health,
    leads,
    miniapp,
    notes,
    schedules,
    stats,
    threads,
)
from web.auth import bearer_auth_middleware
from web.config import Charts, WebSettings
from web.endpoints import Endpoint, add_endpoints
from web.errors import error_middleware
from web.keys import (
    CHARTS,
    DB,
    DELIVER,
    ENGINE,
    HOT,
    NOTIFIER,
    SETTINGS,
    DisabledNotifier,
    DraftNotifier,
)
from web.openapi import openapi_endpoint
from web.session_auth import session_token_middleware

MAX_BODY_BYTES = 1024 * 1024


def api_endpoints() -> list[Endpoint]:
    return [
        *health.ENDPOINTS,
        *drafts.ENDPOINTS,
        *events.ENDPOINTS,
        *leads.ENDPOINTS,
        *citizen_sessions.ENDPOINTS,
        *threads.ENDPOINTS,
        *notes.ENDPOINTS,
        *schedules.ENDPOINTS,
        *stats.ENDPOINTS,
    ]


def create_app(
    settings: WebSettings,
    engine: AsyncEngine,
    *,
    notifier: DraftNotifier | None = None,
    deliver: Wake | None = None,
    charts: Charts | None = None,
    extra_endpoints: list[Endpoint] | None = None,
) -> web.Application:
    """Build the web application on the process's one engine.

    bot/ gives it what it composes: the notifier, the delivery worker's wake (None:
    deliveries are off), the chart renderer. `extra_endpoints` are the routes other parts of
    the process own (the Telegram and the signed webhooks); they are served and documented
    like the rest.
    """
    api_token = None if settings.api_token is None else settings.api_token.get_secret_value()
    middlewares: list[Middleware] = [error_middleware, session_token_middleware(api_token)]
    if api_token is not None:
        middlewares.append(bearer_auth_middleware(api_token))
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app[DB] = session_factory(engine)
    app[HOT] = HotPath(engine)
    app[NOTIFIER] = notifier or DisabledNotifier()
    app[DELIVER] = deliver
    if charts is not None:
        app[CHARTS] = charts
    endpoints = [*api_endpoints(), *(extra_endpoints or [])]
    add_endpoints(app, [*endpoints, openapi_endpoint(endpoints)])
    miniapp.add_routes(app)
    return app
