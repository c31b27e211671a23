"""A visual check of every built-in experiment's quick report, on the matplotlib figure objects.

Training every built-in would take minutes, so each run of an experiment's quick variant gets a run
directory written through ``RunDir`` with made-up numbers of the right shape (its epochs, its model's
layers, its dataset's classes and inputs, every ensemble member), and the index is written by the
runner itself. Then every figure is drawn and checked: a title, labelled axes, something drawn in every
axes, and no two pieces of text (titles, labels, tick labels, legends) overlapping or leaving the figure,
measured with the Agg renderer's window extents.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

from layerlab.experiments import builtin_names, load_experiment
from layerlab.experiments.execute import _write_index
from layerlab.numpy import build
from layerlab.report.plots import drawings
from layerlab.report.reading import read_experiment, read_runs
from layerlab.report.table import rows
from layerlab.rundir import RunDir
from layerlab.spec import parse

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def dataset_of(config) -> dict:
    """What config.json says about the data, without loading it."""
    if config.data.startswith("mnist"):
        shape, classes = [1, 28, 28], [str(d) for d in range(10)]
    elif config.data.startswith("cifar10"):
        shape, classes = [3, 32, 32], CIFAR
    elif config.data == "curve":  # a noisy curve: regression on powers of x
        return {
            "name": "curve",
            "input_shape": [config.data_options.get("degree", 1)],
            "classes": [],
            "task": "regression",
        }
    else:  # a Playground set
        shape, classes = [len(config.data_options.get("features", ["x1", "x2"]))], ["negative", "positive"]
    return {"name": config.data, "input_shape": shape, "classes": classes, "task": "classification"}


def fake_run(directory, config, seed: int) -> float:
    """A finished run of ``config`` with made-up metrics, weights, predictions and boundary; returns its
    test accuracy."""
    rng = np.random.default_rng(seed)
    dataset = dataset_of(config)
    spec = parse(config.model, tuple(dataset["input_shape"]))
    weighted = [r for r in spec.resolve() if r.num_params]
    epochs, k = config.epochs, max(2, len(dataset["classes"]))
    gain = rng.uniform(0.2, 0.6)
    history = []
    for e in range(1, epochs + 1):
        accuracy = 1 / k + (1 - 1 / k) * gain * (1 - 0.6**e)
        history.append(
            {
                "epoch": e,
                "lr": 0.1,
                "train_loss": 2 / (e + 1),
                "train_accuracy": accuracy + 0.02,
                "val_loss": 2.1 / (e + 1),
                "val_accuracy": accuracy,
                "test_loss": 2.2 / (e + 1),
                "test_accuracy": accuracy - 0.01,
                "seconds": e * 0.5,
                "grad_norms": {f"{r.index}.weight": float(rng.uniform(0.01, 1)) / e for r in weighted},
            }
        )
    run = RunDir(directory).claim()
    run.write_config(config.to_dict(), dataset)
    run.write_metrics(history)
    last = history[-1]
    run.write_result(
        {
            "status": "completed",
            "epochs": epochs,
            "best_epoch": epochs,
            "best_val_accuracy": last["val_accuracy"],
            "test_accuracy": last["test_accuracy"],
            "final_val_accuracy": last["val_accuracy"],
            "final_test_accuracy": last["test_accuracy"],
            "seconds": last["seconds"],
            "dataset": config.data,
            "engine": "numpy",
            "message": "",
        }
    )
    if config.data == "curve":  # the capacity plot draws each model's fitted curve from its last weights
        state = build(spec, seed=seed).state_dict()
        run.save_weights("last", {k: np.asarray(v, np.float32) for k, v in state.items()}, {"spec": str(spec)})
    conv = [r for r in weighted if r.layer.kind == "conv"]
    if conv:
        weight = rng.normal(size=(conv[0].layer.args["filters"], conv[0].input_shape[0], 3, 3))
        run.save_weights("best", {f"{conv[0].index}.weight": weight.astype(np.float32)}, {"spec": str(spec)})
    run.release()
    return last["test_accuracy"]


def fake_outputs(run: RunDir, config, seed: int) -> None:
    """The predictions (and a Playground set's boundary) that the runner saves next to a run."""
    rng = np.random.default_rng(seed)
    dataset = dataset_of(config)
    k, n = len(dataset["classes"]), 200
    if dataset["task"] == "regression":
        y = rng.normal(size=(n, 1))
        run.write_arrays(RunDir.PREDICTIONS, y_true=y, y_pred=y + rng.normal(scale=0.1, size=(n, 1)))
        return
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, k, n))
    wrong = np.flatnonzero(y_pred != y_true)[:36]
    x = rng.integers(0, 256, (len(wrong), *dataset["input_shape"]), dtype=np.uint8)
    run.write_arrays(
        RunDir.PREDICTIONS,
        y_true=y_true,
        y_pred=y_pred,
        proba=np.eye(k)[y_pred],
        mis_x=x,
        mis_true=y_true[wrong],
        mis_pred=y_pred[wrong],
    )
    if len(dataset["input_shape"]) == 1:
        xx, yy = np.meshgrid(np.linspace(-6, 6, 30), np.linspace(-6, 6, 30))
        points = rng.uniform(-5, 5, (100, 2))
        labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
        run.write_arrays(
            RunDir.BOUNDARY,
            xx=xx,
            yy=yy,
            p=1 / (1 + np.exp(-xx * yy / 4)),
            train_points=points[:50],
            train_y=labels[:50],
            test_points=points[50:],
            test_y=labels[50:],
        )


def fake_experiment(name: str, out) -> None:
    """Every run of the built-in's quick variant, finished, and its experiment.json."""
    experiment = load_experiment(name, quick=True)
    for seed, plan in enumerate({plan.key: plan for plan in experiment.runs}.values()):
        directory = out / plan.directory
        if plan.members > 1:
            members = range(plan.members)
            accuracies = [fake_run(directory / f"member-{i + 1}", plan.config, seed * 10 + i) for i in members]
            RunDir(directory).write_ensemble(
                {
                    "member_accuracies": accuracies,
                    "vote_accuracy": max(accuracies),
                    "mean_accuracy": float(np.mean(accuracies)),
                }
            )
        else:
            fake_run(directory, plan.config, seed)
        fake_outputs(RunDir(directory), plan.config, seed)
    _write_index(out, experiment, {run.name: "done" for run in experiment.runs})


def text_boxes(figure, renderer) -> list[tuple[str, Bbox, object]]:
    """(text, window extent, owner) of every piece of text drawn: titles, labels, tick labels, legends."""
    texts = [figure._suptitle, *figure.texts]
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if not ax.axison:  # an image without frame, ticks or labels
            continue
        texts += [ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text()]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [tick.label1 for tick in axis._update_ticks() if tick.label1.get_visible()]
            texts += [tick.label2 for tick in axis._update_ticks() if tick.label2.get_visible()]
    texts = list({id(t): t for t in texts if t is not None and t.get_visible() and t.get_text().strip()}.values())
    boxes = [(t.get_text(), t.get_window_extent(renderer), None) for t in texts]
    for legend in [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]:
        boxes.append(
            (
                "legend: " + ", ".join(t.get_text() for t in legend.get_texts()),
                legend.get_window_extent(renderer),
                legend,
            )
        )
    return boxes


def overlap(a: Bbox, b: Bbox, slack: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


def problems(name: str, figure) -> list[str]:
    """What is wrong with a figure, as readable lines ([] when it reads)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    axes = [ax for ax in figure.axes if ax.get_visible()]
    plotted = [ax for ax in axes if ax.axison and not hasattr(ax, "_colorbar")]
    if not any(ax.get_title() for ax in axes) and not (figure._suptitle and figure._suptitle.get_text()):
        found.append(f"{name}: no title")
    for ax in axes:
        if not ax.has_data():
            found.append(f"{name}: an empty axes ({ax.get_title()!r})")
    for ax in plotted:
        shows_y = any(label.get_visible() for label in ax.yaxis.get_ticklabels())  # not a shared inner one
        if not ax.get_xlabel() or (shows_y and not ax.get_ylabel()):
            found.append(f"{name}: axes {ax.get_title()!r} lacks an axis label")
    boxes = text_boxes(figure, renderer)
    page = Bbox.from_bounds(0, 0, figure.bbox.width, figure.bbox.height)
    for text, box, _ in boxes:
        if box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1:
            found.append(f"{name}: {text!r} leaves the figure")
    legends = [(text, box, legend) for text, box, legend in boxes if legend is not None]
    for (text_a, a, _), (text_b, b, _) in itertools.combinations(boxes, 2):
        if overlap(a, b):
            found.append(f"{name}: {text_a!r} overlaps {text_b!r}")
    for text, box, legend in legends:  # a legend outside the panels must not cover one
        if legend in figure.legends and any(overlap(box, ax.get_window_extent(renderer)) for ax in plotted):
            found.append(f"{name}: {text!r} covers a panel")
    return found


@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_every_figure_of_a_quick_report_reads(name, tmp_path):
    fake_experiment(name, tmp_path)
    experiment = read_experiment(tmp_path)
    drawn = list(drawings(experiment, rows(experiment.runs)))
    kinds = {drawing.name.split("-")[0] for drawing in drawn}
    data = {run.dataset["name"] for run in experiment.runs}
    expected = {"curves", "gradients"}
    expected |= {"confusion", "misclassified"} if any(d.startswith(("mnist", "cifar")) for d in data) else set()
    expected |= {"confusion", "boundaries"} if name == "playground" else set()  # 2D points
    expected |= {"capacity"} if "curve" in data else set()
    assert expected <= kinds
    found = [line for drawing in drawn for line in problems(drawing.name, drawing.figure)]
    assert not found, "\n".join(found)


def test_the_check_finds_what_the_old_report_did_wrong():
    """Long titles of side-by-side panels running into each other and off the figure, as the old
    Playground boundary panels had them; a blank axes, as the old one-epoch curves."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3))
    left, right = figure.subplots(1, 2)
    for ax in (left, right):
        ax.plot([1, 2], [1, 2])
        ax.set(title="task5-xor-model=dense(4) tanh dense(2) tanh dense(1) sigmoid", xlabel="x1", ylabel="x2")
    found = problems("old", figure)
    assert any("overlaps" in line for line in found) and any("leaves the figure" in line for line in found)
    blank = Figure(figsize=(4, 3), layout="constrained")
    blank.subplots().set(title="accuracy", xlabel="epoch", ylabel="accuracy")
    assert problems("blank", blank) == ["blank: an empty axes ('accuracy')"]


def test_a_deep_networks_gradient_legend_names_its_layers_inside_the_figure(tmp_path):
    """cifar-fast's full network: 14 weighted layers whose options (padding=same, bias=false,
    momentum=0.4) made the legend under the panel run off the figure; the legend names each layer without them."""
    from layerlab.report.plots.curves import gradient_norms

    plan = next(plan for plan in load_experiment("cifar-fast").runs if plan.name == "fast#1")
    fake_run(tmp_path / "fast", plan.config, 0)
    (run,) = read_runs([tmp_path / "fast"], tmp_path).runs
    figure, _ = gradient_norms([run])
    labels = [text.get_text() for ax in figure.axes for text in ax.get_legend().get_texts()]
    assert len(labels) == 14 and "layer 5 batchnorm" in labels and "layer 3 conv(64, 3)" in labels, labels
    assert not problems("gradients", figure)
