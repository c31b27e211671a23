"""Random search vs TPE vs TPE + median pruning on the search-mlp space (full MNIST), and `layerlab tune`.

For each method and seed, one search of ``--trials`` trials (each its own study and directory, so no
run is shared between them); per trial the CPU seconds of the worker process (``time.process_time``,
all threads) are recorded by the search itself. The table gives, averaged over the seeds, the best
validation accuracy after 1/4, 1/2 and all of the trials, the CPU seconds of the whole search, and the
CPU seconds each method needed to reach random search's final best (its mean over seeds).

    python benchmarks/search_mlp.py searches --data-dir /work/shared/data/mnist --trials 16 --seeds 0 1 2
    python benchmarks/search_mlp.py tpe50 --data-dir /work/shared/data/mnist --trials 50
    python benchmarks/search_mlp.py tune --data-dir /work/shared/data/mnist
    python benchmarks/search_mlp.py table
    python benchmarks/search_mlp.py searches --tiny         # seconds, on the embedded digits: that it works (CI)

``--epochs`` and ``--limit`` (training images; validation and test stay Nielsen's 10,000 each) scale the
budget down for a small machine; the output says what was run. Results go to ``--out`` (runs/bench-search).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import layerlab
from layerlab.search import load_search

METHODS = {
    "random": {"sampler": "random", "pruner": "none"},
    "tpe": {"sampler": "tpe", "pruner": "none"},
    "tpe+median": {"sampler": "tpe", "pruner": "median"},
}


def run_search(name: str, options: dict, seed: int, args) -> dict:
    out = Path(args.out) / f"{name}-seed{seed}"
    settings = {"data_dir": args.data_dir, "epochs": args.epochs, "device": "cpu", "trials": args.trials, "seed": seed}
    settings |= {"limit": args.limit} if args.limit else {}
    settings |= {"data": args.data} if args.data else {}
    definition = load_search("search-mlp", overrides=settings | options)
    started = time.process_time()
    result = layerlab.search(definition, out, log=lambda m: None, report=not args.tiny)
    trials = sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)
    record = {
        "method": name,
        "seed": seed,
        "trials": args.trials,
        "epochs": args.epochs,
        "limit": args.limit,
        "values": [t.value if t.value is not None else float("nan") for t in trials],
        "states": [t.state.name for t in trials],
        "cpu": [t.user_attrs.get("cpu_seconds", 0.0) for t in trials],
        "total_cpu": time.process_time() - started,
        "best_val": result.best.val_accuracy,
        "best_test": result.best.test_accuracy,
        "best_params": result.best.params,
    }
    with open(Path(args.out) / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(
        f"{name} seed {seed}: best val {record['best_val']:.4f} test {record['best_test']:.4f}, "
        f"{sum(record['cpu']):.0f} CPU s in trials",
        flush=True,
    )
    return record


def best_so_far(record: dict) -> np.ndarray:
    values = [
        v if (s == "COMPLETE" and v == v) else -1.0 for v, s in zip(record["values"], record["states"], strict=True)
    ]
    return np.maximum.accumulate(values)


def table(args) -> None:
    lines = (Path(args.out) / "results.jsonl").read_text().splitlines()
    unique = {(r["method"], r.get("seed")): r for r in map(json.loads, lines)}  # a search run twice counts once
    records = list(unique.values())
    searches = [r for r in records if r["method"] in METHODS]
    if searches:
        n = min(r["trials"] for r in searches)
        target = np.mean([best_so_far(r)[n - 1] for r in searches if r["method"] == "random"])
        print(
            f"search-mlp on MNIST, {searches[0]['epochs']} epochs per trial, training images: "
            f"{searches[0]['limit'] or 50000}; {n} trials per search; seeds: "
            f"{sorted({r['seed'] for r in searches})}"
        )
        print(
            f"| method | best val @ {n // 4} | @ {n // 2} | @ {n} trials | CPU s (all trials) | "
            f"CPU s to reach random's mean final best ({target:.2%}) | CPU s to reach the same seed's random "
            "final best | best test (of the best val) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        randoms = {r["seed"]: best_so_far(r)[n - 1] for r in searches if r["method"] == "random"}
        for method in METHODS:
            rs = [r for r in searches if r["method"] == method]
            if not rs:
                continue
            curves = np.array([best_so_far(r)[:n] for r in rs])
            cpu = np.array([np.cumsum(r["cpu"][:n]) for r in rs])
            reach = [
                c[np.argmax(b >= target)] if (b >= target).any() else float("nan")
                for b, c in zip(curves, cpu, strict=True)
            ]
            cells = [f"{curves[:, k - 1].mean():.2%} ± {curves[:, k - 1].std():.2%}" for k in (n // 4, n // 2, n)]
            reached = sum(r == r for r in reach)
            own = [_reach(best_so_far(r)[:n], np.cumsum(r["cpu"][:n]), randoms.get(r["seed"])) for r in rs]
            got = [x for x in own if x == x]
            print(
                f"| {method} | {' | '.join(cells)} | {cpu[:, -1].mean():.0f} ± {cpu[:, -1].std():.0f} | "
                f"{np.nanmean(reach) if reached else float('nan'):.0f} ({reached}/{len(rs)} seeds reached it) | "
                f"{np.mean(got) if got else float('nan'):.0f} ({len(got)}/{len(rs)} seeds) | "
                f"{np.mean([r['best_test'] for r in rs]):.2%} |"
            )
        figure(searches, n, Path(args.out) / "search-mlp.png")
    for r in records:
        if r["method"] == "tpe50":
            print(
                f"TPE, {r['trials']} trials (seed {r['seed']}): best val {r['best_val']:.2%}, its test "
                f"{r['best_test']:.2%}, {sum(r['cpu']):.0f} CPU s; {r['best_params']}"
            )
        if r["method"] == "tune":
            print(
                f"tune: val {r['best_val']:.2%}, test {r['best_test']:.2%}, {r['total_cpu']:.0f} CPU s; "
                f"{r['recommendation']}"
            )


def _reach(curve: np.ndarray, cpu: np.ndarray, target: float | None) -> float:
    """CPU seconds until the best-so-far curve first reaches ``target`` (NaN if never)."""
    if target is None or not (curve >= target).any():
        return float("nan")
    return float(cpu[np.argmax(curve >= target)])


def figure(searches: list[dict], n: int, path: Path) -> None:
    """Best validation accuracy so far against trials and against CPU seconds, mean over seeds."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    by_trial, by_cpu = fig.subplots(1, 2)
    grid = np.linspace(0, max(np.sum(r["cpu"][:n]) for r in searches), 200)
    for method, colour in zip(METHODS, ("#7f7f7f", "#1f77b4", "#d62728"), strict=True):
        rs = [r for r in searches if r["method"] == method]
        curves = np.array([best_so_far(r)[:n] for r in rs])
        by_trial.plot(np.arange(1, n + 1), curves.mean(0), color=colour, label=f"{method} ({len(rs)} seeds)")
        # Each seed's best so far holds after its last trial; the mean starts once every seed has a trial.
        on_cpu = [np.interp(grid, np.cumsum(r["cpu"][:n]), best_so_far(r)[:n], left=np.nan) for r in rs]
        by_cpu.plot(grid, np.mean(on_cpu, axis=0), color=colour, label=method)
    for ax, label in ((by_trial, "trials"), (by_cpu, "CPU seconds (worker process, 1 thread)")):
        ax.set_xlabel(label)
        ax.set_ylabel("best validation accuracy so far (mean over seeds)")
        ax.set_ylim(0.9, 0.96)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=9)
    fig.suptitle("search-mlp on MNIST (10,000 training images, 3 epochs per trial)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_tune(args) -> None:
    from layerlab.config import TrainConfig
    from layerlab.search.tune import tune

    config = TrainConfig(data="mnist", data_dir=args.data_dir, device="cpu", limit=args.limit)
    started = time.process_time()
    result = tune(config, out=Path(args.out) / "tune", epochs=args.tune_epochs)
    record = {
        "method": "tune",
        "best_val": result.val_accuracy,
        "best_test": result.test_accuracy,
        "total_cpu": time.process_time() - started,
        "recommendation": result.changed,
    }
    with open(Path(args.out) / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("searches", "tpe50", "tune", "table"))
    parser.add_argument("--data-dir", default="/work/shared/data/mnist")
    parser.add_argument("--out", default="runs/bench-search")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tune-epochs", type=int, default=30, help="tune's longest run (no improvement in ten)")
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all 50,000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", help="another dataset than the space's MNIST (--tiny: mnist-small)")
    parser.add_argument(
        "--tiny", action="store_true", help="mnist-small, 300 images, 1 epoch, 4 trials, seed 0: that it works (CI)"
    )
    args = parser.parse_args()
    if args.tiny:
        args.data, args.data_dir, args.limit, args.epochs, args.trials, args.seeds = "mnist-small", None, 300, 1, 4, [0]
        if args.out == parser.get_default("out"):
            args.out = tempfile.mkdtemp(prefix="search-mlp-tiny-")
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.what == "searches":
        for seed in args.seeds:
            for name, options in METHODS.items():
                run_search(name, options, seed, args)
    elif args.what == "tpe50":
        run_search("tpe50", METHODS["tpe+median"] | {"pruner": "none"}, args.seeds[0], args)
    elif args.what == "tune":
        run_tune(args)
    table(args)


if __name__ == "__main__":
    main()
