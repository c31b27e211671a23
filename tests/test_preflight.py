"""Checks before anything is allocated or trained: memory (issue 12), output width against classes and loss (13)."""

from __future__ import annotations

import pytest

from layerlab.cli import main
from layerlab.spec import SpecError, check_memory, parse

GIB = 1024**3


def one_line_error(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_layer_too_large_to_allocate_is_refused_with_the_numbers(tmp_path, capsys, engine):
    err = one_line_error(capsys, "train", "--model", "flatten dense(10000000000) dense(10)", "--data", "mnist-small",
                         "--engine", engine, "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"))  # fmt: skip
    assert "layer 2 `dense(10000000000)` needs 29 TiB of weights (" in err  # 784 x 1e10 float32 = 28.5 TiB
    assert "this machine has " in err and "GiB of memory; use fewer units or filters" in err
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_gradcheck_refuses_it_too(capsys):
    err = one_line_error(capsys, "gradcheck", "--model", "input(784) dense(10000000000)")
    assert "needs 57 TiB of weights" in err  # float64: 784 x 1e10 x 8 bytes


def test_memory_estimate_counts_weights_and_a_batch_of_activations():
    spec = parse("input(1000) dense(1000) relu dense(10)")  # 1,011,010 parameters
    check_memory(spec, itemsize=4, available=16 * 1024**2)  # 2 x 4 MB fits in 16 MiB
    with pytest.raises(SpecError, match=r"layer 1 `dense\(1000\)` needs 4 MiB of weights \(8 MiB to train"):
        check_memory(spec, itemsize=4, available=6 * 1024**2, where="this machine")
    conv = parse("input(3, 64, 64) conv(64, 3, padding=same) relu flatten dense(10)")
    with pytest.raises(SpecError, match=r"layer 1 `conv\(64, 3, padding=same\)` needs 1 GiB of activations for a "
                                        r"batch of 1024 .*use a smaller --batch-size"):  # fmt: skip
        check_memory(conv, batch_size=1024, available=2 * GIB)  # 64x64x64 x 1024 x 4 bytes = 1 GiB per layer
    check_memory(conv, batch_size=16, available=2 * GIB)
