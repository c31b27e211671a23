"""Seconds per training epoch: N networks of one spec trained together (one stacked model) vs one alone.

Cases (issue 21's goals, batch 10 as in Nielsen's book):
  mlp30   5 members of 784-30-10 sigmoid (Nielsen, ch. 1), SGD eta 0.5: goal at most 1.5x one member's time
  row4    3 repeats of Nielsen's ladder row 4 (conv 20x5x5, max-pool, ReLU, conv 40x5x5, max-pool, ReLU,
          dense 100 ReLU, dense 10; eta 0.03, L2; layerlab/experiments/builtin/nielsen.toml): goal at most 2x

Loops, each one epoch of the same images (each member its own order), timed in this one process:
  one       layerlab's torch engine training one network (``TorchTrainable.train_epoch``)
  stacked   layerlab's ``StackedTrainable`` training N networks at once (batched matmuls, grouped convolutions;
            plain SGD by its written-out step, ``layerlab/torch/stacked_sgd.py``, for both cases)
  autograd  the same stacked model with autograd's backward and torch.optim's step (where ``stacked`` writes it out)
  vmap      the same N networks through ``torch.func.stack_module_state`` + ``vmap`` + ``functional_call``
            (a bare loop: no records), the other way the issue names

One CPU thread (``torch.set_num_threads(1)``); each loop runs --repeats times (3), alternating with the
others so that a slow spell of a shared machine hits all of them, and the fastest epoch counts. Times are
the thread's CPU seconds (``time.thread_time``): on a shared machine the wall clock also counts the time
other processes held the core, CPU time does not (both are the same on an idle machine). The images
are the embedded mnist-small training set (8,000 images; --images takes fewer). ``--tiny`` (300 images,
one repeat) is what CI runs to keep the script working.

    python benchmarks/batched_repeats.py              # the table in docs/batched-repeats.md
    python benchmarks/batched_repeats.py --tiny

Last measured (7 December 2026, 2-core AMD EPYC VM (AVX2), ``taskset -c 1``, ``--no-vmap``, 8,000 images, CPU
seconds per epoch): mlp30 one 0.509, stacked 0.675 (1.33x, goal met; autograd 1.77x, load 5); row4, after the
grouped convolutions' backward passes were split into two calls, one 4.399, stacked 9.232 (2.10x, goal missed by 5%;
autograd 2.49x; machine idle; again later 2.04x, and 2.10x on the evening of 7 December), before 2.22-2.45x. Row 4
misses 2x because its second convolution is bound by arithmetic already for one network (about 47 GFLOPS alone, 48
grouped for three), so three cost three times its time; docs/batched-repeats.md has the profile.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from layerlab import parse
from layerlab.config import TrainConfig
from layerlab.data import load
from layerlab.torch.model import build
from layerlab.torch.stacked import StackedTrainable
from layerlab.torch.trainable import TorchTrainable

ROW4 = (
    "conv(20, 5, init=normal(0.0894), bias_init=normal(1.0)) maxpool(2) relu "
    "conv(40, 5, init=normal(0.0632), bias_init=normal(1.0)) maxpool(2) relu "
    "flatten dense(100, init=normal(0.1), bias_init=normal(1.0)) relu dense(10, init=normal(0.0))"
)
CASES = {
    "mlp30": dict(members=5, goal=1.5, settings=dict(model="flatten dense(30) sigmoid dense(10)", lr=0.5)),
    "row4": dict(members=3, goal=2.0, settings=dict(model=ROW4, lr=0.03, l2=1.0)),
}


def configs(case: dict) -> list[TrainConfig]:
    return [TrainConfig(**case["settings"], batch_size=10, seed=seed) for seed in range(case["members"])]


def time_one(config: TrainConfig, spec, x, y) -> float:
    trainable = TorchTrainable(config, spec, len(x))
    trainable.add_data("train", x, y)
    order = np.random.default_rng([config.seed, 3]).permutation(len(x))
    started = time.thread_time()
    trainable.train_epoch(order, config.batch_size, lambda step, loss: None)
    return time.thread_time() - started


def time_stacked(runs: list[TrainConfig], spec, x, y, written_out: bool = True) -> float:
    trainable = StackedTrainable(runs, spec, len(x))
    if not written_out:
        trainable.by_hand = None  # autograd's backward and torch.optim's step, as every other model
    trainable.add_data("train", x, y)
    orders = [np.random.default_rng([c.seed, 3]).permutation(len(x)) for c in runs]
    nothing = [lambda step, loss: None] * len(runs)
    started = time.thread_time()
    trainable.train_epoch(orders, runs[0].batch_size, nothing, [None] * len(runs), list(range(len(runs))))
    return time.thread_time() - started


def time_vmap(runs: list[TrainConfig], spec, x, y) -> float:
    """A bare vmap loop over the stacked networks: forward, the summed loss, backward, an SGD step."""
    models = [build(spec, seed=c.seed) for c in runs]
    params, buffers = torch.func.stack_module_state(models)
    template = build(spec, seed=0).to("meta")
    optimizer = torch.optim.SGD(list(params.values()), lr=runs[0].lr)

    def one(p, b, xb):
        return torch.func.functional_call(template, (p, b), (xb,))

    forward = torch.vmap(one)
    x_t, y_t = torch.as_tensor(x).float() / 255, torch.as_tensor(y)
    orders = torch.as_tensor(np.stack([np.random.default_rng([c.seed, 3]).permutation(len(x)) for c in runs]))
    size = runs[0].batch_size
    started = time.thread_time()
    for start in range(0, len(x), size):
        index = orders[:, start : start + size]
        output = forward(params, buffers, x_t[index])
        loss = F.cross_entropy(output.flatten(0, 1), y_t[index].flatten(), reduction="none").view(len(runs), -1)
        optimizer.zero_grad(set_to_none=True)
        loss.mean(1).sum().backward()
        optimizer.step()
    return time.thread_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="300 images, one repeat: that the script works")
    parser.add_argument("--no-vmap", action="store_true", help="leave out the torch.func vmap loop")
    args = parser.parse_args()
    if args.tiny:
        args.images, args.repeats = 300, 1
    torch.set_num_threads(1)
    train = load("mnist-small").train
    x, y = train.x[: args.images], train.y[: args.images]
    print(f"{len(x):,} images, batch 10, 1 thread, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
    columns = ["case", "networks", "one alone (s/epoch)", "stacked (s/epoch)", "stacked / one", "goal", "vmap / one"]
    print("| " + " | ".join([*columns, "autograd / one"]) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.cases.split(","):
        case = CASES[name]
        runs = configs(case)
        spec = parse(runs[0].model, x.shape[1:])
        loops = {"one": partial(time_one, runs[0]), "stacked": partial(time_stacked, runs)}
        if StackedTrainable(runs, spec, len(x)).by_hand is not None:
            loops["autograd"] = partial(time_stacked, runs, written_out=False)
        if not args.no_vmap:
            loops["vmap"] = partial(time_vmap, runs)
        best = {loop: float("inf") for loop in loops}
        for _ in range(args.repeats):
            for loop, timed in loops.items():
                best[loop] = min(best[loop], timed(spec, x, y))
        ratio = best["stacked"] / best["one"]
        vmap = f"{best['vmap'] / best['one']:.2f}x" if "vmap" in best else "-"
        autograd = f"{best['autograd'] / best['one']:.2f}x" if "autograd" in best else "-"
        verdict = "met" if ratio <= case["goal"] else "missed"
        print(
            f"| {name} | {case['members']} | {best['one']:.3f} | {best['stacked']:.3f} | {ratio:.2f}x | "
            f"<= {case['goal']}x ({verdict}) | {vmap} | {autograd} |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
