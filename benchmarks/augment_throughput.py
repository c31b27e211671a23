"""Images per second of each augmentation, numpy (layerlab.augment) and torch (layerlab.torch.augment).

Batches of random uint8 images the size of MNIST (1x28x28) and CIFAR-10 (3x32x32); the content does not
change the work. Each figure is the batch size over the fastest of ``--repeats`` calls on a whole batch
(the best time, as timeit reports, so that other work on a shared machine does not decide the figure).
Run:  python benchmarks/augment_throughput.py [--batch 256] [--repeats 10] [--threads N] [--device cpu] [--tiny]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from layerlab import augment
from layerlab.torch import augment as torch_augment

TRANSFORMS = [
    ("shift", {"pixels": 1}),
    ("rotate", {"degrees": 15}),
    ("translate", {"max_shift": 2}),
    ("shear", {"degrees": 10}),
    ("scale", {"range": (0.9, 1.1)}),
    ("affine", {"degrees": 15, "max_shift": 2, "shear": 10, "scale": (0.9, 1.1)}),
    ("elastic", {"alpha": 34, "sigma": 4}),
    ("crop", {"padding": 4}),
    ("resized_crop", {"scale": (0.5, 1.0)}),
    ("flip", {"p": 0.5}),
]
SHAPES = {"MNIST 1x28x28": (1, 28, 28), "CIFAR 3x32x32": (3, 32, 32)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="images per call (default 256)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per figure, after one warm-up call")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: numpy uses one core too)")
    parser.add_argument("--device", default="cpu", help="device of the torch rows, e.g. cuda (default cpu)")
    parser.add_argument("--tiny", action="store_true", help="batches of 16, one timed call: that it works (CI)")
    args = parser.parse_args()
    if args.tiny:
        args.batch, args.repeats = 16, 1
    return args


def images_per_second(transform, x, rng, repeats: int, sync=lambda: None) -> float:
    """len(x) over the fastest of ``repeats`` calls ``transform(x, rng)``, after one warm-up call."""
    transform(x, rng)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        transform(x, rng)
        sync()
        times.append(time.perf_counter() - start)
    return len(x) / min(times)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    rng, generator = np.random.default_rng(0), torch.Generator(device=device).manual_seed(0)
    batches = {name: rng.integers(0, 256, (args.batch, *shape), dtype=np.uint8) for name, shape in SHAPES.items()}
    columns = [f"{name} {engine}" for name in SHAPES for engine in ("numpy", f"torch {device.type}")]
    print(f"images/second, batches of {args.batch} uint8 images, {args.threads} torch threads")
    print(f"{'transform':<14}" + "".join(f"{c:>24}" for c in columns))

    labels = np.zeros(args.batch, dtype=np.int64)
    cells = [images_per_second(augment.shift_expand, x, labels, args.repeats) for x in batches.values()]
    print(f"{'shift_expand':<14}" + "".join(f"{c:>24,.0f}{'-':>24}" for c in cells) + "  (input images; 5 out each)")
    for name, params in TRANSFORMS:
        numpy_transform = augment.make_augmentation([(name, params)])
        torch_transform = torch_augment.make_augmentation([(name, params)])
        cells = []
        for x in batches.values():
            cells.append(images_per_second(numpy_transform, x, rng, args.repeats))
            xt = torch.from_numpy(x).to(device)
            cells.append(images_per_second(torch_transform, xt, generator, args.repeats, sync))
        print(f"{name:<14}" + "".join(f"{c:>24,.0f}" for c in cells))


if __name__ == "__main__":
    main()
