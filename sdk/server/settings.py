"""Server settings, from arguments or ``WHYLENS_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerSettings"]


class ServerSettings(BaseSettings):
    """Where the store is and how the server treats sessions, links and exports.

    Every field can be set as ``WHYLENS_<NAME>`` (e.g. ``WHYLENS_DB=shop.db``); ``whylens serve``
    sets them for its workers.
    """

    model_config = SettingsConfigDict(env_prefix="WHYLENS_", extra="ignore", frozen=True)

    db: str = "whylens.db"
    """The store: a SQLite path or a ``postgresql://`` URL (then set ``keyring`` too)."""
    keyring: str | None = None
    """The keyring file (default: beside the database)."""
    signing_key: str | None = None
    """The separate signing key file (``whylens keys signing-key create``), if the store has
    one; default: the keyring's key signs."""
    require_sign_off: bool = True
    session_ttl_seconds: int = 8 * 3600
    """How long a console session lasts after logging in."""
    link_ttl_seconds: int = 7 * 86400
    """Default lifetime of why-links made through ``POST /v1/links``."""
    export_dir: str | None = None
    """Where signed audit exports are written (default: ``<db>.exports`` beside the database)."""
    secure_cookies: bool = False
    """Mark cookies ``Secure`` (set behind HTTPS)."""
