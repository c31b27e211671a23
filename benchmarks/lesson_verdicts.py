"""Do the quick runs teach the slides' lessons for every seed? Runs each built-in experiment with ``--quick``
for several seeds (and thread counts) and prints, for every expectation the experiment declares (its
``expect`` list), the report's own verdict per seed:

    A  agrees (with a clear verdict where one is expected)   D  disagrees
    ?  cannot tell yet (within noise)                         F  needs the full run (not sized for quick)
    -  not measured (a run failed or was left out)

    python benchmarks/lesson_verdicts.py                      # every built-in, seeds 0-4, one thread
    python benchmarks/lesson_verdicts.py lab4a init --seeds 0 1 --threads 1 2 --jobs 2
    python benchmarks/lesson_verdicts.py --markdown verdicts.md
    python benchmarks/lesson_verdicts.py --tiny                 # a two-run experiment of seconds (CI)
    python benchmarks/lesson_verdicts.py init --kernels native portable

``--kernels portable`` runs the experiments on the CPU kernels of an older x86 CPU (no AVX: ATen's default
kernels, oneDNN up to SSE4.1, MKL up to SSE4.2, OpenBLAS's Nehalem kernels), which sum in other orders than
this machine's AVX2 or another's AVX-512 kernels: every float path of both engines changes (matrix
products, convolutions, reductions, NumPy's products), as it does between two CPU families. It is the
nearest a machine can come to "another CPU" on its own; it is slower.

Exit status 1 when an expectation that a quick run is sized to show does not agree for some seed.
Each experiment runs in its own process (``layerlab run NAME --quick --seed S``) into ``--out`` (a temporary
folder by default), so runs already finished there are reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from layerlab.experiments import builtin_names
from layerlab.report import expectations
from layerlab.report.verdicts import AGREES, DISAGREES, NEEDS_FULL, NOT_MEASURED, UNDECIDED

#: The environment that puts torch's, oneDNN's, MKL's and OpenBLAS's kernels at a pre-AVX x86 CPU's.
PORTABLE_KERNELS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "OPENBLAS_CORETYPE": "Nehalem",
}
LETTERS = {AGREES: "A", DISAGREES: "D", UNDECIDED: "?", NEEDS_FULL: "F", NOT_MEASURED: "-"}


#: ``--tiny``'s experiment: two small networks on the Playground's two Gaussians, a lesson in seconds.
TINY_EXPERIMENT = """name = "tiny"
title = "Two Gaussians: a hidden layer against none (benchmarks/lesson_verdicts.py --tiny)"
description = "A check that lesson_verdicts.py works, in seconds."
expect = ["hidden-4 > 0.9", "hidden-4 >= linear"]

[settings]
data = "gauss"
data_options = { n = 200, train_ratio = 0.5 }
val = 0.2
epochs = 20
lr = 0.1
batch_size = 10
model = "dense(2) sigmoid"

[quick]
epochs = 20

[[runs]]
name = "linear"
exercise = "A hidden layer against none"
model = "dense(2)"

[[runs]]
name = "hidden-4"
exercise = "A hidden layer against none"
model = "dense(4) tanh dense(2)"
"""


def run_one(name: str, seed: int, threads: int, kernels: str, out: Path) -> tuple[str, tuple, float, list]:
    """One quick experiment in its own process: (name, (seed, threads, kernels), wall seconds, its checks)."""
    directory = out / (f"{Path(name).stem}-seed{seed}-threads{threads}" + "-portable" * (kernels == "portable"))
    env = os.environ | (PORTABLE_KERNELS if kernels == "portable" else {})
    command = [sys.executable, "-m", "layerlab", "run", name, "--quick", "--quiet", "--seed", str(seed)]
    command += ["--threads", str(threads), "--out", str(directory)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0 and not (directory / "experiment.json").is_file():
        print(f"{name} seed {seed}: layerlab run failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return name, (seed, threads, kernels), seconds, []
    return name, (seed, threads, kernels), seconds, expectations(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="built-in experiments (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--kernels",
        nargs="+",
        choices=["native", "portable"],
        default=["native"],
        help="this CPU's kernels, and/or a pre-AVX CPU's (other summation orders)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="experiments run side by side")
    parser.add_argument("--out", type=Path, help="where the experiments go (default: a temporary folder)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--tiny", action="store_true", help="a two-run experiment of seconds, seed 0 (CI)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="lesson-verdicts-"))
    if args.tiny:
        out.mkdir(parents=True, exist_ok=True)
        (out / "tiny.toml").write_text(TINY_EXPERIMENT)
        args.names, args.seeds = [str(out / "tiny.toml")], args.seeds[:1]
    names = args.names or sorted(builtin_names())
    columns = [(seed, t, k) for k in args.kernels for t in args.threads for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run_one(job[0], *job[1], out), [(n, c) for n in names for c in columns]))
    header = ["experiment", "expectation", *(f"s{s}/t{t}" + "/p" * (k == "portable") for s, t, k in columns)]
    header.append("wall s")
    lines, failed = [header], []
    for name in names:
        found = {column: (seconds, checks) for n, column, seconds, checks in results if n == name}
        texts = list(dict.fromkeys(c.expectation.text for _, checks in found.values() for c in checks))
        for text in texts:
            cells = []
            for column in columns:
                seconds, checks = found.get(column, (0.0, []))
                status = next((c.status for c in checks if c.expectation.text == text), NOT_MEASURED)
                cells.append(LETTERS[status])
                if status not in (AGREES, NEEDS_FULL):
                    kernels = ", pre-AVX kernels" * (column[2] == "portable")
                    failed.append(f"{name}: {text} (seed {column[0]}, {column[1]} threads{kernels}): {status}")
            seconds = max(s for s, _ in found.values()) if found else 0.0
            lines.append([name, text, *cells, f"{seconds:.0f}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    if args.markdown:
        rows = ["| " + " | ".join(line) + " |" for line in lines]
        rows.insert(1, "|" + "|".join("---" for _ in header) + "|")
        args.markdown.write_text("\n".join(rows) + "\n")
    print(f"\n{len(failed)} expectation(s) not agreeing" + (":\n  " + "\n  ".join(failed) if failed else ""))
    print(f"experiments in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
