"""The weights cache: where a model's files live, and fetching them.

Files live in ``{weights_dir}/{name}/``; downloads resume from a ``.part`` file (only from the URL
and version it began with), show a progress bar and are checked (``engine.integrity``) before they
are moved into place; any failure moves on to the next mirror. Which files a model has, and their mirrors
and checksums, is the registry's (``contract.registry``). The ``tiny-*`` models have no URL: they
are made deterministically on first use (``engine/networks/tiny.py``) and then load through exactly
the same code as the real files.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract import registry
from contract.errors import DownloadError, WeightsError
from contract.models import ModelSpec, WeightFile
from engine import integrity

log = logging.getLogger(__name__)

CHUNK = integrity.CHUNK
MIRROR_VARIABLE = "DREAMBOT_WEIGHTS_MIRROR"  # a base URL tried before the official ones: {mirror}/{model}/{file}

OnBytes = Callable[[int, int | None], None]  # bytes of a file so far, and in all (None: not told)


def spec_for(name: str) -> ModelSpec:
    """Spec of any model name: a registered one, or an open_clip ``MODEL/PRETRAINED`` perceptor."""
    if "/" in name:
        from engine.networks.clip import clip_spec  # deferred: open_clip pulls in torch

        return clip_spec(name)
    return registry.lookup(name)


@dataclass(frozen=True)
class WeightStore:
    """The cache folder: resolves, checks and fetches the files of a model."""

    root: Path

    def folder(self, spec: ModelSpec) -> Path:
        return spec.folder_in(self.root)

    def missing(self, spec: ModelSpec) -> list[Path]:
        return spec.missing_in(self.root)

    def ensure(self, spec: ModelSpec) -> Path:
        """The model's folder with every file present, making synthetic models on first use."""
        missing = self.missing(spec)
        if missing and spec.synthetic:
            from engine.networks import tiny  # deferred: needs torch

            tiny.make(spec.name, self.folder(spec))
            missing = self.missing(spec)
        if missing:
            names = ", ".join(path.name for path in missing)
            raise WeightsError(
                f"weights for {spec.name} are missing: {names} not found (looked in {self.folder(spec)}). "
                f"Fetch them with: dreambot weights download {spec.name}"
            )
        return self.folder(spec)

    def corrupt(self, spec: ModelSpec, path: Path, why: str) -> WeightsError:
        """The error for a file that exists but cannot be read."""
        return WeightsError(
            f"weights file {path} for {spec.name} is corrupt, incomplete or unsafe ({why}). "
            f"Delete it and fetch it again with: dreambot weights download {spec.name}"
        )

    def download(self, spec: ModelSpec, progress: bool = True, on_file: Callable[[str], OnBytes] | None = None) -> Path:
        """Fetch every missing file of ``spec``; synthetic models are made instead. ``on_file(name)`` gives
        what hears each file's progress."""
        if spec.synthetic:
            return self.ensure(spec)
        folder = self.folder(spec)
        folder.mkdir(parents=True, exist_ok=True)
        for file in spec.files:
            dest = folder / file.name
            if dest.is_file():
                problem, _ = integrity.wrong_bytes(dest, integrity.expected(file, folder))
                if problem is None:
                    log.info("%s already present", dest)
                    continue
                log.warning("%s is present but %s: fetching it again (the old one kept as %s.bad)", dest, problem, dest.name)
                os.replace(dest, dest.with_name(dest.name + ".bad"))
            fetch(with_mirror(file, spec), dest, progress=progress, on_bytes=on_file(file.name) if on_file else None)
        return folder


def _describe_failure(url: str, error: Exception) -> str:
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(error, urllib.error.HTTPError):
        return f"{host} answered HTTP {error.code} for {url}"
    if isinstance(error, urllib.error.URLError):
        return f"could not reach {host} ({error.reason}); this machine may be offline"
    if isinstance(error, http.client.HTTPException | ValueError):
        return f"{host} sent a broken reply for {url} ({type(error).__name__}: {error})"
    return str(error)


def with_mirror(file: WeightFile, spec: ModelSpec) -> WeightFile:
    """``file`` with the owner's mirror (``$DREAMBOT_WEIGHTS_MIRROR``) tried first, when one is set."""
    mirror = os.environ.get(MIRROR_VARIABLE, "").rstrip("/")
    if not mirror:
        return file
    return dataclasses.replace(file, urls=(f"{mirror}/{spec.folder_name}/{file.name}", *file.urls))


def fetch(file: WeightFile, dest: Path, progress: bool = True, on_bytes: OnBytes | None = None) -> None:
    """Download ``file`` to ``dest`` through the first mirror that gives the right bytes: a whole file
    with the pinned or recorded sha256. A file with neither has its sha256 recorded for later checks."""
    if not file.urls:
        raise DownloadError(f"{file.name} has no download address")
    want = integrity.expected(file, dest.parent)
    failures = []
    for url in file.urls:
        try:
            part = _fetch_one(url, dest, progress, on_bytes)
            digest = _checked(part, url, want)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError, DownloadError) as error:
            failures.append(_describe_failure(url, error))
            log.warning("download failed: %s", failures[-1])
            continue
        os.replace(part, dest)
        _source_of(part).unlink(missing_ok=True)
        if want is None:
            integrity.record(dest.parent, dest.name, digest)
        log.info("saved %s (sha256 %s)", dest, digest)
        return
    raise DownloadError(
        f"could not download {file.name}: {'; '.join(failures)}. You can fetch {file.urls[0]} by hand and save it as {dest}"
    )


def _checked(part: Path, url: str, want: str | None) -> str:
    """The sha256 of a fetched ``part`` that is whole and as expected; otherwise it is removed."""
    problem, digest = integrity.wrong_bytes(part, want)
    if problem is not None:
        part.unlink()
        _source_of(part).unlink(missing_ok=True)
        raise DownloadError(f"{part.name.removesuffix('.part')} from {url} was refused: {problem}; the partial file was removed")
    return digest


def _source_of(part: Path) -> Path:
    """Where a partial download notes the URL and version it came from: it resumes only from those."""
    return part.with_name(part.name + ".source")


def _resumable(part: Path, url: str) -> dict[str, str] | None:
    """What ``part`` was fetched from, when it can be continued from ``url``; else it is discarded."""
    try:
        source = json.loads(_source_of(part).read_text())
    except (OSError, ValueError):
        source = None
    if isinstance(source, dict) and source.get("url") == url and part.is_file():
        return source
    part.unlink(missing_ok=True)
    return None


def _fetch_one(url: str, dest: Path, progress: bool, on_bytes: OnBytes | None = None) -> Path:
    """Fetch ``url`` into ``dest``'s ``.part`` file, continuing a partial download of the same URL and
    version (``If-Range``), never one begun elsewhere. Returns the part file."""
    from tqdm import tqdm

    part = dest.with_name(dest.name + ".part")
    source = _resumable(part, url)
    start = part.stat().st_size if source else 0
    headers = {"User-Agent": "dreambot"}
    if start:
        headers["Range"] = f"bytes={start}-"
        if source.get("version"):
            headers["If-Range"] = source["version"]
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
        if start and response.status != 206:
            log.info("%s did not continue the partial download; starting %s again", url, dest.name)
            start = 0
        version = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
        _source_of(part).write_text(json.dumps({"url": url, "version": version}))
        length = response.headers.get("Content-Length")
        total = start + int(length) if length else None
        with (
            open(part, "ab" if start else "wb") as out,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar,
        ):
            done = start
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
                done += len(chunk)
                if on_bytes is not None:
                    on_bytes(done, total)
    if total is not None and part.stat().st_size != total:
        raise DownloadError(f"{url} ended early: got {part.stat().st_size} of {total} bytes; run the command again to resume")
    return part
