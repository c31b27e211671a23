"""init_weights: a run starts from a file's weights (Keras' load_weights then fit), in both engines; bad
files are refused before training in one line; the file counts in an experiment run's key by its contents."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import numpy as np
import pytest

import layerlab
from layerlab.cli import main
from layerlab.errors import TrainError
from layerlab.experiments import load_experiment
from layerlab.experiments.plan import ExperimentError
from layerlab.hooks import Hook
from layerlab.search import load_search
from layerlab.weights import load_weights, save_weights

MODEL = "dense(4) tanh dense(2)"
XOR = dict(data="xor", model=MODEL, batch_size=25, lr=0.3, quiet=True)


class FirstWeights(Hook):
    """The trainable's weights when the first epoch starts (the run's epoch-0 weights)."""

    def on_epoch_start(self, loop, epoch):
        if epoch == 1:
            self.weights = loop.trainable.weights()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The best weights of a 3-epoch run with another seed than the runs that start from them."""
    out = tmp_path_factory.mktemp("source") / "run"
    layerlab.fit(**XOR, engine="numpy", epochs=3, seed=5, out=out)
    return out / "best.safetensors"


def test_both_engines_start_from_the_file_and_take_the_same_first_epoch(saved):
    state, _ = load_weights(saved)
    runs = {}
    for engine in ("numpy", "torch"):
        first = FirstWeights()
        runs[engine] = layerlab.fit(**XOR, engine=engine, epochs=1, seed=1, init_weights=str(saved), hooks=[first])
        assert first.weights.keys() == state.keys()
        for name, value in state.items():
            np.testing.assert_array_equal(first.weights[name], value, err_msg=f"{engine} {name}")
    losses = {engine: run.result.history[0]["train_loss"] for engine, run in runs.items()}
    assert losses["numpy"] == pytest.approx(losses["torch"], abs=1e-5)
    fresh = layerlab.fit(**XOR, engine="numpy", epochs=1, seed=1).result.history[0]["train_loss"]
    assert abs(fresh - losses["numpy"]) > 0.01  # the seed's own weights give another epoch
    assert runs["numpy"].config.init_weights == str(saved)


def test_a_resumed_run_continues_its_checkpoint_without_reading_the_file_again(tmp_path, saved):
    start = tmp_path / "start.safetensors"
    start.write_bytes(saved.read_bytes())
    whole = layerlab.fit(**XOR, engine="numpy", epochs=3, init_weights=str(start), out=tmp_path / "whole")
    layerlab.fit(**XOR, engine="numpy", epochs=1, init_weights=str(start), out=tmp_path / "cut")
    start.unlink()  # only read at the start: the checkpoint holds the weights now
    resumed = layerlab.fit(**XOR, engine="numpy", epochs=3, init_weights=str(start), out=tmp_path / "cut", resume=True)
    assert [row["train_loss"] for row in resumed.result.history] == [row["train_loss"] for row in whole.result.history]


def _write(path, state, spec="input(2) dense(4) tanh dense(2)"):
    save_weights(path, state, {"spec": spec})
    return str(path)


def test_bad_files_are_refused_before_training_in_one_line(tmp_path, saved, cli_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state, _ = load_weights(saved)
    train = ["train", "--data", "xor", "--model", MODEL, "--epochs", "1", "--out", "run", "--init-weights"]
    assert "--init-weights nope.safetensors: no such file" in cli_error(*train, "nope.safetensors")
    np.savez("w.npz", **state)
    assert "w.npz: not a .safetensors file; layerlab starts only from .safetensors weights" in cli_error(
        *train, "w.npz"
    )
    (tmp_path / "pickled.safetensors").write_bytes(pickle.dumps(state))
    err = cli_error(*train, "pickled.safetensors")
    assert "--init-weights pickled.safetensors is not a readable .safetensors file" in err
    (tmp_path / "cut.safetensors").write_bytes(saved.read_bytes()[:-20])
    assert "cut.safetensors is not a readable .safetensors file" in cli_error(*train, "cut.safetensors")
    assert "truncated or corrupt" in cli_error(*train, "cut.safetensors")

    missing = _write(tmp_path / "missing.safetensors", {k: v for k, v in state.items() if k != "2.bias"})
    assert f"--init-weights {missing} lacks 2.bias (layer 3 dense(2)) of `input(2) dense(4) tanh dense(2)`" in (
        cli_error(*train, missing)
    )
    extra = _write(tmp_path / "extra.safetensors", state | {"4.weight": np.zeros((2, 2), np.float32)})
    assert "has weights `input(2) dense(4) tanh dense(2)` does not: 4.weight" in cli_error(*train, extra)
    wide = layerlab.fit(data="xor", model="dense(5) tanh dense(2)", epochs=1, quiet=True, out=tmp_path / "wide")
    err = cli_error(*train, str(wide.directory / "best.safetensors"))
    assert "0.weight of layer 1 dense(4) has shape (5, 2) in the file but the model needs (4, 2)" in err
    assert "saved from `input(2) dense(5) tanh dense(2)`); train the model it was saved from, or give " in err
    broken = _write(tmp_path / "nan.safetensors", state | {"0.bias": np.full(4, np.nan, np.float32)})
    assert "0.bias of layer 1 dense(4) holds values that are not finite numbers" in cli_error(*train, broken)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made


def test_a_config_files_relative_paths_are_from_its_folder_and_flags_from_the_current_one(tmp_path, saved, monkeypatch):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab/start.safetensors").write_bytes(saved.read_bytes())
    settings = f'init_weights = "start.safetensors"\ndata_dir = "."\nmodel = "{MODEL}"\ndata = "xor"\n'
    (tmp_path / "lab/lab.toml").write_text(settings)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "lab/lab.toml", "--epochs", "1", "--quiet", "--out", "a"]) == 0
    saved_config = layerlab.load("a").config
    assert saved_config.init_weights == str(tmp_path / "lab/start.safetensors")
    assert saved_config.data_dir == str(tmp_path / "lab")
    (tmp_path / "lab/search.toml").write_text(f"[settings]\n{settings}[space]\nlr = {{ log = [0.01, 0.1] }}\n")
    assert load_search("lab/search.toml").settings["init_weights"] == str(tmp_path / "lab/start.safetensors")
    (tmp_path / "other.safetensors").write_bytes(saved.read_bytes())
    args = ["train", "--config", "lab/lab.toml", "--init-weights", "other.safetensors", "--epochs", "1", "--quiet"]
    assert main([*args, "--out", "b"]) == 0  # the flag beats the file, relative to where layerlab runs
    assert layerlab.load("b").config.init_weights == "other.safetensors"
    with pytest.raises(TrainError, match=r"different settings \(init_weights\)"):
        layerlab.fit(epochs=2, out="b", resume=True, quiet=True, init_weights="lab/start.safetensors")


EXPERIMENT = f"""name = "start"
[settings]
data = "xor"
model = "{MODEL}"
epochs = 1
init_weights = "weights/start.safetensors"
[[runs]]
name = "from-file"
"""


def test_an_experiment_run_key_holds_the_files_sha256_not_its_path(tmp_path, saved):
    (tmp_path / "weights").mkdir()
    start = tmp_path / "weights/start.safetensors"
    start.write_bytes(saved.read_bytes())
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    run = load_experiment(str(path)).runs[0]
    key = run.key
    assert run.config.init_weights == str(start)  # relative to the experiment file's folder
    moved = tmp_path / "moved.safetensors"
    moved.write_bytes(start.read_bytes())
    assert replace(run, config=run.config.replace(init_weights=str(moved))).key == key  # the same contents
    assert replace(run, config=run.config.replace(init_weights=None)).key != key
    state, metadata = load_weights(start)
    save_weights(start, state | {"0.bias": state["0.bias"] + 1}, metadata)  # edited: a new run, not the old one
    assert load_experiment(str(path)).runs[0].key != key
    start.write_bytes(moved.read_bytes())  # in place, the same size, within the clock's resolution
    assert run.key == key
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    index = json.loads((out / "experiment.json").read_text())
    assert index["runs"][0]["status"] == "done" and index["runs"][0]["config"]["init_weights"] == str(start)
    start.unlink()
    with pytest.raises(ExperimentError, match=r"run 'from-file': cannot read .*start.safetensors .No such file"):
        load_experiment(str(path))
