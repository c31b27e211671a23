"""Grading a class: ``layerlab check FOLDER`` grades every student's file, each in a process of its own.

A student's file is run (it is their code), so each runs in a separate Python process with a time limit
(the wall clock, and ``RLIMIT_CPU`` behind it), a memory limit (``RLIMIT_AS``), no file writes
(``RLIMIT_FSIZE`` = 0, and an audit hook that refuses to open a file for writing) and a fresh empty
working folder. Whatever a file does (loops forever, exhausts the memory, writes files, raises on
import, kills its own process), it is one line of the gradebook and the run goes on.

Each case of each layer class is one point. The gradebook is a table, a CSV or JSON file, and
Gradescope's autograder ``results.json`` (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import LayerlabError
from .files import write_text
from .grader import CASES, ClassReport, check_file, render, train_comparison


class ClassroomError(LayerlabError, ValueError):
    """A folder without students' files, a limit out of range, a gradebook file of an unknown format."""


@dataclass
class Graded:
    """One layer class of a student's file: its points (cases passed) and, if one failed, why."""

    name: str
    kind: str
    points: int
    max_points: int
    failure: str = ""
    case: str = ""


@dataclass
class Submission:
    """One student's file: ``status`` is "graded" or what ended it (time limit, memory limit, ...)."""

    student: str
    file: str
    status: str
    message: str = ""
    classes: list[Graded] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(c.points for c in self.classes)

    def max_points(self, kinds: list[str]) -> int:
        return sum(len(CASES[k]) for k in kinds)

    def score(self, kinds: list[str]) -> float:
        """The points for the expected ``kinds`` (the best class of each kind), out of their cases."""
        return float(sum(max((c.points for c in self.classes if c.kind == k), default=0) for k in kinds))


# ---------------------------------------------------------------------------------------------------
# One file in its own process
# ---------------------------------------------------------------------------------------------------

WORKER = "from layerlab.classroom import _worker; _worker()"


def _limit(seconds: float, megabytes: int):
    def apply() -> None:
        import resource

        os.setsid()  # its own process group: a timeout ends every process it started
        cpu = int(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def grade_isolated(path: str | Path, time_limit: float = 60.0, memory_limit: int = 1024) -> Submission:
    """Grade one file in a separate process under the limits (seconds, MiB); never raises for its content."""
    path = Path(path).resolve()
    student = path.stem
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_", "MKL_"))}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="layerlab-grade-") as work:
        process = subprocess.Popen(
            [sys.executable, "-B", "-c", WORKER, str(path)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_limit(time_limit, memory_limit),
        )
        try:
            out, err = process.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Submission(
                student,
                str(path),
                "time limit",
                f"stopped after {time_limit:g} s (an endless loop, or far too slow)",
                seconds=time.monotonic() - start,
            )
        seconds = time.monotonic() - start
        left_behind = sorted(p.name for p in Path(work).iterdir())
    text = out.decode("utf-8", "replace").strip()
    try:
        result = json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        result = None
    if result is None:
        return Submission(student, str(path), *_died(process.returncode, err, time_limit), seconds=seconds)
    sub = Submission(student, str(path), result["status"], result["message"], seconds=seconds)
    sub.classes = [Graded(**c) for c in result["classes"]]
    if left_behind and sub.status == "graded":
        sub.status, sub.message = "wrote a file", f"created {', '.join(left_behind)} in its working folder"
    return sub


def _died(code: int, err: bytes, time_limit: float) -> tuple[str, str]:
    """The status and message of a worker that gave no result."""
    last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:300]
    if code == -signal.SIGXCPU:
        return "time limit", f"used more than {time_limit:g} s of CPU time"
    if code == -signal.SIGXFSZ:
        return "wrote a file", "tried to write to a file (a layer file must not write files)"
    if "MemoryError" in last or "Cannot allocate memory" in last or "std::bad_alloc" in last:
        return "memory limit", "ran out of its memory limit"
    return "crashed", f"its process ended with status {code} without a grade" + (f": {last}" if last else "")


def _worker() -> None:
    """In the child: grade ``sys.argv[1]``; print one JSON line on the real stdout, the rest to stderr."""
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the student's code prints goes to stderr
    sys.stdout = sys.stderr
    writes: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open" and len(args) >= 3 and not isinstance(args[0], int):
            path, mode, flags = args[0], args[1] or "", args[2] or 0
            if any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writes.append(str(path))
                raise PermissionError(f"layerlab check: a layer file may not write files ({path})")

    from .numpy.custom import CustomLayerError

    sys.addaudithook(audit)
    result: dict[str, Any] = {"status": "graded", "message": "", "classes": []}
    try:
        reports = check_file(sys.argv[1], every_case=True)
        result["classes"] = [
            asdict(Graded(r.name, r.kind, len(r.passed), len(CASES[r.kind]), r.failure, r.case)) for r in reports
        ]
    except MemoryError:
        result.update(status="memory limit", message="ran out of its memory limit")
    except CustomLayerError as e:
        result.update(status="failed to load", message=str(e))
    except LayerlabError as e:
        result.update(status="no layers", message=str(e))
    except BaseException as e:  # noqa: BLE001  (anything a student's file does: one line)
        result.update(status="crashed", message=f"{type(e).__name__}: {e}"[:300])
    if "MemoryError" in result["message"] or any("MemoryError" in c["failure"] for c in result["classes"]):
        result.update(status="memory limit", message="ran out of its memory limit")
    if writes:
        result.update(status="wrote a file", message=f"tried to write {writes[0]} (a layer file must not write files)")
    real.write(json.dumps(result) + "\n")
    real.flush()
    os._exit(0)  # no clean-up code of the student's runs after the grade


# ---------------------------------------------------------------------------------------------------
# A class
# ---------------------------------------------------------------------------------------------------


@dataclass
class Gradebook:
    """Every student's submission; ``kinds`` are the exercises graded (each case one point)."""

    submissions: list[Submission]
    kinds: list[str]

    @property
    def max_points(self) -> int:
        return sum(len(CASES[k]) for k in self.kinds)

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for s in self.submissions:
            row: dict[str, Any] = {
                "student": s.student,
                "status": s.status,
                "score": s.score(self.kinds),
                "max_score": self.max_points,
            }
            for kind in self.kinds:
                best = max((c for c in s.classes if c.kind == kind), key=lambda c: c.points, default=None)
                row[kind] = f"{best.points}/{best.max_points}" if best else "-"
            row["message"] = s.message or next((f"{c.name}: {c.failure}" for c in s.classes if c.failure), "")
            rows.append(row)
        return rows

    def table(self) -> str:
        """A summary table, one line per student, then the count per status."""
        rows = self.rows()
        heads = ["student", "status", "score", *self.kinds]
        cells = [
            [str(r["student"]), r["status"], f"{r['score']:g}/{r['max_score']}", *(r[k] for k in self.kinds)]
            for r in rows
        ]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines.append(f"{len(rows)} students: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
        for r in rows:
            if r["message"]:
                lines.append(f"  {r['student']}: {r['message']}")
        return "\n".join(lines)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(self.rows()[0]) if self.submissions else ["student"])
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()

    def json(self) -> str:
        return json.dumps(
            {
                "kinds": self.kinds,
                "max_score": self.max_points,
                "students": self.rows(),
                "details": [asdict(s) for s in self.submissions],
            },
            indent=2,
        )

    def write(self, path: str | Path) -> Path:
        """The gradebook as ``.csv`` or ``.json`` (by the name's suffix), written atomically."""
        path = Path(path)
        text = {".csv": self.csv, ".json": self.json}[_gradebook_format(path)]()
        _refuse_existing(path)
        return write_text(path, text)


def gradescope_results(submission: Submission, kinds: list[str] | None = None) -> dict[str, Any]:
    """Gradescope's autograder ``results.json`` for one submission: one test per layer class."""
    kinds = kinds or sorted({c.kind for c in submission.classes}, key=list(CASES).index)
    tests = []
    for kind in kinds:
        best = max((c for c in submission.classes if c.kind == kind), key=lambda c: c.points, default=None)
        total = len(CASES[kind])
        if best is None:
            output = submission.message or f"no layer class with kind = {kind!r} in the file"
            tests.append({"name": kind, "score": 0, "max_score": total, "status": "failed", "output": output})
            continue
        output = (
            f"passed {best.points} of {total} cases; the first failure ({best.case}): {best.failure}"
            if best.failure
            else f"passed all {total} cases (forward, backward, finite differences)"
        )
        tests.append(
            {
                "name": f"{best.name} ({kind})",
                "score": best.points,
                "max_score": total,
                "status": "failed" if best.failure else "passed",
                "output": output,
            }
        )
    return {
        "score": submission.score(kinds),
        "execution_time": round(submission.seconds, 2),
        "output": submission.message or f"graded by layerlab check: {submission.status}",
        "tests": tests,
    }


def write_gradescope(submission: Submission, path: str | Path, kinds: list[str] | None = None) -> Path:
    path = Path(path)
    _refuse_existing(path)
    return write_text(path, json.dumps(gradescope_results(submission, kinds), indent=2))


def _gradebook_format(path: Path) -> str:
    if path.suffix not in (".csv", ".json"):
        raise ClassroomError(f"gradebook {path}: give a name ending in .csv or .json")
    return path.suffix


def gradescope(path: str | Path, out: str | Path, time_limit: float = 60.0, memory_limit: int = 1024) -> Submission:
    """Gradescope's autograder step: grade one submission in a limited process, write its ``results.json``."""
    check_limits(time_limit, memory_limit)
    _refuse_existing(Path(out))
    submission = grade_isolated(path, time_limit, memory_limit)
    write_gradescope(submission, out)
    return submission


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise ClassroomError(f"{path} exists: layerlab never replaces a file; give another name or remove it first")
    if not path.parent.is_dir():
        raise ClassroomError(f"cannot write {path}: the folder {path.parent} does not exist")


def check_limits(time_limit: float, memory_limit: int) -> None:
    if not 0 < time_limit <= 3600:
        raise ClassroomError(f"time limit {time_limit} s: give 1 to 3600 seconds per student")
    if not 256 <= memory_limit <= 65536:
        raise ClassroomError(f"memory limit {memory_limit} MiB: give 256 to 65536 MiB per student")


def grade_class(
    folder: str | Path,
    time_limit: float = 60.0,
    memory_limit: int = 1024,
    kinds: list[str] | None = None,
    progress=None,
) -> Gradebook:
    """Grade every ``*.py`` file of ``folder`` (one per student), each in its own limited process."""
    folder = Path(folder)
    check_limits(time_limit, memory_limit)
    if not folder.is_dir():
        raise ClassroomError(f"no folder {folder}: give the folder with one Python file per student")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".py" and p.is_file())
    if not files:
        raise ClassroomError(f"{folder} has no .py files: put one file per student in it")
    unknown = [k for k in kinds or [] if k not in CASES]
    if unknown:
        raise ClassroomError(f"unknown exercise {', '.join(unknown)}; choose from {', '.join(CASES)}")
    submissions = []
    for path in files:
        submissions.append(grade_isolated(path, time_limit, memory_limit))
        if progress:
            progress(f"{path.name}: {submissions[-1].status}")
    found = {c.kind for s in submissions for c in s.classes}
    return Gradebook(submissions, kinds or [k for k in CASES if k in found])


@dataclass
class CheckResult:
    """``layerlab.check`` on one file: each class's report and, if trained, the MNIST comparison."""

    file: str
    reports: list[ClassReport]
    training: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(r.failure for r in self.reports)

    def __str__(self) -> str:
        return render(self.reports)


def check(
    path: str | Path,
    train: bool = False,
    limit: int = 1000,
    epochs: int = 2,
    time_limit: float = 60.0,
    memory_limit: int = 1024,
    gradebooks: list[str | Path] = (),
    progress=None,
) -> CheckResult | Gradebook:
    """Grade your layers (a file, in this process: it is your code) or a class (a folder, one file per student,
    each in its own limited process). ``train``: after a file passes, train a small MNIST model with each layer.

        result = layerlab.check("my_layers.py")
        result.passed, print(result)
        book = layerlab.check("submissions/", time_limit=30)
        print(book.table()); book.write("grades.csv")
    """
    if gradebooks and not Path(path).exists():
        raise ClassroomError(f"no folder {path}: give the folder of students' files (one .py file each)")
    if Path(path).is_dir():
        for out in gradebooks:
            _gradebook_format(Path(out))
            _refuse_existing(Path(out))
        book = grade_class(path, time_limit, memory_limit, progress=progress)
        for out in gradebooks:
            book.write(out)
        return book
    if gradebooks:
        raise ClassroomError(f"{path} is one file: a gradebook is for a folder of students' files")
    reports = check_file(path)
    result = CheckResult(str(path), reports)
    if train and result.passed:
        result.training = train_comparison(path, reports, limit, epochs, progress or (lambda line: None))
    return result
