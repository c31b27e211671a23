"""`layerlab exercise` and `layerlab check`: a correct solution passes, typical mistakes are each caught
with a message that names them, and a class of your own works in a spec on the numpy engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerlab import parse, spec
from layerlab.cli import main
from layerlab.exercises import TEMPLATES, ExerciseError, write_starter
from layerlab.grader import CASES, check_file, train_comparison
from layerlab.numpy import build, custom

GOOD = Path(__file__).parent / "layers" / "good_layers.py"


def _catalogue():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("grader_mistakes", GOOD.parent / "mistakes.py")
    module = sys.modules["grader_mistakes"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MISTAKES


CATALOGUE = _catalogue()


@pytest.fixture(autouse=True)
def _forget_registered_layers():
    yield
    for name in list(custom.CLASSES):
        custom.CLASSES.pop(name)
        spec.CUSTOM.pop(name, None)


def test_a_correct_solution_passes_every_case():
    reports = check_file(GOOD)
    assert {r.kind for r in reports} == set(CASES) == set(TEMPLATES)
    for r in reports:
        assert not r.failure, (r.name, r.failure)
        assert len(r.passed) == len(CASES[r.kind]) >= 3


def _broken(tmp_path, old: str, new: str, kind: str) -> str:
    text = GOOD.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "mine.py"
    path.write_text(text.replace(old, new))
    (report,) = [r for r in check_file(path) if r.kind == kind]
    assert report.failure, f"{kind}: the mistake was not caught"
    return report.failure


MISTAKES = [
    (
        "dense",
        'grads = {"weight": dy.T @ self.x}',
        'grads = {"weight": dy.T @ self.x / len(dy)}',
        "off by the batch size",
    ),
    ("dense", 'grads = {"weight": dy.T @ self.x}', 'grads = {"weight": self.x.T @ dy}', "transposed"),
    (
        "dense",
        '        if "bias" in self.params:\n            grads["bias"] = dy.sum(axis=0)\n',
        "",
        "forgot the bias gradient",
    ),
    ("dense", 'grads["bias"] = dy.sum(axis=0)', 'grads["bias"] = dy', "sum it over the batch"),
    ("dense", 'y = y + self.params["bias"]\n', "y = y\n", "forgot to add the bias"),
    (
        "dense",
        '        return dy @ self.params["weight"], grads',
        '        return dy @ self.params["weight"]',
        "no gradient for 'weight'",
    ),
    ("dense", "        self.x = x\n        y = x @", "        self.x = x\n        y = (x @", "SyntaxError"),
    (
        "relu",
        "        self.x = x\n        return np.maximum(x, 0)",
        "        x[x < 0] = 0\n        self.x = x\n        return x",
        "forward changed its input x in place",
    ),
    (
        "relu",
        "        return dy * (self.x > 0)",
        "        self.x[self.x < 0] = 0\n        return dy * (self.x > 0)",
        "backward changed the cached input x in place",
    ),
    ("tanh", "return dy * (1 - self.y**2)", "return dy * (1 - self.y)", "is wrong: at index"),
    (
        "tanh",
        "        self.y = np.tanh(x)\n        return self.y",
        "        raise NotImplementedError",
        "not written yet",
    ),
    ("softmax-ce", "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x", "overflow"),
    (  # the textbook softmax, then its log: shifted, so no overflow, but e^-1000 underflows to 0
        "softmax-ce",
        "log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
        "log_p = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))",
        "underflowed to 0 (e^-1000 = 0, log 0 = -inf): compute log p directly",
    ),
    (
        "softmax-ce",
        "return -log_p[np.arange(len(x)), t].mean()",
        "return -log_p[np.arange(len(x)), t].sum()",
        "sums the losses of the batch",
    ),
    ("softmax-ce", "return dy * d / len(d)", "return dy * d", "off by the batch size"),
    (
        "softmax-ce",
        "return -log_p[np.arange(len(x)), t].mean()",
        "return -log_p[np.arange(len(x)), t]",
        "return their mean",
    ),
    (
        "dropout",
        'self.mask = (args["rng"].random(x.shape) >= self.p) / (1 - self.p)',
        'self.mask = args["rng"].random(x.shape) >= self.p',
        "forgot to scale the kept values",
    ),
    (
        "maxpool",
        "dx[:, :, i * s : i * s + k, j * s : j * s + k] += mask",
        "dx[:, :, i * s : i * s + k, j * s : j * s + k] = mask",
        "add them up (+=)",
    ),
    ("conv", 'grads["bias"] = dy.sum(axis=(0, 2, 3))', 'grads["bias"] = dy.sum(axis=(2, 3))', "sum it over the batch"),
    ("conv", "return dxp[:, :, p : p + h, p : p + wd], grads", "return dxp, grads", "still has the zero padding"),
    (
        "batchnorm",
        "return (m * dx_hat - s1 - self.x_hat * s2) * inv_std / m, grads",
        "return dx_hat * inv_std, grads",
        "backward's dL/dx is wrong",
    ),
    ("batchnorm", "self.momentum * var * m / (m - 1)", "self.momentum * var", "takes the unbiased variance"),
]


@pytest.mark.parametrize(("kind", "old", "new", "message"), MISTAKES, ids=[f"{m[0]}-{m[3][:24]}" for m in MISTAKES])
def test_a_typical_mistake_is_caught_with_its_message(tmp_path, kind, old, new, message):
    if "SyntaxError" in message:  # a file that does not even load is one clear error
        path = tmp_path / "mine.py"
        path.write_text(GOOD.read_text().replace(old, new))
        with pytest.raises(custom.CustomLayerError, match=r"mine.py, line 24: SyntaxError: '\(' was never closed"):
            check_file(path)
        return
    assert message in _broken(tmp_path, old, new, kind)


def test_the_starter_file_is_refused_over_an_existing_file_and_fails_as_not_written(tmp_path, capsys):
    path = tmp_path / "my_layers.py"
    assert main(["exercise", "dense", "relu", "--out", str(path)]) == 0
    text = path.read_text()
    assert "class MyDense(Layer):" in text and "class MyReLU(Layer):" in text and "dL/dW: (out, in)" in text
    assert main(["check", str(path), "--no-train"]) == 1
    out = capsys.readouterr().out
    assert "MyDense (dense): FAILED on case 1 of 4" in out and "forward is not written yet" in out
    path.write_text("my work")
    assert main(["exercise", "conv", "--out", str(path)]) == 2
    assert "exists: layerlab never replaces your file" in capsys.readouterr().err
    assert path.read_text() == "my work"
    with pytest.raises(ExerciseError, match="unknown exercise lstm"):
        write_starter(["lstm"], tmp_path / "x.py")
    write_starter(["all"], tmp_path / "all.py")
    assert all(f"class {cls}(Layer)" in (tmp_path / "all.py").read_text() for cls, _ in TEMPLATES.values())


def test_your_class_is_a_layer_name_in_specs_on_the_numpy_engine():
    assert custom.load_layers(GOOD)["MyDense"] == "dense"
    model = parse("input(4) MyDense(3, bias=false) MyTanh dense(2)")
    assert str(model) == "input(4) MyDense(3, bias=false) MyTanh dense(2)"
    assert model.layers[0].kind == "dense" and model.layers[0].impl == "MyDense"
    ours = build(parse("input(4) dense(3, bias=false) tanh dense(2)"), seed=1, dtype=np.float64)
    yours = build(model, seed=1, dtype=np.float64)
    x, y = np.random.default_rng(0).standard_normal((5, 4)), np.array([0, 1, 1, 0, 1])
    from layerlab.numpy import SGD

    for _ in range(3):
        assert yours.train_step(x, y, SGD(lr=0.1)) == pytest.approx(ours.train_step(x, y, SGD(lr=0.1)), rel=1e-12)
    np.testing.assert_allclose(yours.state_dict()["0.weight"], ours.state_dict()["0.weight"], rtol=1e-12)
    from layerlab.torch.model import build as torch_build

    with pytest.raises(spec.SpecError, match="numpy engine only"):
        torch_build(model)


def test_your_dropout_with_scale_test_is_refused_not_run_as_inverted_dropout():
    """Your dropout takes p only (inverted dropout); scale=test was silently dropped, a different network."""
    custom.load_layers(GOOD)
    build(parse("input(4) MyDropout(0.5) dense(2)"), seed=1)  # the default scale is yours
    with pytest.raises(custom.CustomLayerError, match=r"MyDropout\(scale=test\)`: a dropout of your own"):
        build(parse("input(4) MyDropout(0.5, scale=test) dense(2)"), seed=1)


def test_after_the_checks_a_small_mnist_model_trains_with_your_layer():
    reports = [r for r in check_file(GOOD) if r.kind == "dense"]
    said = []
    (row,) = train_comparison(GOOD, reports, limit=200, epochs=1, progress=said.append)
    assert row["yours"] == "flatten MyDense(64) relu dense(10)"
    (line,) = said
    assert line.endswith("relu dense(10) on mnist-small (200 images, 1 epoch)"), line
    assert row["yours_accuracy"] == pytest.approx(row["ours_accuracy"], abs=0.01)
    assert row["ours_accuracy"] > 0.3


def test_the_cli_takes_your_layers_by_file(capsys):
    assert main(["summary", "--layers", str(GOOD), "--model", "input(4) MyDense(3) MyReLU dense(2)"]) == 0
    assert "MyDense(3)" in capsys.readouterr().out
    assert main(["summary", "--layers", "missing.py", "--model", "input(4) dense(3)"]) == 2
    assert "no Python file missing.py" in capsys.readouterr().err


def _catch(tmp_path, mistake) -> str:
    """The grader's message on good_layers.py with one catalogued mistake ('' when it passes)."""
    text = GOOD.read_text()
    assert text.count(mistake.old) == 1, mistake.old
    path = tmp_path / f"{mistake.name}.py"
    path.write_text(text.replace(mistake.old, mistake.new))
    (report,) = check_file(path, [mistake.kind])
    return report.failure


@pytest.mark.parametrize("mistake", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_the_catalogue_mistake_is_caught_and_its_hint_names_it_not_a_look_alike(tmp_path, mistake):
    message = _catch(tmp_path, mistake)
    assert message, f"{mistake.name} ({mistake.condition}) passed every case"
    if mistake.hint:
        assert mistake.hint in message
    for other in mistake.not_hints:
        assert other not in message, f"{mistake.name} got the hint of a look-alike: {message}"


def test_the_catch_rate_on_the_catalogue_per_condition(tmp_path, capsys):
    caught: dict[str, list[int]] = {}
    for mistake in CATALOGUE:
        counts = caught.setdefault(mistake.condition, [0, 0])
        counts[0] += bool(_catch(tmp_path, mistake))
        counts[1] += 1
    with capsys.disabled():
        print("\ncatch rate: " + ", ".join(f"{c} {k}/{n}" for c, (k, n) in caught.items()))
    assert set(caught) == {"ties", "sizes", "shared rng", "kinks", "extreme", "hints"}
    assert all(n >= 3 for _, n in caught.values())
    assert all(k == n for k, n in caught.values()), caught


def _one_exercise(tmp_path, kind: str) -> Path:
    """good_layers.py's solution of one exercise, alone in a file, as a student's filled-in starter."""
    blocks = GOOD.read_text().split("\n\n\nclass ")
    (solution,) = [b for b in blocks[1:] if f'kind = "{kind}"' in b]
    path = tmp_path / "my_layers.py"
    path.write_text(blocks[0] + "\n\n\nclass " + blocks[1] + "\n\n\nclass " + solution)
    return path


@pytest.mark.parametrize("kind", ["softmax-ce", "relu", "maxpool"])
def test_every_exercise_path_ends_in_a_pass_for_a_correct_solution(tmp_path, capsys, kind):
    """`layerlab exercise softmax-ce` then `layerlab check my_layers.py` ended in exit 2 after all cases passed."""
    path = _one_exercise(tmp_path, kind)
    assert main(["check", str(path), "--limit", "100", "--epochs", "1"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "passed all" in out
    assert ("test accuracy on mnist-small" in out) == (kind != "softmax-ce")
