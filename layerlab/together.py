"""Runs of one model trained together: repeats with other seeds, an ensemble's members, a grid of seeds.

``fit_together(configs, dataset, outs)`` trains runs whose settings differ in their seed only as one
stacked model (``layerlab.engine.make_stacked_trainable``: on the torch engine, batched matrix products and
grouped convolutions over every member at once), and gives each run exactly what ``train.fit`` would:
its own ``LoopState`` (order of the examples, schedule, history), its own hooks (the best weights, early
stopping, the divergence guard, the epoch log) and its own run directory, written as a single run writes
it, so reports, ``--resume`` and ``layerlab.load`` see no difference. The loops advance in lockstep:
each epoch starts in every loop (``train.start_epoch``), one stacked pass trains every member, and each
loop finishes its epoch (``train.finish_epoch``). A run that stops (early stopping, divergence, a hook's
``loop.stop``) ends there and keeps its own copy of its weights; the others train on.

What the engine cannot stack (the numpy engine, batch norm, ``--compile`` ...) and runs resuming from
different epochs are trained one at a time with ``train.fit``, and the log says so in one line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .config import TrainConfig
from .data.dataset import Dataset
from .engine import make_stacked_trainable, why_not_stacked
from .errors import DivergedError, LayerlabError
from .hooks import Checkpoint, Hooks, LoopState
from .rundir import RunDir
from .spec import parse
from .train import (
    RunResult,
    Signals,
    finish_epoch,
    fit,
    load_data,
    load_initial_weights,
    run_result,
    standard_hooks,
    start_epoch,
)

#: What each run ends with: its result and trainable (as ``train.fit`` returns them), or the error it ended
#: with (a ``DivergedError`` after its files were written, as ``train.fit`` raises it).
Outcome = tuple[RunResult, Any] | LayerlabError


def why_not_together(configs: Sequence[TrainConfig], spec: Any) -> str | None:
    """Why these runs cannot train as one stacked model, in words; None when they can."""
    if len(configs) < 2:
        return "there is one run"
    first = configs[0]
    for config in configs[1:]:
        changed = first.changed_from(config, ignore=("seed",))
        if changed:
            return f"their settings differ in more than the seed ({', '.join(changed)})"
    if len({config.seed for config in configs}) < len(configs):
        return "two of them have the same seed"
    return why_not_stacked(first, spec)


def _data_differ(configs: Sequence[TrainConfig], dataset: Dataset) -> str | None:
    """Why the runs cannot share ``dataset`` (the first run's): their data depend on the seed (a random
    validation split, a generated Playground set); None when another seed loads the same data."""
    other = load_data(configs[1])
    for mine, theirs in ((dataset.train, other.train), (dataset.val, other.val), (dataset.test, other.test)):
        if not (np.array_equal(mine.x, theirs.x) and np.array_equal(mine.y, theirs.y)):
            return "their data depend on the seed (a random validation split or a generated set)"
    return None


def fit_together(
    configs: Sequence[TrainConfig],
    dataset: Dataset | None = None,
    outs: Sequence[str | os.PathLike | RunDir | None] | None = None,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    hooks: Sequence[Sequence[Any]] | None = None,
    overwrite: bool = False,
    weights: str = "best",
    note: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Train the runs ``configs`` (the same settings but their seeds) together, each into its ``outs[i]``
    (None: not written) with its own ``hooks[i]``; returns each run's outcome in order. The arguments
    mean what they mean to ``train.fit``; the progress bar, if asked for, is the first run's. The line
    saying why the runs train one at a time goes to ``note`` (default: ``log``)."""
    for config in configs:
        config.check()
    log = log or (lambda line: None)
    note = note or log  # a note of its own also hears that the runs train together
    opened = [RunDir.opened(out, resume, overwrite) for out in outs] if outs is not None else [None] * len(configs)
    hooks = [list(h) for h in hooks] if hooks is not None else [[] for _ in configs]
    dataset = dataset if dataset is not None else load_data(configs[0])
    spec = parse(configs[0].model, dataset.input_shape, dataset.name)
    spec.resolve()
    reason = why_not_together(configs, spec) or _data_differ(configs, dataset)
    if reason is not None:
        if len(configs) > 1:
            note(f"note: training the {len(configs)} runs one at a time: {reason}")
        return _one_at_a_time(configs, dataset, opened, progress, log, hooks, weights)
    stacked = make_stacked_trainable(list(configs), spec, len(dataset.train))
    started_from = ""
    for member, config, run_dir in zip(stacked.members, configs, opened, strict=True):
        started_from = load_initial_weights(config, spec, member, run_dir)
    for name, split in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test)):
        stacked.add_data(name, split.x, split.y)
    run_dirs: list[RunDir | None] = []
    loops: list[LoopState] = []
    calls: list[Hooks] = []
    signals = Signals().install()  # Ctrl-C, SIGTERM: each run writes its last finished epoch (on_interrupt)
    try:
        for run_dir in opened:
            run_dirs.append(run_dir.claim() if run_dir is not None else None)
        for i, (config, member, run_dir) in enumerate(zip(configs, stacked.members, run_dirs, strict=True)):
            member_log = _prefixed(log, f"[seed {config.seed}] ")
            loops.append(LoopState(config, dataset, spec, member, run_dir, member_log))
            standard = standard_hooks(config, run_dir, progress and i == 0, member_log, weights)
            calls.append(Hooks([signals, *standard, *hooks[i]]))
        for loop, call in zip(loops, calls, strict=True):
            call.on_fit_start(loop)
        seeds = ", ".join(str(config.seed) for config in configs)
        if note is not log:
            note(f"training {len(configs)} runs together as one stacked model (seeds {seeds})")
        log(
            f"data: {dataset.describe()}\nmodel: {spec} ({spec.num_params():,} parameters) on "
            f"{stacked.description}: {len(configs)} runs stacked, seeds {seeds}{started_from}"
        )
        outcomes: list[Outcome | None] = [None] * len(configs)
        if len({len(loop.history) for loop in loops if _unfinished(loop)}) > 1:
            note("note: the runs resume from different epochs: training them one at a time")
            for run_dir in run_dirs:
                if run_dir is not None:
                    run_dir.release()
            run_dirs = []
            resumed = [RunDir.opened(run_dir, resume=True) for run_dir in opened]
            return _one_at_a_time(configs, dataset, resumed, progress, log, hooks, weights)
        _train_in_lockstep(stacked, loops, calls, outcomes)
        for i, loop in enumerate(loops):
            if outcomes[i] is None:
                outcomes[i] = _end(loop, calls[i], stacked.members[i])
    except KeyboardInterrupt:
        for loop, call in zip(loops, calls, strict=False):
            call.on_interrupt(loop)
        raise
    finally:
        signals.restore()
        for run_dir in run_dirs:
            if run_dir is not None:
                run_dir.release()
    return outcomes  # type: ignore[return-value]


def _train_in_lockstep(stacked: Any, loops: list[LoopState], calls: list[Hooks], outcomes: list) -> None:
    """Epochs of every unfinished run at once; a run that stops is ended (its result written) there."""
    for i, loop in enumerate(loops):
        if not _unfinished(loop):
            outcomes[i] = _end(loop, calls[i], stacked.members[i])
    while True:
        active = [i for i, loop in enumerate(loops) if outcomes[i] is None]
        if not active:
            return
        started, epoch = time.perf_counter(), len(loops[active[0]].history) + 1
        orders, step_lrs = [None] * len(loops), [None] * len(loops)
        for i in active:
            orders[i], step_lrs[i] = start_epoch(loops[i], epoch, calls[i])
        for i in range(len(loops)):  # members already ended ride along with an order of their own, unused
            if orders[i] is None:
                orders[i] = orders[active[0]]
        on_steps = [_on_step(loop, call) for loop, call in zip(loops, calls, strict=True)]
        config = loops[active[0]].config
        stats = stacked.train_epoch(orders, config.batch_size, on_steps, step_lrs, active)
        for split in ("val", "test") if len(loops[active[0]].dataset.val) else ("test",):
            stacked.evaluate_all(split)  # every member's, at once; each loop's evaluate() then reads its own
        share = (time.perf_counter() - started) / len(active)  # each run's seconds: its share of the epoch
        for i in active:
            finish_epoch(loops[i], epoch, calls[i], stats[i], time.perf_counter() - share)
        _write_together([calls[i] for i in active], [loops[i] for i in active])
        for i in active:
            if not _unfinished(loops[i]):
                outcomes[i] = _end(loops[i], calls[i], stacked.members[i])


def _unfinished(loop: LoopState) -> bool:
    return not loop.stopped and len(loop.history) < loop.config.epochs


def _on_step(loop: LoopState, call: Hooks) -> Callable[[int, float | None], None]:
    return lambda step, loss: call.on_step(loop, step, loop.steps, loss)


def _write_together(calls: list[Hooks], loops: list[LoopState]) -> None:
    """Keep the runs' checkpoints at one epoch: a ``Checkpoint`` writes every few seconds, so one run may
    have written this epoch and the next not; then the others write too, and an interrupted set of runs
    resumes from one epoch, together."""
    checkpoints = [(hook, loop) for call, loop in zip(calls, loops, strict=True) for hook in call.hooks]
    checkpoints = [(hook, loop) for hook, loop in checkpoints if isinstance(hook, Checkpoint)]
    if any(hook.written == len(loop.history) for hook, loop in checkpoints):
        for hook, loop in checkpoints:
            if hook.written != len(loop.history) and loop.history:
                hook._save(loop)


def _end(loop: LoopState, call: Hooks, member: Any) -> Outcome:
    """End one run as ``train.fit`` ends it: its result, the hooks' ``on_fit_end`` (the files)."""
    member.freeze()  # from here on the run's weights are its own, whatever the others do
    result = run_result(loop)
    call.on_fit_end(loop, result)
    if loop.run_dir is not None:
        loop.run_dir.release()
    if result.status == "diverged":
        return DivergedError(result.message)
    loop.log(result.summary())
    return result, member


def _one_at_a_time(configs, dataset, run_dirs, progress, log, hooks, weights) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for config, run_dir, own in zip(configs, run_dirs, hooks, strict=True):
        try:
            outcomes.append(fit(config, dataset, run_dir, progress=progress, log=log, hooks=own, weights=weights))
        except DivergedError as error:
            outcomes.append(error)
    return outcomes


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: log(prefix + line)
