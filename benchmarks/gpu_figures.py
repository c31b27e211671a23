"""Issue 26's four tables on one GPU, in one run, each beside its reference; Markdown files in --out.

1. fast-path   Nielsen's final network (conv 20x5 pool, conv 40x5 pool, dense 1000, dropout, dense 1000,
               dropout, dense 10) on 50,000 MNIST images: seconds per epoch at batch 10 and 64 of the plain
               DataLoader loop and of the torch engine's variants (plain; CUDA graphs through
               compile=reduce-overhead; the same with bf16 and channels_last), and each loop's test accuracy
               after the same steps. Goal: 20x at batch 10, 10x at batch 64 over the plain loop.
2. ladder      The nielsen built-in at its faithful settings: every row's best and mean of its repeats (the
               5-network vote), each row's wall time, the slide's figure; repeats trained together where
               the engine stacks them, and the speed-up of training 3 together over one alone.
               Goal: the whole ladder in under 15 minutes.
3. cifar       lab4b's runs with their wall times; cifar-fast (5 repeats, bf16, channels_last) with its
               test-time-flip accuracy; airbench94 beside it when ``import airbench`` works (the GPU
               machines have no network: install its wheel beforehand). Goal: >= 90.7% mean of 5 in <= 2.4 s.
4. mnist-best  The best single network and ensemble in under a minute each, test accuracy at the epoch of
               best validation accuracy. Goal: 99.75% single, 99.80% ensemble.

Every table has a time budget (--budget TABLE=SECONDS): a run still training when its table's budget is
spent stops at the end of its epoch and the table says so, and runs not started are listed as not run, so
one call always ends with all four files. Each file is written as soon as its table is done.

    python benchmarks/gpu_figures.py --data-dir ../shared/data --out gpu-figures          # on the GPU
    python benchmarks/gpu_figures.py --tiny --out /tmp/gpu-figures                        # CPU, seconds

``--tiny``: the CPU, a few hundred images, one epoch, a few rows: that every table is produced (CI runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_fast_path beside this file

import torch_fast_path as fast  # noqa: E402

import layerlab  # noqa: E402
from layerlab import api, parse  # noqa: E402
from layerlab.augment import evaluate_tta  # noqa: E402
from layerlab.config import TrainConfig  # noqa: E402
from layerlab.data import load  # noqa: E402
from layerlab.errors import LayerlabError  # noqa: E402
from layerlab.experiments import load_experiment  # noqa: E402
from layerlab.hooks import Hook  # noqa: E402
from layerlab.torch.stacked import StackedTrainable  # noqa: E402
from layerlab.torch.trainable import TorchTrainable, resolve_device  # noqa: E402
from layerlab.train import load_data  # noqa: E402

TABLES = ("fast-path", "ladder", "cifar", "mnist-best")
RUN_ORDER = ("fast-path", "cifar", "mnist-best", "ladder")  #: the ladder last: it can use all the time there is
#: Seconds each table may take by default: under 9 minutes in all, inside the device machine's 10 minutes a call.
BUDGETS = {"fast-path": 110.0, "ladder": 140.0, "cifar": 150.0, "mnist-best": 130.0}
GPU_SPEED = {"autocast": "bf16", "channels_last": True}  #: settings only a GPU gains from
#: The fast-path table's engine variants: on a GPU CUDA graphs (compile=reduce-overhead) and bf16.
#: The fastest first: a table whose budget runs out still has it.
GPU_VARIANTS = ["compile=reduce-overhead,autocast=bf16,channels_last=true", "compile=reduce-overhead", ""]
CPU_VARIANTS = ["", "grad_norms=false"]
FAST_PATH_REFERENCE = {10: (13.1, 1.45, 20.0), 64: (2.5, 0.32, 10.0)}  # plain loop, 1 step per graph, goal (x)
LADDER_GOAL_S = 15 * 60
AIRBENCH_REFERENCE = (0.9069, 2.40)  # airbench94 on an H100, this JPEG set: mean of 5, seconds
MNIST_GOALS = (0.9975, 0.9980)
MNIST_BEST = dict(
    model=(
        "conv(32, 3, padding=same, bias=false) batchnorm relu conv(32, 3, padding=same, bias=false) batchnorm relu "
        "maxpool(2) conv(64, 3, padding=same, bias=false) batchnorm relu conv(64, 3, padding=same, bias=false) "
        "batchnorm relu maxpool(2) flatten dense(256, bias=false) batchnorm relu dropout(0.3) dense(10)"
    ),
    optimizer="nesterov",
    momentum=0.9,
    lr=0.1,
    weight_decay=5e-4,
    label_smoothing=0.1,
    batch_size=128,
    epochs=12,
    warmup=1,
    schedule="cosine",
    lr_min=0.001,
    augment="affine(degrees=10, max_shift=2, shear=5)",
    grad_norms=False,
)


# ---------------------------------------------------------------------------------------------------
# Shared pieces: where, how long, Markdown
# ---------------------------------------------------------------------------------------------------


#: What a table row says instead of numbers when a run fails (a compile error, memory): the other rows go on.
FAILURES = (LayerlabError, RuntimeError, ValueError)


def failed(error: BaseException) -> str:
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"failed: {type(error).__name__}: {line[:160]}".replace("|", "/")


class Deadline(Hook):
    """Stops a run at the end of the first epoch that ends after ``at`` (a ``time.perf_counter`` value)."""

    def __init__(self, at: float):
        self.at = at

    def on_epoch_end(self, loop, row) -> None:
        if time.perf_counter() > self.at:
            loop.stop("time_budget", "stopped: its table's time budget was spent")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]) + "\n"


def pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2%}"


def secs(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"


@dataclasses.dataclass
class Context:
    args: argparse.Namespace
    device: torch.device
    started: float = 0.0
    budget: float = 0.0
    write: Callable[..., None] | None = None  #: writes the table's file (``publish``)

    @property
    def tiny(self) -> bool:
        return self.args.tiny

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def deadline(self) -> Deadline:
        return Deadline(self.started + self.budget)

    def publish(self, text: str) -> None:
        """Write the table so far (a command cut off by its time limit still leaves it)."""
        if self.write is not None:
            self.write(text)

    def data_dir(self, name: str) -> str | None:
        return None if self.args.data_dir is None else str(Path(self.args.data_dir) / name)

    def settings(self, **extra) -> dict:
        """Settings every run of these tables shares: the device, and the GPU's fast options there."""
        speed = GPU_SPEED if self.device.type == "cuda" else {}
        return {"device": str(self.device), **speed, **extra}


# ---------------------------------------------------------------------------------------------------
# 1. The fast path
# ---------------------------------------------------------------------------------------------------


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum()) for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


def plain_loop(x, y, test, batch_size: int, device: torch.device) -> tuple[float, float]:
    """The tutorial loop of torch_fast_path (a DataLoader on the host, .to(device), loss.item() every step):
    20 untimed steps, one timed epoch, then the test accuracy."""
    model, optimizer = fast._model("cnn", device)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x).float() / 255, torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    for i, (xb, yb) in enumerate(loader):  # warm-up (cuDNN picks its kernels)
        fast._step(model, optimizer, xb.to(device), yb.to(device))
        if i == 20:
            break
    sync(device)
    start = time.perf_counter()
    for xb, yb in loader:
        fast._step(model, optimizer, xb.to(device), yb.to(device))
    sync(device)
    seconds = time.perf_counter() - start
    tx, ty = (torch.from_numpy(test.x).float() / 255).to(device), torch.from_numpy(test.y).to(device)
    return seconds, _accuracy(model, tx, ty)


def engine_loop(x, y, test, batch_size: int, device: torch.device, text: str) -> tuple[float, float]:
    """The torch engine with the settings ``text`` ("compile=reduce-overhead,autocast=bf16"): a warm-up of
    20 steps (compiles and records every batch shape), one timed epoch, then the test accuracy."""
    spec, lr = fast.MODELS["cnn"]
    config = TrainConfig(model=spec, device=str(device), lr=lr, batch_size=batch_size, **fast.variant(text))
    trainable = TorchTrainable(config, parse(spec, (1, 28, 28)), len(x))
    trainable.add_data("train", x, y)
    trainable.add_data("test", test.x, test.y)
    order = np.random.default_rng(0).permutation(len(x))
    trainable.train_epoch(order[: batch_size * 20 + len(x) % batch_size], batch_size, lambda step, loss: None)
    trainable.evaluate("test")  # the evaluation shapes too
    sync(device)
    start = time.perf_counter()
    trainable.train_epoch(order, batch_size, lambda step, loss: None)
    sync(device)
    seconds = time.perf_counter() - start
    return seconds, trainable.evaluate("test")[1]


def fast_path(ctx: Context) -> str:
    if ctx.tiny:
        dataset = load("mnist-small", limit=ctx.args.images)
        test = dataclasses.replace(dataset.test, x=dataset.test.x[:200], y=dataset.test.y[:200])
    else:
        dataset = load("mnist", data_dir=ctx.data_dir("mnist"))
        test = dataset.test
    x, y = dataset.train.x, dataset.train.y
    variants = GPU_VARIANTS if ctx.device.type == "cuda" else CPU_VARIANTS
    rows = []
    for batch_size in (10, 64):
        plain_s, plain_acc = plain_loop(x, y, test, batch_size, ctx.device)
        reference, graph_reference, goal = FAST_PATH_REFERENCE[batch_size]
        rows.append(["plain DataLoader loop", batch_size, secs(plain_s), "1.00x", pct(plain_acc), secs(reference), ""])
        for text in variants:
            label = f"engine {text}" if text else "engine (plain settings)"
            if ctx.left() < 0:
                rows.append([label, batch_size, "not run (budget)", "-", "-", "-", f"{goal:g}x"])
                continue
            try:
                seconds, accuracy = engine_loop(x, y, test, batch_size, ctx.device, text)
            except FAILURES as error:
                rows.append([label, batch_size, failed(error), "-", "-", "-", f"{goal:g}x"])
                continue
            rows.append(
                [label, batch_size, secs(seconds), f"{plain_s / seconds:.2f}x", pct(accuracy), "", f"{goal:g}x"]
            )
        rows.append(["reference: one step per CUDA graph (H100)", batch_size, secs(graph_reference), "", "", "", ""])
    head = (
        f"Nielsen's final network on {len(x):,} MNIST images: seconds per epoch (one timed epoch after 20 "
        f"warm-up steps), speed-up over the plain loop, test accuracy on {len(test.x):,} images after those "
        "steps. Reference: an H100's plain loop and one step per CUDA graph (issue 26).\n\n"
    )
    header = ["loop", "batch", "s/epoch", "vs plain", "test accuracy", "reference s/epoch", "goal"]
    return head + markdown(header, rows)


# ---------------------------------------------------------------------------------------------------
# 2. Nielsen's ladder
# ---------------------------------------------------------------------------------------------------

TINY_LADDER = ["1-mlp-100", "4-relu"]  # table 4 trains a vote


def ladder(ctx: Context) -> str:
    """Each row gets an equal share of what is left of the budget (at least one epoch): a row cut short
    still gives its seconds per epoch, hence its full time at that pace. The file is rewritten after each row."""
    overrides = ctx.settings() if not ctx.tiny else {"data": "mnist-small", "limit": ctx.args.images // 3, "epochs": 1}
    overrides.pop("autocast", None)  # repeats trained together (stacked) take neither
    overrides.pop("channels_last", None)
    if ctx.args.data_dir and not ctx.tiny:
        overrides["data_dir"] = ctx.data_dir("mnist")
    if ctx.args.ladder_epochs:
        overrides["epochs"] = ctx.args.ladder_epochs
    experiment = load_experiment("nielsen", overrides=overrides)
    rows_of: dict[str, list] = {}
    for run in experiment.runs:
        rows_of.setdefault(run.repeat_of or run.name, []).append(run)
    names = ctx.args.ladder_rows or (TINY_LADDER if ctx.tiny else list(rows_of))
    out = Path(ctx.args.out) / "ladder-runs"
    rows, total, projected = [], 0.0, 0.0
    header = ["row", "slide", "best", "mean", "of", "epochs", "wall s", "all epochs s", "within 0.15", "together"]

    def text(stacked: str = "") -> str:
        head = (
            f"Nielsen's ladder (the nielsen built-in{', tiny' if ctx.tiny else ''}): test accuracy at the epoch of "
            "best validation accuracy, best and mean of the row's seeds (row 7: the vote), epochs trained of the "
            "row's epochs, wall seconds of the row (its seeds together) and of all its epochs at that pace. Each "
            f"row had an equal share of the {ctx.budget:.0f} s budget. Total {total:.0f} s, all epochs of these "
            f"rows at that pace {projected:.0f} s; goal: the whole ladder in under {LADDER_GOAL_S // 60} minutes. "
            f"{stacked}\n\n"
        )
        return head + markdown(header, rows)

    for index, name in enumerate(names):
        plans = rows_of[name]
        plan = plans[0]
        if ctx.left() < 0:
            rows.append([name, pct(plan.reference), "not run (budget)", "-", "-", "-", "-", "-", "-", "-"])
            continue
        row_deadline = Deadline(time.perf_counter() + ctx.left() / (len(names) - index))
        start = time.perf_counter()
        try:
            dataset = load_data(plan.config)
            accuracies, how, epochs, together = train_row(plans, dataset, out, row_deadline)
        except FAILURES as error:
            rows.append([name, pct(plan.reference), failed(error), "-", "-", "-", "-", "-", "-", "-"])
            continue
        seconds = time.perf_counter() - start
        total += seconds
        per_epoch = seconds / max(1, epochs)
        projected += per_epoch * plan.config.epochs
        best = max(accuracies) if accuracies else math.nan
        within = "-" if plan.reference is None else ("yes" if abs(best - plan.reference) <= 0.0015 else "no")
        mean = pct(float(np.mean(accuracies))) if accuracies else "-"
        rows.append([name, pct(plan.reference), pct(best), mean, how, f"{epochs}/{plan.config.epochs}"])
        rows[-1] += [secs(seconds), secs(per_epoch * plan.config.epochs), within, together]
        ctx.publish(text())
    try:
        stacked = stacked_speedup(ctx)
    except FAILURES as error:
        stacked = f"Row 4's seeds trained together against one alone: {failed(error)}."
    return text(stacked)


def train_row(plans: list, dataset, out: Path, deadline: Deadline) -> tuple[list[float], str, int, str]:
    """One ladder row: its seeds trained together (or its ensemble's members); (test accuracies (the vote's for
    an ensemble), what they are, epochs trained, whether they trained as one stacked model)."""
    plan = plans[0]
    stacks = "yes" if api_stacks(plan.config, dataset) else "no"
    if plan.members > 1:
        result, _ = api.ensemble(
            plan.members,
            dataset,
            out=out / plan.name,
            overwrite=True,
            quiet=True,
            hooks=[deadline],
            **plan.config.to_dict(),
        )
        return [result.vote_accuracy], f"vote of {plan.members}", max(m.epochs for m in result.members), stacks
    runs = api.fit_together(
        [p.config for p in plans],
        dataset,
        [out / p.name.replace("#", "-") for p in plans],
        overwrite=True,
        quiet=True,
        hooks=[[deadline] for _ in plans],
        note=lambda line: None,
    )
    results = [run.result for run in runs if not isinstance(run, Exception)]
    errors = [run for run in runs if isinstance(run, Exception)]
    if not results:
        raise errors[0]
    epochs = max(r.epochs for r in results)
    return [r.test_accuracy for r in results], f"{len(results)} seed(s)", epochs, stacks if len(plans) > 1 else "no"


def api_stacks(config: TrainConfig, dataset) -> bool:
    from layerlab.engine import why_not_stacked

    return why_not_stacked(config, parse(config.model, dataset.input_shape)) is None


def stacked_speedup(ctx: Context) -> str:
    """Seconds of one epoch of ladder row 4 for one network alone and for 3 trained together (stacked)."""
    experiment = load_experiment("nielsen")
    config = next(run.config for run in experiment.runs if run.repeat_of == "4-relu")
    config = config.replace(device=str(ctx.device), data="mnist-small", expand=None)
    train = load("mnist-small", limit=ctx.args.images if ctx.tiny else 8000).train
    spec = parse(config.model, train.x.shape[1:])
    configs = [config.replace(seed=seed) for seed in range(3)]
    order = np.random.default_rng(0).permutation(len(train.x))

    def one() -> float:
        trainable = TorchTrainable(config, spec, len(train.x))
        trainable.add_data("train", train.x, train.y)
        trainable.train_epoch(order[:200], config.batch_size, lambda step, loss: None)  # warm-up
        sync(ctx.device)
        start = time.perf_counter()
        trainable.train_epoch(order, config.batch_size, lambda step, loss: None)
        sync(ctx.device)
        return time.perf_counter() - start

    def stacked() -> float:
        trainable = StackedTrainable(configs, spec, len(train.x))
        trainable.add_data("train", train.x, train.y)
        nothing = [lambda step, loss: None] * 3
        trainable.train_epoch([order[:200]] * 3, config.batch_size, nothing, [None] * 3, [0, 1, 2])
        sync(ctx.device)
        start = time.perf_counter()
        trainable.train_epoch([order] * 3, config.batch_size, nothing, [None] * 3, [0, 1, 2])
        sync(ctx.device)
        return time.perf_counter() - start

    alone, together = one(), stacked()
    return (
        f"Row 4's 3 seeds trained together: {together:.2f} s per epoch of {len(train.x):,} images against "
        f"{alone:.2f} s for one alone, so 3 together take {together / alone:.2f}x one network's time "
        f"({3 * alone / together:.2f}x faster than one after another)."
    )


# ---------------------------------------------------------------------------------------------------
# 3. CIFAR-10: lab 4B, cifar-fast and airbench
# ---------------------------------------------------------------------------------------------------


def timed_fit(ctx: Context, config: TrainConfig, dataset, out: Path) -> tuple[layerlab.Run, float]:
    """A run and its wall seconds; with ``--keep-runs`` its run directory in ``out`` (checkpoints cost time)."""
    out = out if ctx.args.keep_runs else None
    sync(ctx.device)
    start = time.perf_counter()
    run = api.fit(dataset, out=out, overwrite=True, quiet=True, hooks=[ctx.deadline()], **config.to_dict())
    sync(ctx.device)
    return run, time.perf_counter() - start


def cifar(ctx: Context) -> str:
    """cifar-fast first and airbench beside it (the goal), then lab 4B's runs with what is left of the budget."""
    overrides = {"device": str(ctx.device)}
    if ctx.tiny:
        overrides |= {"data": "cifar10-small", "limit": ctx.args.images, "epochs": 1}
    elif ctx.args.data_dir:
        overrides["data_dir"] = ctx.data_dir("cifar10")
    out = Path(ctx.args.out) / "cifar-runs"
    fast_overrides = overrides | ctx.settings()
    if ctx.tiny:
        fast_overrides |= {"batch_size": 32, "lr": 0.05, "lr_min": 0.0035, "warmup": 1}
    if ctx.args.cifar_lr:
        fast_overrides |= {"lr": ctx.args.cifar_lr, "lr_min": 0.07 * ctx.args.cifar_lr}
    experiment = load_experiment("cifar-fast", quick=ctx.tiny, overrides=fast_overrides)
    repeats = [p for p in experiment.runs if p.repeat_of == "fast"][: ctx.args.cifar_repeats] or experiment.runs[:1]
    others = [p for p in experiment.runs if not p.repeat_of] if not ctx.tiny else []
    dataset = load_data(repeats[0].config)
    rows: list[list] = []
    header = ["run", "test accuracy", "with test-time flips", "epochs", "wall s", "goal"]

    def text() -> str:
        head = (
            f"CIFAR-10 ({dataset.name}): test accuracy at the epoch of best validation accuracy, with test-time flips "
            "(the mean of each photo's and its mirror's probabilities), epochs trained, wall seconds of the whole "
            "run (data to the device, training, evaluation each epoch). airbench94's own figures: the accuracy with "
            "its test-time augmentation (flips and one-pixel shifts), the seconds of its training and that "
            f"evaluation. Reference on an H100: airbench94 {AIRBENCH_REFERENCE[0]:.2%} (mean of 5) in "
            f"{AIRBENCH_REFERENCE[1]} s.\n\n"
        )
        return head + markdown(header, rows)

    accuracies, flips, times = [], [], []
    for plan in repeats + others:
        label = "cifar-fast " + plan.name
        if ctx.left() < 0:
            rows.append([label, "not run (budget)", "-", "-", "-", ""])
            continue
        try:
            run, seconds = timed_fit(ctx, plan.config, dataset, out / plan.name.replace("#", "-"))
            flip = evaluate_tta(run.predict_proba, dataset.test.x, dataset.test.y, "flip", batch_size=1000)
        except FAILURES as error:
            rows.append([label, failed(error), "-", "-", "-", ""])
            continue
        result = run.result
        if plan in repeats:
            accuracies.append(result.test_accuracy)
            flips.append(flip["averaged"])
            times.append(seconds)
        rows.append([label, pct(result.test_accuracy), pct(flip["averaged"]), f"{result.epochs}/{plan.config.epochs}"])
        rows[-1] += [secs(seconds), ""]
        if plan is repeats[-1] and accuracies:
            met = np.mean(flips) >= AIRBENCH_REFERENCE[0] and np.mean(times) <= AIRBENCH_REFERENCE[1]
            goal = f">= {AIRBENCH_REFERENCE[0]:.2%} in <= {AIRBENCH_REFERENCE[1]} s ({'met' if met else 'missed'})"
            mean = [pct(float(np.mean(accuracies))), pct(float(np.mean(flips))), "", secs(float(np.mean(times)))]
            rows.append([f"cifar-fast mean of {len(accuracies)}", *mean, goal])
        ctx.publish(text())
    try:
        rows.extend(airbench_rows(ctx, dataset))
    except FAILURES as error:
        rows.append(["airbench94", failed(error), "", "", "", ""])
    ctx.publish(text())
    rows.extend(lab4b_rows(ctx, overrides, out))
    return text()


def lab4b_rows(ctx: Context, overrides: dict, out: Path) -> list[list]:
    """Lab 4B's runs (each distinct setting trained once) with their wall times."""
    rows, trained = [], {}
    for plan in load_experiment("lab4b", overrides=overrides).runs:
        label = "lab4b " + plan.name
        if plan.key not in trained:
            if ctx.left() < 0:
                rows.append([label, "not run (budget)", "-", "-", "-", ""])
                continue
            try:
                run, seconds = timed_fit(ctx, plan.config, load_data(plan.config), out / plan.name)
            except FAILURES as error:
                rows.append([label, failed(error), "-", "-", "-", ""])
                continue
            trained[plan.key] = (run.result, seconds, plan.name)
        result, seconds, first = trained[plan.key]
        same = "" if first == plan.name else f" (the same settings as {first}: trained once)"
        rows.append([label + same, pct(result.test_accuracy), "-", f"{result.epochs}/{plan.config.epochs}"])
        rows[-1] += [secs(seconds), ""]
    return rows


def airbench_rows(ctx: Context, dataset) -> list[list[str]]:
    """airbench94 trained 5 times on the same photos (after one warm-up run), if it is installed; each time
    counts its training and its evaluation with test-time augmentation (flips and one-pixel shifts)."""
    try:
        import airbench
    except ImportError:
        missing = "missing: pip install airbench (its wheel, on a machine without network)"
        return [["airbench94", missing, "", "", "", ""]]
    if ctx.device.type != "cuda":
        return [["airbench94", "needs a CUDA GPU", "", "", "", ""]]
    if ctx.left() < 0:
        return [["airbench94", "not run (budget)", "", "", "", ""]]
    train = load(dataset.name, data_dir=ctx.data_dir("cifar10"), val=0)
    cwd = os.getcwd()
    rows, accuracies, times = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(Path(folder) / "cifar10")
        for split, part in (("train", train.train), ("test", train.test)):
            images = torch.from_numpy(np.ascontiguousarray(part.x.transpose(0, 2, 3, 1)))
            torch.save(
                {"images": images, "labels": torch.from_numpy(part.y), "classes": list(train.classes)},
                Path(folder) / "cifar10" / f"{split}.pt",
            )
        os.chdir(folder)  # airbench reads cifar10/train.pt and cifar10/test.pt from the working folder
        try:

            def loader():
                return airbench.CifarLoader(
                    "cifar10", train=True, batch_size=1024, aug=dict(flip=True, translate=2), altflip=True
                )

            airbench.warmup94(train_loader=loader(), verbose=False)
            for run in range(ctx.args.cifar_repeats):
                if ctx.left() < 0:
                    break
                sync(ctx.device)
                start = time.perf_counter()
                trained = airbench.train94(train_loader=loader(), run=run, verbose=False)
                if isinstance(trained, torch.nn.Module):  # airbench 0.1.9 returns the model: its own evaluation
                    test = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
                    trained = airbench.evaluate(trained, test, tta_level=2)
                accuracy = float(trained)
                sync(ctx.device)
                accuracies.append(accuracy)
                times.append(time.perf_counter() - start)
                rows.append([f"airbench94 run {run + 1}", "", pct(accuracy), "9.9", secs(times[-1]), ""])
        finally:
            os.chdir(cwd)
    if accuracies:
        rows.append(
            [f"airbench94 mean of {len(accuracies)}", "", pct(float(np.mean(accuracies))), "", secs(np.mean(times)), ""]
        )
    return rows


# ---------------------------------------------------------------------------------------------------
# 4. The best MNIST network and ensemble in a minute
# ---------------------------------------------------------------------------------------------------


def mnist_best(ctx: Context) -> str:
    settings = MNIST_BEST | ctx.settings()
    if ctx.tiny:  # the same layers, narrower
        model = settings["model"].replace("conv(32,", "conv(4,").replace("conv(64,", "conv(4,")
        settings |= {"data": "mnist-small", "limit": ctx.args.images, "epochs": 1, "batch_size": 32}
        settings |= {"model": model.replace("dense(256,", "dense(16,")}
    else:
        settings |= {"data": "mnist", "data_dir": ctx.data_dir("mnist")}
    config = TrainConfig(**settings)
    dataset = load_data(config)
    minute = ctx.args.minute
    out = Path(ctx.args.out) / "mnist-runs"
    single_deadline = time.perf_counter() + minute
    sync(ctx.device)
    start = time.perf_counter()
    hooks = [Deadline(single_deadline)]
    run = api.fit(dataset, out=out / "single", overwrite=True, quiet=True, hooks=hooks, **settings)
    sync(ctx.device)
    single_s = time.perf_counter() - start
    per_epoch = single_s / max(1, run.result.epochs)
    members = 5 if not ctx.tiny else 2
    member_epochs = max(1, min(config.epochs, int(minute / (members * per_epoch))))
    start = time.perf_counter()
    result, _ = api.ensemble(
        members,
        dataset,
        out=out / "ensemble",
        overwrite=True,
        quiet=True,
        hooks=[Deadline(start + minute)],
        **(settings | {"epochs": member_epochs, "seed": 10}),
    )
    ensemble_s = time.perf_counter() - start
    rows = [
        [
            "single network",
            pct(run.result.best_val_accuracy),
            pct(run.result.test_accuracy),
            f"{run.result.epochs}/{config.epochs}",
            secs(single_s),
            pct(MNIST_GOALS[0]),
        ],
        [
            f"vote of {members} ({member_epochs} epochs each)",
            pct(result.vote_val_accuracy),
            pct(result.vote_accuracy),
            f"{max(m.epochs for m in result.members)}/{member_epochs}",
            secs(ensemble_s),
            pct(MNIST_GOALS[1]),
        ],
    ]
    head = (
        f"MNIST ({dataset.name}): the best network in {minute:g} s and the best vote of networks in {minute:g} s; "
        "test accuracy at the epoch of best validation accuracy (each member's), never chosen by test. Model: "
        f"`{config.model}`, {config.optimizer} lr {config.lr} with label smoothing {config.label_smoothing}, "
        f"augmentation `{config.augment}`.\n\n"
    )
    header = ["network", "validation accuracy", "test accuracy", "epochs", "wall s", "goal"]
    return head + markdown(header, rows)


# ---------------------------------------------------------------------------------------------------


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"CPU, {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{where}; torch {torch.__version__}; layerlab {layerlab.__version__}; {now}"


def table_writer(path: Path, name: str, ctx: Context) -> Callable[..., None]:
    """Writes table ``name``'s file: its heading (machine, seconds spent, budget) and ``text``."""

    def write(text: str, final: bool = False) -> None:
        spent = time.perf_counter() - ctx.started
        state = "" if final else ", unfinished"
        number = TABLES.index(name) + 1
        heading = f"## {number}. {name}\n\n{describe(ctx.device)}; {spent:.0f} s (budget {ctx.budget:.0f} s{state})"
        path.write_text(f"{heading}\n\n{text}")

    return write


def parse_budgets(items: list[str]) -> dict[str, float]:
    budgets = dict(BUDGETS)
    for item in items:
        name, _, value = item.partition("=")
        if name not in budgets:
            raise SystemExit(f"--budget {item}: the tables are {', '.join(TABLES)}")
        budgets[name] = float(value)
    return budgets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="the folder holding mnist/ and cifar10/ (../shared/data)")
    parser.add_argument("--out", default="gpu-figures", help="where the Markdown tables and runs go")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--budget", nargs="*", default=[], metavar="TABLE=SECONDS", help=f"defaults: {BUDGETS}")
    parser.add_argument("--tiny", action="store_true", help="CPU, a few hundred images, one epoch: that it works")
    parser.add_argument("--images", type=int, default=200, help="training images with --tiny")
    parser.add_argument("--ladder-rows", nargs="+", help="the ladder rows to run (default: all)")
    parser.add_argument("--ladder-epochs", type=int, help="epochs of every ladder row (default: the book's)")
    parser.add_argument("--cifar-repeats", type=int, default=5, help="cifar-fast and airbench runs (mean of N)")
    parser.add_argument("--cifar-lr", type=float, help="cifar-fast's peak learning rate (default: the built-in's)")
    parser.add_argument("--minute", type=float, default=60.0, help="table 4's time per network and per ensemble")
    parser.add_argument(
        "--keep-runs", action="store_true", help="table 3: write each run's directory (checkpoints every epoch)"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.device = "cpu"
        args.cifar_repeats = min(args.cifar_repeats, 2)
        args.minute = min(args.minute, 30.0)
    budgets = parse_budgets(args.budget)
    torch.set_num_threads(1 if args.tiny else torch.get_num_threads())
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"gpu_figures: {describe(device)}", flush=True)
    makers: dict[str, Callable[[Context], str]] = {
        "fast-path": fast_path,
        "ladder": ladder,
        "cifar": cifar,
        "mnist-best": mnist_best,
    }
    if args.data_dir and not args.tiny:  # decoded once (cached as .npy), outside every table's budget
        started = time.perf_counter()
        for name, folder in (("mnist", "mnist"), ("cifar10", "cifar10")):
            load(name, data_dir=str(Path(args.data_dir) / folder))
        print(f"datasets decoded and cached in {time.perf_counter() - started:.0f} s", flush=True)
    for name in sorted(args.tables, key=RUN_ORDER.index):
        path = out / f"{TABLES.index(name) + 1}-{name}.md"
        ctx = Context(args, device, time.perf_counter(), budgets[name])
        ctx.write = table_writer(path, name, ctx)
        try:
            text = makers[name](ctx)
        except FAILURES as error:  # the other tables still get their turn
            text = f"{failed(error)}\n"
        ctx.write(text, final=True)
        print(path.read_text(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
