"""Grading a whole file: each layer class on every case of its kind, the report in words, and a small
MNIST model trained with each passing layer in place of ours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..numpy.custom import import_file, layer_classes, load_layers
from ..phrases import count
from .cases import CASES
from .checks import check_case
from .hints import Failure


@dataclass
class ClassReport:
    """The grade of one layer class: the checks it passed and, if one failed, which and on what case."""

    name: str
    kind: str
    passed: list[str]
    failure: str = ""
    case: str = ""


def check_file(path: str | Path, kinds: list[str] | None = None, every_case: bool = False) -> list[ClassReport]:
    """Grade every layer class of a file (runs it: it is your code), or those of the given ``kinds``.

    A class stops at its first failing case, unless ``every_case`` (grading: each passed case is a point)."""
    module = import_file(path)
    classes = {
        name: cls
        for name, cls in layer_classes(module).items()
        if cls.kind in CASES and (kinds is None or cls.kind in kinds)
    }
    if not classes:
        from ..errors import LayerlabError

        raise LayerlabError(
            f"{path} has no layer class to check: a class with kind = one of {', '.join(CASES)} and forward/backward "
            "methods (layerlab exercise dense writes one)"
        )
    reports = []
    for name, cls in classes.items():
        report = ClassReport(name, cls.kind, [])
        for i, case in enumerate(CASES[cls.kind]):
            try:
                check_case(cls, cls.kind, case, seed=i)
            except Failure as e:
                if not report.failure:
                    report.failure, report.case = str(e), case.describe()
                if not every_case:
                    break
                continue
            report.passed.append(case.describe())
        reports.append(report)
    return reports


#: A small MNIST model per kind: ``{}`` is replaced by your class (ours: the kind's name).
TRAIN_MODELS = {
    "dense": "flatten {}(64) relu dense(10)",
    "relu": "flatten dense(64) {} dense(10)",
    "sigmoid": "flatten dense(64) {} dense(10)",
    "tanh": "flatten dense(64) {} dense(10)",
    "conv": "{}(6, 5) relu maxpool(2) flatten dense(10)",
    "maxpool": "conv(6, 5) relu {}(2) flatten dense(10)",
    "dropout": "flatten dense(64) relu {}(0.2) dense(10)",
    "batchnorm": "flatten dense(64) {} relu dense(10)",
}


def train_comparison(
    path: str | Path,
    reports: list[ClassReport],
    limit: int = 1000,
    epochs: int = 2,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train each passing layer's small model with ours and with yours (numpy engine, same seed)."""
    from ..api import fit

    if not any(TRAIN_MODELS.get(r.kind) and not r.failure for r in reports):
        return []  # e.g. a file with the softmax-ce exercise only: a loss, graded by its cases alone
    load_layers(path)
    rows = []
    for report in reports:
        template = TRAIN_MODELS.get(report.kind)
        if template is None or report.failure:
            continue
        settings = {
            "data": "mnist-small",
            "engine": "numpy",
            "limit": limit,
            "epochs": epochs,
            "batch_size": 20,
            "lr": 0.1,
            "seed": 0,
            "quiet": True,
        }
        row = {"class": report.name, "ours": template.format(report.kind), "yours": template.format(report.name)}
        sample = f"{count(limit, 'image')}, {count(epochs, 'epoch')}"  # "(500 images, 1 epoch)"
        progress(f"training {row['yours']} and {row['ours']} on mnist-small ({sample})")
        for who in ("ours", "yours"):
            try:
                row[f"{who}_accuracy"] = fit(model=row[who], **settings).result.test_accuracy
            except Exception as e:  # your layer in a real model: say what went wrong, keep the other rows
                progress(f"  training {row[who]} failed: {type(e).__name__}: {e}")
                row[f"{who}_accuracy"] = float("nan")
        rows.append(row)
    return rows


def render(reports: list[ClassReport]) -> str:
    lines = []
    for r in reports:
        total = len(CASES[r.kind])
        if r.failure:
            lines.append(f"{r.name} ({r.kind}): FAILED on case {len(r.passed) + 1} of {total} ({r.case})")
            lines.append(f"  {r.failure}")
        else:
            lines.append(f"{r.name} ({r.kind}): passed all {total} cases (forward, backward, finite differences)")
    return "\n".join(lines)
