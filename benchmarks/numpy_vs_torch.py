"""Time one training step (forward + backward + SGD update) of the numpy engine against PyTorch on CPU.

Same model (built from the same spec and the same initial weights), same batch, same thread count.
Run:  python benchmarks/numpy_vs_torch.py [--threads N] [--repeats R] [--tiny]
Prints one row per (model, batch size) with milliseconds per step and the ratio numpy / torch.
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/torch threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per row (after 5 warm-up steps)")
    parser.add_argument("--tiny", action="store_true", help="1 warm-up and 2 timed steps per row: that it works (CI)")
    args = parser.parse_args()
    if args.tiny:
        args.repeats = 2
    return args


ARGS = parse_args()
# BLAS reads its thread count when numpy is imported, so set it first.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from layerlab import numpy as npe  # noqa: E402
from layerlab import parse  # noqa: E402
from layerlab.numpy.model import initial_state  # noqa: E402

MODELS = {
    "MLP 784-100-10": "input(784) dense(100) sigmoid dense(10)",
    "CNN conv20-pool-conv40-pool-100-10": (
        "input(1, 28, 28) conv(20, 5) maxpool(2) relu conv(40, 5) maxpool(2) relu flatten dense(100) relu dense(10)"
    ),
}
ROWS = [
    ("MLP 784-100-10", 10),
    ("MLP 784-100-10", 100),
    ("CNN conv20-pool-conv40-pool-100-10", 10),
    ("CNN conv20-pool-conv40-pool-100-10", 64),
]


def torch_model(spec, state):
    """The same network as a plain torch.nn.Sequential (no layerlab code in the timed torch path)."""
    layers = []
    for r in spec.resolve():
        kind, a = r.layer.kind, r.layer.args
        if kind == "dense":
            layers.append(torch.nn.Linear(r.input_shape[0], a["units"]))
        elif kind == "conv":
            layers.append(torch.nn.Conv2d(r.input_shape[0], a["filters"], a["kernel"]))
        elif kind == "maxpool":
            layers.append(torch.nn.MaxPool2d(a["size"]))
        else:
            layers.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "flatten": torch.nn.Flatten}[kind]())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return model


def time_steps(step, repeats: int) -> float:
    for _ in range(1 if ARGS.tiny else 5):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def time_row(spec_text: str, batch: int, rng: np.random.Generator) -> tuple[float, float]:
    """Seconds per training step of (numpy engine, plain torch) for one model and batch size."""
    spec = parse(spec_text)
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    model = npe.build(spec, seed=0)
    optimizer = npe.SGD(lr=0.01)
    numpy_s = time_steps(lambda: model.train_step(x, y, optimizer), ARGS.repeats)

    tmodel = torch_model(spec, initial_state(spec, seed=0))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(xt), yt).backward()
        topt.step()

    return numpy_s, time_steps(torch_step, ARGS.repeats)


def main() -> None:
    torch.set_num_threads(ARGS.threads)
    rng = np.random.default_rng(0)
    print(f"threads: {ARGS.threads}, numpy {np.__version__}, torch {torch.__version__}, float32, SGD lr 0.01\n")
    print(f"{'model':<36} {'batch':>5} {'numpy ms':>9} {'torch ms':>9} {'numpy/torch':>11}")
    for name, batch in ROWS:
        numpy_s, torch_s = time_row(MODELS[name], batch, rng)
        print(f"{name:<36} {batch:>5} {numpy_s * 1e3:>9.3f} {torch_s * 1e3:>9.3f} {numpy_s / torch_s:>10.2f}x")


if __name__ == "__main__":
    main()
