"""A real full disk and a real read-only disk under the report writers: a small tmpfs mounted for the test
(root may mount one; elsewhere the tests skip and say so), filled to the last page or remounted read-only.

Every file layerlab writes goes through ``layerlab.files.atomic_write`` (figures are drawn in memory first),
so the command ends with one line naming the file, no half-written PNG or temporary file is left, and the
run's own files are exactly as they were.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from layerlab.cli import main

TRAIN = ["train", "--data", "circle", "--model", "dense(8) relu dense(2)", "--epochs", "2", "--engine", "numpy"]
TRAIN += ["--quiet"]


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)``: a fresh tmpfs of ``size`` (e.g. "2m") in the test's folder, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk-{len(mounted)}"
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command to make a small tmpfs to fill")
        command = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Write a file of zeros until the disk is full, then give ``leave`` bytes back."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def one_line(capsys, code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
    return captured.err.strip()


def leftovers(directory: Path) -> list[str]:
    """Temporary files or PNGs that are not whole pictures."""
    found = [str(p) for p in directory.rglob("*") if p.name.endswith(".tmp")]
    for png in directory.rglob("*.png"):
        if not png.read_bytes().endswith(b"IEND\xaeB`\x82"):
            found.append(str(png))
    return found


@pytest.mark.parametrize("leave", [0, 60_000], ids=["full", "full-after-a-few-plots"])
def test_layerlab_report_on_a_full_disk_says_so_in_one_line_and_leaves_the_run_intact(small_disk, capsys, leave):
    disk = small_disk("4m")
    run = disk / "run"
    assert main([*TRAIN, "--out", str(run)]) == 0
    capsys.readouterr()
    shutil.rmtree(run / "report")
    (run / "report.md").unlink()
    (run / "report.html").unlink()
    before = snapshot(run)
    fill(disk, leave)
    err = one_line(capsys, main(["report", str(run)]))
    assert err.startswith("layerlab report: error: no space left on device while writing ") and str(run) in err
    assert not leftovers(run)
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k in before} == before  # the run's own files, byte for byte
    assert main(["eval", str(run)]) == 0  # still a working run


def test_train_on_a_disk_that_fills_while_its_report_is_written_ends_in_one_line_with_the_run_finished(
    small_disk, capsys
):
    """The run's files fit (a few pages); its report (predictions, a decision-boundary grid, PNGs) does not."""
    disk = small_disk("96k")
    run = disk / "run"
    err = one_line(capsys, main([*TRAIN, "--out", str(run)]))
    assert "error: no space left on device while writing " in err, err
    assert not leftovers(run)
    assert (run / "result.json").is_file() and len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["eval", str(run)]) == 0


def test_layerlab_report_on_a_read_only_disk_says_so_in_one_line(small_disk, capsys):
    disk = small_disk("4m")
    run = disk / "run"
    assert main([*TRAIN, "--out", str(run)]) == 0
    capsys.readouterr()
    (run / "report.html").unlink()  # the report is written again, from the start
    before = snapshot(run)
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only: {done.stderr.strip()}")
    err = one_line(capsys, main(["report", str(run)]))
    assert err.startswith("layerlab report: error: read-only file system while writing ") and str(run) in err
    assert snapshot(run) == before


def test_lr_find_on_a_full_disk_says_so_in_one_line(small_disk, capsys):
    disk = small_disk("1m")
    fill(disk)
    err = one_line(capsys, main(["lr-find", "--quick", "--steps", "20", "--limit", "200", "--out", str(disk / "lr")]))
    assert "no space left on device while writing" in err and str(disk / "lr") in err
    assert not leftovers(disk)


@pytest.mark.parametrize(
    ("argv", "written"),
    [(["plot", "activations", "--out"], "activations.png"), (["exercise", "dense", "--out"], "my_layers.py")],
    ids=["plot", "exercise"],
)
def test_the_single_file_commands_on_a_full_disk_say_so_in_one_line(small_disk, capsys, argv, written):
    disk = small_disk("256k")
    fill(disk)
    err = one_line(capsys, main([*argv, str(disk / written)]))
    assert err.endswith(f"error: no space left on device while writing {disk / written}")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no half file, no temporary one
