"""The gallery's links: signed by the bot with HMAC-SHA256 over the server, the member (0: the server's public link)
and the expiry, under a secret made at the first start and kept in the database. A link altered in any part, or
past its expiry, is refused; nothing in it is secret but the signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SECRET_BYTES = 32
MEMBER_DAYS = 7  # a member's link lasts this long; /gallery gives a new one
PUBLIC_DAYS = 30  # the server's public link


@dataclass(frozen=True)
class Pass:
    """Who a valid link lets in: a member of a server (0: anyone, the server's gallery being public), until when."""

    guild_id: int
    user_id: int
    expires: int


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def _signature(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: bytes, granted: Pass) -> str:
    """The link's token: ``SERVER.MEMBER.EXPIRY.SIGNATURE``."""
    body = f"{granted.guild_id}.{granted.user_id}.{granted.expires}"
    return f"{body}.{_signature(secret, body)}"


def verify(secret: bytes, token: str, now: float) -> Pass | None:
    """The pass a token grants, or None when it is malformed, altered or past its expiry."""
    parts = token.split(".")
    if len(parts) != 4 or not all(part.isascii() and part.isdigit() for part in parts[:3]) or len(token) > 200:
        return None
    body, signature = ".".join(parts[:3]), parts[3]
    if not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    granted = Pass(int(parts[0]), int(parts[1]), int(parts[2]))
    return granted if granted.expires > now else None
