"""Every example in the commands' --help and in the README runs (issue 13).

The examples are read from the help texts and from README.md themselves, so an example that stops
working fails here. To stay fast, training examples run on their dataset's small twin (mnist-small for
mnist) with --limit 200 --epochs 1; GPU-only examples and full experiments are checked as far as they can
be without a GPU or an hour: their flags and settings are parsed and validated, nothing is trained.
About 80 s on a loaded 2-core machine, most of it the default `layerlab gradcheck` (the slides' CNN).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab import cli
from layerlab.cli.flags import train_settings
from layerlab.config import TrainConfig
from layerlab.data import load

README = Path(__file__).resolve().parent.parent / "README.md"
SMALL_TWIN = {"mnist": "mnist-small", "fashion-mnist": "mnist-small", "cifar10": "cifar10-small"}
SHRINK = ["--limit", "200", "--epochs", "1", "--quiet"]
GPU_FLAGS = ("cuda", "--compile", "--autocast")
LAB_TOML = 'model = "flatten dense(30) relu dense(10)"\nlr = 0.1\n'
#: Matt Mazur's worked example of backpropagation, the weights `layerlab explain --weights` takes.
MAZUR = (
    '{"0.weight": [[0.15, 0.2], [0.25, 0.3]], "0.bias": [0.35, 0.35], "2.weight": [[0.4, 0.45], [0.5, 0.55]], '
    '"2.bias": [0.6, 0.6]}'
)


def help_examples() -> list[str]:
    """The example command lines of every subcommand's --help, in the order of the commands."""
    parser = cli.parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    lines = []
    for sub in commands.values():
        text = sub.epilog.split("examples:\n", 1)[1].replace("\\\n", " ")
        for line in text.splitlines():
            line = re.split(r"\s{2,}\(", line.strip())[0]  # a remark in brackets after the command
            if line.startswith("layerlab "):
                lines.append(line)
    return lines


def readme_blocks(language: str) -> list[str]:
    """The fenced code blocks of the README in ``language`` ("" for plain ones)."""
    blocks, current, fence = [], [], None
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            if fence is None:
                fence, current = line[3:].strip(), []
            else:
                if fence == language:
                    blocks.append("\n".join(current) + "\n")
                fence = None
        elif fence is not None:
            current.append(line)
    return blocks


def readme_commands() -> list[str]:
    lines = []
    for block in readme_blocks(""):
        for line in block.replace("\\\n", " ").splitlines():  # a command continued with a backslash
            line = line.split("&& ")[-1]
            line = re.split(r"\s+# ", line)[0].strip()
            if line.startswith("layerlab "):
                lines.append(line)
    return lines


def digit_files(folder: Path) -> None:
    digits = load("mnist-small").test.x[:2, 0]
    Image.fromarray(digits[0]).save(folder / "digit.png")
    page = np.full((100, 80), 255, np.uint8)  # drawn dark on light, off centre
    page[10:66, 20:76] = 255 - np.asarray(Image.fromarray(digits[1]).resize((56, 56)))
    Image.fromarray(page).save(folder / "another.png")


def run_all(commands: list[str], capsys) -> list[str]:
    """Run each command line as the user would (adapted as the module docstring says); returns what was done."""
    done, previous = [], {}
    for line in commands:
        argv = shlex.split(line)[1:]
        command = argv[0]
        if "..." in argv:  # the flags of the previous example of this command (that wrote the same --out)
            out = argv[argv.index("--out") + 1] if "--out" in argv else None
            i = argv.index("...")
            argv[i : i + 1] = previous.get((command, out), previous.get((command, None), []))
        if command in ("train", "ensemble"):
            flags = [a for a in argv[1:] if a != "--resume"]
            out = flags[flags.index("--out") + 1] if "--out" in flags else None
            if out is not None:
                del flags[flags.index("--out") : flags.index("--out") + 2]
            previous.setdefault((command, out), flags)
            previous.setdefault((command, None), flags)  # "train ... --engine numpy": the first example's flags
            argv = [SMALL_TWIN.get(a, a) for a in argv] + SHRINK
        gpu = any(flag in argv for flag in GPU_FLAGS)
        # A server that runs until stopped, and searches (many trainings): their own tests run them.
        long = command in ("playground", "search", "tune") or command == "run" and "--quick" not in argv
        # a class's folder or a Gradescope submission: their own tests (test_classroom.py) grade them
        long |= command == "check" and not Path(argv[1]).is_file()
        if gpu and not torch.cuda.is_available() or long:
            checked = check_only(argv)
            done.append(f"checked {shlex.join(argv)}: {checked}")
            continue
        if command == "run":
            argv += ["--only", "ex1-linear", "--quiet"]  # one run of the quick lab: a few seconds
        redirect = None
        if ">" in argv:  # a shell redirection: the output goes to that file
            argv, redirect = argv[: argv.index(">")], argv[argv.index(">") + 1]
        code = cli.main(argv)
        captured = capsys.readouterr()
        if command == "check":  # grades the file `layerlab exercise` wrote, whose stubs are not filled in yet
            assert code == 1 and "not written yet" in captured.out, (line, code, captured)
            code = 0
        if "--layers" in argv:  # trains with those stubs: one line saying which one to write
            assert code == 2 and "MyDense.forward is not written yet" in captured.err, (line, code, captured)
            code = 0
        assert code == 0 and "Traceback" not in captured.err, f"`{line}` exited {code}: {captured.err}"
        if redirect:
            Path(redirect).write_text(captured.out)
        done.append(f"ran {shlex.join(argv)}")
    return done


def check_only(argv: list[str]) -> str:
    """Parse and validate an example that cannot run here (a GPU, an hour of training, a server)."""
    args = cli.parser().parse_args(argv)
    if args.command in ("playground", "tune", "check"):
        return "arguments valid"
    if args.command == "search":
        from layerlab.search import load_search

        definition = load_search(args.search, quick=args.quick)
        return f"search {definition.name} valid"
    if args.command in ("train", "ensemble"):
        TrainConfig.from_dict(train_settings(args)).check()
        return "settings valid"
    from layerlab.experiments import load_experiment

    overrides = {k: v for k, v in (("device", args.device), ("data_dir", args.data_dir)) if v}
    experiment = load_experiment(args.experiment, quick=args.quick, overrides=overrides)
    return f"{len(experiment.runs)} runs valid"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working directory next to an (empty) ../shared/data, with the files the examples name."""
    (tmp_path / "shared" / "data").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    digit_files(work)
    (work / "lab.toml").write_text(LAB_TOML)
    (work / "weights.json").write_text(MAZUR)
    (work / "my-experiment.toml").write_text(readme_blocks("toml")[0])  # the README's experiment file
    (work / "my-search.toml").write_text(readme_blocks("toml")[1])  # and its search file
    return work


def test_the_help_examples_are_the_ones_tested():
    examples = help_examples()
    assert len(examples) >= 20
    assert 'layerlab train --model "flatten dense(100) sigmoid dense(10)" --data mnist-small --epochs 5 --lr 0.1' in (
        examples
    )
    assert all(re.search(r"\bdense\(\d+\)", e) is None or "flatten" in e or "input(" in e for e in examples)


def test_an_example_of_nielsens_relu_cnn_uses_the_nielsen_experiments_l2():
    """Nielsen's lambda 0.1 with batches of 10 is l2 = 1.0 here (the nielsen experiment explains why)."""
    from layerlab.experiments import load_experiment

    nielsen = load_experiment("nielsen")
    l2 = {run.config.l2 for run in nielsen.runs if run.config.lr == 0.03 and run.config.batch_size == 10}
    examples = [e for e in help_examples() + readme_commands() if "--lr 0.03" in e and "--batch-size 10" in e]
    assert examples and l2 - {0.0} == {1.0}
    for example in examples:
        argv = shlex.split(example)
        assert float(argv[argv.index("--l2") + 1]) in l2, example


@pytest.mark.slow
def test_every_help_example_runs(workdir, capsys):
    done = run_all(help_examples(), capsys)
    assert sum(d.startswith("ran ") for d in done) >= 17, done
    assert (workdir / "runs" / "cnn" / "result.json").exists() and (workdir / "runs" / "vote").is_dir()


@pytest.mark.slow
def test_every_readme_example_runs(workdir, capsys):
    done = run_all(readme_commands(), capsys)
    assert len(done) >= 12 and (workdir / "runs" / "lab4a-quick" / "report.html").exists(), done
    namespace = {}
    source = readme_blocks("python")[0].replace("epochs=3", "epochs=1, limit=500")  # the same calls, shorter
    # in the folder of the tour above, as a reader goes on: its runs must not be in the example's way
    exec(compile(source, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["loss"] > 0 and namespace["run"].result.epochs == 1


def test_readme_model_specs_parse():
    from layerlab import parse

    specs = next(block for block in readme_blocks("") if "dropout(0.5)" in block)
    for line in specs.splitlines():
        assert parse(line.split("...")[0], (3, 32, 32)).resolve()
