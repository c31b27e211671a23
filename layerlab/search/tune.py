"""``layerlab tune``: the hyperparameter strategy of Nielsen's "Neural Networks and Deep Learning"
(chapter 3, "How to choose a neural network's hyper-parameters?"), step by step, saying at each step what
it tried, what it saw and what it concluded:

1. any learning at all: a binary sub-problem (the first two classes) and the simplest architecture (no
   hidden layer), small mini-batches, validation accuracy watched during the epoch; better than chance?
2. the learning rate: the learning-rate range test (``layerlab lr-find``): as large as possible without
   the loss oscillating or rising, then a safe fraction of that threshold;
3. the number of epochs: train until "no improvement in ten" epochs of validation accuracy;
4. the schedule: halve eta whenever validation accuracy stalls (down to eta / 128), kept if it helps;
5. the regularisation parameter lambda: 0, then 1.0, then x10 or /10 by the outcome while it improves,
   then a finer step around the best order of magnitude (our L2 is Nielsen's lambda / (2n) sum w^2, so
   lambda does not change with the number of training examples);
6. the mini-batch size last, scaling eta with it (eta x m: Nielsen's chapter 3, the sum over the batch
   instead of the mean), for SGD; adaptive optimisers keep their eta;

then it trains the recommendation and reports its test accuracy, once. Every run is an ordinary run
directory under ``<out>/runs`` (named by its settings, so running ``tune`` again reuses them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import DivergedError
from ..files import write_json, write_text
from ..hooks import Hook
from ..train import load_data
from .lrfind import lr_find
from .space import SearchError
from .trial import run_key

SGD_FAMILY = ("sgd", "momentum", "nesterov")
MARGIN = 0.001  #: a change of validation accuracy smaller than 0.1 points is noise, not an improvement


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


class _WatchAccuracy(Hook):
    """Step 1: the validation accuracy every few mini-batches, to see learning start (or not)."""

    def __init__(self, every: int):
        self.every, self.seen = every, []

    def on_step(self, loop, step, steps, loss) -> None:
        if step % self.every == 0 or step == steps:
            self.seen.append((step, loop.learner.evaluate("val")[1]))


class _Tuner:
    def __init__(self, config: TrainConfig, out: Path, quick: bool, epochs: int, patience: int, say):
        self.out, self.quick, self.epochs, self.patience, self.say = out, quick, epochs, patience, say
        self.dataset = load_data(config)
        self.baseline: dict[str, Any] = {"val": 0.0}  #: step 3's run, which step 4 compares against

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
        return {"val": result.best_val_accuracy, "best_epoch": result.best_epoch, "epochs": result.epochs,
                "seconds": result.seconds, "diverged": False, "run": run_dir, "test": result.test_accuracy}  # fmt: skip


def tune(config: TrainConfig | None = None, out: str | Path | None = None, *, quick: bool = False,
         explicit: set[str] | None = None, epochs: int | None = None, log=print) -> TuneResult:  # fmt: skip
    """Tune ``config``'s learning rate, epochs, schedule, lambda and mini-batch size as the slides do;
    settings named in ``explicit`` (given by the user) are kept. ``epochs``: the longest run (default: the
    given epochs, else 60, 4 with ``quick``); "no improvement in ten" becomes "in epochs / 6" when that is smaller."""
    config = config or TrainConfig()
    explicit = set(explicit or ()) & set(config.to_dict())
    if quick:
        config = config.replace(
            **{k: v for k, v in {"data": "mnist-small", "limit": 2000}.items() if k not in explicit}
        )
    epochs = epochs or (config.epochs if "epochs" in explicit else 4 if quick else 60)
    patience = max(2, min(10, epochs // 6))
    out = Path(out or f"runs/tune{'-quick' if quick else ''}")
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        log(text)

    t = _Tuner(config, out, quick, epochs, patience, say)
    if t.dataset.task == "regression":  # every step below compares validation accuracies, in points
        raise SearchError(
            f"layerlab tune follows Nielsen's strategy, which compares validation accuracies; {t.dataset.name} is a "
            "regression set (no accuracy): use `layerlab search` (it minimises the validation loss) or "
            "`layerlab lr-find`"
        )
    say(f"Tuning {config.model} on {t.dataset.describe()}, as Nielsen's chapter 3 recommends.")
    _first_challenge(t, config)
    config = _learning_rate(t, config, explicit)
    config, probe_epochs = _epochs(t, config)
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
    t.note("saw", f"best validation accuracy {outcome['val']:.2%} at epoch {outcome['best_epoch']}; "
                  f"test accuracy there {test:.2%} (the first and only look at the test set)")  # fmt: skip
    from .report import train_command

    t.note("concluded", train_command(final))
    result = TuneResult(final, changed, outcome["val"], test, out, lines)
    write_json(out / "tune.json", {"recommendation": changed, "val_accuracy": outcome["val"], "test_accuracy": test,
                                   "command": train_command(final), "run": str(outcome["run"])})  # fmt: skip
    write_text(out / "tune.md", "# layerlab tune\n\n```\n" + "\n".join(lines) + "\n```\n")
    return result


def _first_challenge(t: _Tuner, config: TrainConfig) -> None:
    from .. import api
    from ..data.splits import binary

    t.step("Step 1: any learning at all (a binary sub-problem, the simplest architecture)")
    if t.dataset.task != "classification" or t.dataset.num_classes < 2:
        t.note("skipped", "not a classification set")
        return
    data = binary(t.dataset, 0, 1)
    simple = config.replace(model="flatten dense(2)" if len(data.input_shape) > 1 else "dense(2)", epochs=1,
                            batch_size=10, l2=0.0, schedule="constant", patience=0)  # fmt: skip
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


def _learning_rate(t: _Tuner, config: TrainConfig, explicit: set[str]) -> TrainConfig:
    t.step("Step 2: the learning rate (as large as possible without the loss oscillating)")
    if "lr" in explicit:
        t.note("kept", f"eta {config.lr:g}, as given")
        return config
    steps = 60 if t.quick else 200
    t.note("tried", f"the learning-rate range test: {steps} mini-batches of {config.batch_size}, eta from 1e-05 to 10")
    found = lr_find(config, t.dataset, steps=steps, out=t.out / "lr-find", progress=False)
    t.note("saw", f"the smoothed loss is lowest at eta {found.threshold:.3g} ({found.stopped}); plot: {found.plot}")
    t.note("concluded", f"eta = {found.suggestion:.3g}, a tenth of that threshold")
    return config.replace(lr=float(f"{found.suggestion:.3g}"))


def _epochs(t: _Tuner, config: TrainConfig) -> tuple[TrainConfig, int]:
    t.step(f"Step 3: the number of epochs (stop after no improvement in {t.patience})")
    outcome = t.train(config.replace(epochs=t.epochs, patience=t.patience))
    t.note("tried", f"up to {t.epochs} epochs at eta {config.lr:g}, stopping after {t.patience} without a better "
                    "validation accuracy")  # fmt: skip
    if outcome["diverged"]:
        t.note("saw", "the loss diverged: eta is too large after all")
        config = config.replace(lr=config.lr / 3)
        t.note("concluded", f"eta = {config.lr:.3g} (a third), and on")
        return config, max(2, t.epochs // 3)
    t.note("saw", f"best validation accuracy {outcome['val']:.2%} at epoch {outcome['best_epoch']}, stopped after "
                  f"{outcome['epochs']}")  # fmt: skip
    probe = max(2, outcome["best_epoch"])
    t.note("concluded", f"about {outcome['best_epoch']} epochs are useful; the comparisons below train {probe} each")
    t.baseline = outcome
    return config, probe


def _schedule(t: _Tuner, config: TrainConfig) -> TrainConfig:
    t.step("Step 4: lower eta when validation accuracy stalls")
    plateau = config.replace(schedule="plateau", lr_gamma=0.5, lr_patience=max(1, t.patience // 2),
                             lr_min=config.lr / 128)  # fmt: skip
    outcome = t.train(plateau.replace(epochs=t.epochs, patience=t.patience))
    before = t.baseline["val"]
    t.note("tried", f"halving eta after {plateau.lr_patience} epochs without improvement, down to eta / 128")
    t.note("saw", f"best validation accuracy {outcome['val']:.2%} (constant eta: {before:.2%})")
    if outcome["val"] > before:
        t.note("concluded", "keep the schedule")
        return plateau
    t.note("concluded", "no gain: keep eta constant")
    return config


def _regularisation(t: _Tuner, config: TrainConfig, explicit: set[str], probe: int) -> TrainConfig:
    t.step("Step 5: the regularisation parameter lambda (L2)")
    if "l2" in explicit:
        t.note("kept", f"lambda {config.l2:g}, as given")
        return config
    results: dict[float, float] = {}

    def trial(l2: float) -> float:
        if l2 not in results:
            results[l2] = t.train(config.replace(l2=l2, epochs=probe))["val"]
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
    t.note("concluded", f"lambda = {chosen:g} (validation accuracy {results[chosen]:.2%}; a smaller lambda wins "
                        "within 0.1 points)")  # fmt: skip
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
        results[m] = (outcome["val"], outcome["seconds"], candidate)
        t.note("tried", f"m = {m}, eta {candidate.lr:g}: validation accuracy {outcome['val']:.2%} in "
                        f"{outcome['seconds']:.1f} s")  # fmt: skip
    if not scale:
        t.note("saw", f"{config.optimizer} adapts its steps, so eta is not scaled with m")
    best_val = max(v for v, _, _ in results.values())
    fast = min((s, m) for m, (v, s, _) in results.items() if v >= best_val - 0.001 and s == s)
    m = fast[1]
    t.note("concluded", f"m = {m}: the fastest within 0.1 points of the best validation accuracy")
    return results[m][2]
