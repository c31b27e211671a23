"""Grading a class: `layerlab check FOLDER` runs each student's file in its own limited process, and a file
that loops forever, exhausts its memory, writes files, raises on import or kills its own process is one line
of the gradebook, never the end of the run. The gradebook as a table, CSV, JSON and Gradescope's results.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import layerlab
from layerlab.classroom import ClassroomError, Gradebook, grade_class
from layerlab.cli import main
from layerlab.grader import CASES

GOOD = Path(__file__).parent / "layers" / "good_layers.py"


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("submissions")
    good = GOOD.read_text()
    trap = folder.parent / "trap.txt"  # outside the folder: where a student's file tries to write
    students = {
        "alice": good,
        "bob": good.replace("return dy * (self.x > 0)", "return dy * (self.x >= 0)"),
        "carol": "while True:\n    pass\n" + good,
        "dave": "hoard = [bytearray(10**7) for _ in range(10**6)]\n" + good,
        "eve": f"open({str(trap)!r}, 'w').write('gotcha')\n" + good,
        "frank": "raise RuntimeError('my file is broken')\n" + good,
        "gina": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n" + good,
        "hank": 'print(\'{"status": "graded", "message": "", "classes": []}\')\n' + good,
    }
    for name, text in students.items():
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.fixture(scope="module")
def book(submissions) -> Gradebook:
    return grade_class(submissions, time_limit=8, memory_limit=1024)


def test_every_student_is_one_line_whatever_the_file_does(book, submissions):
    status = {s.student: s.status for s in book.submissions}
    assert status == {
        "alice": "graded",
        "bob": "graded",
        "carol": "time limit",
        "dave": "memory limit",
        "eve": "wrote a file",
        "frank": "failed to load",
        "gina": "crashed",
        "hank": "graded",  # what a student prints cannot pass for the grade
    }
    assert not (submissions.parent / "trap.txt").exists()
    total = sum(len(CASES[k]) for k in CASES)
    scores = {s.student: s.score(book.kinds) for s in book.submissions}
    assert scores["alice"] == scores["hank"] == total == book.max_points
    assert scores["bob"] == total - 1  # ReLU's kink case: every other case still counts
    assert scores["carol"] == scores["dave"] == scores["eve"] == 0
    messages = {r["student"]: r["message"] for r in book.rows()}
    assert "at x = 0 exactly the derivative is taken as 0" in messages["bob"]
    assert "stopped after 8 s" in messages["carol"] and "trap.txt" in messages["eve"]
    assert "line 1: RuntimeError: my file is broken" in messages["frank"]


def test_the_table_csv_json_and_gradescope_outputs(book, tmp_path):
    table = book.table()
    assert table.splitlines()[0].split()[:3] == ["student", "status", "score"]
    assert f"alice    graded          {book.max_points}/{book.max_points}" in table
    assert "8 students: 3 graded, 1 time limit, 1 memory limit, 1 wrote a file, 1 failed to load, 1 crashed" in table
    rows = list(csv.DictReader(book.write(tmp_path / "grades.csv").open()))
    assert [r["student"] for r in rows][:2] == ["alice", "bob"] and rows[1]["relu"] == "4/5"
    data = json.loads(book.write(tmp_path / "grades.json").read_text())
    assert data["max_score"] == book.max_points and data["students"][2]["status"] == "time limit"
    with pytest.raises(ClassroomError, match="exists: layerlab never replaces a file"):
        book.write(tmp_path / "grades.csv")
    with pytest.raises(ClassroomError, match="ending in .csv or .json"):
        book.write(tmp_path / "grades.xlsx")


def test_gradescope_results_json_for_one_submission(submissions, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["check", str(submissions / "bob.py"), "--gradescope", str(out), "--time-limit", "30"]) == 0
    results = json.loads(out.read_text())
    assert results["score"] == sum(len(c) for c in CASES.values()) - 1
    relu = next(t for t in results["tests"] if t["name"] == "MyReLU (relu)")
    assert relu["score"] == 4 and relu["max_score"] == 5 and relu["status"] == "failed"
    assert all({"name", "score", "max_score", "status", "output"} <= set(t) for t in results["tests"])
    out2 = tmp_path / "looping.json"
    assert main(["check", str(submissions / "carol.py"), "--gradescope", str(out2), "--time-limit", "2"]) == 0
    looping = json.loads(out2.read_text())
    assert looping["score"] == 0 and "stopped after 2 s" in looping["output"]


def test_the_cli_grades_a_folder_and_refuses_before_grading(submissions, tmp_path, capsys):
    (tmp_path / "old.csv").write_text("my grades")
    assert main(["check", str(submissions), "--gradebook", str(tmp_path / "old.csv")]) == 2
    assert "old.csv exists" in capsys.readouterr().err and (tmp_path / "old.csv").read_text() == "my grades"
    assert main(["check", str(submissions), "--memory-limit", "10"]) == 2
    assert "give 256 to 65536 MiB" in capsys.readouterr().err


def test_the_python_api(submissions):
    result = layerlab.check(GOOD)
    assert result.passed and "MyConv (conv): passed all 6 cases" in str(result)
    assert not layerlab.check(submissions / "bob.py").passed
