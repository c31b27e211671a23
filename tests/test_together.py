"""Runs trained together (``layerlab.together``, the torch engine's ``StackedTrainable``) against each run alone.

Each member of a stacked model must be the run its seed gives alone: on a CPU in float32 every number of
every epoch (losses, accuracies) within 1e-5 and every weight within 1e-4 (observed: ~1e-6 and ~1e-6;
the floats differ only in the order of summation), its run directory holding the same files, its
checkpoint resuming as a single run's does.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.config import TrainConfig
from layerlab.errors import DivergedError
from layerlab.rundir import RunDir
from layerlab.together import fit_together
from layerlab.train import fit, load_data

MLP = "flatten dense(30) sigmoid dropout(0.2) dense(10)"
CNN = "conv(4, 5) maxpool(2) relu flatten dropout(0.3, scale=test) dense(10)"
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
SEEDS = (0, 1, 2)


def configs(model: str, **settings) -> list[TrainConfig]:
    base = dict(data="mnist-small", limit=300, epochs=2, batch_size=10, lr=0.05, l2=1.0, model=model)
    return [TrainConfig(**(base | settings), seed=seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def dataset():
    return load_data(configs(MLP)[0])


def alone(config: TrainConfig, dataset, out=None, **options):
    return fit(config, dataset, out, progress=False, log=None, **options)


def assert_same_run(single, together, weights_tolerance=1e-4):
    (result, trainable), (result_t, learner_t) = single, together
    assert len(result.history) == len(result_t.history) > 0
    for row, row_t in zip(result.history, result_t.history, strict=True):
        for key in METRICS:
            assert row_t[key] == pytest.approx(row[key], abs=1e-5), (row["epoch"], key)
        for name, norm in row["grad_norms"].items():
            assert row_t["grad_norms"][name] == pytest.approx(norm, rel=1e-4, abs=1e-7)
    assert (result_t.status, result_t.best_epoch, result_t.epochs) == (result.status, result.best_epoch, result.epochs)
    weights, weights_t = trainable.weights(), learner_t.weights()
    assert sorted(weights) == sorted(weights_t)
    for name in weights:
        np.testing.assert_allclose(weights_t[name], weights[name], rtol=0, atol=weights_tolerance, err_msg=name)


@pytest.mark.parametrize("model", [MLP, CNN], ids=["mlp-sigmoid-dropout", "cnn"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_each_member_trains_as_it_would_alone(dataset, model, optimizer):
    lr = 0.002 if optimizer == "adam" else 0.05
    runs = configs(model, optimizer=optimizer, lr=lr)
    together = fit_together(runs, dataset, log=None)
    for config, outcome in zip(runs, together, strict=True):
        assert_same_run(alone(config, dataset, weights="best"), outcome)
    # the members differ from one another: their own seeds, orders and dropout masks
    first, second = (outcome[1].weights()["0.weight" if model == CNN else "1.weight"] for outcome in together[:2])
    assert np.abs(first - second).max() > 0.01


def test_a_ladder_row_4_network_trained_together_by_the_written_out_step_is_each_run_alone(dataset):
    """Two convolutions with max-pooling (one padded), dropout, dense ReLU layers, plain SGD
    with L2: the written-out step (``ByHandSGD``) against each run alone on autograd, every metric and weight."""
    from layerlab import parse
    from layerlab.torch.stacked import StackedTrainable

    model = (
        "conv(4, 5) maxpool(2) relu dropout(0.2) conv(6, 5, padding=1) maxpool(2) relu flatten dense(20) relu dense(10)"
    )
    runs = configs(model, epochs=1)
    assert StackedTrainable(runs, parse(model, dataset.train.x.shape[1:]), 300).by_hand is not None
    together = fit_together(runs, dataset, log=None)
    for config, outcome in zip(runs, together, strict=True):
        assert_same_run(alone(config, dataset), outcome)
    first, second = (outcome[1].weights()["4.weight"] for outcome in together[:2])
    assert np.abs(first - second).max() > 0.01


def test_a_warm_up_a_schedule_and_l1_match_too(dataset):
    runs = configs(
        MLP, schedule="step", lr_step=1, warmup=1, l1=0.5, l2=0.0, epochs=3, optimizer="nesterov", momentum=0.5
    )
    for config, outcome in zip(runs, fit_together(runs, dataset, log=None), strict=True):
        assert_same_run(alone(config, dataset), outcome)


def test_each_member_writes_the_run_directory_a_single_run_writes(dataset, tmp_path):
    runs = configs(CNN, epochs=1)
    outs = [tmp_path / f"together-{c.seed}" for c in runs]
    lines = []
    outcomes = fit_together(runs, dataset, outs, log=lines.append)
    assert "3 runs stacked" in "\n".join(lines)
    for config, out, outcome in zip(runs, outs, outcomes, strict=True):
        single = alone(config, dataset, tmp_path / f"alone-{config.seed}")
        assert sorted(p.name for p in out.iterdir()) == sorted(
            p.name for p in (tmp_path / f"alone-{config.seed}").iterdir()
        )
        mine, theirs = RunDir(out), RunDir(tmp_path / f"alone-{config.seed}")
        assert mine.read_config() == theirs.read_config()
        result, result_t = theirs.read_result(), mine.read_result()
        assert (
            sorted(result) == sorted(result_t)
            and result_t["engine"] == result["engine"] == "torch engine (cpu, float32)"
        )
        for key, value in result.items():
            if isinstance(value, float) and key != "seconds":
                assert result_t[key] == pytest.approx(value, abs=1e-5), key
        assert len(mine.read_metrics()) == len(theirs.read_metrics()) == 1
        for which in ("best", "last"):
            w, w_t = theirs.load_weights(which)[0], mine.load_weights(which)[0]
            assert max(np.abs(w[k] - w_t[k]).max() for k in w) < 1e-4
        assert_same_run(single, outcome)


class StopSeed:
    """Stops the run of one seed after its first epoch (as early stopping would)."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_epoch_end(self, loop, row):
        if loop.config.seed == self.seed:
            loop.stop("stopped_by_test", "seed stopped")


def test_a_member_that_stops_early_ends_there_and_the_others_train_on(dataset, tmp_path):
    runs = configs(MLP, epochs=3)
    outs = [tmp_path / f"m{c.seed}" for c in runs]
    outcomes = fit_together(runs, dataset, outs, hooks=[[StopSeed(1)] for _ in runs], log=None)
    assert [o[0].epochs for o in outcomes] == [3, 1, 3]
    assert outcomes[1][0].status == "stopped_by_test"
    for config, outcome in zip(runs, outcomes, strict=True):
        assert_same_run(alone(config, dataset, hooks=[StopSeed(1)]), outcome)
    assert RunDir(outs[1]).read_result()["epochs"] == 1 and len(RunDir(outs[1]).read_metrics()) == 1


def test_members_that_diverge_end_as_a_single_run_ends(dataset, tmp_path):
    runs = configs("flatten dense(20) tanh dense(10)", loss="mse", optimizer="sgd", lr=1.0, l2=0.0, epochs=2)
    outcomes = fit_together(runs, dataset, [tmp_path / f"d{c.seed}" for c in runs], log=None)
    for config, outcome in zip(runs, outcomes, strict=True):
        with pytest.raises(DivergedError) as single:
            alone(config, dataset, tmp_path / f"alone{config.seed}")
        assert isinstance(outcome, DivergedError)
        message = str(single.value).replace(f"alone{config.seed}", f"d{config.seed}")
        assert str(outcome) == message and "epoch 2, step 1" in message  # steps 13 and 14: not all at once
        w = RunDir(tmp_path / f"alone{config.seed}").load_weights("last")[0]  # the epoch before: huge, finite
        w_t = RunDir(tmp_path / f"d{config.seed}").load_weights("last")[0]
        assert all(np.abs(w_t[k] - w[k]).max() <= 1e-3 * np.abs(w[k]).max() for k in w)


class InterruptAt:
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_start(self, loop, epoch):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_an_interrupted_set_of_runs_resumes_each_from_its_checkpoint(dataset, tmp_path, optimizer):
    runs = configs(MLP, epochs=3, optimizer=optimizer, lr=0.002 if optimizer == "adam" else 0.05)
    outs = [tmp_path / f"r{c.seed}" for c in runs]
    with pytest.raises(KeyboardInterrupt):
        fit_together(runs, dataset, outs, hooks=[[InterruptAt(3)] for _ in runs], log=None)
    assert all(len(RunDir(out).read_metrics()) in (1, 2) for out in outs)
    assert len({len(RunDir(out).read_metrics()) for out in outs}) == 1  # one epoch for all: they resume together
    lines = []
    outcomes = fit_together(runs, dataset, outs, resume=True, log=lines.append)
    assert "stacked" in "\n".join(lines) and "one at a time" not in "\n".join(lines)
    for config, outcome in zip(runs, outcomes, strict=True):
        assert_same_run(alone(config, dataset), outcome)


def test_what_cannot_be_stacked_trains_one_at_a_time_and_says_so(dataset):
    lines = []
    runs = configs("flatten dense(20) batchnorm relu dense(10)", epochs=1)
    outcomes = fit_together(runs, dataset, log=lines.append)
    assert lines[0] == "note: training the 3 runs one at a time: the layer kinds batchnorm are not stacked"
    assert [o[0].epochs for o in outcomes] == [1, 1, 1]
    lines.clear()
    fit_together(configs(MLP, engine="numpy", epochs=1), dataset, log=lines.append)
    assert lines[0] == "note: training the 3 runs one at a time: the numpy engine trains one network at a time"
    lines.clear()
    fit_together([*configs(MLP, epochs=1)[:2], configs(MLP, epochs=1, lr=0.5)[2]], dataset, log=lines.append)
    assert lines[0].endswith("their settings differ in more than the seed (lr)")
    lines.clear()
    fit_together(
        configs("conv(4, 5) relu dropout(0.2) maxpool(2) flatten dense(10)", epochs=1), dataset, log=lines.append
    )
    assert lines[0].endswith("dropout before the flatten draws its masks in another order when stacked")


def test_members_whose_learning_rates_part_ways_keep_their_own(dataset):
    runs = configs(MLP, schedule="plateau", lr_patience=1, lr_gamma=0.3, epochs=5, optimizer="momentum", lr=0.3)
    outcomes = fit_together(runs, dataset, log=None)
    rates = [[row["lr"] for row in outcome[0].history] for outcome in outcomes]
    assert len({tuple(r) for r in rates}) > 1, rates  # the plateau schedule lowered them at different epochs
    for config, outcome in zip(runs, outcomes, strict=True):
        assert_same_run(alone(config, dataset), outcome)


REPEATS = """
name = "repeats"
title = "Repeats trained together"
[settings]
data = "mnist-small"
limit = 200
model = "flatten dense(20) sigmoid dense(10)"
epochs = 2
lr = 0.1
[[runs]]
name = "again"
exercise = "A"
repeats = 3
[[runs]]
name = "seeds"
exercise = "B"
model = "flatten dense(10)"
grid = { seed = [4, 7] }
"""


def test_an_experiments_repeats_and_grid_of_seeds_train_together_as_each_would_alone(dataset, tmp_path):
    from layerlab import report
    from layerlab.experiments import load_experiment, run_experiment

    path = tmp_path / "repeats.toml"
    path.write_text(REPEATS)
    experiment = load_experiment(str(path))
    lines = []
    out = run_experiment(experiment, tmp_path / "out", log=lines.append, progress=False)
    assert "training 3 runs together as one stacked model (seeds 0, 1, 2)" in lines
    assert "training 2 runs together as one stacked model (seeds 4, 7)" in lines
    for run in experiment.runs:
        single = fit(run.config, load_data(run.config), tmp_path / "alone" / run.name, progress=False, log=None)
        metrics = RunDir(out / run.directory).read_metrics()
        for row, row_t in zip(single[0].history, metrics, strict=True):
            assert all(row_t[key] == pytest.approx(row[key], abs=1e-5) for key in METRICS)
        assert RunDir(out / run.directory).has(RunDir.PREDICTIONS)
    assert [row.repeats for row in report.table(out)] == [3, None, None]


def test_the_benchmark_runs_at_a_tiny_size():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "batched_repeats.py"), "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith(("| mlp30", "| row4"))]
    assert [row[1].strip() for row in rows] == ["mlp30", "row4"]
    for row in rows:  # seconds one alone, stacked, their ratio, and the vmap loop's
        one, stacked = float(row[3]), float(row[4])
        ratio = float(row[5].strip().removesuffix("x"))
        assert one > 0 and stacked > 0 and ratio == pytest.approx(stacked / one, rel=0.1)
        assert row[7].strip().endswith("x")
    assert rows[0][8].strip().endswith("x") and rows[1][8].strip().endswith("x")  # both steps are written out


def test_runs_that_start_from_a_file_or_train_in_float64_match_too(dataset, tmp_path):
    start = alone(configs(MLP, epochs=1)[0], dataset, tmp_path / "start")[0]
    weights = str(tmp_path / "start" / "best.safetensors")
    runs = configs(MLP, epochs=1, init_weights=weights, dtype="float64", optimizer="momentum")
    outcomes = fit_together(runs, dataset, log=None)
    for config, outcome in zip(runs, outcomes, strict=True):
        assert_same_run(alone(config, dataset), outcome, weights_tolerance=1e-9)
    assert start.epochs == 1 and outcomes[0][1].weights()["1.weight"].dtype == np.float64


@pytest.mark.parametrize(
    "model, settings",
    [
        ("flatten dense(20) relu dense(16) tanh dropout(0.3, scale=test) dense(10)", dict(l1=0.5, weight_decay=1e-3)),
        ("flatten dense(24) linear dropout(0.4) dense(12) sigmoid dense(10)", dict(dtype="float64", l2=0.0)),
        (
            "conv(4, 5, padding=1) maxpool(2) relu dropout(0.2) conv(6, 3, stride=2) relu flatten dense(10)",
            dict(l1=0.5),
        ),
        (CNN, dict(weight_decay=1e-3, dtype="float64")),
    ],
    ids=["relu-tanh-l1-l2-decay", "linear-sigmoid-float64", "conv-pad-stride-l1", "cnn-decay-float64"],
)
def test_the_written_out_sgd_step_is_the_autograd_step(dataset, model, settings):
    """``ByHandSGD`` (plain SGD; dense, convolution and max-pool layers) against the stacked model's autograd
    step, with each member at a learning rate of its own: the same losses, correct counts, gradient norms and
    weights."""
    from layerlab import parse
    from layerlab.torch.stacked import StackedTrainable

    runs = configs(model, **settings)
    spec = parse(model, dataset.train.x.shape[1:])
    x, y = dataset.train.x, dataset.train.y
    orders = [np.random.default_rng(seed).permutation(len(x)) for seed in SEEDS]
    rates = [np.full(30, 0.05), np.linspace(0.01, 0.2, 30), None]  # warm-ups apart; the third at its own 0.05
    results = []
    for written_out in (True, False):
        stacked = StackedTrainable(runs, spec, len(x))
        assert stacked.by_hand is not None
        if not written_out:
            stacked.by_hand = None
        stacked.add_data("train", x, y)
        stats = stacked.train_epoch(orders, 10, [lambda step, loss: None] * 3, rates, [0, 1, 2])
        results.append((stats, [stacked.weights_of(i) for i in range(3)]))
    (by_hand, weights_by_hand), (autograd, weights_autograd) = results
    tolerance = 1e-7 if settings.get("dtype") == "float64" else 1e-5  # the loss is float32 in both: so is its gradient
    for i in range(3):
        np.testing.assert_allclose(by_hand[i].losses, autograd[i].losses, rtol=0, atol=1e-5)
        assert by_hand[i].correct == autograd[i].correct
        assert by_hand[i].grad_norms.keys() == autograd[i].grad_norms.keys() and by_hand[i].grad_norms
        for name, norm in autograd[i].grad_norms.items():
            assert by_hand[i].grad_norms[name] == pytest.approx(norm, rel=1e-5)
        for name, value in weights_autograd[i].items():
            np.testing.assert_allclose(weights_by_hand[i][name], value, rtol=0, atol=tolerance, err_msg=name)


def test_only_plain_sgd_on_dense_conv_and_max_pool_layers_takes_the_written_out_step(dataset):
    from layerlab import parse
    from layerlab.torch.stacked import StackedTrainable

    def written_out(model, **settings):
        runs = configs(model, **settings)
        return StackedTrainable(runs, parse(model, dataset.train.x.shape[1:]), 300).by_hand is not None

    assert written_out(MLP) and written_out(MLP, weight_decay=0.1)
    assert not written_out(MLP, optimizer="momentum") and not written_out(MLP, loss="mse")
    assert written_out(CNN) and not written_out(CNN, optimizer="adam") and not written_out(MLP, label_smoothing=0.1)
    assert not written_out("conv(4, 5) avgpool(2) relu flatten dense(10)")
