"""Model names to specs (open_clip perceptors included), cache folder errors, and downloads against a
local HTTP server (resume, checksums, offline, and mirrors that serve the wrong bytes or cut the reply)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import typing
import zipfile
from pathlib import Path

import pytest

from contract.errors import DownloadError, WeightsError
from contract.models import ModelSpec, WeightFile
from engine import integrity, weights


def _zip_payload() -> bytes:
    """A file in torch.save's format (a zip archive) of about 100 kB: its directory sits at its end."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data/0", bytes(range(256)) * 400)
    return buffer.getvalue()


ZIP_PAYLOAD = _zip_payload()
CUT_AT = 30_000


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """``/file`` with resume; ``/missing`` 404; ``/other`` other bytes; ``/zip`` a whole zip; ``/cut`` that zip
    cut short with no length announced; ``/chunked-cut`` a chunked reply that stops before its end."""

    payload = b""
    requests: typing.ClassVar[list[str | None]] = []
    if_range: typing.ClassVar[list[str | None]] = []

    def do_GET(self):
        if self.path == "/missing":
            self.send_error(404)
            return
        if self.path in ("/other", "/zip", "/cut", "/chunked-cut"):
            self._odd_reply()
            return
        range_header = self.headers.get("Range")
        type(self).requests.append(range_header)
        type(self).if_range.append(self.headers.get("If-Range"))
        start = int(range_header.removeprefix("bytes=").rstrip("-")) if range_header else 0
        body = self.payload[start:]
        self.send_response(206 if range_header else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"v1"')
        self.end_headers()
        self.wfile.write(body)

    def _odd_reply(self):
        self.send_response(200)
        if self.path == "/chunked-cut":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(ZIP_PAYLOAD) + ZIP_PAYLOAD[:CUT_AT])
            return
        body = {"/other": bytes(reversed(self.payload)), "/zip": ZIP_PAYLOAD, "/cut": ZIP_PAYLOAD[:CUT_AT]}[self.path]
        if self.path != "/cut":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.payload = bytes(range(256)) * 4096
    _RangeHandler.requests = []
    _RangeHandler.if_range = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_clip_spec_points_at_hugging_face():
    spec = weights.spec_for("ViT-B-32/openai")
    assert spec.family == "clip"
    assert spec.files[0].urls[0] == (
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors"
    )
    assert spec.folder_name == "ViT-B-32__openai"


@pytest.mark.parametrize(
    ("name", "message"),
    [("nope", "unknown model 'nope'"), ("ViT-B-32/nope", "no pretrained weights"), ("x/", "MODEL/PRETRAINED")],
)
def test_unknown_names(name, message):
    with pytest.raises(WeightsError, match=message):
        weights.spec_for(name)


def test_missing_file_error_names_file_folder_and_command(tmp_path):
    store = weights.WeightStore(tmp_path)
    with pytest.raises(WeightsError) as info:
        store.ensure(weights.spec_for("vqgan-imagenet-f16-16384"))
    message = str(info.value)
    assert f"are missing: model.yaml, last.ckpt not found (looked in {tmp_path / 'vqgan-imagenet-f16-16384'})" in message
    assert "dreambot weights download vqgan-imagenet-f16-16384" in message


def _begun(folder: Path, url: str, payload: bytes) -> None:
    """A download of ``url`` into ``folder/file.bin`` that stopped after 1000 bytes."""
    (folder / "file.bin.part").write_bytes(payload[:1000])
    (folder / "file.bin.part.source").write_text(json.dumps({"url": url, "version": '"v1"'}))


def test_download_and_resume(server, tmp_path):
    payload = _RangeHandler.payload
    dest = tmp_path / "file.bin"
    _begun(tmp_path, f"{server}/file", payload)
    digest = hashlib.sha256(payload).hexdigest()
    weights.fetch(WeightFile("file.bin", (f"{server}/file",), sha256=digest), dest, progress=False)
    assert dest.read_bytes() == payload
    assert _RangeHandler.requests == ["bytes=1000-"]
    assert _RangeHandler.if_range == ['"v1"'], "resumed only if the file is still the version it began with"
    assert not (tmp_path / "file.bin.part").exists() and not (tmp_path / "file.bin.part.source").exists()


@pytest.mark.parametrize("source", ["another mirror", "nothing noted"])
def test_a_partial_download_is_never_continued_from_another_url(server, tmp_path, source):
    payload = _RangeHandler.payload
    _begun(tmp_path, "https://elsewhere.example/file.bin", bytes(reversed(payload)))
    if source == "nothing noted":
        (tmp_path / "file.bin.part.source").unlink()
    weights.fetch(WeightFile("file.bin", (f"{server}/file",)), tmp_path / "file.bin", progress=False)
    assert (tmp_path / "file.bin").read_bytes() == payload, "no bytes of the other mirror stitched on"
    assert _RangeHandler.requests == [None]


def test_the_first_download_records_its_sha256_and_a_mirror_with_other_bytes_is_refused_later(server, tmp_path):
    payload = _RangeHandler.payload
    file = WeightFile("file.bin", (f"{server}/file",))
    weights.fetch(file, tmp_path / "file.bin", progress=False)
    assert integrity.recorded(tmp_path) == {"file.bin": hashlib.sha256(payload).hexdigest()}
    (tmp_path / "file.bin").unlink()
    with pytest.raises(DownloadError, match="file.bin from .*/other was refused: it has sha256"):
        weights.fetch(WeightFile("file.bin", (f"{server}/other",)), tmp_path / "file.bin", progress=False)
    assert not (tmp_path / "file.bin").exists() and not (tmp_path / "file.bin.part").exists()
    weights.fetch(WeightFile("file.bin", (f"{server}/other", f"{server}/file")), tmp_path / "file.bin", progress=False)
    assert (tmp_path / "file.bin").read_bytes() == payload, "the next mirror gave the recorded bytes"


def test_a_pinned_file_from_a_mirror_with_other_bytes_is_refused_and_the_next_mirror_used(server, tmp_path):
    payload = _RangeHandler.payload
    pin = hashlib.sha256(payload).hexdigest()
    file = WeightFile("file.bin", (f"{server}/other", f"{server}/file"), sha256=pin)
    weights.fetch(file, tmp_path / "file.bin", progress=False)
    assert (tmp_path / "file.bin").read_bytes() == payload
    assert integrity.recorded(tmp_path) == {}, "a pinned file needs no record"


@pytest.mark.parametrize("cut", ["cut", "chunked-cut"])
def test_a_reply_cut_short_keeps_no_file_and_the_next_mirror_is_tried(server, tmp_path, cut):
    dest = tmp_path / "last.ckpt"
    with pytest.raises(DownloadError, match="last.ckpt") as info:
        weights.fetch(WeightFile("last.ckpt", (f"{server}/{cut}",)), dest, progress=False)
    assert not dest.exists() and integrity.recorded(tmp_path) == {}
    assert ("not a whole" in str(info.value)) if cut == "cut" else ("IncompleteRead" in str(info.value))
    weights.fetch(WeightFile("last.ckpt", (f"{server}/{cut}", f"{server}/zip")), dest, progress=False)
    assert dest.read_bytes() == ZIP_PAYLOAD


def test_dead_mirror_falls_through_to_next(server, tmp_path):
    dest = tmp_path / "file.bin"
    weights.fetch(WeightFile("file.bin", (f"{server}/missing", f"{server}/file")), dest, progress=False)
    assert dest.read_bytes() == _RangeHandler.payload


def test_checksum_mismatch_removes_partial_file(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="expected 00"):
        weights.fetch(WeightFile("file.bin", (f"{server}/file",), sha256="00" * 32), dest, progress=False)
    assert not dest.exists()
    assert not (tmp_path / "file.bin.part").exists()


def test_offline_download_says_so(tmp_path):
    file = WeightFile("last.ckpt", ("http://nonexistent.invalid/last.ckpt",))
    with pytest.raises(DownloadError, match="could not reach nonexistent.invalid.*offline.*save it as") as info:
        weights.fetch(file, tmp_path / "last.ckpt", progress=False)
    assert not (tmp_path / "last.ckpt").exists()
    message = str(info.value)
    assert "http://nonexistent.invalid/last.ckpt" in message and str(tmp_path / "last.ckpt") in message, "the URL and the path"


def test_an_http_error_names_the_host_the_status_and_the_url(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        weights.fetch(WeightFile("file.bin", (f"{server}/missing",)), tmp_path / "file.bin", progress=False)
    assert f"answered HTTP 404 for {server}/missing" in str(info.value)


def test_store_download_makes_synthetic_models(weights_dir: Path):
    store = weights.WeightStore(weights_dir)
    folder = store.download(weights.spec_for("tiny-clip"), progress=False)
    assert (folder / "open_clip_config.json").is_file()
    assert (folder / "open_clip_model.safetensors").is_file()


def test_a_present_file_cut_short_or_changed_is_fetched_again_and_the_old_one_kept_aside(server, tmp_path):
    payload = _RangeHandler.payload
    spec = ModelSpec("m", "vqgan", "a model", (WeightFile("file.bin", (f"{server}/file",), hashlib.sha256(payload).hexdigest()),))
    store = weights.WeightStore(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "file.bin").write_bytes(b"something else")
    store.download(spec, progress=False)
    assert (tmp_path / "m" / "file.bin").read_bytes() == payload
    assert (tmp_path / "m" / "file.bin.bad").read_bytes() == b"something else"
    store.download(spec, progress=False)
    assert _RangeHandler.requests == [None], "the right file stays as it is"
