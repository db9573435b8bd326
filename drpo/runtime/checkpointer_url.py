"""The checkpointer a run names: SQLite in its run dir (no URL) or a PostgreSQL URL, which is
checked and shown without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class PersistenceError(ValueError):
    """A checkpointer URL that is not supported or a database that cannot be reached."""


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def check_url(url: str | None) -> None:
    if url and not is_postgres(url):
        raise PersistenceError(
            f"--checkpointer: expected postgresql://USER@HOST:PORT/DB, got {redact(url)!r}"
        )


def redact(url: str) -> str:
    """The URL without its password (run.json and messages never hold a secret)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
