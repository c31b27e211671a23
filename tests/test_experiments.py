"""Experiment files: grids, quick overrides, shared runs, reuse of finished runs, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
import torch

from layerlab.experiments import ExperimentError, builtin_names, load_experiment, run_experiment
from layerlab.experiments.execute import plan_summary
from layerlab.phrases import describe_changes

TOY = textwrap.dedent(
    """
    name = "toy"
    title = "Toy experiment"
    [settings]
    data = "xor"
    data_options = { n = 200 }
    val = 0.2
    model = "dense(4) tanh dense(2)"
    epochs = 3
    batch_size = 10
    lr = 0.1
    [quick]
    epochs = 1
    [[runs]]
    name = "base"
    exercise = "A"
    [[runs]]
    name = "same-as-base"
    exercise = "B"
    reference = 0.9
    [[runs]]
    name = "lr"
    exercise = "B"
    grid = { lr = [0.01, 0.3] }
    [[runs]]
    name = "wide"
    exercise = "B"
    model = "dense(16) tanh dense(2)"
    quick = { epochs = 2 }
    """
)


@pytest.fixture
def toy_file(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return path


def test_grids_quick_overrides_and_changed_settings(toy_file):
    full = load_experiment(str(toy_file))
    assert [r.name for r in full.runs] == ["base", "same-as-base", "lr-lr=0.01", "lr-lr=0.3", "wide"]
    assert [r.config.lr for r in full.runs] == [0.1, 0.1, 0.01, 0.3, 0.1]
    assert {r.config.epochs for r in full.runs} == {3}
    assert full.runs[4].changed == {"model": "dense(16) tanh dense(2)"}
    assert full.runs[1].reference == 0.9
    quick = load_experiment(str(toy_file), quick=True, overrides={"engine": "numpy"})
    assert [r.config.epochs for r in quick.runs] == [1, 1, 1, 1, 2]
    assert {r.config.engine for r in quick.runs} == {"numpy"}
    assert full.runs[0].key == full.runs[1].key != full.runs[2].key  # identical settings share a run


def test_a_grid_of_models_names_each_run_by_its_hidden_layers(tmp_path):
    # Playground's way: "4, 2" hidden units; the whole spec made names the terminal cut into identical stubs
    path = tmp_path / "models.toml"
    models = ["dense(2) tanh dense(1) sigmoid", "dense(4) tanh dense(2) tanh dense(1) sigmoid", "dense(1) sigmoid"]
    same = ["dense(16) tanh dense(1) sigmoid", "dense(16) relu dense(1) sigmoid"]
    init = ["dense(4, init=he_normal) relu dense(2)", "dense(4) relu dense(2)"]
    path.write_text(
        TOY.split("[[runs]]")[0]
        + "".join(
            f'[[runs]]\nname = "{name}"\ngrid = {{ model = {json.dumps(values)} }}\n'
            for name, values in (("xor", models), ("spiral", same), ("init", init))
        )
    )
    names = [run.name for run in load_experiment(str(path)).runs]
    assert names[:5] == ["xor-2", "xor-4-2", "xor-no-hidden", "spiral-16-tanh", "spiral-16-relu"]
    assert names[5:] == [f"init-model={model}" for model in init]  # the same widths and activations: the specs


def test_run_key_survives_new_settings_and_ignores_where_the_data_is(toy_file):
    run = load_experiment(str(toy_file)).runs[0]
    # The key of these settings, fixed: a setting added to TrainConfig later (at its default) must not
    # move finished runs to a new directory, or every experiment would retrain after an upgrade.
    assert run.key == "0396f4dad5"
    assert replace(run, config=run.config.replace(data_dir="/elsewhere", eval_batch_size=7)).key == run.key
    assert replace(run, config=run.config.replace(warmup=1)).key != run.key
    assert replace(run, members=3).key != run.key


def test_runs_train_once_then_are_reused(toy_file, tmp_path):
    experiment = load_experiment(str(toy_file), quick=True)
    lines = []
    out = tmp_path / "out"
    run_experiment(experiment, out, log=lines.append, progress=False)
    index = json.loads((out / "experiment.json").read_text())
    assert [r["status"] for r in index["runs"]] == ["done"] * 5
    assert index["runs"][0]["directory"] == index["runs"][1]["directory"]
    assert len(list((out / "runs").iterdir())) == 4  # five runs, four distinct settings
    header = "Toy experiment (quick run: smaller settings; each run's note says which): 5 runs, 0 already finished"
    assert lines[0] == f"{header} (4 to train: 1 shares settings with another)"  # adds up to the [i/4] counter
    assert [line.split()[0] for line in lines if line.startswith("[")] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    predictions = np.load(out / index["runs"][0]["directory"] / "predictions.npz")
    assert predictions["y_true"].shape == predictions["y_pred"].shape == (100,)
    boundary = np.load(out / index["runs"][0]["directory"] / "boundary.npz")
    assert boundary["p"].shape == (100, 100) and 0 <= boundary["p"].min() <= boundary["p"].max() <= 1

    again = []
    run_experiment(experiment, out, log=again.append, progress=False)
    assert again == [
        "Toy experiment (quick run: smaller settings; each run's note says which): 5 runs, 5 already finished"
    ]


def test_parallel_jobs_give_the_same_numbers(toy_file, tmp_path):
    experiment = load_experiment(str(toy_file), quick=True)
    run_experiment(experiment, tmp_path / "serial", log=lambda line: None, progress=False)
    run_experiment(experiment, tmp_path / "parallel", jobs=2, log=lambda line: None, progress=False)
    for run in experiment.runs:
        serial = json.loads((tmp_path / "serial" / run.directory / "result.json").read_text())
        parallel = json.loads((tmp_path / "parallel" / run.directory / "result.json").read_text())
        assert serial["test_accuracy"] == parallel["test_accuracy"]
        assert serial["status"] == parallel["status"] == "completed"


def test_parallel_jobs_train_an_ensembles_members_side_by_side(toy_file, tmp_path):
    path = tmp_path / "vote.toml"
    vote_runs = """
    [[runs]]
    name = "vote"
    exercise = "C"
    members = 3
    [[runs]]
    name = "diverges"
    exercise = "C"
    members = 2
    lr = 1e30
    model = "dense(16) relu dense(2)"
    """
    path.write_text(TOY + textwrap.dedent(vote_runs))
    experiment = load_experiment(str(path), quick=True)
    vote = next(run for run in experiment.runs if run.name == "vote")
    lines = []
    run_experiment(experiment, tmp_path / "serial", log=lambda line: None, progress=False)
    run_experiment(experiment, tmp_path / "parallel", jobs=3, log=lines.append, progress=False)
    serial, parallel = (
        json.loads((tmp_path / d / vote.directory / "ensemble.json").read_text()) for d in ("serial", "parallel")
    )
    assert parallel == serial and len(parallel["member_accuracies"]) == 3
    assert sorted(p.name for p in (tmp_path / "parallel" / vote.directory).glob("member-*")) == [
        "member-1",
        "member-2",
        "member-3",
    ]
    runs = {r["name"]: r for r in json.loads((tmp_path / "parallel" / "experiment.json").read_text())["runs"]}
    assert runs["vote"]["status"] == "done" and runs["diverges"]["status"] == "failed"
    assert sum(line.startswith("run diverges failed") for line in lines) == 1  # once, not once per member


def test_an_ensembles_members_are_shown_among_the_settings_it_changes(toy_file, tmp_path):
    # a vote of 5 beside the same network alone: without its members its row said "shared settings" too
    path = tmp_path / "vote.toml"
    path.write_text(TOY + '[[runs]]\nname = "vote"\nexercise = "A"\nmembers = 5\nquick = { members = 2 }\n')
    full, quick = (load_experiment(str(path), quick=q) for q in (False, True))
    assert [run.changed for run in full.runs if run.name in ("base", "vote")] == [{}, {"members": 5}]
    assert quick.runs[-1].changed == {"members": 2}  # the networks the quick run votes with
    assert describe_changes(quick.runs[-1].changed) == "members=2"


def test_the_settings_a_run_changes_are_shown_with_the_values_it_trains_with(toy_file, tmp_path):
    # regularisation's early stopping declares patience 10 and its quick variant 3: --quick's report said 10
    quick = {run.name: run for run in load_experiment("regularisation", quick=True).runs}
    full = {run.name: run for run in load_experiment("regularisation").runs}
    assert (
        quick["early-stopping#1"].changed == {"patience": 3} == {"patience": quick["early-stopping#1"].config.patience}
    )
    assert full["early-stopping"].changed == {"patience": 10}
    # a run's own quick setting is a difference too; the command line's beats the run's; a seed is shown as the
    # file (and the run's name) gives it, though --seed moves the one it trains with (the notes say so once)
    path = tmp_path / "seeds.toml"
    path.write_text(TOY + '[[runs]]\nname = "s"\nexercise = "C"\nseed = 7\nbatch_size = 20\nrepeats = 2\n')
    runs = {run.name: run for run in load_experiment(str(path), quick=True, overrides={"batch_size": 5}, seed=1).runs}
    assert runs["wide"].changed == {"model": "dense(16) tanh dense(2)", "epochs": 2}
    # the command line's batch size is every run's: no longer a difference; a quick table can undo one too
    assert runs["s"].changed == {"seed": 7} and runs["s"].config.batch_size == 5
    playground = {run.name: run for run in load_experiment("playground", quick=True).runs}
    assert "lr" not in playground["task9-spiral-features#1"].changed  # the full run's 0.01; the quick run's 0.1
    assert playground["task9-spiral-features#1"].changed["data_options"] == {
        "features": ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
    }  # not n, noise and train_ratio, which every run shares
    full = {run.name: run for run in load_experiment(str(path), seed=1).runs}
    assert [full[f"s#{i}"].changed["seed"] for i in (1, 2)] == [7, 8]
    assert [full[f"s#{i}"].config.seed for i in (1, 2)] == [100_007, 100_008]


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TOY.replace('model = "dense(16) tanh dense(2)"', 'model = "dense(16) relu dense(2)"\nlr = 1e30'))
    out = tmp_path / "out"
    run_experiment(load_experiment(str(path), quick=True), out, log=lambda line: None, progress=False)
    runs = {r["name"]: r for r in json.loads((out / "experiment.json").read_text())["runs"]}
    assert runs["wide"]["status"] == "failed" and "smaller --lr" in runs["wide"]["error"]
    assert runs["base"]["status"] == "done"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("epochs = 3\n", "epochs = 0\n"),
        ('name = "wide"', 'name = "base"'),
        ("lr = 0.1\n", 'lr = 0.1\nmodle = "dense(2)"\n'),
        ("reference = 0.9\n", 'loss_target = "low"\n'),
    ],
)
def test_bad_experiment_files_are_reported(tmp_path, change, message):
    path = tmp_path / "bad.toml"
    path.write_text(TOY.replace(*(change, message), 1))
    with pytest.raises(ExperimentError) as error:
        load_experiment(str(path))
    assert str(path) in str(error.value)


def test_a_loss_target_goes_to_the_index_for_the_report(toy_file, tmp_path):
    path = tmp_path / "target.toml"
    path.write_text(toy_file.read_text().replace("reference = 0.9\n", "loss_target = 0.05\n"))
    experiment = load_experiment(str(path), quick=True)
    assert [run.loss_target for run in experiment.runs] == [None, 0.05, None, None, None]
    run_experiment(experiment, tmp_path / "out", log=lambda line: None, progress=False)
    runs = json.loads((tmp_path / "out" / "experiment.json").read_text())["runs"]
    assert [run.get("loss_target") for run in runs] == [None, 0.05, None, None, None]


def test_unknown_experiment_lists_the_built_ins():
    with pytest.raises(ExperimentError, match="unknown experiment 'lab5'.*lab4a"):
        load_experiment("lab5")


def test_every_built_in_loads_in_both_modes():
    names = builtin_names()
    assert {
        "lab4a",
        "lab4b",
        "nielsen",
        "nielsen-scaled",
        "playground",
        "activations",
        "init",
        "regularisation",
        "optimisers",
        "batch-size",
    } <= set(names)
    for name in names:
        for quick in (False, True):
            experiment = load_experiment(name, quick=quick)
            assert experiment.runs, name
    nielsen = {r.name: r for r in load_experiment("nielsen").runs}
    assert nielsen["1-mlp-100#1"].reference == 0.978 and nielsen["1-mlp-100#1"].config.batch_size == 10
    assert [nielsen[f"4-relu#{i}"].config.seed for i in (1, 2, 3)] == [0, 1, 2]  # Nielsen's best of 3
    assert nielsen["7-vote-of-5"].members == 5 and nielsen["5-expanded#1"].config.expand == "shift"
    quick = {run.name: run for run in load_experiment("nielsen", quick=True).runs}
    assert list(quick) == ["1-mlp-100", "2-conv-20", "3-conv-40", "4-relu", "5-expanded"]
    assert [quick[n].config.limit for n in ("1-mlp-100", "2-conv-20", "3-conv-40")] == [1000, 1000, 1000]
    assert quick["4-relu"].config.limit == 4000 and quick["4-relu"].config.epochs == 3


def test_select_keeps_only_the_named_runs(toy_file):
    experiment = load_experiment(str(toy_file)).select(["wide", "base"])
    assert [r.name for r in experiment.runs] == ["base", "wide"]
    with pytest.raises(ExperimentError, match="toy has no run nope; its runs: base, same-as-base"):
        load_experiment(str(toy_file)).select(["nope"])


def test_a_repeated_run_trains_with_the_next_seeds_and_reports_its_seed_of_best_validation_and_mean(tmp_path):
    from layerlab import report

    path = tmp_path / "repeats.toml"
    path.write_text(TOY + '[[runs]]\nname = "again"\nexercise = "C"\nrepeats = 3\nseed = 5\n')
    experiment = load_experiment(str(path))
    repeats = [run for run in experiment.runs if run.repeat_of == "again"]
    assert [(run.name, run.config.seed) for run in repeats] == [("again#1", 5), ("again#2", 6), ("again#3", 7)]
    assert [run.name for run in load_experiment(str(path), quick=True).runs][-1] == "again"  # quick: once
    assert [run.name for run in experiment.select(["again"]).runs] == ["again#1", "again#2", "again#3"]

    out = tmp_path / "out"
    run_experiment(experiment.select(["again", "base"]), out, log=lambda line: None, progress=False)
    results = [json.loads((out / run.directory / "result.json").read_text()) for run in repeats]
    accuracies = [result["test_accuracy"] for result in results]
    validation = [result["best_val_accuracy"] for result in results]
    assert len({run.directory for run in repeats}) == 3
    rows = {row.run: row for row in report.table(out)}
    assert list(rows) == ["base", "again"]
    again = rows["again"]
    chosen = validation.index(max(validation))  # by validation, never by test: the row's val picks the star
    assert again.test_accuracy == accuracies[chosen] and again.test_mean == pytest.approx(np.mean(accuracies))
    assert again.best_val_accuracy == max(validation)
    assert again.repeats == 3 and again.best_repeat == f"again#{chosen + 1}"
    assert again.seconds == pytest.approx(sum(result["seconds"] for result in results))
    assert f"3 seeds ({', '.join(f'{a:.2%}' for a in accuracies)}), mean" in again.notes
    assert f"shown: again#{chosen + 1}, the seed of best validation accuracy" in again.notes
    assert rows["base"].repeats is None and rows["base"].test_mean is None
    assert "mean" in report.terminal_table(list(rows.values())).splitlines()[0]


def test_repeats_must_be_a_positive_whole_number(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TOY + '[[runs]]\nname = "again"\nrepeats = 0\n')
    with pytest.raises(ExperimentError, match="run 'again': repeats = 0: expected a whole number >= 1"):
        load_experiment(str(path))


def test_quick_notes_say_what_ran_and_what_was_reduced_or_left_out(tmp_path):
    path = tmp_path / "notes.toml"
    path.write_text(
        textwrap.dedent(
            """
            name = "notes"
            notes = ["Full-run note."]
            quick_notes = ["What the quick run is for."]
            [settings]
            data = "xor"
            epochs = 30
            [quick]
            epochs = 3
            limit = 100
            [[runs]]
            name = "vote"
            members = 5
            repeats = 3
            note = "5 networks, 30 epochs"
            quick = { members = 2, batch_size = 20 }
            [[runs]]
            name = "slow"
            quick = { skip = true, note = "too slow for a quick run" }
            """
        )
    )
    quick = load_experiment(str(path), quick=True)
    assert quick.notes == [
        "Quick run: 3 epochs, the first 100 training images (the full run: 30 epochs, all training images), "
        "except where a run's note says otherwise (vote); left out (full run only): slow (too slow for a quick run).",
        "What the quick run is for.",
    ]
    assert [(run.name, run.members) for run in quick.runs] == [("vote", 2)]
    assert quick.runs[0].note == (
        "full run: 5 networks, 30 epochs; quick: batches of 20, 2 members (full run: 5), "
        "trained once (full run: 3 times)"
    )
    assert plan_summary(quick, {"vote": "pending"}, quick.runs) == (
        "1 run, 0 already finished; left out of the quick run: slow (too slow for a quick run)"
    )
    full = load_experiment(str(path))
    assert full.notes == ["Full-run note."]
    assert [run.name for run in full.runs] == ["vote#1", "vote#2", "vote#3", "slow"]
    assert full.runs[0].note == "5 networks, 30 epochs"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_a_missing_gpu_stops_the_experiment_once_before_anything_is_written(tmp_path, cli_error):
    out = tmp_path / "exp"
    (out / "runs").mkdir(parents=True)
    (out / "experiment.json").write_text('{"name": "lab4a", "runs": []}')
    before = {p: p.read_bytes() if p.is_file() else None for p in out.rglob("*")}
    err = cli_error("run", "lab4a", "--quick", "--device", "cuda", "--out", str(out))
    train = cli_error("train", "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "run"))
    message = "--device cuda was asked for, but this torch build sees no CUDA GPU; use --device cpu"
    assert err == f"layerlab run: error: {message}\n" and train == f"layerlab train: error: {message}\n"
    assert {p: p.read_bytes() if p.is_file() else None for p in out.rglob("*")} == before
    assert not (tmp_path / "run").exists()


def test_another_seed_moves_every_runs_seed_and_the_report_says_which():
    zero, one = load_experiment("activations", quick=True), load_experiment("activations", quick=True, seed=1)
    assert [run.config.seed - 100_000 for run in one.runs] == [run.config.seed for run in zero.runs]
    assert "Seed 1 (--seed 1): every run's seed is moved by 100,000 from seed 0's." in one.notes
    assert not any(note.startswith("Seed ") for note in zero.notes)


def test_a_folder_named_after_a_built_in_does_not_hide_it(tmp_path, monkeypatch):
    """A student keeps a folder lab4a/ and types `layerlab run lab4a` there: the built-in, not an error."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab4a").mkdir()
    assert load_experiment("lab4a", quick=True).source == "built-in lab4a"
    (tmp_path / "mine").mkdir()
    with pytest.raises(Exception, match="mine is a folder, not a TOML file; give the .toml file inside it"):
        load_experiment("mine")


def test_repeats_from_the_command_line_train_every_run_that_many_times(toy_file, tmp_path):
    # "more repeats (--repeats 6) would measure it more closely": the report's advice is one flag away
    plan = load_experiment(str(toy_file), quick=True, repeats=4)
    assert {run.repeat_of for run in plan.runs} == {run.name for run in load_experiment(str(toy_file), quick=True).runs}
    assert [run.config.seed for run in plan.runs if run.repeat_of == plan.runs[0].repeat_of] == [0, 1, 2, 3]
    from layerlab.experiments.execute import plan_summary

    named = len({run.repeat_of for run in plan.runs})  # the start line counts runs as the report's title does
    assert plan_summary(plan, {}, plan.runs) == f"{named} runs ({4 * named} with their repeats), 0 already finished"
    for bad in (0, -2, 1.5, True, "3"):
        with pytest.raises(ExperimentError, match="repeats must be a whole number >= 1"):
            load_experiment(str(toy_file), repeats=bad)
    with pytest.raises(ExperimentError, match="unknown experiment 'nielsn': did you mean nielsen\\?"):
        load_experiment("nielsn")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerlab",
            "run",
            str(toy_file),
            "--quick",
            "--repeats",
            "0",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "repeats must be a whole number >= 1" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x").exists()
