"""Model names to specs (open_clip perceptors included), cache folder errors, and downloads against a
local HTTP server (resume, checksums, offline)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import typing
from pathlib import Path

import pytest

from contract.errors import DownloadError, WeightsError
from contract.models import WeightFile
from engine import weights


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    requests: typing.ClassVar[list[str | None]] = []

    def do_GET(self):
        if self.path == "/missing":
            self.send_error(404)
            return
        range_header = self.headers.get("Range")
        type(self).requests.append(range_header)
        start = int(range_header.removeprefix("bytes=").rstrip("-")) if range_header else 0
        body = self.payload[start:]
        self.send_response(206 if range_header else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.payload = bytes(range(256)) * 4096
    _RangeHandler.requests = []
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
    assert str(tmp_path / "vqgan-imagenet-f16-16384" / "model.yaml") in message
    assert "dreambot weights download vqgan-imagenet-f16-16384" in message


def test_download_and_resume(server, tmp_path):
    payload = _RangeHandler.payload
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(payload[:1000])
    digest = hashlib.sha256(payload).hexdigest()
    weights.fetch(WeightFile("file.bin", (f"{server}/file",), sha256=digest), dest, progress=False)
    assert dest.read_bytes() == payload
    assert _RangeHandler.requests == ["bytes=1000-"]
    assert not (tmp_path / "file.bin.part").exists()


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
