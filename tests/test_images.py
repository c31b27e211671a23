"""Bad image files (issue 12) and drawn digits (issue 13): one line naming the file; digits prepared as MNIST's."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerlab import api
from layerlab.cli import main
from layerlab.data import DataError, load
from layerlab.data.images import MAX_PIXELS, ImageError, decode, prepare


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header that declares width x height grey pixels, followed by a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def digits():
    test = load("mnist-small").test
    return test.x[:40, 0], test.y[:40]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "mlp"
    api.fit(
        model="flatten dense(64) relu dense(10)",
        data="mnist-small",
        limit=3000,
        epochs=2,
        batch_size=20,
        lr=0.1,
        out=out,
        quiet=True,
    )
    return out


@pytest.mark.parametrize("side", [10_000, 100_000])  # over our limit; over Pillow's own (DecompressionBombError)
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(side, side))
    assert side * side > MAX_PIXELS
    with pytest.raises(ImageError, match=rf"{bomb} declares .*{side * side:,} pixels.*decompression bomb"):
        decode(bomb)


def test_a_bomb_in_an_image_folder_is_one_line_naming_it(tmp_path, cli_error):
    for cls in ("a", "b"):
        (tmp_path / "set" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "set" / cls / f"{i}.png")
    (tmp_path / "set" / "b" / "9.png").write_bytes(png_declaring(100_000, 100_000))
    before = snapshot(tmp_path)
    err = cli_error(
        "train",
        "--data",
        str(tmp_path / "set"),
        "--model",
        "flatten dense(2)",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    )
    assert f"{tmp_path / 'set'}/b/9.png declares 10,000,000,000 pixels" in err
    assert snapshot(tmp_path) == before  # no run directory, nothing written


def test_predict_refuses_bad_images_one_line_each(run_dir, tmp_path, cli_error, digits):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(100_000, 100_000))
    good = tmp_path / "digit.png"
    Image.fromarray(digits[0][0]).resize((280, 280)).save(good)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    before = snapshot(run_dir) | snapshot(tmp_path)
    cases = {
        bomb: f"{bomb} declares 10,000,000,000 pixels",
        tmp_path: f"{tmp_path} is a folder, not an image",
        truncated: f"{truncated} is truncated or damaged",
        text: f"{text} is not a readable image",
        tmp_path / "nope.png": f"image {tmp_path / 'nope.png'} does not exist",
    }
    for path, message in cases.items():
        assert message in cli_error("predict", str(run_dir), str(good), str(path))
    assert "--top must be at least 1" in cli_error("predict", str(run_dir), str(good), "--top", "0")
    assert snapshot(run_dir) | snapshot(tmp_path) == before


def test_top_larger_than_the_classes_shows_them_all(run_dir, tmp_path, capsys, digits):
    Image.fromarray(digits[0][0]).save(tmp_path / "d.png")
    assert main(["predict", str(run_dir), str(tmp_path / "d.png"), "--top", "50"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].count("%") == 10


def test_a_drawn_digit_is_inverted_scaled_and_centred_as_mnist(digits):
    """Black on white, 5x larger, in a corner of a 300x300 page: prepared, it is close to the MNIST digit again."""
    x, _ = digits
    correlations = []
    for digit in x[:10]:
        page = np.full((300, 300), 255, np.uint8)
        big = 255 - np.asarray(Image.fromarray(digit).resize((140, 140), Image.Resampling.BILINEAR))
        page[10:150, 150:290] = big
        prepared, notes = prepare(page[:, :, None], (1, 28, 28))
        assert prepared.shape == (1, 28, 28) and prepared.dtype == np.uint8
        assert notes[0].startswith("dark on a light background: inverted") and "20x20 box" in notes[1]
        a, b = prepared[0].astype(float), digit.astype(float)
        correlations.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])  # the same digit in the same place
        rows, cols = np.nonzero(prepared[0] > 60)
        assert max(np.ptp(rows), np.ptp(cols)) < 20  # inside the 20x20 box
    assert min(correlations) > 0.7 and np.mean(correlations) > 0.9, correlations  # 0.96 over 200 digits
    untouched, notes = prepare(x[0][:, :, None], (1, 28, 28))
    np.testing.assert_array_equal(untouched[0], x[0])
    assert notes == ["28x28 light on dark, as MNIST: used as it is"]
    forced, notes = prepare(x[0][:, :, None], (1, 28, 28), invert=False)
    assert notes == ["28x28 light on dark, as MNIST: used as it is"]


def test_predict_files_classifies_drawn_digits_as_the_originals(run_dir, tmp_path, digits):
    run = api.load(run_dir)
    x, y = digits
    paths = []
    for i, digit in enumerate(x):
        page = np.full((120, 90, 3), 250, np.uint8)  # an RGB photo of paper
        page[30:86, 20:76] = 255 - np.asarray(Image.fromarray(digit).resize((56, 56)))[:, :, None]
        Image.fromarray(page).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    drawn = np.array([int(p.top(1)[0][0]) for p in run.predict_files(paths)])
    original = run.predict(x[:, None])
    assert (drawn == original).mean() >= 0.85, (drawn, original)  # without inverting: 10-20%
    raw = np.array([int(p.top(1)[0][0]) for p in run.predict_files(paths, invert=False)])
    assert (raw == original).mean() < 0.5


def test_folder_with_a_truncated_png_names_it(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / cls / "0.png")
    data = (tmp_path / "a" / "0.png").read_bytes()
    (tmp_path / "a" / "0.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{tmp_path}/a/0\.png is (truncated|not a readable)"):
        load(tmp_path)


def test_api_evaluate_with_tta_is_what_eval_prints(run_dir, capsys):
    evaluation = api.evaluate(run_dir, tta="rotations")
    assert set(evaluation.accuracy) == {"validation", "test"} and evaluation.accuracy["test"][1] == 1000
    views = evaluation.tta["views"]
    assert len(views) == 3 and evaluation.accuracy["test"][0] in views.values()  # the 0-degree view is the test set
    assert main(["eval", str(run_dir), "--tta", "rotations"]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy: {evaluation.accuracy['test'][0]:.2%} (1,000 examples)" in out
    assert f"averaged         {evaluation.tta['averaged']:.2%}" in out
