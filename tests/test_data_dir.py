"""A --data-dir the user gave is used or refused by name, never passed over for a download (issues 12, 13)."""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import pytest

from layerlab.data import DataError, load
from layerlab.data.download import MNIST

MNIST_FILES = ", ".join(remote.name for remote in MNIST)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to download fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr("layerlab.data.catalog.fetch", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)


@pytest.mark.parametrize("case", ["missing", "file", "empty", "incomplete"])
def test_a_bad_data_dir_is_refused_by_name(tmp_path, cli_error, no_network, case):
    given = tmp_path / "data"
    if case == "file":
        given.write_text("not a folder")
    elif case == "empty":
        given.mkdir()
    elif case == "incomplete":  # labels but no images, in the mnist/ subfolder of a shared copy
        (given / "mnist").mkdir(parents=True)
        (given / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    err = cli_error(
        "train", "--data", "mnist", "--data-dir", str(given), "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")
    )
    expected = {
        "missing": f"--data-dir {given} does not exist",
        "file": f"--data-dir {given} is a file, not a folder",
        "empty": f"{given} has no train-images-idx3-ubyte(.gz); expected files for MNIST: {MNIST_FILES}",
        "incomplete": f"{given} has no train-images-idx3-ubyte(.gz); expected files for MNIST: {MNIST_FILES}",
    }[case]
    assert expected in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no run directory, no cache written there


def test_cifar10_names_both_copies_it_would_use(tmp_path, no_network):
    message = r"has no cifar-10-binary\.tar\.gz; .*\(or the JPEG copy cifar10-jpeg-q75\.zip\)"
    with pytest.raises(DataError, match=message):
        load("cifar10", data_dir=tmp_path)


def test_a_data_dir_that_does_not_exist_is_refused_even_for_the_embedded_sets(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load("mnist-small", data_dir=tmp_path / "typo")
    assert len(load("mnist-small", data_dir=tmp_path).test) == 1000  # an existing folder: unused, fine


def test_the_files_in_a_data_dir_are_used(tmp_path, no_network):
    """Only the data_dir is searched: a copy there is read, directly or in its mnist/ subfolder."""
    shared = Path("/work/shared/data/mnist")
    if not shared.is_dir():
        pytest.skip("no shared MNIST copy on this machine")
    for remote in MNIST:
        (tmp_path / "mnist").mkdir(exist_ok=True)
        shutil.copy(shared / remote.name, tmp_path / "mnist" / remote.name)
    data = load("mnist", data_dir=tmp_path, limit=10)
    assert f"MNIST IDX files in {tmp_path / 'mnist'}" in data.source and len(data.test) == 10_000


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_experiment_runs_get_the_same_check(tmp_path, cli_error, no_network):
    err = cli_error("run", "lab4a", "--quick", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "exp"))
    assert "does not exist" in err


@pytest.mark.parametrize(("name", "how"), [("mnist-small", "embedded in layerlab"), ("xor", "generated")])
def test_an_existing_data_dir_that_an_embedded_or_generated_set_cannot_use_is_named(tmp_path, capsys, name, how):
    from layerlab.cli import main

    model = "flatten dense(10)" if name == "mnist-small" else "dense(2)"
    code = main(
        [
            "train",
            "--data",
            name,
            "--data-dir",
            str(tmp_path),
            "--limit",
            "50",
            "--epochs",
            "1",
            "--model",
            model,
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    assert f"note: {name} is {how}: --data-dir {tmp_path} is not used" in capsys.readouterr().out.splitlines()
    assert load(name, data_dir=tmp_path).info["data_dir"].endswith("is not used")
    assert "data_dir" not in load(name).info  # no folder given: nothing to say


def tree(folder: Path) -> dict[Path, bytes | None]:
    """Every file's bytes and every folder (None) under ``folder``: a byte snapshot."""
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No local MNIST anywhere, and every download fails as on a machine without a network; returns the
    list of URLs that were tried (the real ``fetch``, without its waits between rounds)."""
    import urllib.error
    import urllib.request

    from layerlab.data import catalog, download

    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(catalog, "SYSTEM_DATASETS", tmp_path / "none")
    tried = []

    def unreachable(request, *args, **kwargs):
        tried.append(request.full_url)
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(catalog, "fetch", lambda remote, dest: download.fetch(remote, dest, backoff=0))
    return tried


def test_an_experiment_whose_dataset_cannot_be_downloaded_stops_once_before_any_run(tmp_path, capsys, offline):
    from layerlab.cli import main

    out = tmp_path / "exp"  # an earlier try of the same experiment: its files must stay byte for byte
    (out / "runs").mkdir(parents=True)
    (out / "experiment.json").write_text('{"name": "lab4a", "runs": []}')
    before = tree(out)
    assert main(["run", "lab4a", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert len(offline) == 3  # one file, each of its 3 URLs once (no network: no retry rounds), not once a run
    assert {url.rsplit("/", 1)[1] for url in offline} == {"train-images-idx3-ubyte.gz"}
    assert captured.out == ""  # no header, no run started
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith(
        "layerlab run: error: dataset mnist (every run of lab4a): could not download train-images-idx3-ubyte.gz"
    )
    assert "Network is unreachable" in error and "Traceback" not in captured.err
    assert error.endswith(
        f"; or give --quick (its data, mnist-small, needs no download) or --data-dir DIR holding {MNIST_FILES} "
        "(or the same files unzipped), directly in the folder or in its mnist/ subfolder"
    )
    assert tree(out) == before  # no report, no run directory, the index untouched
    assert not (tmp_path / "cache" / "mnist").exists() or not any((tmp_path / "cache" / "mnist").iterdir())


def test_an_experiment_with_a_data_dir_lacking_the_files_stops_once(tmp_path, cli_error, offline):
    given = tmp_path / "data"
    given.mkdir()
    err = cli_error("run", "lab4a", "--data-dir", str(given), "--out", str(tmp_path / "exp"))
    assert err.startswith(f"layerlab run: error: dataset mnist (every run of lab4a): {given} has no train-images")
    assert err.rstrip().endswith("; or give --quick (its data, mnist-small, needs no download)")
    assert offline == [] and not (tmp_path / "exp").exists()
