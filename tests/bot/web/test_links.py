"""Gallery links: a signed pass comes back as it was signed, and any change to it, another secret, or its expiry
passing makes it worthless."""

from __future__ import annotations

from bot.web.links import Pass, sign, verify

SECRET = b"k" * 32


def test_a_signed_pass_comes_back_until_it_expires():
    granted = Pass(123, 456, 2_000)
    token = sign(SECRET, granted)
    assert verify(SECRET, token, 1_999.0) == granted
    assert verify(SECRET, token, 2_000.0) is None, "at its expiry it is gone"
    assert verify(b"x" * 32, token, 1_000.0) is None, "another bot's secret"


def test_every_change_to_a_token_is_refused():
    token = sign(SECRET, Pass(123, 456, 2_000))
    server, member, expires, signature = token.split(".")
    for changed in (
        f"124.{member}.{expires}.{signature}", f"{server}.0.{expires}.{signature}", f"{server}.{member}.9999.{signature}",
        f"{server}.{member}.{expires}.{signature[:-1]}A", f"{server}.{member}.{expires}", token + ".x", "", "a.b.c.d",
        f"{server}.{member}.{expires}.{signature}" + "=" * 300,
    ):  # fmt: skip
        assert verify(SECRET, changed, 1_000.0) is None, changed
