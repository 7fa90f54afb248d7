"""The Telegram Mini App (contract §12): pages under `/app`, its API under `/app/api/*`."""

from __future__ import annotations

from aiohttp import web

from web.miniapp import api, pages


def add_routes(app: web.Application) -> None:
    pages.add_routes(app)
    api.add_routes(app)
