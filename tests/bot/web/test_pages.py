"""The gallery's HTML: what members wrote is escaped wherever it lands, the /dream command is the one that paints
the picture again, and filter links keep the other filters."""

from __future__ import annotations

import dataclasses
from html import unescape

from bot.queue.jobs import Job
from bot.web.catalog import Filters
from bot.web.pages import dream_command, grid, picture
from bot.web.server import listen_address
from contract.protocol import RenderRequest

HOSTILE = '<script>alert("x")</script> & "quotes"'


def job(**fields) -> Job:
    request = RenderRequest(HOSTILE, model="pixels", width=48, height=32, steps=9, seed=5)
    return dataclasses.replace(Job("ab12", 1, 2, 3, "<b>eve</b>", request), **fields)


def test_what_members_wrote_is_escaped_in_the_grid_and_the_picture_page():
    shown = job()
    for html in (grid("Lab", [shown], 1, Filters(member=3, words=HOSTILE), {2: "<i>chan</i>"}),
                 picture("Lab", shown, HOSTILE, dream_command(shown.request, ""), False, None, [])):  # fmt: skip
        assert "<script>alert" not in html and "<b>eve</b>" not in html and "<i>chan</i>" not in html
        assert "&lt;script&gt;" in html


def test_the_command_paints_the_picture_again_and_filter_links_keep_the_rest():
    request = job().request
    assert dream_command(request, "cutn=9") == f"/dream prompt:{HOSTILE} seed:5 steps:9 size:48x32 model:pixels options:cutn=9"
    html = unescape(grid("Lab", [job()], 100, Filters(model="pixels", page=2), {}))
    assert "/gallery?member=3&model=pixels" in html, "a member's link keeps the model and goes to the first page"
    assert 'rel=prev href="/gallery?model=pixels"' in html and 'rel=next href="/gallery?model=pixels&page=3"' in html


def test_the_listen_address_is_host_and_port():
    assert listen_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert listen_address("[::1]:0") == ("::1", 0)


def test_a_pictures_page_links_its_family_and_its_film():
    parent = job(id="aa01", request=RenderRequest("a harbour"))
    child = job(id="cc03", request=RenderRequest("a harbour, later", zoom_frames=3), parent="ab12")
    html = picture("Lab", job(parent="aa01"), "", "", True, parent, [child])
    assert '<li>made from <a href="/gallery/picture/aa01">a harbour</a></li>' in html
    assert '<li><a href="/gallery/picture/cc03">a film: a harbour, later</a></li>' in html
    assert '<video src="/gallery/film/ab12.mp4"' in html
    assert "Family" not in picture("Lab", job(), "", "", False, None, []) and "<video" not in picture(
        "Lab", job(), "", "", False, None, []
    )
