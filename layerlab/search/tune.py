"""``layerlab tune``: the hyperparameter strategy of Nielsen's "Neural Networks and Deep Learning"
(chapter 3, "How to choose a neural network's hyper-parameters?"), step by step, saying at each step what
it tried, what it saw and what it concluded:

1. any learning at all: a binary sub-problem (the first two classes) and the simplest architecture (no
   hidden layer), small mini-batches, validation accuracy watched during the epoch; better than chance?
2. the learning rate: the learning-rate range test (``layerlab lr-find``): as large as possible without
   the loss oscillating or rising, then a safe fraction of that threshold. When its curve gives no
   threshold (a sigmoid network's loss stays flat over a short sweep), Nielsen's own rule: train a few
   epochs at eta = 0.01, 0.1, 1, 10, ... (0.001, 0.0001, ... if the cost does not fall at 0.01) while the
   training cost falls in every epoch; the first eta at which it oscillates or rises is the threshold,
   and eta is half the largest eta below it ("a factor of two below the threshold");
3. the number of epochs: train until "no improvement in ten" epochs of validation accuracy;
4. the schedule: halve eta whenever validation accuracy stalls (down to eta / 128), kept if it helps;
5. the regularisation parameter lambda: 0, then 1.0, then x10 or /10 by the outcome while it improves,
   then a finer step around the best order of magnitude (our L2 is Nielsen's lambda / (2n) sum w^2, so
   lambda does not change with the number of training examples);
6. the mini-batch size last, scaling eta with it (eta x m: Nielsen's chapter 3, the sum over the batch
   instead of the mean), for SGD; adaptive optimisers keep their eta;

then it trains the recommendation and reports its test accuracy, once. Every step after the first checks
that its runs beat chance (the validation accuracy of always answering the most frequent class, plus a
tenth of the way to 100%): a run that does not is said to be at chance and nothing is built on it; a
recommendation at chance comes with a warning (on screen and in ``tune.json``). Every run is an ordinary run
directory under ``<out>/runs`` (named by its settings, so running ``tune`` again reuses them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..errors import DivergedError
from ..files import out_folder, write_json, write_text
from ..hooks import Hook
from ..report.blocks import Code, Page
from ..report.markdown import markdown_page
from ..task import task_named
from ..train import load_data
from .lrfind import QUICK, lr_find
from .space import SearchError
from .trial import run_key

SGD_FAMILY = ("sgd", "momentum", "nesterov")
MARGIN = 0.001  #: a change of validation accuracy smaller than 0.1 points is noise, not an improvement
FIRST_EPOCHS = 3  #: Nielsen's "first few epochs" of the threshold rule
NIELSEN_ETAS = 0.01, 10.0**4, 10.0**-5  #: the rule's first eta, and the highest and lowest it tries


@dataclass
class TuneResult:
    """What ``tune`` recommends: the settings found, those that differ from the defaults, their accuracies
    and the log of the steps taken."""

    config: TrainConfig
    changed: dict[str, Any]  #: the recommended settings that differ from the defaults
    val_accuracy: float
    test_accuracy: float
    directory: Path
    log: list[str] = field(default_factory=list, repr=False)
    warning: str = ""  #: not "" when the recommendation does not beat chance

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.changed.items()) or "the defaults"
        head = f"tune recommends: {settings}\nvalidation accuracy {self.val_accuracy:.2%}"
        head += f", test {self.test_accuracy:.2%}"
        return head + (f"\nWARNING: {self.warning}" if self.warning else "")

    def _repr_html_(self) -> str:
        """The recommendation, then the log of the steps (what was tried, seen and concluded)."""
        import html

        log = html.escape("\n".join(self.log).strip())
        return f"<pre>{html.escape(repr(self))}</pre>\n<details><summary>the steps</summary><pre>{log}</pre></details>"


class _WatchAccuracy(Hook):
    """Step 1: the validation accuracy every few mini-batches, to see learning start (or not)."""

    def __init__(self, every: int):
        self.every, self.seen = every, []

    def on_step(self, loop, step, steps, loss) -> None:
        if step % self.every == 0 or step == steps:
            self.seen.append((step, loop.trainable.evaluate("val")[1]))


class _Tuner:
    def __init__(self, config: TrainConfig, out: Path, quick: bool, epochs: int, patience: int, say):
        self.out, self.quick, self.epochs, self.patience, self.say = out, quick, epochs, patience, say
        self.dataset = load_data(config)
        self.baseline: dict[str, Any] = {"val": 0.0}  #: step 3's run, which step 4 compares against
        labels = self.dataset.val.y if len(self.dataset.val) else self.dataset.train.y
        classified = task_named(self.dataset.task).has_classes and len(labels)  # (tune refuses a regression set)
        counts = np.bincount(np.asarray(labels, dtype=int)) if classified else np.ones(1)
        self.chance = float(counts.max() / counts.sum())  #: always answering the most frequent class
        self.bar = self.chance + (1 - self.chance) / 10  #: clearly above chance

    def learns(self, outcome: dict[str, Any]) -> bool:
        return not outcome["diverged"] and outcome["val"] >= self.bar

    def at_chance(self, outcome: dict[str, Any]) -> str:
        """The concluded line's warning for a run that does not beat chance, or ""."""
        if self.learns(outcome):
            return ""
        return (
            f"AT CHANCE: {outcome['val']:.2%} is not clearly above chance ({self.chance:.2%}); nothing is built on it; "
        )

    def step(self, title: str) -> None:
        self.say(f"\n== {title}")

    def note(self, kind: str, text: str) -> None:
        self.say(f"   {kind:<10} {text}")

    def train(self, config: TrainConfig) -> dict[str, Any]:
        """Train (or reuse) a run; its best validation accuracy, epochs and seconds."""
        from .. import api

        run_dir = self.out / "runs" / run_key(config)
        try:
            run = api.fit(self.dataset, out=run_dir, resume=True, quiet=True, progress=False, **config.to_dict())
            result = run.result
        except DivergedError:
            return {"val": 0.0, "best_epoch": 0, "epochs": 0, "seconds": math.nan, "diverged": True, "run": run_dir}
        return {
            "val": result.best_val_accuracy,
            "best_epoch": result.best_epoch,
            "epochs": result.epochs,
            "seconds": result.seconds,
            "diverged": False,
            "run": run_dir,
            "test": result.test_accuracy,
            "losses": [row["train_loss"] for row in result.history],
        }


def tune(
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    *,
    quick: bool = False,
    explicit: set[str] | None = None,
    epochs: int | None = None,
    log=print,
) -> TuneResult:
    """Tune ``config``'s learning rate, epochs, schedule, lambda and mini-batch size as the slides do;
    settings named in ``explicit`` (given by the user) are kept. ``epochs``: the longest run (default: the
    given epochs, else 60, 4 with ``quick``); "no improvement in ten" becomes "in epochs / 6" when that is smaller."""
    config = config or TrainConfig()
    explicit = set(explicit or ()) & set(config.to_dict())
    if quick:
        config = config.replace(**{k: v for k, v in QUICK.items() if k not in explicit})
    epochs = epochs or (config.epochs if "epochs" in explicit else 4 if quick else 60)
    patience = max(2, min(10, epochs // 6))
    out = out_folder(out or f"runs/tune{'-quick' if quick else ''}")  # before any work
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        log(text)

    t = _Tuner(config, out, quick, epochs, patience, say)
    if not task_named(t.dataset.task).has_classes:  # every step below compares validation accuracies, in points
        raise SearchError(
            f"layerlab tune follows Nielsen's strategy, which compares validation accuracies; {t.dataset.name} is a "
            "regression set (no accuracy): use `layerlab search` (it minimises the validation loss) or "
            "`layerlab lr-find`"
        )
    say(f"Tuning {config.model} on {t.dataset.describe()}, as Nielsen's chapter 3 recommends.")
    _first_challenge(t, config)
    config, how = _learning_rate(t, config, explicit)
    config, probe_epochs = _epochs(t, config, how)
    config = _schedule(t, config)
    config = _regularisation(t, config, explicit, probe_epochs)
    config = _batch_size(t, config, explicit, probe_epochs)

    t.step("Recommendation: train it with early stopping, then measure the test accuracy once")
    final = config.replace(epochs=epochs, patience=patience)
    outcome = t.train(final)
    defaults = TrainConfig().to_dict()
    changed = {k: v for k, v in final.to_dict().items() if v != defaults[k] and k not in ("data_dir",)}
    t.note("tried", ", ".join(f"{k}={v}" for k, v in changed.items()))
    test = outcome.get("test", math.nan)
    t.note(
        "saw",
        f"best validation accuracy {outcome['val']:.2%} at epoch {outcome['best_epoch']}; "
        f"test accuracy there {test:.2%} (the first and only look at the test set)",
    )
    from .report import train_command

    t.note("concluded", train_command(final))
    warning = ""
    if not t.learns(outcome):
        warning = (
            f"this recommendation does not beat chance ({outcome['val']:.2%} on validation, chance "
            f"{t.chance:.2%}): the model does not learn with these settings; do not use it. Check the data, "
            "try another --lr or a ReLU model"
        )
        say(f"\n!! WARNING: {warning}")
    result = TuneResult(final, changed, outcome["val"], test, out, lines, warning)
    write_json(
        out / "tune.json",
        {
            "recommendation": changed,
            "val_accuracy": outcome["val"],
            "test_accuracy": test,
            "command": train_command(final),
            "run": str(outcome["run"]),
            "warning": warning,
        },
    )
    notes = Page("layerlab tune", [Code("\n".join(lines))], marked=False)
    write_text(out / "tune.md", markdown_page(notes, out))
    return result


def _first_challenge(t: _Tuner, config: TrainConfig) -> None:
    from .. import api
    from ..data.splits import binary

    t.step("Step 1: any learning at all (a binary sub-problem, the simplest architecture)")
    if not task_named(t.dataset.task).has_classes or t.dataset.num_classes < 2:
        t.note("skipped", "not a classification set")
        return
    data = binary(t.dataset, 0, 1)
    simple = config.replace(
        model="flatten dense(2)" if len(data.input_shape) > 1 else "dense(2)",
        epochs=1,
        batch_size=10,
        l2=0.0,
        schedule="constant",
        patience=0,
    )
    lr = simple.resolved_lr()
    for _ in range(3):
        steps = math.ceil(len(data.train) / 10)
        watch = _WatchAccuracy(max(1, steps // 8))
        t.note("tried", f"{data.name}: {simple.model} (no hidden layer), mini-batches of 10, eta {lr:g}, one epoch")
        try:
            api.fit(data, quiet=True, progress=False, hooks=[watch], **simple.replace(lr=lr).to_dict())
        except DivergedError:
            watch.seen.append((0, 0.0))
        trace = ", ".join(f"{acc:.0%}" for _, acc in watch.seen)
        t.note("saw", f"validation accuracy every {watch.every} mini-batches: {trace} (chance: 50%)")
        if watch.seen and watch.seen[-1][1] > 0.6:
            t.note("concluded", "it learns: the data, the model and the loop work; on to the real problem")
            return
        lr /= 10
        t.note("concluded", f"no better than chance: try a 10x smaller eta ({lr:g})")
    t.note("concluded", "still no learning after three tries: check the data and the labels before tuning more")


def _learning_rate(t: _Tuner, config: TrainConfig, explicit: set[str]) -> tuple[TrainConfig, str]:
    """Step 2: eta, and how it was found: "given", "range" (the range test) or "rule" (Nielsen's rule)."""
    t.step("Step 2: the learning rate (as large as possible without the loss oscillating)")
    if "lr" in explicit:
        t.note("kept", f"eta {config.lr:g}, as given")
        return config, "given"
    steps = 200
    t.note("tried", f"the learning-rate range test: {steps} mini-batches of {config.batch_size}, eta from 1e-05 to 10")
    found = lr_find(config, t.dataset, steps=steps, out=t.out / "lr-find", progress=False, overwrite=True)
    if found.threshold is None or found.suggestion is None:
        t.note("saw", f"no threshold: {found.problem}; plot: {found.plot}")
        t.note("concluded", "the range test cannot tell: find the threshold as Nielsen does")
        return _threshold_rule(t, config), "rule"
    t.note("saw", f"the smoothed loss is lowest at eta {found.threshold:.3g} ({found.stopped}); plot: {found.plot}")
    t.note("concluded", f"eta = {found.suggestion:.3g}, a tenth of that threshold")
    return config.replace(lr=float(f"{found.suggestion:.3g}")), "range"


def _threshold_rule(t: _Tuner, config: TrainConfig) -> TrainConfig:
    """Nielsen's chapter 3 rule (see the module docstring): eta = half the largest eta of 0.01 x 10^k whose
    training cost falls in each of the first few epochs."""

    def falls(lr: float) -> bool:
        outcome = t.train(config.replace(lr=lr, epochs=FIRST_EPOCHS, patience=0, schedule="constant", warmup=0))
        losses = outcome.get("losses", [])
        fell = (
            not outcome["diverged"]
            and len(losses) == FIRST_EPOCHS
            and all(b < a for a, b in zip(losses, losses[1:], strict=False))
        )
        costs = "diverged" if outcome["diverged"] else ", ".join(f"{loss:.3g}" for loss in losses)
        t.note(
            "tried",
            f"eta {lr:g}, {FIRST_EPOCHS} epochs: training cost {costs}: {'falls' if fell else 'oscillates or rises'}",
        )
        return fell

    first, highest, lowest = NIELSEN_ETAS
    lr = first
    if falls(lr):
        while lr * 10 <= highest and falls(lr * 10):
            lr *= 10
    else:
        while lr / 10 >= lowest and not falls(lr / 10):
            lr /= 10
        lr /= 10
        if lr < lowest:
            t.note(
                "concluded",
                f"the cost falls at no eta down to {lowest:g}: eta stays {config.resolved_lr():g}; "
                "check the model and the data",
            )
            return config
    eta = float(f"{lr / 2:.3g}")
    t.note(
        "concluded",
        f"eta = {eta:g}, half of {lr:g}, the largest eta whose cost fell in every one of the "
        f"first {FIRST_EPOCHS} epochs (Nielsen: a factor of two below the threshold)",
    )
    return config.replace(lr=eta)


def _epochs(t: _Tuner, config: TrainConfig, how: str) -> tuple[TrainConfig, int]:
    t.step(f"Step 3: the number of epochs (stop after no improvement in {t.patience})")
    outcome = t.train(config.replace(epochs=t.epochs, patience=t.patience))
    t.note(
        "tried",
        f"up to {t.epochs} epochs at eta {config.lr:g}, stopping after {t.patience} without a better "
        "validation accuracy",
    )
    if outcome["diverged"]:
        t.note("saw", "the loss diverged: eta is too large after all")
        config = config.replace(lr=config.lr / 3)
        t.note("concluded", f"eta = {config.lr:.3g} (a third), and on")
        return config, max(2, t.epochs // 3)
    t.note(
        "saw",
        f"best validation accuracy {outcome['val']:.2%} at epoch {outcome['best_epoch']}, stopped after "
        f"{outcome['epochs']}",
    )
    probe = max(2, outcome["best_epoch"])
    if not t.learns(outcome) and how == "range":
        t.note("concluded", t.at_chance(outcome) + "the range test's eta does not train this model: Nielsen's rule")
        return _epochs(t, _threshold_rule(t, config), "rule")
    if outcome["best_epoch"] >= t.epochs:  # the best epoch is the cap: it says nothing of how many are useful
        useful = f"still improving at epoch {t.epochs}, the cap (--epochs): more epochs would help; "
    else:
        useful = f"about {outcome['best_epoch']} epochs are useful; "
    t.note("concluded", t.at_chance(outcome) + useful + f"the comparisons below train {probe} each")
    t.baseline = outcome
    return config, probe


def _schedule(t: _Tuner, config: TrainConfig) -> TrainConfig:
    t.step("Step 4: lower eta when validation accuracy stalls")
    plateau = config.replace(
        schedule="plateau", lr_gamma=0.5, lr_patience=max(1, t.patience // 2), lr_min=config.lr / 128
    )
    outcome = t.train(plateau.replace(epochs=t.epochs, patience=t.patience))
    before = t.baseline["val"]
    t.note("tried", f"halving eta after {plateau.lr_patience} epochs without improvement, down to eta / 128")
    t.note("saw", f"best validation accuracy {outcome['val']:.2%} (constant eta: {before:.2%})")
    if outcome["val"] > before and t.learns(outcome):
        t.note("concluded", "keep the schedule")
        return plateau
    t.note("concluded", t.at_chance(outcome) + "no gain: keep eta constant")
    return config


def _regularisation(t: _Tuner, config: TrainConfig, explicit: set[str], probe: int) -> TrainConfig:
    t.step("Step 5: the regularisation parameter lambda (L2)")
    if "l2" in explicit:
        t.note("kept", f"lambda {config.l2:g}, as given")
        return config
    results: dict[float, float] = {}
    learned: set[float] = set()  #: the lambdas whose runs beat chance: the only ones chosen

    def trial(l2: float) -> float:
        if l2 not in results:
            outcome = t.train(config.replace(l2=l2, epochs=probe))
            results[l2] = outcome["val"]
            learned.update([l2] if t.learns(outcome) else [])
            t.note("tried", f"lambda {l2:g}: validation accuracy {results[l2]:.2%}")
        return results[l2]

    def best() -> float:  # the smallest lambda within MARGIN of the highest accuracy
        top = max(results.values())
        return min(v for v, accuracy in results.items() if accuracy >= top - MARGIN)

    trial(0.0)
    trial(1.0)
    factor = 10.0 if results[1.0] > results[0.0] + MARGIN else 0.1
    t.note("saw", f"lambda 1 is {'better' if factor > 1 else 'not better'} than 0: go {'up' if factor > 1 else 'down'}")
    l2 = 1.0
    for _ in range(2 if t.quick else 3):
        if trial(l2 * factor) <= results[l2] + MARGIN:
            break  # no longer improving by more than the noise
        l2 *= factor
    if best() > 0:
        for finer in (best() * 3, best() / 3):
            trial(float(f"{finer:.3g}"))
    chosen = best()
    if chosen not in learned:
        t.note("concluded", t.at_chance({"val": results[chosen], "diverged": False}) + f"lambda stays {config.l2:g}")
        return config
    t.note(
        "concluded",
        f"lambda = {chosen:g} (validation accuracy {results[chosen]:.2%}; a smaller lambda wins within 0.1 points)",
    )
    return config.replace(l2=chosen)


def _batch_size(t: _Tuner, config: TrainConfig, explicit: set[str], probe: int) -> TrainConfig:
    t.step("Step 6: the mini-batch size, last, with eta scaled by m")
    if "batch_size" in explicit:
        t.note("kept", f"mini-batches of {config.batch_size}, as given")
        return config
    m0, scale = config.batch_size, config.optimizer in SGD_FAMILY
    results = {}
    for m in sorted({m0, m0 * 4, m0 * 16}):
        candidate = config.replace(batch_size=m, lr=float(f"{config.lr * m / m0:.3g}") if scale else config.lr)
        outcome = t.train(candidate.replace(epochs=probe))
        results[m] = (outcome["val"] if t.learns(outcome) else -1.0, outcome["seconds"], candidate)
        t.note(
            "tried",
            f"m = {m}, eta {candidate.lr:g}: validation accuracy {outcome['val']:.2%} in {outcome['seconds']:.1f} s",
        )
    if not scale:
        t.note("saw", f"{config.optimizer} adapts its steps, so eta is not scaled with m")
    best_val = max(v for v, _, _ in results.values())
    if best_val < 0:
        t.note("concluded", f"AT CHANCE: no mini-batch size beats chance ({t.chance:.2%}); m stays {m0}")
        return config
    fast = min((s, m) for m, (v, s, _) in results.items() if v >= best_val - 0.001 and s == s)
    m = fast[1]
    t.note("concluded", f"m = {m}: the fastest within 0.1 points of the best validation accuracy")
    return results[m][2]
