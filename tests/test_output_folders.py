"""`run`, `search` and `lr-find` write only into a new or empty folder, or one they wrote before for the
same experiment or search: never into a folder of other files or of another experiment's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.cli import main

EXPERIMENT = """
name = "tiny"
[settings]
data = "xor"
model = "dense(4) tanh dense(2)"
epochs = 1
[[runs]]
name = "a"
"""


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def other_experiment(tmp_path):
    folder = tmp_path / "vanishing"
    (folder / "runs" / "x").mkdir(parents=True)
    (folder / "experiment.json").write_text(json.dumps({"name": "vanishing", "runs": []}))
    (folder / "report.md").write_text("# The vanishing gradient\n")
    return folder


def refused(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "{toml}"],
        ["search", "search-mlp", "--quick"],
        ["lr-find", "--data", "xor", "--model", "dense(4) tanh dense(2)", "--steps", "20"],
    ],
)
def test_another_experiments_folder_is_refused_and_kept(argv, tmp_path, other_experiment, capsys):
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT)
    before = snapshot(other_experiment)
    err = refused([a.format(toml=toml) for a in argv] + ["--out", str(other_experiment)], capsys)
    assert str(other_experiment) in err and "--out" in err
    if argv[0] == "run":
        assert "holds the experiment 'vanishing', not 'tiny'" in err
    else:
        assert "holds other files" in err
    assert snapshot(other_experiment) == before


def test_a_folder_of_your_own_files_is_refused(tmp_path, capsys):
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    err = refused(["run", str(toml), "--out", str(mine)], capsys)
    assert "holds other files and no experiment" in err
    assert snapshot(mine) == {Path("notes.txt"): b"my notes"}
    err = refused(["run", str(toml), "--out", str(tmp_path / "tiny.toml")], capsys)
    assert "is a file, not a folder" in err


def test_the_same_experiment_runs_again_in_its_folder(tmp_path, capsys):
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT)
    out = tmp_path / "out"
    assert main(["run", str(toml), "--out", str(out), "--quiet"]) == 0
    assert main(["run", str(toml), "--out", str(out), "--quiet"]) == 0
    assert "1 already finished" in capsys.readouterr().out
