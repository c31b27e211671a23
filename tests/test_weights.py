"""Weights files: both formats round-trip exactly, writes are atomic, bad files give clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.numpy

import layerlab.numpy as ln
from layerlab import parse
from layerlab import weights as W
from layerlab.errors import LayerlabError
from layerlab.weights import WeightsError, load_weights, save_weights

SPEC = parse("input(1, 6, 6) conv(3, 3) relu maxpool(2) flatten dense(4) batchnorm dense(2)")
SUFFIXES = [".safetensors", ".npz"]


def sample_state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "0.weight": rng.standard_normal((3, 1, 3, 3)).astype(np.float32),
        "0.bias": np.array([1e-30, -2.5, np.pi], np.float64),
        "5.running_var": np.arange(4, dtype=np.float32) / 3,
        "steps": np.array(12345678901, np.int64),  # 0-d
        "mask": np.array([True, False, True]),
        "strided": np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2],  # not contiguous
    }


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_is_exact_with_dtypes_shapes_and_metadata(tmp_path, suffix):
    state = sample_state()
    metadata = {"spec": str(SPEC), "epoch": "3", "note": 'ünïcode, "quotes" and\nnewlines'}
    path = save_weights(tmp_path / f"w{suffix}", state, metadata)
    assert path == tmp_path / f"w{suffix}"
    loaded, meta = load_weights(str(path))
    assert meta == metadata
    assert set(loaded) == set(state)
    for name, value in state.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value)
    assert parse(meta["spec"]) == SPEC  # the file says which model it belongs to


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_model_saved_and_loaded_predicts_the_same(tmp_path, suffix):
    model = ln.build(SPEC, seed=1)
    x = np.random.default_rng(1).standard_normal((5, 1, 6, 6)).astype(np.float32)
    model.train_step(x, np.array([0, 1, 1, 0, 1]), ln.SGD(lr=0.3))
    save_weights(tmp_path / f"m{suffix}", model.state_dict(), {"spec": str(SPEC)})
    state, meta = load_weights(tmp_path / f"m{suffix}")
    again = ln.build(parse(meta["spec"]), seed=2, state=state)
    np.testing.assert_array_equal(again.forward(x), model.forward(x))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_metadata_loads_as_empty(tmp_path, suffix):
    save_weights(tmp_path / f"w{suffix}", {"a": np.ones(2)})
    assert load_weights(tmp_path / f"w{suffix}")[1] == {}


def test_files_written_by_the_libraries_themselves_load(tmp_path):
    safetensors.numpy.save_file({"w": np.ones((2, 2), np.float32)}, tmp_path / "plain.safetensors")
    np.savez(tmp_path / "plain.npz", w=np.ones((2, 2)))
    for name in ("plain.safetensors", "plain.npz"):
        state, meta = load_weights(tmp_path / name)
        assert meta == {} and list(state) == ["w"] and state["w"].sum() == 4


def test_an_npz_keeps_its_metadata_as_a_json_string_not_a_pickle(tmp_path):
    save_weights(tmp_path / "w.npz", {"a": np.zeros(1)}, {"spec": "dense(2)"})
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["__metadata__", "a"]
        assert json.loads(str(f["__metadata__"])) == {"spec": "dense(2)"}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_overwriting_is_atomic_and_leaves_no_temporary_files(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    save_weights(path, {"a": np.zeros(3)})
    save_weights(path, {"a": np.ones(3)}, {"v": "2"})
    assert files_in(tmp_path) == [path.name]
    state, meta = load_weights(path)
    assert state["a"].tolist() == [1, 1, 1] and meta == {"v": "2"}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, suffix, failure):
    path = tmp_path / f"w{suffix}"
    save_weights(path, {"a": np.arange(3.0)}, {"v": "1"})
    before = path.read_bytes()

    def half_then_fail(f, arrays, metadata):
        f.write(b"half a file")
        raise failure

    monkeypatch.setitem(W._WRITERS, suffix, half_then_fail)
    with pytest.raises(type(failure)):
        save_weights(path, {"a": np.zeros(1000)}, {"v": "2"})
    assert files_in(tmp_path) == [path.name]
    assert path.read_bytes() == before
    assert load_weights(path)[1] == {"v": "1"}


def test_errors_name_the_problem_and_the_fix(tmp_path):
    with pytest.raises(WeightsError, match=r"unknown weights format '\.pt'; name the file \*\.safetensors or \*\.npz"):
        save_weights(tmp_path / "w.pt", {"a": np.zeros(1)})
    with pytest.raises(WeightsError, match="unknown weights format ''"):
        load_weights(tmp_path / "weights")
    with pytest.raises(WeightsError, match=r"no weights file at .*missing\.npz; check the path"):
        load_weights(tmp_path / "missing.npz")
    with pytest.raises(WeightsError, match="the directory .*nowhere does not exist; create it first"):
        save_weights(tmp_path / "nowhere" / "w.npz", {"a": np.zeros(1)})
    with pytest.raises(WeightsError, match="weight a has dtype object; only numbers and booleans"):
        save_weights(tmp_path / "w.npz", {"a": np.array([{}, None], dtype=object)})
    with pytest.raises(WeightsError, match="weight a has dtype <U3"):
        save_weights(tmp_path / "w.safetensors", {"a": np.array(["abc"])})
    with pytest.raises(WeightsError, match="metadata must map strings to strings, got 'epoch': 3; convert with str"):
        save_weights(tmp_path / "w.npz", {"a": np.zeros(1)}, {"epoch": 3})
    with pytest.raises(WeightsError, match="names must be strings other than __metadata__"):
        save_weights(tmp_path / "w.npz", {"__metadata__": np.zeros(1)})
    assert files_in(tmp_path) == []  # nothing was written by any of these
    assert issubclass(WeightsError, LayerlabError) and issubclass(WeightsError, ValueError)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_corrupt_and_truncated_files_are_reported_not_crashed_on(tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    save_weights(good, {"a": np.arange(100.0)}, {"spec": "dense(2)"})
    data = good.read_bytes()
    for name, content in [("garbage", b"\x00\x01 not weights at all" * 10), ("truncated", data[: len(data) // 2])]:
        bad = tmp_path / f"{name}{suffix}"
        bad.write_bytes(content)
        with pytest.raises(WeightsError, match=rf"{name}\{suffix} is not a readable \{suffix} weights file .*save"):
            load_weights(bad)
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="not a readable"):
        load_weights(empty)


def test_an_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))  # numpy pickles object arrays
    with pytest.raises(WeightsError, match="allow_pickle=False"):
        load_weights(tmp_path / "pickled.npz")
