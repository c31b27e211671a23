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


TRAIN_XOR = ["--data", "xor", "--model", "dense(4) tanh dense(2)", "--epochs", "1", "--quiet"]


@pytest.fixture
def two_runs(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["train", *TRAIN_XOR, "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    return tmp_path / "a", tmp_path / "b"


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{a}", "{b}"],
        ["tune", "--quick"],
        ["train", *TRAIN_XOR],
        ["ensemble", "--members", "2", *TRAIN_XOR],
        ["run", "{toml}"],
        ["search", "search-mlp", "--quick"],
        ["lr-find", "--data", "xor", "--model", "dense(4) tanh dense(2)", "--steps", "20"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_out_that_is_a_file_is_refused_in_one_line_before_any_work_by_every_command(
    tmp_path, capsys, two_runs, argv
):
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    a, b = two_runs
    before = snapshot(tmp_path)
    args = [arg.format(toml=toml, a=a, b=b) for arg in argv]
    assert main([*args, "--out", str(notes)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table, no first step: nothing before the refusal
    assert captured.err == f"layerlab {argv[0]}: error: --out {notes} is a file, not a folder; give a new folder\n"
    assert snapshot(tmp_path) == before


def test_a_comparison_never_replaces_a_runs_or_an_experiments_own_report(tmp_path, capsys, two_runs, other_experiment):
    a, b = two_runs
    before = snapshot(tmp_path)
    for out in (a, other_experiment):
        err = refused(["report", str(a), str(b), "--out", str(out)], capsys)
        assert err == (
            f"layerlab report: error: --out {out} is a run's or an experiment's directory: the comparison would "
            "replace its own report; give another --out"
        )
    assert snapshot(tmp_path) == before
    assert main(["report", str(a)]) == 0  # its own report, into it
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "both")]) == 0
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "both")]) == 0  # an earlier comparison: again


def test_a_comparison_is_not_written_into_a_folder_of_your_files(tmp_path, capsys, two_runs):
    a, b = two_runs
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    err = refused(["report", str(a), str(b), "--out", str(mine)], capsys)
    assert err == (
        f"layerlab report: error: --out {mine} holds other files (notes.txt) and no comparison; give a new or "
        "empty folder (yours stay untouched)"
    )
    assert snapshot(mine) == {Path("notes.txt"): b"my notes"}


def test_an_experiments_runs_have_readable_folders_and_predict_names_them(tmp_path, capsys):
    from PIL import Image

    from layerlab.experiments import load_experiment

    toml = tmp_path / "tiny.toml"
    toml.write_text(
        EXPERIMENT + '[[runs]]\nname = "Same settings"\n[[runs]]\nname = "Wide"\nmodel = "dense(8) tanh dense(2)"\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(toml), "--out", str(out), "--quiet"]) == 0
    runs = load_experiment(str(toml)).runs
    keys = [run.key for run in runs]
    folders = [entry["directory"] for entry in json.loads((out / "experiment.json").read_text())["runs"]]
    assert folders == [f"runs/a-{keys[0]}", f"runs/a-{keys[0]}", f"runs/wide-{keys[2]}"]  # shared: one folder
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"a-{keys[0]}", f"wide-{keys[2]}"]
    image = tmp_path / "point.png"
    Image.new("L", (2, 1)).save(image)
    capsys.readouterr()
    err = refused(["predict", str(out), str(image)], capsys)
    assert err == (
        f"layerlab predict: error: {out} is an experiment's folder, not a run: give one of its run folders: "
        f"{out / folders[0]}, {out / folders[2]}"
    )


def test_an_experiment_of_an_earlier_version_keeps_its_hash_named_run_folders(tmp_path, capsys):
    """Before readable names a run's folder was runs/<key>: such a folder is found by its key and reused."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT)
    out = tmp_path / "out"
    assert main(["run", str(toml), "--out", str(out), "--quiet"]) == 0
    (folder,) = (out / "runs").iterdir()
    key = folder.name.rsplit("-", 1)[1]
    folder.rename(out / "runs" / key)  # as an earlier layerlab named it
    index = json.loads((out / "experiment.json").read_text())
    index["runs"][0]["directory"] = f"runs/{key}"
    (out / "experiment.json").write_text(json.dumps(index))
    before = snapshot(out / "runs")
    capsys.readouterr()
    assert main(["run", str(toml), "--out", str(out), "--quiet"]) == 0
    assert "1 already finished" in capsys.readouterr().out
    assert [p.name for p in (out / "runs").iterdir()] == [key]
    result = Path(key) / "result.json"
    assert snapshot(out / "runs")[result] == before[result]  # reused, not trained again
    assert json.loads((out / "experiment.json").read_text())["runs"][0]["directory"] == f"runs/{key}"
    assert main(["eval", str(out / "runs" / key)]) == 0
