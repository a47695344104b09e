"""The gallery in a real browser: Debian's chromium, driven by Playwright, headless and with background networking
off. A member's link opens the grid, the search form finds a prompt, "more like this" ranks the repaint first, the
copy button puts the exact /dream command on the clipboard, and the grid is photographed at a desktop's and a phone's
width (for the docs' docs/screenshots/ with DREAMBOT_SCREENSHOTS=docs/screenshots)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bot.config import WebConfig
from tests.cogs.test_gallery import gallery_link, painted
from tests.support.discord_bot import option, settings
from tests.support.discord_emulator import MANAGE_GUILD, Member

CHROMIUM = Path("/usr/bin/chromium")
# the docs' pictures are taken again with DREAMBOT_SCREENSHOTS=docs/screenshots; otherwise they go to the test's folder
SCREENSHOTS = os.environ.get("DREAMBOT_SCREENSHOTS")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}

if not CHROMIUM.exists():
    reason = "Debian's chromium is not installed (.ci/run installs it with apt)"
    if os.environ.get("DREAMBOT_REQUIRE_BROWSER"):
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)


async def thumbnails_shown(page) -> None:
    """Every thumbnail of the page loaded and decoded (lazy ones too: the page is scrolled to its end first)."""
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await page.wait_for_function("Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)")
    await page.evaluate("window.scrollTo(0, 0)")


@pytest.fixture
def config(config):
    return dataclasses.replace(config, web=WebConfig(listen="127.0.0.1:0"))


async def test_a_member_browses_searches_finds_alike_and_copies_the_command(bot, emulator, tmp_path):
    from playwright.async_api import async_playwright

    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    assert "is now members" in await settings(emulator, "set", mod, key="gallery", value="members")
    castle = await painted(emulator, "a red castle", alice, option("seed", 7, 4))
    ocean = await painted(emulator, "a blue ocean", alice, option("seed", 8, 4))
    twin = await painted(emulator, "a red castle", alice, option("seed", 7, 4))
    for n in range(3):
        await painted(emulator, f"a quiet field {n}", alice, option("model", "pixels"), option("seed", 20 + n, 4))
    link = await gallery_link(emulator, alice)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        try:
            context = await browser.new_context(viewport=dict(zip(("width", "height"), SIZES["desktop"], strict=True)))
            await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=link.split("/g/")[0])
            page = await context.new_page()
            await page.goto(link)
            assert page.url.endswith("/gallery")
            assert await page.locator(".card").count() == 6
            shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
            shots.mkdir(exist_ok=True)
            await thumbnails_shown(page)
            await page.screenshot(path=shots / "gallery-desktop.png", full_page=True)
            await page.set_viewport_size(dict(zip(("width", "height"), SIZES["phone"], strict=True)))
            columns = await page.evaluate("getComputedStyle(document.querySelector('.grid')).gridTemplateColumns")
            assert len(columns.split()) == 2, f"two columns on a phone, not {columns}"
            await thumbnails_shown(page)
            await page.screenshot(path=shots / "gallery-phone.png", full_page=True)

            await page.fill("input[type=search]", "ocean")
            await page.click("form button")
            assert [await a.get_attribute("href") for a in await page.locator(".card > a").all()] == [f"/gallery/picture/{ocean}"]

            await page.goto(link.split("/g/")[0] + f"/gallery/picture/{castle}")
            await page.get_by_role("link", name="more like this").click()
            first = await page.locator(".card > a").first.get_attribute("href")
            assert first == f"/gallery/picture/{twin}", "the repaint ranks first"

            await page.goto(link.split("/g/")[0] + f"/gallery/picture/{castle}")
            await page.click("button[data-copy=command]")
            copied = await page.evaluate("navigator.clipboard.readText()")
            assert copied == "/dream prompt:a red castle seed:7 steps:6 size:32x32 model:tiny-vqgan"
        finally:
            await browser.close()
