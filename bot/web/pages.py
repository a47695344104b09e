"""The gallery's pages as HTML: plain server-made pages that work without JavaScript (a few lines of it add the copy
buttons), responsive from a phone to a desktop. Every value from a member (prompts, names) is escaped; no file path,
token or database id but a job's public id is written into a page."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from bot.queue.jobs import Job
from bot.web.catalog import PAGE, Filters
from contract.protocol import RenderRequest

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{padding:12px 16px;background:#1c1c22;display:flex;flex-wrap:wrap;gap:12px;align-items:center}
header h1{font-size:1.2em;margin:0;flex:1 1 auto}
form{display:flex;gap:6px;flex:1 1 260px}input[type=search]{flex:1;padding:6px;border-radius:4px;border:0}
main{padding:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{background:#1c1c22;border-radius:6px;overflow:hidden}
.card img{width:100%;height:auto;aspect-ratio:1;object-fit:cover;display:block}
.card p{margin:6px;font-size:.8em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
a{color:#8ab4f8}.card .meta{white-space:normal;line-height:1.6}.meta a{margin-right:6px}
.picture img{max-width:100%;height:auto}pre,code{white-space:pre-wrap;word-break:break-word;background:#1c1c22;padding:8px;
display:block;border-radius:4px}nav{margin:16px 0;display:flex;gap:16px}
"""
COPY_SCRIPT = """
for (const b of document.querySelectorAll('button[data-copy]')) {
  b.addEventListener('click', async () => {
    await navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent);
    b.textContent = 'Copied';
  });
}
"""


def page(title: str, body: str, search: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1><a href="/gallery">{escape(title)}</a></h1>'
        f'<form action="/gallery" method=get role=search><input type=search name=q value="{escape(search)}" '
        'placeholder="Search prompts" aria-label="Search prompts"><button>Search</button></form></header>'
        f"<main>{body}</main><script>{COPY_SCRIPT}</script></body></html>"
    )


def _link(filters: Filters, **changed: object) -> str:
    """The grid's address with ``filters``, some of them ``changed`` (the first page and empty ones left out)."""
    values = {"member": filters.member, "model": filters.model, "channel": filters.channel, "q": filters.words,
              "like": filters.like, "page": filters.page} | changed  # fmt: skip
    kept = {key: value for key, value in values.items() if value not in (None, "") and not (key == "page" and value == 1)}
    return "/gallery" + (f"?{urlencode(kept)}" if kept else "")


def grid(server: str, jobs: list[Job], total: int, filters: Filters, channels: dict[int, str]) -> str:
    cards = [_card(job, filters, channels) for job in jobs]
    said = f"{total} picture{'s' if total != 1 else ''}"
    if filters != Filters(page=filters.page):
        said += ' · <a href="/gallery">show all</a>'
    nav = []
    if filters.page > 1:
        nav.append(f'<a rel=prev href="{escape(_link(filters, page=filters.page - 1))}">Newer</a>')
    if filters.page * PAGE < total:
        nav.append(f'<a rel=next href="{escape(_link(filters, page=filters.page + 1))}">Older</a>')
    body = f"<p>{said}</p><div class=grid>{''.join(cards)}</div><nav>{''.join(nav)}</nav>"
    return page(f"{server} · dreambot gallery", body, filters.words)


def _card(job: Job, filters: Filters, channels: dict[int, str]) -> str:
    """One picture of the grid: its thumbnail, prompt, and links that filter by its member, model and channel."""
    request, prompt = job.request, escape(job.request.prompt)
    links = [
        (_link(filters, member=job.user_id, page=1), job.user_name),
        (_link(filters, model=request.model, page=1), request.model),
        (_link(filters, channel=job.channel_id, page=1), "#" + channels.get(job.channel_id, "channel")),
        (_link(Filters(like=job.id)), "more like this"),
    ]
    meta = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in links)
    return (
        f'<div class=card><a href="/gallery/picture/{job.id}"><img src="/gallery/thumb/{job.id}.webp" alt="{prompt}" '
        f'loading=lazy width=256 height=256></a><p title="{prompt}">{prompt}</p><p class=meta>{meta}</p></div>'
    )


def dream_command(request: RenderRequest, options: str) -> str:
    """The /dream that paints the picture again: its prompt, seed, steps, size and model, and its options."""
    command = f"/dream prompt:{request.prompt} seed:{request.seed} steps:{request.steps} size:{request.size}"
    return command + f" model:{request.model}" + (f" options:{options}" if options else "")


def picture(server: str, job: Job, parameters: str, command: str, film: bool, parent: Job | None,
            children: list[Job]) -> str:  # fmt: skip
    family = []
    if parent is not None:
        family.append(f'<li>made from <a href="/gallery/picture/{parent.id}">{escape(parent.request.prompt)}</a></li>')
    family += [f'<li><a href="/gallery/picture/{c.id}">{escape(c.request.kind.what)}: {escape(c.request.prompt)}</a></li>'
               for c in children]  # fmt: skip
    body = [
        f'<div class=picture><img src="/gallery/image/{job.id}.png" alt="{escape(job.request.prompt)}" '
        f"width={job.request.width} height={job.request.height}></div>",
        f"<h2>{escape(job.request.prompt)}</h2><p>by {escape(job.user_name)} · {escape(job.request.model)}</p>",
        f"<h3>Paint it again</h3><code id=command>{escape(command)}</code><button data-copy=command>Copy</button>",
        f"<h3>Parameters</h3><pre id=parameters>{escape(parameters)}</pre><button data-copy=parameters>Copy</button>",
    ]
    if film:
        body.append(f'<h3>Film</h3><video src="/gallery/film/{job.id}.mp4" controls playsinline width=100%></video>')
    if family:
        body.append(f"<h3>Family</h3><ul>{''.join(family)}</ul>")
    if job.jump_url:
        body.append(f'<p><a href="{escape(job.jump_url)}">Its message in Discord</a> · '
                    f'<a href="{escape(_link(Filters(like=job.id)))}">more like this</a></p>')  # fmt: skip
    return page(f"{server} · dreambot gallery", "".join(body))


def refused(text: str) -> str:
    return page("dreambot gallery", f"<p>{escape(text)}</p>")
