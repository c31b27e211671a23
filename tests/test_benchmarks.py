"""Every benchmark script runs with ``--tiny`` (a few hundred images, one epoch or one timing, seconds) and prints
the table it promises, with real numbers: so that a GPU's short time measures instead of debugging
(docs/gpu.md). Each runs as a user runs it: ``python benchmarks/NAME.py --tiny`` in its own process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"(\d[\d,]*\.?\d*)"


def run_script(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def markdown_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in ``text`` (the line above a |---| line is a header), as lists of
    stripped cells."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        if set(line) <= set("|-: "):
            rows.pop()  # the header
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def ratio_of(ratio: float, a: float, b: float, step: float = 0.001) -> bool:
    """Whether a printed ratio is a / b of the printed a and b, each rounded to ``step``."""
    low, high = (a - step / 2) / (b + step / 2), (a + step / 2) / max(b - step / 2, 1e-12)
    return low - 0.006 <= ratio <= high + 0.006


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%x"))


def test_torch_fast_path(tmp_path):
    out = run_script("torch_fast_path", "--tiny", "--device", "cpu", cwd=tmp_path)
    assert "200 images on CPU" in out
    row = re.compile(rf"^\s*(mlp30|mlp100|cnn)\s+(10|64)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x\s+(.+)$")
    rows = [m.groups() for line in out.splitlines() if (m := row.match(line))]
    assert {(r[0], r[1], r[6]) for r in rows} == {
        (model, batch, loop)
        for model in ("mlp30", "mlp100", "cnn")
        for batch in ("10", "64")
        for loop in ("layerlab torch engine", "grad_norms=false")
    }
    for dataloader, index, engine, ratio in (r[2:6] for r in rows):
        assert float(dataloader) > 0 and float(index) > 0 and float(engine) > 0
        assert ratio_of(float(ratio), float(index), float(engine))


def test_batched_repeats(tmp_path):
    out = run_script("batched_repeats", "--tiny", cwd=tmp_path)
    rows = {row[0]: row for row in markdown_rows(out)}
    assert set(rows) == {"mlp30", "row4"}
    for one, stacked, ratio, goal, vmap, _ in (row[2:] for row in rows.values()):
        assert number(one) > 0 and number(stacked) > 0
        assert ratio_of(number(ratio), number(stacked), number(one))
        assert goal.endswith(("(met)", "(missed)")) and number(vmap) > 0
    assert number(rows["mlp30"][7]) > 0 and number(rows["row4"][7]) > 0  # the written-out steps against autograd's


def test_numpy_vs_torch(tmp_path):
    out = run_script("numpy_vs_torch", "--tiny", "--threads", "1", cwd=tmp_path)
    row = re.compile(rf"^(MLP|CNN) .*?\s(\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$")
    rows = [m.groups() for line in out.splitlines() if (m := row.match(line))]
    assert [(kind, batch) for kind, batch, *_ in rows] == [("MLP", "10"), ("MLP", "100"), ("CNN", "10"), ("CNN", "64")]
    for *_, numpy_ms, torch_ms, ratio in rows:
        assert float(numpy_ms) > 0 and float(torch_ms) > 0
        assert ratio_of(float(ratio), float(numpy_ms), float(torch_ms))


def test_augment_throughput(tmp_path):
    out = run_script("augment_throughput", "--tiny", cwd=tmp_path)
    assert "batches of 16 uint8 images" in out
    names = ["shift", "rotate", "translate", "shear", "scale", "affine", "elastic", "crop", "resized_crop", "flip"]
    for name in names:
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        rates = [number(cell) for cell in line.split()[1:]]
        assert len(rates) == 4 and all(rate > 0 for rate in rates), line
    shift_expand = next(line for line in out.splitlines() if line.startswith("shift_expand"))
    assert number(shift_expand.split()[1]) > 0


def test_search_mlp(tmp_path):
    out = run_script("search_mlp", "searches", "--tiny", "--out", str(tmp_path / "search"), cwd=tmp_path)
    assert "1 epochs per trial, training images: 300; 4 trials per search" in out
    rows = {row[0]: row for row in markdown_rows(out)}
    assert set(rows) == {"random", "tpe", "tpe+median"}
    for at1, at2, at4, cpu in (row[1:5] for row in rows.values()):
        first, half, last = (number(cell.split(" ± ")[0]) for cell in (at1, at2, at4))
        assert 0 < first <= half <= last <= 100  # the best so far never falls
        assert number(cpu.split(" ± ")[0]) >= 0
    assert (tmp_path / "search" / "search-mlp.png").stat().st_size > 10_000


def test_playground_protocol(tmp_path):
    out = run_script("playground_fps", "--tiny", cwd=tmp_path)
    assert float(re.search(rf"playing: {NUMBER} frames per second", out)[1]) > 0
    timings = re.findall(
        rf"change -> frame while (playing|paused),.*median\s+{NUMBER} ms, 95th percentile\s+"
        rf"{NUMBER} ms, worst\s+{NUMBER} ms",
        out,
    )
    assert len(timings) == 4
    for _, median, p95, worst in timings:
        assert 0 < float(median) <= float(p95) <= float(worst)
    assert float(re.search(rf"server work per frame .*: {NUMBER} ms", out)[1]) > 0


def test_lesson_verdicts(tmp_path):
    """The tiny experiment on this CPU's kernels and on a pre-AVX CPU's: the same verdicts, from floats that
    really differ (the environment reached the kernels)."""
    out = run_script(
        "lesson_verdicts", "--tiny", "--kernels", "native", "portable", "--out", str(tmp_path / "v"), cwd=tmp_path
    )
    lines = [line.split() for line in out.splitlines() if "tiny.toml" in line and not line.startswith("experiments")]
    assert [line[1:4] for line in lines] == [["hidden-4", ">", "0.9"], ["hidden-4", ">=", "linear"]]
    assert all(line[4:6] == ["A", "A"] and float(line[6]) > 0 for line in lines)
    assert "s0/t1  s0/t1/p" in out and "0 expectation(s) not agreeing" in out
    losses = []
    for folder in ("tiny-seed0-threads1", "tiny-seed0-threads1-portable"):
        (metrics,) = (tmp_path / "v" / folder / "runs").glob("hidden-4-*/metrics.jsonl")
        losses.append(json.loads(metrics.read_text().splitlines()[-1])["train_loss"])
    assert losses[0] != losses[1] and losses[0] == pytest.approx(losses[1], rel=1e-4)


def test_gpu_figures(tmp_path):
    out = run_script("gpu_figures", "--tiny", "--out", str(tmp_path / "figures"), cwd=tmp_path)
    files = sorted(path.name for path in (tmp_path / "figures").glob("*.md"))
    assert files == ["1-fast-path.md", "2-ladder.md", "3-cifar.md", "4-mnist-best.md"]
    tables = {name: markdown_rows((tmp_path / "figures" / name).read_text()) for name in files}
    for name, rows in tables.items():
        assert rows, name
        assert (tmp_path / "figures" / name).read_text() in out  # printed as well

    fast = tables["1-fast-path.md"]
    timed = [row for row in fast if row[0] in ("plain DataLoader loop", "engine (plain settings)")]
    assert len(timed) == 4  # both loops at batch 10 and 64
    for seconds, accuracy in ((row[2], row[4]) for row in timed):
        assert number(seconds) > 0 and 0 <= number(accuracy) <= 100

    ladder = {row[0]: row for row in tables["2-ladder.md"]}
    assert set(ladder) == {"1-mlp-100", "4-relu"}
    for best, mean, of, epochs, wall, together in ((r[2], r[3], r[4], r[5], r[6], r[9]) for r in ladder.values()):
        assert number(mean) <= number(best) <= 100 and of == "3 seed(s)" and epochs == "1/1"
        assert number(wall) > 0 and together == "yes"  # the repeats trained as one stacked model
    assert re.search(
        r"Row 4's 3 seeds trained together: [\d.]+ s per epoch", (tmp_path / "figures" / "2-ladder.md").read_text()
    )

    cifar = {row[0]: row for row in tables["3-cifar.md"]}
    assert 0 <= number(cifar["lab4b ex1-2-conv"][1]) <= 100 and number(cifar["lab4b ex1-2-conv"][4]) > 0
    assert 0 <= number(cifar["cifar-fast fast"][2]) <= 100  # with test-time flips
    airbench = cifar["airbench94"][1]
    assert airbench.startswith("missing: pip install airbench") or airbench == "needs a CUDA GPU"

    best = {row[0]: row for row in tables["4-mnist-best.md"]}
    assert set(best) == {"single network", "vote of 2 (1 epochs each)"}
    for val, test, wall in ((row[1], row[2], row[4]) for row in best.values()):
        assert 0 <= number(val) <= 100 and 0 <= number(test) <= 100 and number(wall) > 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no browser: apt-get install chromium (Debian)")
def test_image_playground(tmp_path):
    """The Images page in headless Chromium (Debian's, as the playground's browser tests use it)."""
    out = run_script("image_playground", "--tiny", cwd=tmp_path)
    assert float(re.search(rf"MLP step {NUMBER} ms", out)[1]) > 0
    mlp = re.search(rf"Lab 4A MLP: {NUMBER} view updates/s over {NUMBER} s", out)
    assert float(mlp[1]) > 0 and float(mlp[2]) > 0
    drawings = re.findall(rf"classification \((paused|training)\): median {NUMBER} ms, worst {NUMBER} ms over 3", out)
    assert [kind for kind, _, _ in drawings] == ["paused", "training"]
    assert all(0 < float(median) <= float(worst) for _, median, worst in drawings)
