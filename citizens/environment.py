"""The environment a citizen's CLI runs with: the service's own, minus what the service owns,
plus the session's credentials (CONTRACT §7 v3).

The filter is by owner, not by a word in a name: the CLI's documented configuration
(`ANTHROPIC_AUTH_TOKEN` for a gateway, `CLAUDE_CODE_MAX_OUTPUT_TOKENS`, Bedrock's
`AWS_SECRET_ACCESS_KEY`, Vertex's `GOOGLE_APPLICATION_CREDENTIALS`, the proxies) passes
unchanged, while every variable the service reads (its secrets and endpoints, such as
`DELIVERY_WEBHOOK_URL`, whose URL is itself a credential) and any other name holding `SECRET`
or `PASSWORD` stays out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from citizens.config import CitizenSettings

# Named in the contract; the settings' own fields are added to them (see service_names).
SERVICE_OWNED = frozenset(
    {
        "API_TOKEN",
        "WEBHOOK_SECRET",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "DATABASE_URL",
        "DELIVERY_WEBHOOK_URL",
        "DELIVERY_WEBHOOK_SECRET",
    }
)
# The CLI's documented configuration: Anthropic, Claude Code, Bedrock, Vertex, proxies.
CLI_OWNED = re.compile(
    r"^(ANTHROPIC_.+|CLAUDE_CODE_.+|DISABLE_.+|AWS_.+|GOOGLE_.+|CLOUD_ML_REGION|"
    r"MAX_THINKING_TOKENS|VERTEX_REGION_.+|(HTTPS?|NO|ALL)_PROXY)$",
    re.IGNORECASE,
)
SECRET_WORD = re.compile(r"SECRET|PASSWORD|PASSWD", re.IGNORECASE)
# The session's own variables, set below; a stale one in the service's environment is dropped.
SESSION_PREFIX = "SCOPELOCK_"


def service_names(settings: CitizenSettings) -> frozenset[str]:
    """Every variable the service reads: the contract's list and each field of the settings'
    class (a pydantic-settings class names its variables after its fields)."""
    fields: Mapping[str, object] = getattr(type(settings), "model_fields", {})
    return SERVICE_OWNED | {name.upper() for name in fields}


def passes(name: str, service: Collection[str]) -> bool:
    """Whether the service's variable `name` may reach a citizen's CLI."""
    upper = name.upper()
    if CLI_OWNED.match(upper):
        return True
    if upper in service or upper.startswith(SESSION_PREFIX):
        return False
    return not SECRET_WORD.search(upper)


def citizen_environment(
    base: Mapping[str, str],
    settings: CitizenSettings,
    *,
    session_id: str,
    session_token: str,
    thread_id: str | None,
) -> dict[str, str]:
    """`base` (the service's environment) without what the service owns, plus what the session
    needs: where the API is, who it is, its token, its thread, and the citizen's Anthropic
    credentials (from the settings, so a `.env` file works too)."""
    service = service_names(settings)
    env = {name: value for name, value in base.items() if passes(name, service)}
    env["BACKEND_API_URL"] = settings.api_url_for_citizens
    env["SCOPELOCK_SESSION_ID"] = session_id
    env["SCOPELOCK_SESSION_TOKEN"] = session_token
    if thread_id is not None:
        env["SCOPELOCK_THREAD_ID"] = thread_id
    if settings.anthropic_api_key is not None:
        env["ANTHROPIC_API_KEY"] = settings.anthropic_api_key.get_secret_value()
    if settings.claude_code_oauth_token is not None:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = settings.claude_code_oauth_token.get_secret_value()
    return env
