"""Where the citizens live: one folder each under CITIZENS_DIR, holding its CLAUDE.md."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from citizens.config import CitizenSettings

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
PACKAGED_DIR = Path(__file__).resolve().parent
_fallback_logged = False


def citizens_root(settings: CitizenSettings) -> Path:
    """CITIZENS_DIR; when left at its default and absent (the service runs from elsewhere
    after `pip install .`), the folder shipped inside this package."""
    global _fallback_logged
    configured = settings.citizens_dir
    if configured.is_dir() or "citizens_dir" in settings.model_fields_set:
        return configured
    if not _fallback_logged:
        log.info("%s does not exist; using the packaged citizens in %s", configured, PACKAGED_DIR)
        _fallback_logged = True
    return PACKAGED_DIR


def citizen_dir(root: Path, name: str) -> Path | None:
    """The citizen's folder, or None when `name` is not a citizen (no path tricks pass)."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    folder = root / name
    return folder if (folder / "CLAUDE.md").is_file() else None


def known_citizens(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if citizen_dir(root, p.name) is not None)
