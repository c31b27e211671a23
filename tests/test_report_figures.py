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
import math

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


def lab(colour) -> np.ndarray:
    """CIE L*a*b* (D65 white) of a matplotlib colour (sRGB)."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(lab1, lab2) -> float:
    """The CIEDE2000 colour difference of two L*a*b* colours (Sharma, Wu and Dalal, "The CIEDE2000
    color-difference formula: implementation notes, supplementary test data, and mathematical observations",
    Color Research & Application 30(1), 2005); about 1 is the smallest difference one sees side by side."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    mean_c = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(mean_c**7 / (mean_c**7 + 25**7)))
    c1, c2 = math.hypot((1 + g) * a1, b1), math.hypot((1 + g) * a2, b2)
    h1, h2 = (
        math.degrees(math.atan2(b, (1 + g) * a)) % 360 if (a, b) != (0, 0) else 0.0 for a, b in ((a1, b1), (a2, b2))
    )
    both = c1 * c2 != 0
    dh = (h2 - h1 + 180) % 360 - 180 if both else 0.0
    if not both:
        mean_h = h1 + h2
    elif abs(h1 - h2) <= 180:
        mean_h = (h1 + h2) / 2
    else:
        mean_h = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    big_dh = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    mean_l, mean_cp = (l1 + l2) / 2, (c1 + c2) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(mean_h - 30))
        + 0.24 * math.cos(math.radians(2 * mean_h))
        + 0.32 * math.cos(math.radians(3 * mean_h + 6))
        - 0.20 * math.cos(math.radians(4 * mean_h - 63))
    )
    rc = 2 * math.sqrt(mean_cp**7 / (mean_cp**7 + 25**7))
    rt = -math.sin(math.radians(60 * math.exp(-(((mean_h - 275) / 25) ** 2)))) * rc
    sl = 1 + 0.015 * (mean_l - 50) ** 2 / math.sqrt(20 + (mean_l - 50) ** 2)
    sc, sh = 1 + 0.045 * mean_cp, 1 + 0.015 * mean_cp * t
    dl, dc, dhh = (l2 - l1) / sl, (c2 - c1) / sc, big_dh / sh
    return math.sqrt(dl**2 + dc**2 + dhh**2 + rt * dc * dhh)


def test_ciede2000_gives_the_published_differences():
    # pairs of Sharma, Wu and Dalal's test data: blues, a grey, hues either side of 0 degrees, large differences
    pairs = [
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.4900, -0.0010), (50, -2.4900, 0.0009), 7.1792),
        ((50, 2.4900, -0.0010), (50, -2.4900, 0.0011), 7.2195),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((50, 2.5, 0), (61, -5, 29), 22.8977),
        ((50, 2.5, 0), (56, -27, -3), 31.9030),
    ]
    for first, second, expected in pairs:
        assert ciede2000(first, second) == pytest.approx(expected, abs=1e-4)


def test_every_run_of_a_learning_curve_plot_has_a_colour_of_its_own(tmp_path):
    """The optimisers' quick curves drew Adagrad in tab10's red and RMSprop in its brown (CIEDE2000 16 apart),
    Adadelta in its purple and Adam in its pink (17): each pair read as one colour."""
    from layerlab.report.plots.figures import run_style

    fake_experiment("optimisers", tmp_path)
    experiment = read_experiment(tmp_path)
    curves = next(d for d in drawings(experiment, rows(experiment.runs)) if d.name.startswith("curves"))
    handles = curves.figure.legends[0].legend_handles
    runs = {handle.get_label(): handle.get_color() for handle in handles if handle.get_marker() not in ("None", "")}
    assert list(runs) == ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"]
    closest = min(ciede2000(lab(a), lab(b)) for a, b in itertools.combinations(runs.values(), 2))
    assert closest > 20, closest
    up_to_8 = [run_style(i, 10)["color"] for i in range(8)]
    assert min(ciede2000(lab(a), lab(b)) for a, b in itertools.combinations(up_to_8, 2)) > 20
    many = [(run_style(i, 10)["color"], run_style(i, 10)["marker"]) for i in range(40)]
    assert len(set(many)) == 40  # past 10 runs the colours come again, each with another marker


def named_lines(ax) -> dict[str, object]:
    """The curves drawn on ``ax`` by their hidden labels ("_4-relu validation"), without the leading "_"."""
    return {line.get_label()[1:]: line for line in ax.get_lines() if line.get_label().startswith("_")}


def test_a_short_run_beside_long_ones_is_drawn_unsmoothed_with_a_marker_on_every_epoch(tmp_path):
    """Nielsen's quick ladder: runs of 60, 60, 60, 3 and 2 epochs. The 3-epoch window chosen for the 60-epoch
    runs flattened the 2-epoch run into a dash without a marker; each run is smoothed by its own length."""
    from matplotlib.colors import to_hex

    from layerlab.report.plots.figures import run_colour, series

    fake_experiment("nielsen", tmp_path)
    experiment = read_experiment(tmp_path)
    curves = next(d for d in drawings(experiment, rows(experiment.runs)) if d.name.startswith("curves"))
    accuracy = curves.figure.axes[0]
    runs = {run.name: run for run in experiment.runs}
    order = list(runs)

    def validation(name):  # the run's bold validation curve: its colour, solid, not the faint one underneath
        colour = to_hex(run_colour(order.index(name)))
        (line,) = [
            line
            for line in accuracy.get_lines()
            if to_hex(line.get_color()) == colour and line.get_linestyle() == "-" and line.get_alpha() != 0.25
        ]
        return line

    for name, epochs in (("4-relu", 3), ("5-expanded", 2)):
        line = validation(name)
        raw = series(runs[name].metrics, "val_accuracy")
        assert len(raw) == epochs and list(line.get_ydata()) == list(raw)  # every epoch as it was, not averaged
        assert line.get_marker() not in ("None", "", None) and line.get_markersize() >= 7
        assert line.get_markevery() == (0, 1)  # a marker on each of its epochs
    long = validation("1-mlp-100")
    raw = series(runs["1-mlp-100"].metrics, "val_accuracy")
    assert len(long.get_ydata()) == 60 and not np.allclose(long.get_ydata(), raw)  # the long runs still smoothed
    assert "average over 3 epochs around it (runs of over 30 epochs)" in curves.caption
    assert not problems(curves.name, curves.figure)


def memory_run(name: str, history: list[dict], repeat_of: str | None = None):
    """A finished Playground run held in memory (the fields a run directory would give it)."""
    from pathlib import Path

    from layerlab.report.reading import RunSource

    run = RunSource(name, Path("."), "done", repeat_of=repeat_of)
    dataset = {"name": "circle", "input_shape": [2], "classes": ["negative", "positive"], "task": "classification"}
    run.__dict__.update(
        metrics=history,
        saved_config={"config": {"model": "dense(3) tanh dense(1) sigmoid"}, "dataset": dataset},
        result={},
    )
    return run


def test_repeated_runs_without_a_validation_set_draw_their_test_mean_dotted():
    """A Playground task trained with 5 seeds has no validation set: the mean curves drew training only and
    the legend said "validation"; the held-out curve is the test mean, dotted, and the legend says so."""
    from layerlab.report.plots.curves import learning_curves

    nan = float("nan")
    seeds = []
    for seed in range(5):
        history = [
            {
                "epoch": e,
                "train_loss": 1 / e + seed / 100,
                "train_accuracy": 0.5 + e / 100,
                "val_loss": nan,
                "val_accuracy": nan,
                "test_loss": 1.1 / e,
                "test_accuracy": 0.5 + e / 110 - seed / 100,
            }
            for e in range(1, 41)
        ]
        seeds.append(memory_run(f"task3#{seed + 1}", history, repeat_of="task3"))
    figure, caption = learning_curves([seeds[2]], {"task3#3": seeds})
    for ax in figure.axes:
        assert [line.get_linestyle() for line in ax.get_lines()].count(":") == 1  # the held-out mean, dotted
        drawn = named_lines(ax)
        assert set(drawn) == {"task3 training", "task3 test (no validation set)"}
        test = drawn["task3 test (no validation set)"]
        assert test.get_linestyle() == ":" and len(test.get_ydata()) == 40
        expected = np.mean(
            [
                [epoch["test_loss" if ax.get_title().startswith("cost") else "test_accuracy"] for epoch in seed.metrics]
                for seed in seeds
            ],
            axis=0,
        )
        assert np.allclose(test.get_ydata(), expected)  # the mean over the seeds
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "test (no validation set)" in legend and "validation" not in legend and "training" in legend
    assert "training dashed, test dotted" in caption


def test_the_decision_boundaries_caption_says_what_the_colour_key_says(tmp_path):
    fake_experiment("playground", tmp_path)
    experiment = read_experiment(tmp_path)
    wanted = lambda name: name.startswith("boundaries")  # noqa: E731
    for drawing in drawings(experiment, rows(experiment.runs), wanted):
        (key,) = [ax for ax in drawing.figure.axes if hasattr(ax, "_colorbar")]
        assert key.get_ylabel() == "model output (0: orange class, 1: blue class)"
        assert "(x1, x2) plane (0: orange class, 1: blue class)" in drawing.caption
        assert "orange negative" not in drawing.caption


def test_networks_of_different_layers_get_panels_of_their_own_each_tick_naming_its_layer(tmp_path):
    """Nielsen's ladder drew its MLP and its convolutional nets on one numbered axis joined by lines: x = 4
    was dense(10) of the MLP and conv(40, 5) of the others. One panel per architecture, ticks named."""
    fake_experiment("nielsen", tmp_path)
    experiment = read_experiment(tmp_path)
    wanted = lambda name: name.startswith("layer-gradients")  # noqa: E731
    (drawing,) = drawings(experiment, rows(experiment.runs), wanted)
    axes = [ax for ax in drawing.figure.axes if ax.get_visible()]
    ticks = [[label.get_text().replace("\n", " ") for label in ax.get_xticklabels()] for ax in axes]
    assert ticks == [
        ["layer 2 dense(100)", "layer 4 dense(10)"],
        ["layer 1 conv(20, 5)", "layer 5 dense(100)", "layer 7 dense(10)"],
        ["layer 1 conv(20, 5)", "layer 4 conv(40, 5)", "layer 8 dense(100)", "layer 10 dense(10)"],
    ]
    runs = [sorted({line.get_label().split(",")[0] for line in ax.get_lines()}) for ax in axes]
    assert runs == [["1-mlp-100"], ["2-conv-20"], ["3-conv-40", "4-relu", "5-expanded"]]
    for ax, names in zip(axes, ticks, strict=True):
        assert all(list(line.get_xdata()) == list(range(1, len(names) + 1)) for line in ax.get_lines())
        assert ax.get_xlabel() == "layer with weights, from the input"
    assert not problems(drawing.name, drawing.figure)


def test_a_figure_of_a_repeated_run_says_which_seed_it_shows_and_the_mean_over_its_seeds(tmp_path):
    """Playground task 3's boundary showed task3-sigmoid-3's luckiest seed of 20 with nothing to say so."""
    fake_experiment("playground", tmp_path)
    experiment = read_experiment(tmp_path)
    table = rows(experiment.runs)
    row = next(row for row in table if row.run == "task3-sigmoid-3")
    values = row.sample.values
    assert row.repeats == 20 and row.test_accuracy in values
    figures = f"(test accuracy {row.test_accuracy:.2%}; mean {np.mean(values):.2%})"
    words = f"{row.best_repeat}, the seed of best validation accuracy of 20 seeds {figures}"
    shown = {d.name.split("-")[0]: d for d in drawings(experiment, table) if "task-3" in d.name}
    for kind in ("boundaries", "gradients"):
        assert words in shown[kind].caption
        titles = [ax.get_title().replace("\n", " ") for ax in shown[kind].figure.axes]
        assert words in titles
    assert "best of" not in shown["curves"].caption  # the curves are the mean and band over the seeds already


def test_the_seed_a_caption_names_is_the_one_its_row_shows():
    """The row chooses the seed shown (that of best validation score); the words follow it, not a choice of their
    own."""
    from dataclasses import replace

    from layerlab.report.plots.figures import seed_shown
    from layerlab.report.plots.images import _which
    from layerlab.report.row import Row
    from layerlab.task import Sample

    row = Row(
        run="mlp",
        exercise="e",
        changed="",
        status="done",
        test_accuracy=0.95,
        repeats=3,
        best_repeat="mlp#2",
        test_mean=0.93,
        sample=Sample((0.92, 0.95, 0.92)),
    )
    assert seed_shown(row) == "mlp#2, one of 3 seeds (test accuracy 95.00%; mean 93.00%)"  # no validation score
    validated = replace(row, best_val_accuracy=0.94)
    assert (
        seed_shown(validated)
        == "mlp#2, the seed of best validation accuracy of 3 seeds (test accuracy 95.00%; mean 93.00%)"
    )
    other = replace(validated, best_repeat="mlp#3", test_accuracy=0.92)  # a row that shows another seed
    assert seed_shown(other).startswith("mlp#3, the seed of best validation accuracy of 3 seeds (test accuracy 92.00%")
    assert seed_shown(replace(row, repeats=None, best_repeat=None)) is None  # trained once
    from types import SimpleNamespace

    shown = SimpleNamespace(name="mlp#2", repeat_of="mlp", result={"best_val_accuracy": 0.94})
    assert _which(shown, row) == f"{seed_shown(row)}; mlp is the run of best validation accuracy"
