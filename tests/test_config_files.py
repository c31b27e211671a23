"""Settings from --config files, experiment files, flags and keywords: one spelling rule, every value's type
checked against TrainConfig, non-finite numbers refused, unknown keys and tables refused (issues 11, 12)."""

from __future__ import annotations

import pytest

from layerlab import api
from layerlab.cli import main
from layerlab.config import TrainConfig
from layerlab.errors import TrainError
from layerlab.experiments import load_experiment
from layerlab.experiments.plan import ExperimentError

EXPERIMENT = 'name = "t"\n[settings]\nmodel = "flatten dense(10)"\n{settings}\n[[runs]]\nname = "a"\n{run}\n'


def experiment(tmp_path, settings: str = "", run: str = "", extra: str = "") -> str:
    path = tmp_path / "exp.toml"
    path.write_text(extra + EXPERIMENT.format(settings=settings, run=run))
    return str(path)


def test_one_spelling_rule_for_config_files_and_experiment_files(tmp_path, cli_error):
    config = tmp_path / "lab.toml"
    config.write_text('batch-size = 20\nlr_gamma = 0.25\nmodel = "flatten dense(10)"\n')
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--data",
                "mnist-small",
                "--limit",
                "100",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = api.load(out).config
    assert saved.batch_size == 20 and saved.lr_gamma == 0.25
    runs = load_experiment(experiment(tmp_path, "batch-size = 20\nlr_gamma = 0.25", "lr-step = 3")).runs
    assert runs[0].config.batch_size == 20 and runs[0].config.lr_gamma == 0.25 and runs[0].config.lr_step == 3
    config.write_text("batch-size = 20\nbatch_size = 30\n")
    err = cli_error("train", "--config", str(config))
    assert f"config file {config}: batch-size and batch_size are the same setting; keep one" in err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('epochs = "one"', 'epochs = "one": expected a whole number (passes over the training set)'),
        ('lr = "fast"', 'lr = "fast": expected a finite number (learning rate'),
        ("lr = inf", "lr = inf: expected a finite number"),
        ("momentum = nan", "momentum = nan: expected a finite number"),
        ("channels_last = 1", "channels_last = 1: expected true or false"),
        ("data_options = 3", "data_options = 3: expected a table"),
        ("epoch = 3", "unknown setting 'epoch'; did you mean epochs?"),
        ("[setting]\nepochs = 1", "unknown setting 'setting'"),
    ],
)
def test_config_file_values_are_checked_naming_file_key_and_value(tmp_path, cli_error, line, message):
    config = tmp_path / "lab.toml"
    config.write_text(line + "\n")
    err = cli_error("train", "--config", str(config), "--out", str(tmp_path / "run"))
    assert f"config file {config}: {message}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.toml"]


@pytest.mark.parametrize(
    ("settings", "run", "extra", "message"),
    [
        ('epochs = "one"', "", "", '[settings]: epochs = "one": expected a whole number'),  # the table's fault
        ("", 'lr = "fast"', "", "run 'a': lr = \"fast\": expected a finite number"),
        ("", 'members = "five"', "", "run 'a': members = \"five\": expected a whole number >= 1"),
        ("", "repeats = 2.5", "", "run 'a': repeats = 2.5: expected a whole number >= 1"),
        ("", 'reference = "high"', "", "run 'a': reference = \"high\": expected a number"),
        ("", "lr = nan", "", "run 'a': lr = nan: expected a finite number"),
        ("", "grid = { lr = 0.1 }", "", "run 'a': grid lr = 0.1: expected a list of values"),
        ("", "", "[setings]\nepochs = 1\n", "unknown key or table 'setings' (did you mean 'settings'?)"),
        ("", "", 'titel = "x"\n', "unknown key or table 'titel' (did you mean 'title'?)"),
        ("", "", "title = 3\n", "title = 3: expected text in quotes"),
    ],
)
def test_experiment_file_values_are_checked_naming_file_run_key_and_value(
    tmp_path, cli_error, settings, run, extra, message
):
    path = experiment(tmp_path, settings, run, extra)
    with pytest.raises(ExperimentError) as error:
        load_experiment(path)
    assert str(error.value).startswith(f"{path}") and message in str(error.value)
    err = cli_error("run", path, "--out", str(tmp_path / "out"))
    assert message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("flag", "value"), [("--lr", "inf"), ("--lr", "nan"), ("--l2", "inf"), ("--momentum", "-inf"), ("--val", "nan")]
)
def test_non_finite_flags_are_refused_up_front(tmp_path, cli_error, flag, value):
    err = cli_error("train", f"{flag}={value}", "--out", str(tmp_path / "run"))
    assert f"{flag} {value}: expected a finite number" in err
    assert not (tmp_path / "run").exists()


def test_keywords_of_the_python_api_are_checked_too():
    with pytest.raises(TrainError, match=r"lr = inf: expected a finite number"):
        api.fit(lr=float("inf"))
    with pytest.raises(TrainError, match=r'epochs = "3": expected a whole number'):
        TrainConfig.from_dict({"epochs": "3"})
    assert TrainConfig.from_dict({"lr": 1, "val": None}).lr == 1  # a whole number is a number


def test_an_experiments_settings_and_model_are_checked_before_anything_trains(tmp_path, cli_error, capsys):
    misspelt = tmp_path / "misspelt.toml"
    misspelt.write_text('name = "e"\n[settings]\nlrr = 0.1\n[[runs]]\nname = "a"\n')
    error = cli_error("run", str(misspelt), "--out", str(tmp_path / "out"))
    assert f"{misspelt} [settings]: unknown setting 'lrr'; did you mean lr?" in error
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "e"\n[settings]\nmodel = "flatten dense(10"\n[[runs]]\nname = "a"\n')
    from layerlab.cli import main

    assert main(["run", str(broken), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{broken}, run 'a': unexpected end of text in dense(...)" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing trained, no report of a failed run
