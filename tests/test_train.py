"""The trainer: engine parity, resume after SIGKILL, determinism, early stopping, divergence, ensembles."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layerlab
from layerlab.api import majority_vote
from layerlab.config import TrainConfig
from layerlab.data.dataset import Dataset, Split
from layerlab.errors import DivergedError, TrainError
from layerlab.schedules import Schedule
from layerlab.task import task_named
from layerlab.train import fit

ACCURACY = task_named("classification").score

CNN = "conv(4, 3) maxpool(2) relu flatten dense(10) tanh dense(3)"


def blobs(n: int = 120, seed: int = 0, image: bool = True) -> Dataset:
    """Three classes of small uint8 images whose mean brightness differs per class."""
    rng = np.random.default_rng(seed)

    def split(count: int) -> Split:
        y = rng.integers(0, 3, count)
        if image:
            x = np.clip(rng.normal(60 + 60 * y[:, None, None, None], 40, (count, 1, 8, 8)), 0, 255).astype(np.uint8)
        else:
            x = (rng.normal(0, 1, (count, 2)) + np.stack([np.cos(2 * y), np.sin(2 * y)], 1) * 2).astype(np.float32)
        return Split(x, y)

    return Dataset("blobs", split(n), split(n // 3), split(n // 3), ("a", "b", "c"), source="synthetic")


def config(**changes) -> TrainConfig:
    settings = dict(model=CNN, epochs=3, batch_size=8, lr=0.05, seed=1)
    return TrainConfig(**(settings | changes))


def quiet_fit(cfg: TrainConfig, dataset: Dataset, **kwargs):
    return fit(cfg, dataset, progress=False, log=None, **kwargs)


def test_one_epoch_of_sgd_agrees_between_engines_at_every_step():
    data = blobs()
    cfg = config(epochs=1, l2=0.5)
    numpy_run, numpy_learner = quiet_fit(cfg.replace(engine="numpy"), data)
    torch_run, torch_learner = quiet_fit(cfg.replace(engine="torch"), data)
    # The per-step losses of one epoch: same initial weights, same batches, same updates.
    n = numpy_learner.model
    order = np.random.default_rng([cfg.seed, 3]).permutation(len(data.train))
    assert len(order) == 120
    assert numpy_run.history[0]["train_loss"] == pytest.approx(torch_run.history[0]["train_loss"], abs=1e-5)
    assert numpy_run.history[0]["test_loss"] == pytest.approx(torch_run.history[0]["test_loss"], abs=1e-5)
    for name, value in numpy_learner.weights().items():
        np.testing.assert_allclose(value, torch_learner.weights()[name], atol=2e-5, err_msg=name)
    assert n.num_params == sum(v.size for v in torch_learner.weights().values())


def test_step_losses_agree_in_float32():
    from layerlab import parse
    from layerlab.numpy.trainable import NumpyTrainable
    from layerlab.torch.trainable import TorchTrainable

    data = blobs()
    cfg = config(epochs=1, batch_size=10)
    spec = parse(cfg.model, data.input_shape)
    order = np.random.default_rng(0).permutation(len(data.train))
    losses, norms = [], []
    for learner_class in (NumpyTrainable, TorchTrainable):
        trainable = learner_class(cfg, spec, len(data.train))
        trainable.add_data("train", data.train.x, data.train.y)
        stats = trainable.train_epoch(order, cfg.batch_size, lambda step, loss: None)
        losses.append(stats.losses)
        norms.append(stats.grad_norms)
    assert len(losses[0]) == 12
    np.testing.assert_allclose(losses[0], losses[1], atol=1e-5)
    assert losses[0][-1] < losses[0][0]  # it learned something
    # both engines report the same per-layer gradient norms (the mean over the 12 steps)
    assert norms[0].keys() == norms[1].keys() and len(norms[0]) == 3
    for name in norms[0]:
        assert norms[0][name] == pytest.approx(norms[1][name], rel=1e-4), name


def test_torch_evaluates_on_the_cpu_in_batches_that_stay_in_the_cache():
    """On a CPU the torch engine evaluates at most eval_cpu_elements floats of the widest layer output at a
    time: Nielsen's conv(20, 5) net (24 x 24 x 20 outputs an image) in batches of 364, not the 1,000 of
    ``eval_batch_size``, which took twice the time. The accuracy is that of one batch of 1,000; the loss
    the same to float32 precision. A small MLP keeps batches of 1,000."""
    from layerlab import parse
    from layerlab.engine import make_trainable

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (1000, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 1000)
    conv = "input(1, 28, 28) conv(20, 5) maxpool(2) sigmoid flatten dense(10)"
    cfg = config(model=conv, engine="torch", device="cpu")
    trainable = make_trainable(cfg, parse(conv), 1000)
    trainable.add_data("test", x, y)
    assert cfg.eval_batch_size == 1000 and trainable.eval_batch_size == (1 << 22) // (20 * 24 * 24) == 364
    loss, accuracy = trainable.evaluate("test")
    trainable.eval_batch_size = 1000
    one_batch_loss, one_batch_accuracy = trainable.evaluate("test")
    assert accuracy == one_batch_accuracy and loss == pytest.approx(one_batch_loss, rel=1e-6)
    mlp = "input(1, 28, 28) flatten dense(100) sigmoid dense(10)"
    assert make_trainable(config(model=mlp, engine="torch", device="cpu"), parse(mlp), 1000).eval_batch_size == 1000


@pytest.mark.parametrize("engine", ["numpy", "torch"])
@pytest.mark.parametrize(("batch_size", "stride"), [(10, 1), (1, 3)], ids=["12-steps-all", "120-steps-every-3rd"])
def test_gradient_norms_are_the_mean_over_evenly_spaced_steps(engine, batch_size, stride):
    """An epoch of up to GRAD_NORM_STEPS (50) steps records every step; 120 steps record steps 0, 3, ..., 117."""
    from layerlab import parse
    from layerlab.engine import GRAD_NORM_STEPS, make_trainable

    data = blobs()
    cfg = config(epochs=1, batch_size=batch_size, engine=engine)
    trainable = make_trainable(cfg, parse(cfg.model, data.input_shape), len(data.train))
    trainable.add_data("train", data.train.x, data.train.y)
    norms_by_step: list[dict[str, float]] = []
    if engine == "numpy":
        original = trainable.optimizer.step

        def step_and_record(params, grads):  # the norms of every step, taken just before its update
            norms_by_step.append(
                {n: np.linalg.norm(g) for n, g in grads.items() if n.endswith("weight") and g.ndim > 1}
            )
            original(params, grads)
    else:
        original = trainable.optimizer.step
        named = dict(trainable.model.named_parameters())

        def step_and_record():
            norms_by_step.append({n: float(named[n].grad.norm()) for n in trainable.weight_names})
            original()

    trainable.optimizer.step = step_and_record
    stats = trainable.train_epoch(np.random.default_rng(0).permutation(120), batch_size, lambda step, loss: None)
    assert len(norms_by_step) == 120 // batch_size and GRAD_NORM_STEPS == 50
    sampled = norms_by_step[::stride]
    assert len(sampled) == {1: 12, 3: 40}[stride]
    expected = {name: np.mean([step[name] for step in sampled]) for name in sampled[0]}
    assert len(expected) == 3 and stats.grad_norms == pytest.approx(expected, rel=1e-5)
    if stride > 1:  # sampling really leaves steps out: the mean over every step is another number
        every = {name: np.mean([step[name] for step in norms_by_step]) for name in sampled[0]}
        assert stats.grad_norms != pytest.approx(every, rel=1e-5)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_gradient_norms_off_records_none_and_trains_the_same(engine):
    data = blobs()
    on = quiet_fit(config(engine=engine, epochs=2), data)[0]
    off = quiet_fit(config(engine=engine, epochs=2, grad_norms=False), data)[0]
    assert [row["grad_norms"] for row in off.history] == [{}, {}]
    assert all(len(row["grad_norms"]) == 3 for row in on.history)
    for key in ("train_loss", "val_accuracy", "test_loss"):
        assert [row[key] for row in on.history] == [row[key] for row in off.history], key


@pytest.mark.parametrize(
    "changes",
    [{"channels_last": True}, {"compile": "default"}, {"compile": "reduce-overhead", "channels_last": True}],
    ids=["channels-last", "compile", "compile-reduce-overhead-channels-last"],
)
def test_channels_last_and_compile_take_the_same_steps_as_the_plain_torch_engine(changes, monkeypatch):
    from layerlab import parse
    from layerlab.torch.trainable import TorchTrainable

    graphs, modes = [], set()

    def recording_backend(graph_module, example_inputs, mode="default"):  # a custom backend: needs no C compiler
        graphs.append([tuple(x.shape) for x in example_inputs])
        modes.add(mode)
        return graph_module.forward

    monkeypatch.setattr(TorchTrainable, "compile_backend", staticmethod(recording_backend))
    data = blobs()
    order = np.random.default_rng(0).permutation(len(data.train))
    results = []
    for cfg in (config(batch_size=16), config(batch_size=16, **changes)):
        trainable = TorchTrainable(cfg, parse(cfg.model, data.input_shape), len(data.train))
        trainable.add_data("train", data.train.x, data.train.y)
        trainable.add_data("val", data.val.x, data.val.y)
        losses = trainable.train_epoch(order, cfg.batch_size, lambda step, loss: None).losses
        results.append((losses, trainable.evaluate("val"), trainable.weights()))
    (plain_losses, plain_val, plain_weights), (losses, val, weights) = results
    assert len(losses) == 8  # 7 batches of 16 and one of 8
    np.testing.assert_allclose(losses, plain_losses, atol=1e-5)
    assert val == pytest.approx(plain_val, abs=1e-5)
    assert weights.keys() == plain_weights.keys()
    for name, value in weights.items():
        assert value.flags.c_contiguous  # saved in the usual layout whatever the memory format in training
        np.testing.assert_allclose(value, plain_weights[name], atol=1e-5, err_msg=name)
    if "compile" in changes:  # one graph per batch shape: 16 and 8 in training, 40 (the whole set) in evaluation
        batch_sizes = {shape[0] for shapes in graphs for shape in shapes if shape[1:] == data.input_shape}
        assert batch_sizes == {16, 8, 40}
        assert modes == {changes["compile"]}
    else:
        assert graphs == []


def test_a_failing_compile_names_the_setting_and_the_way_out(monkeypatch):
    from layerlab.torch.trainable import TorchTrainable

    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no C compiler found\nmore details")

    monkeypatch.setattr(TorchTrainable, "compile_backend", staticmethod(broken_backend))
    expected = r"--compile default failed \(RuntimeError: no C compiler found\); train without --compile"
    with pytest.raises(TrainError, match=expected):
        quiet_fit(config(compile="default", epochs=1), blobs())


def test_fast_path_settings_are_checked():
    with pytest.raises(TrainError, match="--compile must be one of default, reduce-overhead, max-autotune"):
        config(compile="fast").check()
    with pytest.raises(TrainError, match="--channels-last needs --engine torch"):
        config(engine="numpy", channels_last=True).check()
    with pytest.raises(TrainError, match="--compile needs --engine torch"):
        config(engine="numpy", compile="default").check()


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_same_seed_same_numbers_and_another_seed_differs(engine):
    data = blobs()
    cfg = config(engine=engine, model=CNN.replace("tanh", "tanh dropout(0.3)"))
    a, _ = quiet_fit(cfg, data)
    b, _ = quiet_fit(cfg, data)
    c, _ = quiet_fit(cfg.replace(seed=2), data)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert a.test_accuracy == b.test_accuracy
    assert [r["train_loss"] for r in a.history] != [r["train_loss"] for r in c.history]


def test_learns_and_reports_test_accuracy_at_best_validation_epoch():
    data = blobs(240)
    result, _ = quiet_fit(config(epochs=6), data)
    best = max(result.history, key=lambda r: r["val_accuracy"])
    assert result.best_epoch == next(r["epoch"] for r in result.history if r["val_accuracy"] == best["val_accuracy"])
    assert result.test_accuracy == result.history[result.best_epoch - 1]["test_accuracy"]
    assert result.final_test_accuracy == result.history[-1]["test_accuracy"]
    assert result.best_val_accuracy > 0.8  # three well-separated brightness levels
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert set(result.history[0]["grad_norms"]) == {"0.weight", "4.weight", "6.weight"}


RESUME_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_train import blobs, config
    from layerlab.train import fit

    def log(line):
        if line.startswith("epoch 2:"):  # after epoch 2's numbers, before its checkpoint: the worst moment
            os.kill(os.getpid(), signal.SIGKILL)

    fit(config(engine={engine!r}, epochs=4, model={model!r}), blobs(), out={out!r}, progress=False, log=log)
    """
)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_run_killed_with_sigkill_resumes_to_the_same_numbers(tmp_path, engine):
    model = CNN.replace("tanh", "tanh dropout(0.2)")
    out = tmp_path / "run"
    script = RESUME_SCRIPT.format(tests=os.path.dirname(__file__), engine=engine, model=model, out=str(out))
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # epoch 2 never reached its checkpoint
    assert not list(out.glob(".*tmp"))  # no half-written files

    cfg = config(engine=engine, epochs=4, model=model)
    resumed, _ = quiet_fit(cfg, blobs(), out=out, resume=True)
    uninterrupted, _ = quiet_fit(cfg, blobs())
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy")
    assert [[r[k] for k in keys] for r in resumed.history] == [[r[k] for k in keys] for r in uninterrupted.history]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4
    assert json.loads((out / "result.json").read_text())["test_accuracy"] == uninterrupted.test_accuracy


def test_resume_refuses_a_run_with_other_settings(tmp_path):
    quiet_fit(config(epochs=1), blobs(), out=tmp_path)
    with pytest.raises(TrainError, match="different settings.*lr"):
        quiet_fit(config(epochs=2, lr=0.5), blobs(), out=tmp_path, resume=True)


def test_early_stopping_restores_the_best_epoch():
    data = blobs()
    # A learning rate that first helps, then makes validation accuracy bounce around.
    cfg = config(epochs=30, patience=2, lr=0.8, engine="numpy")
    result, trainable = quiet_fit(cfg, data)
    assert result.status == "early_stopping"
    assert result.epochs < 30
    assert result.epochs - result.best_epoch == 2
    loss, accuracy = trainable.evaluate("val")
    assert accuracy == result.best_val_accuracy  # the best epoch's weights, not the last ones


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings on the way to inf
def test_a_diverging_run_stops_with_the_epoch_and_step(tmp_path):
    cfg = config(lr=1e6, model="dense(8) relu dense(3)", engine="numpy", epochs=5)
    with pytest.raises(DivergedError, match=r"at epoch \d+, step \d+ of 15 .*smaller --lr"):
        quiet_fit(cfg, blobs(image=False), out=tmp_path)
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_schedules():
    def rates(**changes):
        schedule = Schedule(config(epochs=5, **changes), 0.1, ACCURACY.better)
        return [round(schedule.for_epoch(e), 6) for e in range(1, 6)]

    assert rates() == [0.1] * 5
    assert rates(schedule="step", lr_step=2, lr_gamma=0.5) == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert rates(schedule="cosine") == [0.1, 0.085355, 0.05, 0.014645, 0.0]
    plateau = Schedule(config(schedule="plateau", lr_patience=2, lr_gamma=0.5), 0.1, ACCURACY.better)
    for accuracy in (0.5, 0.6, 0.6, 0.55):
        plateau.after_epoch(accuracy)
    assert plateau.for_epoch(5) == 0.05
    losses = Schedule(
        config(schedule="plateau", lr_patience=2, lr_gamma=0.5), 0.1, task_named("regression").score.better
    )
    for loss in (0.5, 0.4, 0.3, 0.2):  # a validation loss falling every epoch: no decay (an accuracy rule would)
        losses.after_epoch(loss)
    assert losses.for_epoch(5) == 0.1
    for loss in (0.2, 0.25):  # two epochs without a lower loss
        losses.after_epoch(loss)
    assert losses.for_epoch(7) == 0.05


def test_warmup_raises_the_rate_step_by_step_then_hands_over_to_the_schedule():
    schedule = Schedule(config(epochs=4, warmup=2, schedule="step", lr_step=3, lr_gamma=0.5), 0.8, ACCURACY.better)
    np.testing.assert_allclose(schedule.for_steps(1, 4), [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(schedule.for_steps(2, 4), [0.5, 0.6, 0.7, 0.8])
    assert schedule.for_steps(3, 4) is None and schedule.for_epoch(4) == 0.4
    assert Schedule(config(), 0.8, ACCURACY.better).for_steps(1, 4) is None
    with pytest.raises(TrainError, match="--warmup must be >= 0"):
        config(warmup=-1).check()


def test_both_engines_take_the_warmup_rates_at_every_step():
    data = blobs()
    runs = {
        (engine, warmup): quiet_fit(config(engine=engine, epochs=2, warmup=warmup, lr=0.2), data)[0]
        for engine in ("numpy", "torch")
        for warmup in (0, 2)
    }
    losses = {key: [row["train_loss"] for row in run.history] for key, run in runs.items()}
    np.testing.assert_allclose(losses["numpy", 2], losses["torch", 2], atol=1e-5)
    assert losses["torch", 2][0] != pytest.approx(losses["torch", 0][0], abs=1e-3)  # smaller first steps
    assert [row["lr"] for row in runs["torch", 2].history] == [0.2, 0.2]


def test_bf16_autocast_trains_close_to_float32():
    data = blobs(240)
    full, _ = quiet_fit(config(epochs=4), data)
    bf16, _ = quiet_fit(config(epochs=4, autocast="bf16"), data)
    assert bf16.history[-1]["train_loss"] < bf16.history[0]["train_loss"]
    assert bf16.history[0]["train_loss"] != full.history[0]["train_loss"]  # it really ran in bfloat16
    assert abs(bf16.best_val_accuracy - full.best_val_accuracy) <= 0.05


def test_bad_settings_name_the_flag():
    with pytest.raises(TrainError, match="--batch-size must be at least 1"):
        config(batch_size=0).check()
    with pytest.raises(TrainError, match="--optimizer must be one of sgd"):
        config(optimizer="lbfgs").check()
    with pytest.raises(TrainError, match="unknown setting.*epoch"):
        TrainConfig.from_dict({"epoch": 3})


def test_majority_vote_breaks_ties_by_probability():
    p = np.array(
        [
            [[0.6, 0.4, 0.0], [0.9, 0.1, 0.0]],
            [[0.3, 0.7, 0.0], [0.2, 0.8, 0.0]],
            [[0.2, 0.8, 0.0], [0.1, 0.3, 0.6]],
        ]
    )
    # example 0: votes 0, 1, 1 -> 1; example 1: votes 0, 1, 2 (a three-way tie) -> 0 has the most probability
    np.testing.assert_array_equal(majority_vote(p), [1, 0])


def test_ensemble_combines_members(tmp_path):
    result, runs = layerlab.ensemble(3, blobs(), out=tmp_path, quiet=True, progress=False, **config(epochs=2).to_dict())
    assert [run.config.seed for run in runs] == [1, 2, 3]
    assert len(result.member_accuracies) == 3
    assert min(result.member_accuracies) - 0.05 <= result.vote_accuracy <= 1
    saved = json.loads((tmp_path / "ensemble.json").read_text())
    assert saved["vote_accuracy"] == result.vote_accuracy
    assert math.isclose(saved["mean_accuracy"], result.mean_accuracy)


@pytest.mark.parametrize(("trained_on", "loaded_on"), [("numpy", "torch"), ("torch", "numpy")])
def test_weights_move_between_engines(tmp_path, trained_on, loaded_on):
    data = blobs()
    run = layerlab.fit(data, out=tmp_path, quiet=True, **config(engine=trained_on, epochs=2).to_dict())
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["config"]["engine"] = loaded_on  # the same run, opened by the other engine
    (tmp_path / "config.json").write_text(json.dumps(saved))
    other = layerlab.load(tmp_path)
    assert other.trainable.description.startswith(loaded_on)
    np.testing.assert_allclose(other.predict_proba(data.test.x), run.predict_proba(data.test.x), atol=1e-5)
    assert (other.predict(data.test.x) == run.predict(data.test.x)).all()


def test_threads_default_to_one_on_a_cpu_and_follow_the_setting():
    import torch

    from layerlab import parse
    from layerlab.torch.trainable import TorchTrainable

    data = blobs()
    before = torch.get_num_threads()
    try:
        for threads, expected in ((None, 1), (2, 2)):
            cfg = config(device="cpu", threads=threads)
            TorchTrainable(cfg, parse(cfg.model, data.input_shape), len(data.train))
            assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
    with pytest.raises(TrainError, match="--threads must be at least 1"):
        config(threads=0).check()


def test_many_short_epochs_write_their_files_at_most_every_few_seconds(tmp_path, monkeypatch):
    """After the first epoch, the checkpoint, weights and metrics are written at most every 5 s and after
    the last epoch (each file is fsynced: per-epoch writes were most of a Playground run's time); the run
    ends with every epoch in its metrics and the same numbers as a run that wrote after every epoch."""
    from layerlab.hooks import Checkpoint
    from layerlab.rundir import RunDir

    saved: list[int] = []
    original = RunDir.save_checkpoint

    def counting(self, state, info):
        saved.append(info["epoch"])
        return original(self, state, info)

    monkeypatch.setattr(RunDir, "save_checkpoint", counting)
    cfg = config(engine="numpy", model="flatten dense(8) tanh dense(3)", epochs=12)
    result, _ = quiet_fit(cfg, blobs(), out=tmp_path / "run")
    assert saved == [1, 12]  # a fraction of a second each: the first and the last epoch
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 12
    monkeypatch.setattr(Checkpoint, "every", 0.0)  # after every epoch, as before
    saved.clear()
    every, _ = quiet_fit(cfg, blobs(), out=tmp_path / "every")
    assert saved == list(range(1, 13))
    assert [r["val_loss"] for r in every.history] == [r["val_loss"] for r in result.history]
    assert (tmp_path / "run" / "best.safetensors").read_bytes() == (
        tmp_path / "every" / "best.safetensors"
    ).read_bytes()


def test_a_runs_summary_gives_its_test_accuracys_interval():
    """Every single run's headline comes with its 95% Wilson interval on the test set's size."""
    import layerlab
    from layerlab.stats import wilson

    result = layerlab.fit(data="xor", model="dense(4) tanh dense(2)", epochs=1, engine="numpy", quiet=True).result
    assert result.test_examples == 250
    interval = wilson(round(result.test_accuracy * 250), 250)
    assert f"95% interval {interval.low:.1%}–{interval.high:.1%} on 250 test examples" in result.summary()
    assert interval.low < result.test_accuracy < interval.high
