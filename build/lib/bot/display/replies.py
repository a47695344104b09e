"""Answers to interactions that only the member who asked sees, in time for Discord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord

DEFER_AFTER = 2.0  # seconds of work after which an answer is deferred rather than miss Discord's 3


async def reply(interaction: discord.Interaction, text: str, **kwargs) -> None:
    """An ephemeral answer, whether or not the interaction was answered or deferred already."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(text, ephemeral=True, **kwargs)


@contextlib.asynccontextmanager
async def answer_in_time(interaction: discord.Interaction) -> AsyncIterator[None]:
    """Defer the answer if the work inside takes longer than ``DEFER_AFTER`` (a busy database): Discord
    forgets an interaction not answered within 3 seconds. Fast work answers directly, without a webhook."""
    lock = asyncio.Lock()

    async def defer_when_slow() -> None:
        await asyncio.sleep(DEFER_AFTER)
        async with lock:
            if not interaction.response.is_done():
                await asyncio.shield(interaction.response.defer(ephemeral=True, thinking=True))

    timer = asyncio.create_task(defer_when_slow())
    try:
        yield
    finally:
        async with lock:  # a defer already on its way finishes first, so the answer knows about it
            timer.cancel()
