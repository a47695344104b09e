"""The MP4 writer: H.264 in yuv420p with the index up front, cross-fades between key frames, captions,
and a film that always fits the upload limit."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from engine.video import FPS, HOLD_SECONDS, FilmWriter, captioned, fit, tween_for


def solid(value: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, (value, value, value))


def noise(seed: int, size: tuple[int, int] = (128, 128)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as film:
        return [frame.to_ndarray(format="rgb24") for frame in film.decode(video=0)]


def write(path: Path, pictures: list[Image.Image], limit: int = 10 * 2**20, captions: list[str] | None = None) -> bytes:
    writer = FilmWriter(path, key_frames=len(pictures), limit=limit)
    for i, picture in enumerate(pictures):
        writer.add(picture, captions[i] if captions else "")
    data = writer.close()
    assert data is not None
    return data


def test_a_film_is_h264_yuv420p_with_its_index_first_and_plays_its_frames(tmp_path):
    path = tmp_path / "film.mp4"
    data = write(path, [solid(0), solid(255), solid(0)])
    assert data[4:8] == b"ftyp" and data.index(b"moov") < data.index(b"mdat")  # fast start: plays while it downloads
    with av.open(str(path)) as film:
        stream = film.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert stream.average_rate == FPS
    tween = tween_for(3)
    frames = decoded(path)
    assert len(frames) == 1 + 2 * tween + round(HOLD_SECONDS * FPS)
    means = [frame.mean() for frame in frames]
    assert means[0] < 5 and means[tween] > 250 and means[-1] < 5
    halfway = means[tween // 2]  # the cross-fade from black to white passes through grey
    assert abs(halfway - 255 * (tween // 2) / tween) < 12


def test_odd_sizes_become_even_and_later_frames_take_the_first_ones_size(tmp_path):
    path = tmp_path / "odd.mp4"
    write(path, [solid(10, (65, 33)), solid(200, (40, 40))])
    assert {frame.shape for frame in decoded(path)} == {(32, 64, 3)}


def test_key_frames_make_a_film_of_about_six_seconds_whatever_their_number():
    for keys in (10, 30, 60, 144):
        assert 5.0 <= keys * tween_for(keys) / FPS <= 7.0
    assert tween_for(1000) == 1 and tween_for(2) == 12  # never below one frame, never slower than half a second


@pytest.mark.parametrize("limit", [120_000, 30_000])
def test_a_film_fits_the_limit_by_its_rate_cap_or_by_encoding_it_again(tmp_path, limit):
    pictures = [noise(seed) for seed in range(40)]
    natural = write(tmp_path / "natural.mp4", pictures, limit=10**9)
    assert len(natural) > 3 * limit  # measured: 410 kB
    capped = write(tmp_path / "capped.mp4", pictures, limit=limit)  # the writer's own cap
    assert len(capped) <= limit
    fit(tmp_path / "natural.mp4", limit)  # encoded again from itself
    assert (tmp_path / "natural.mp4").stat().st_size <= limit
    assert len(decoded(tmp_path / "natural.mp4")) == len(decoded(tmp_path / "capped.mp4")) == 1 + 39 * tween_for(40) + 36


def test_a_caption_is_drawn_on_a_dark_band_at_the_foot():
    picture = solid(128, (256, 256))
    framed = np.asarray(captioned(picture, "a dragon over the sea"))
    assert (framed[:200] == 128).all()  # the picture above the band is untouched
    foot = framed[230:]
    assert foot.min() < 100 and foot.max() > 240  # dark band, white letters
    long = np.asarray(captioned(picture, "word " * 200))  # shortened to fit the width, not overflowing
    assert long.shape == framed.shape


def test_a_writer_that_got_no_frame_writes_nothing(tmp_path):
    assert FilmWriter(tmp_path / "empty.mp4", key_frames=3).close() is None
    assert not (tmp_path / "empty.mp4").exists()
