"""Seconds per training epoch: plain PyTorch loops vs. layerlab's torch engine (and the numpy engine).

Models (``--models``, default all three):
  mlp30    Nielsen's network2-style MLP 784-30-10, sigmoid (chapter 3 of his book)
  mlp100   Nielsen's 784-100-10 sigmoid MLP (the ladder's first row)
  cnn      Nielsen's final network: conv(20,5) pool conv(40,5) pool dense(1000) dropout dense(1000) dropout
           dense(10), ReLU (chapter 6)

Loops, each one epoch of SGD over the same images:
  dataloader  what a tutorial writes: a DataLoader over float tensors on the host, each batch copied to
              the device, loss.item() every step
  index       a bare loop without a DataLoader: float images on the device, a batch gathered by index,
              zero_grad / backward / step, loss.item() every step
  layerlab    layerlab's torch engine as the trainer drives it (images made float once on the device,
              gathered in chunks; loss and correct count recorded every step, per-layer gradient norms
              on up to 50 evenly spaced steps); on a CPU also with grad_norms=false (no norms at all)
  numpy       layerlab's numpy engine (with --numpy; MLPs only, it is slow on convolutions)

    python benchmarks/torch_fast_path.py --device cpu --threads 1 --data-dir ../shared/data/mnist
    python benchmarks/torch_fast_path.py --device cuda --models cnn                 # 50,000 images
    python benchmarks/torch_fast_path.py --variant compile=default                  # other engine settings
    python benchmarks/torch_fast_path.py --tiny               # 200 images, one timing: that it works (CI)

Each loop is timed --repeats times (3), alternating with the others so that a slow spell of a shared
machine hits all of them; the fastest epoch of each counts. Uses MNIST from --data-dir when given, else
random images of the same shape (the timing is the same).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from layerlab import parse
from layerlab.config import TrainConfig
from layerlab.torch.trainable import TorchTrainable, resolve_device

MODELS = {
    "mlp30": ("flatten dense(30) sigmoid dense(10)", 0.5),
    "mlp100": ("flatten dense(100) sigmoid dense(10)", 0.1),
    "cnn": (
        "conv(20, 5) maxpool(2) relu conv(40, 5) maxpool(2) relu flatten dropout(0.5) dense(1000) relu dropout(0.5) "
        "dense(1000) relu dropout(0.5) dense(10)",
        0.03,
    ),
}


def images(args) -> tuple[np.ndarray, np.ndarray]:
    if args.data_dir:
        from layerlab.data import load

        train = load("mnist", data_dir=args.data_dir).train
        return train.x[: args.images], train.y[: args.images]
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (args.images, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, args.images)


def _model(name: str, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from layerlab.torch import build

    spec, lr = MODELS[name]
    model = build(parse(spec, (1, 28, 28)), seed=0, device=device)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor) -> None:
    """One SGD step as a tutorial writes it, reading the loss back every step (a host sync on a GPU)."""
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    loss.item()


def dataloader_epoch(name: str, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device) -> float:
    """The tutorial loop: a DataLoader on the host, .to(device) and loss.item() each step."""
    model, optimizer = _model(name, device)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x).float() / 255, torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    _sync(device)
    start = time.perf_counter()
    for xb, yb in loader:
        _step(model, optimizer, xb.to(device), yb.to(device))
    _sync(device)
    return time.perf_counter() - start


def index_epoch(name: str, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device) -> float:
    """A bare loop: the float images already on the device, each batch gathered by index."""
    model, optimizer = _model(name, device)
    xs, ys = (torch.from_numpy(x).float() / 255).to(device), torch.from_numpy(y).long().to(device)
    order = torch.randperm(len(xs), device=device)
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(xs), batch_size):
        index = order[i : i + batch_size]
        _step(model, optimizer, xs[index], ys[index])
    _sync(device)
    return time.perf_counter() - start


def layerlab_epoch(
    name: str, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device, engine: str = "torch", **options
) -> float:
    """One timed epoch of a layerlab engine, after a short warm-up epoch with the same batch shapes.

    ``options`` are TrainConfig settings such as compile="reduce-overhead", autocast="bf16" or
    channels_last=True; the warm-up compiles (or records CUDA graphs for) every batch shape first.
    """
    spec, lr = MODELS[name]
    config = TrainConfig(
        model=spec,
        engine=engine,
        device=str(device),
        lr=lr,
        batch_size=batch_size,
        threads=torch.get_num_threads(),
        **options,
    )
    if engine == "numpy":
        from layerlab.numpy.trainable import NumpyTrainable

        trainable = NumpyTrainable(config, parse(spec, (1, 28, 28)), len(x))
    else:
        trainable = TorchTrainable(config, parse(spec, (1, 28, 28)), len(x))
    trainable.add_data("train", x, y)
    order = np.random.default_rng(0).permutation(len(x))
    warm_up = order[: batch_size * 20 + len(x) % batch_size]
    trainable.train_epoch(warm_up, batch_size, lambda step, loss: None)
    _sync(device)
    start = time.perf_counter()
    trainable.train_epoch(order, batch_size, lambda step, loss: None)
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


CPU_VARIANTS = ["", "grad_norms=false"]
GPU_VARIANTS = ["", "compile=reduce-overhead", "compile=reduce-overhead,autocast=bf16,channels_last=true"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--data-dir")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every loop (default 1)")
    parser.add_argument("--numpy", action="store_true", help="also time the numpy engine on the MLPs")
    parser.add_argument("--repeats", type=int, default=3, help="timings per loop, alternating; the fastest counts")
    parser.add_argument(
        "--variant",
        action="append",
        help="torch-engine settings to time, e.g. compile=reduce-overhead,autocast=bf16 (repeatable; "
        "default: the plain engine, plus grad_norms=false on a CPU and two compiled variants on a GPU)",
    )
    parser.add_argument("--tiny", action="store_true", help="200 images, one timing per loop: that it works")
    args = parser.parse_args()
    if args.tiny:
        args.images, args.repeats = 200, 1
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants = args.variant or (GPU_VARIANTS if device.type == "cuda" else CPU_VARIANTS)
    x, y = images(args)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{len(x):,} images on {where}, torch {torch.__version__}; seconds per epoch, fastest of {args.repeats}\n")
    print(f"{'model':>7} {'batch':>5} {'dataloader':>10} {'index':>7} {'layerlab':>9} {'vs index':>8}  loop")
    for name in args.models:
        for batch_size in args.batch_sizes:
            loops = {"dataloader": dataloader_epoch, "index": index_epoch}
            loops |= {text or "layerlab torch engine": _engine(text) for text in variants}
            if args.numpy and name != "cnn":
                loops["layerlab numpy engine"] = _engine("engine=numpy")
            times: dict[str, list[float]] = {}
            for _ in range(args.repeats):  # alternating, so a slow spell of a shared machine hits every loop
                for label, loop in loops.items():
                    times.setdefault(label, []).append(loop(name, x, y, batch_size, device))
            best = {label: min(values) for label, values in times.items()}
            for label in list(loops)[2:]:
                print(
                    f"{name:>7} {batch_size:>5} {best['dataloader']:>10.3f} {best['index']:>7.3f} "
                    f"{best[label]:>9.3f} {best['index'] / best[label]:>7.2f}x  {label}"
                )


def _engine(text: str):
    return lambda name, x, y, batch_size, device: layerlab_epoch(name, x, y, batch_size, device, **variant(text))


if __name__ == "__main__":
    main()
