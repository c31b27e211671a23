"""Seconds per epoch of Nielsen's final network: a plain PyTorch DataLoader loop vs. layerlab's torch engine.

Network: conv(20,5) pool conv(40,5) pool dense(1000) dropout dense(1000) dropout dense(10), ReLU, SGD.
The plain loop is what a tutorial writes: a DataLoader over float tensors on the host, each batch
copied to the device, loss.item() every step. layerlab keeps the uint8 images on the device, gathers
each batch there, and reads the losses once per epoch. On a GPU it also times the engine under
torch.compile with CUDA graphs (compile=reduce-overhead), alone and with bf16 autocast and channels_last.

    python benchmarks/torch_fast_path.py --device cuda                 # 50,000 images, batch 10 and 64
    python benchmarks/torch_fast_path.py --device cpu --images 5000    # a CPU check
    python benchmarks/torch_fast_path.py --variant compile=default     # time other torch-engine settings

Each loop is timed --repeats times (3), alternating with the others; the fastest epoch of each counts.

Uses MNIST from --data-dir when given, else random images of the same shape (the timing is the same).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from layerlab import parse
from layerlab.config import TrainConfig
from layerlab.torch.learner import TorchLearner, resolve_device

MODEL = (
    "conv(20, 5) maxpool(2) relu conv(40, 5) maxpool(2) relu flatten dropout(0.5) dense(1000) relu dropout(0.5) "
    "dense(1000) relu dropout(0.5) dense(10)"
)


def images(args) -> tuple[np.ndarray, np.ndarray]:
    if args.data_dir:
        from layerlab.data import load

        train = load("mnist", data_dir=args.data_dir).train
        return train.x[: args.images], train.y[: args.images]
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (args.images, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, args.images)


def plain_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device) -> float:
    """The tutorial loop: a DataLoader on the host, .to(device) and loss.item() each step."""
    from layerlab.torch import build

    model = build(parse(MODEL, (1, 28, 28)), seed=0, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x).float() / 255, torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    _sync(device)
    start = time.perf_counter()
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
    _sync(device)
    return time.perf_counter() - start


def layerlab_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device, **options) -> float:
    """One timed epoch of the torch engine, after a short warm-up epoch with the same batch shapes.

    ``options`` are TrainConfig settings such as compile="reduce-overhead", autocast="bf16" or
    channels_last=True; the warm-up compiles (or records CUDA graphs for) every batch shape first.
    """
    config = TrainConfig(model=MODEL, device=str(device), lr=0.03, batch_size=batch_size, **options)
    learner = TorchLearner(config, parse(MODEL, (1, 28, 28)), len(x))
    learner.add_data("train", x, y)
    order = np.random.default_rng(0).permutation(len(x))
    warm_up = order[: batch_size * 20 + len(x) % batch_size]
    learner.train_epoch(warm_up, batch_size, lambda step, loss: None)
    _sync(device)
    start = time.perf_counter()
    learner.train_epoch(order, batch_size, lambda step, loss: None)
    _sync(device)
    return time.perf_counter() - start


def variant(text: str) -> dict[str, object]:
    """'compile=reduce-overhead,autocast=bf16,channels_last=true' -> TrainConfig settings."""
    settings = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        settings[key.strip()] = {"true": True, "false": False}.get(value.strip(), value.strip())
    return settings


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


GPU_VARIANTS = ["", "compile=reduce-overhead", "compile=reduce-overhead,autocast=bf16,channels_last=true"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--data-dir")
    parser.add_argument("--repeats", type=int, default=3, help="timings per loop, alternating; the fastest counts")
    parser.add_argument(
        "--variant",
        action="append",
        help="torch-engine settings to time, e.g. compile=reduce-overhead,autocast=bf16 (repeatable; "
        "default: the plain engine, plus two compiled variants on a GPU)",
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    variants = args.variant or (GPU_VARIANTS if device.type == "cuda" else [""])
    x, y = images(args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{len(x):,} images on {name}, torch {torch.__version__}\n")
    print(f"{'batch':>5} {'plain loop s':>13}  {'layerlab s':>11} {'speed-up':>9}  variant")
    for batch_size in args.batch_sizes:
        times: dict[str, list[float]] = {}
        for _ in range(args.repeats):  # alternating, so a slow spell of a shared machine hits every loop
            times.setdefault("plain", []).append(plain_epoch(x, y, batch_size, device))
            for text in variants:
                times.setdefault(text, []).append(layerlab_epoch(x, y, batch_size, device, **variant(text)))
        plain = min(times["plain"])
        for text in variants:
            ours = min(times[text])
            print(f"{batch_size:>5} {plain:>13.2f}  {ours:>11.2f} {plain / ours:>8.2f}x  {text or 'plain engine'}")


if __name__ == "__main__":
    main()
