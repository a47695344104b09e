"""Whether a weights file holds the right bytes: a whole file of its format, with the sha256 the
registry pins or, where nobody publishes one, the sha256 recorded when it was first fetched.

Pins are full sha256 digests, or the leading hex digits torchvision writes into its file names
(``googlenet-1378be20.pth``). Recorded digests live beside the files in ``SHA256SUMS``, in the format
``sha256sum -c`` reads, so an owner can check them with the usual tool too.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from contract.models import VQGAN_CONFIG, ModelSpec, WeightFile

log = logging.getLogger(__name__)

SUMS_FILE = "SHA256SUMS"
CHUNK = 1 << 20
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6: a zip archive, whose directory sits at its end
SAFETENSORS_MAX_HEADER = 100 << 20  # the safetensors library's own limit on its JSON header


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def matches(pin: str, digest: str) -> bool:
    """A full pin equals the digest; a torchvision prefix starts it."""
    return digest.startswith(pin.lower())


def recorded(folder: Path) -> dict[str, str]:
    """The digests recorded in ``folder``'s ``SHA256SUMS``; lines that are not ``HEX  NAME`` are ignored."""
    try:
        text = (folder / SUMS_FILE).read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return {}
    sums = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) and name:
            sums[name] = digest
    return sums


def record(folder: Path, name: str, digest: str) -> None:
    """Add or replace ``name``'s digest in ``SHA256SUMS``, atomically."""
    sums = recorded(folder) | {name: digest}
    temporary = folder / f".{SUMS_FILE}.tmp"
    temporary.write_text("".join(f"{hexdigest}  {file}\n" for file, hexdigest in sorted(sums.items())))
    os.replace(temporary, folder / SUMS_FILE)


def expected(file: WeightFile, folder: Path) -> str | None:
    """The digest ``file`` must have: its pin, else the one recorded when it was first fetched."""
    return file.sha256 or recorded(folder).get(file.name)


def wrong_bytes(path: Path, want: str | None) -> tuple[str | None, str]:
    """Why ``path`` does not hold the right bytes (not whole, or another sha256 than ``want``), or None; and its
    sha256 ("" when it is not whole: a cut file is not worth reading through)."""
    if (problem := whole_file_problem(path)) is not None:
        return problem, ""
    digest = sha256_of(path)
    if want is not None and not matches(want, digest):
        return f"it has sha256 {digest}, expected {want}", digest
    return None, digest


def whole_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole file of its format, or None. Catches a cut download that no
    Content-Length announced: a zip's directory, a safetensors header's extent, a config's syntax."""
    with open(path, "rb") as f:
        head = f.read(8)
    try:
        if head.startswith(ZIP_MAGIC):
            with zipfile.ZipFile(path):
                return None
        if path.suffix == ".safetensors":
            return _safetensors_problem(path, head)
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.name == VQGAN_CONFIG:
            return _vqgan_config_problem(path.read_text())
        elif path.suffix == ".yaml":
            yaml.safe_load(path.read_text())
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, IndexError, yaml.YAMLError) as error:
        return f"it is not a whole {path.suffix.lstrip('.') or 'zip'} file ({error})"
    return None


def _vqgan_config_problem(text: str) -> str | None:
    """A ``model.yaml`` that is YAML but not a taming-transformers model config (``model: {}`` placed by hand)."""
    try:
        params = yaml.safe_load(text)["model"]["params"]
        missing = [key for key in ("ddconfig", "n_embed", "embed_dim") if key not in params]
    except (TypeError, KeyError):
        return "it is not a taming-transformers config: it has no model.params"
    return f"it is not a taming-transformers config: model.params has no {', '.join(missing)}" if missing else None


def _safetensors_problem(path: Path, head: bytes) -> str | None:
    if len(head) < 8:
        return "it is too short to be a safetensors file"
    (header_length,) = struct.unpack("<Q", head)
    if header_length > SAFETENSORS_MAX_HEADER:
        return f"its safetensors header claims {header_length} bytes"
    with open(path, "rb") as f:
        f.seek(8)
        header = json.loads(f.read(header_length))
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    size = 8 + header_length + max(ends, default=0)
    actual = path.stat().st_size
    return None if actual == size else f"its safetensors header describes {size} bytes but it has {actual}"


class State(enum.Enum):
    PINNED = "ok (pinned sha256)"
    MATCHES_RECORD = "ok (sha256 recorded at download)"
    RECORDED_NOW = "recorded now (not fetched by dreambot: its sha256 is trusted from here on)"
    MISMATCH = "MISMATCH"
    MISSING = "missing"
    MADE_HERE = "made here (random smoke-test weights)"


@dataclass(frozen=True)
class Check:
    file: str
    state: State
    detail: str = ""

    @property
    def bad(self) -> bool:
        return self.state is State.MISMATCH


def verify(spec: ModelSpec, folder: Path) -> list[Check]:
    """Check each present file of ``spec`` against its pin or recorded digest; record a file that has
    neither (it was placed by hand), so a later change to it is caught."""
    checks = []
    sums = recorded(folder)
    for file in spec.files:
        path = folder / file.name
        if not path.is_file():
            checks.append(Check(file.name, State.MISSING))
            continue
        if spec.synthetic:
            checks.append(Check(file.name, State.MADE_HERE))
            continue
        digest = sha256_of(path)
        want = file.sha256 or sums.get(file.name)
        if want is None:
            record(folder, file.name, digest)
            checks.append(Check(file.name, State.RECORDED_NOW, digest))
        elif not matches(want, digest):
            checks.append(Check(file.name, State.MISMATCH, f"sha256 {digest}, expected {want}"))
        else:
            checks.append(Check(file.name, State.PINNED if file.sha256 else State.MATCHES_RECORD))
    return checks
