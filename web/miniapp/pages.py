"""The Mini App's pages: `/app` and its static files (package data, no build step), with
security headers on everything under `/app`."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

STATIC = resources.files("web.miniapp") / "static"
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
TELEGRAM_SCRIPT = "https://telegram.org"
CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' {TELEGRAM_SCRIPT}",
        "style-src 'self'",
        "img-src 'self' blob:",  # charts are fetched with the initData header, shown as blobs
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        # Telegram Web shows Mini Apps in an iframe; the phone apps in a web view.
        "frame-ancestors https://web.telegram.org",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _load() -> dict[str, tuple[bytes, str]]:
    files = {}
    for item in STATIC.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in CONTENT_TYPES:
            files[item.name] = (item.read_bytes(), CONTENT_TYPES[suffix])
    return files


async def index(request: web.Request) -> web.Response:
    return _file(request, "index.html")


async def static(request: web.Request) -> web.Response:
    return _file(request, request.match_info["name"])


def _file(request: web.Request, name: str) -> web.Response:
    found = request.app[FILES].get(name)
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    charset = None if content_type.startswith("image/") else "utf-8"
    return web.Response(
        body=body,
        content_type=content_type,
        charset=charset,
        headers={"Cache-Control": "no-cache"},
    )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/app" or request.path.startswith("/app/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/app/api/"):
            response.headers["Cache-Control"] = "no-store"


FILES = web.AppKey("miniapp_files", dict[str, tuple[bytes, str]])


def add_routes(app: web.Application) -> None:
    app[FILES] = _load()
    app.router.add_get("/app", index)
    app.router.add_get("/app/", index)
    app.router.add_get("/app/static/{name}", static)
    app.on_response_prepare.append(add_security_headers)
