"""The environment a citizen's CLI runs with: an ordinary one, minus every secret of the
service, plus the session's own credentials.

Secrets are dropped by the shape of their name, not by a list: a variable added to the service
tomorrow (a new webhook secret, a key) is withheld without anyone remembering to list it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from citizens.config import CitizenSettings

# A name holding one of these words is a credential of the service; never the citizen's.
SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Not named like secrets, but they carry one (a database URL holds its password).
WITHHELD = frozenset({"DATABASE_URL"})


def citizen_environment(
    base: Mapping[str, str],
    settings: CitizenSettings,
    *,
    session_id: str,
    session_token: str,
    thread_id: str | None,
) -> dict[str, str]:
    """`base` (the service's environment) without its secrets, plus what the session needs:
    where the API is, who it is, its token, its thread, and the citizen's Anthropic
    credentials (from the settings, so a `.env` file works too)."""
    env = {
        name: value
        for name, value in base.items()
        if name.upper() not in WITHHELD and not SECRET_NAME.search(name)
    }
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
