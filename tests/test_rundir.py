"""The run directory: atomic writes, full and read-only disks, the lock, and never replacing a user's files.

Each refusal is checked twice: the message (one line naming the problem and the way out) and that no
file in the directory changed or was lost. Disk full / read-only are injected in the one write helper
(``layerlab.files._sync``) so the tests run anywhere without root or a mount.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_train import blobs, config

import layerlab
from layerlab import files
from layerlab.cli import main
from layerlab.data import load as load_data
from layerlab.errors import FLAG_WORDS, TrainError
from layerlab.files import WriteError, atomic_write, write_text
from layerlab.hooks import Hook
from layerlab.rundir import LockedError, RunDir, RunDirError
from layerlab.train import fit

MODEL = "dense(8) relu dense(3)"


def quiet_fit(cfg, out=None, **kwargs):
    return fit(cfg, blobs(image=False), out=out, progress=False, log=None, **kwargs)


def small(**changes):
    return config(**({"model": MODEL, "engine": "numpy", "epochs": 2, "lr": 0.1} | changes))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def fail_writing(monkeypatch, name: str, code: int = errno.ENOSPC) -> None:
    """Make the write helper fail (as a full or read-only disk would) for files called ``name``."""
    real = files._sync

    def sync(f, path):
        if Path(path).name == name:
            raise OSError(code, os.strerror(code))
        real(f, path)

    monkeypatch.setattr(files, "_sync", sync)


@pytest.fixture(scope="module")
def uninterrupted():
    return quiet_fit(small())[0]


# ---------------------------------------------------------------------------------------------------
# The write helper
# ---------------------------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    write_text(path, "old\n")
    fail_writing(monkeypatch, "result.json")
    with pytest.raises(WriteError) as error:
        write_text(path, "new\n")
    assert str(error.value) == f"no space left on device while writing {path}"
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_every_file_is_written_readable_by_everyone(tmp_path):
    for name in ("a.json", "b.npz"):
        atomic_write(tmp_path / name, lambda f: f.write(b"x"))
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_an_exception_while_writing_predictions_keeps_the_previous_ones(tmp_path, monkeypatch):
    run_dir = RunDir(tmp_path)
    run_dir.write_arrays(RunDir.PREDICTIONS, y_true=np.arange(3), y_pred=np.arange(3))
    fail_writing(monkeypatch, RunDir.PREDICTIONS, errno.EROFS)
    with pytest.raises(WriteError, match="read-only file system while writing .*predictions.npz; make .* writable"):
        run_dir.write_arrays(RunDir.PREDICTIONS, y_true=np.zeros(5), y_pred=np.zeros(5))
    np.testing.assert_array_equal(run_dir.read_arrays(RunDir.PREDICTIONS)["y_true"], np.arange(3))


# ---------------------------------------------------------------------------------------------------
# Disk full / read-only in the middle of a run: one line, a consistent directory, an exact resume
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["checkpoint.npz", "last.safetensors", "metrics.jsonl", "result.json"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_stops_the_run_cleanly_and_resume_continues_exactly(
    tmp_path, monkeypatch, uninterrupted, name, code
):
    out = tmp_path / "run"
    quiet_fit(small(epochs=1), out)
    before = snapshot(out)

    class FailInEpoch2(Hook):
        def on_epoch_start(self, loop, epoch):
            fail_writing(monkeypatch, name, code)

    with pytest.raises(WriteError) as error:
        quiet_fit(small(), out, resume=True, hooks=[FailInEpoch2()])
    monkeypatch.undo()
    full = code == errno.ENOSPC
    reason = "no space left on device" if full else "read-only file system"
    fix = "free space" if full else f"make {out} writable"
    assert str(error.value) == f"{reason} while writing {out / name}; {fix} and resume=True"  # from Python
    assert error.value.worded(FLAG_WORDS).endswith(f"{fix} and --resume")  # the command line's words
    assert "\n" not in str(error.value)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    run_dir = RunDir(out)
    checkpoint_epoch = run_dir.read_checkpoint()[1]["epoch"]
    assert len(run_dir.read_metrics()) <= checkpoint_epoch  # the metrics are never ahead of their checkpoint
    if name == "checkpoint.npz":
        assert snapshot(out).keys() == before.keys() and snapshot(out)["checkpoint.npz"] == before["checkpoint.npz"]

    resumed, _ = quiet_fit(small(), out, resume=True)
    keys = ("train_loss", "val_accuracy", "test_loss", "test_accuracy")
    assert [[r[k] for k in keys] for r in resumed.history] == [[r[k] for k in keys] for r in uninterrupted.history]
    assert [[r[k] for k in keys] for r in run_dir.read_metrics()] == [[r[k] for k in keys] for r in resumed.history]
    assert run_dir.read_result()["test_accuracy"] == uninterrupted.test_accuracy


# ---------------------------------------------------------------------------------------------------
# Refusals: nothing written, nothing lost
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def finished(tmp_path):
    out = tmp_path / "run"
    quiet_fit(small(epochs=1), out)
    return out


def test_a_finished_run_is_not_replaced_without_resume_or_overwrite(finished, capsys):
    before = snapshot(finished)
    with pytest.raises(RunDirError) as error:
        quiet_fit(small(epochs=1, lr=0.3), finished)
    assert str(error.value) == (  # worded for Python: the command line names its flags (below)
        f"{finished} holds a finished run: resume=True to continue it, overwrite=True to replace it, or another out"
    )
    assert snapshot(finished) == before
    code = main(["train", "--data", "mnist-small", "--limit", "50", "--epochs", "1", "--out", str(finished), "-q"])
    err = capsys.readouterr().err
    assert err == (
        f"layerlab train: error: {finished} holds a finished run: --resume to continue it, --overwrite to replace it,"
        " or another --out\n"
    )
    assert code == 2
    assert snapshot(finished) == before


def test_a_refused_resume_writes_nothing(finished):
    before = snapshot(finished)
    with pytest.raises(RunDirError, match="overwrite=True replaces it: give one of them"):
        quiet_fit(small(epochs=2), finished, resume=True, overwrite=True)
    with pytest.raises(TrainError, match="different settings.*lr"):
        quiet_fit(small(epochs=2, lr=0.5), finished, resume=True)
    assert snapshot(finished) == before
    layerlab.load(finished)  # still a working run


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: "", "out needs a folder name"),
        (lambda p: (p / "notes.txt").write_text("mine") and p / "notes.txt", "is a file, not a folder"),
        (lambda p: (p / "config.json").write_text("{}") and p, "holds other files and no run"),
    ],
    ids=["empty", "a-file", "a-folder-of-the-users"],
)
def test_an_out_that_is_neither_new_nor_a_run_is_an_error(tmp_path, monkeypatch, make, message):
    (tmp_path / "config.json").write_text('{"mine": 1}')  # a user's own file where --out '' would write
    monkeypatch.chdir(tmp_path)
    out = make(tmp_path)
    if out == tmp_path:
        (tmp_path / "config.json").unlink()
        (tmp_path / "settings.toml").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(RunDirError, match=message):
        quiet_fit(small(epochs=1), out)
    assert snapshot(tmp_path) == before


def test_an_out_in_a_read_only_place_is_one_line(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(WriteError, match=f"^read-only file system while writing {tmp_path / 'new'}; choose another"):
        quiet_fit(small(epochs=1), tmp_path / "new")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_out_under_a_read_only_parent_is_refused(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(RunDirError, match="is not writable; choose another --out"):
            quiet_fit(small(epochs=1), parent / "run")
    finally:
        parent.chmod(0o755)


def test_a_damaged_config_names_the_file_and_the_way_out(finished, capsys):
    text = (finished / "config.json").read_text()
    (finished / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(
        RunDirError, match=r"config.json is damaged \(not valid JSON.*restore it.*another out \(or overwrite=True\)$"
    ):
        layerlab.load(finished)
    assert main(["eval", str(finished)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{finished / 'config.json'} is damaged" in err
    assert err.endswith("another --out (or --overwrite)\n")


# ---------------------------------------------------------------------------------------------------
# --overwrite, --resume with the run's own settings
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(finished, monkeypatch, exchange):
    if not exchange:  # where the system cannot swap two directories in one step
        monkeypatch.setattr("layerlab.rundir._exchange", lambda a, b: False)
    before = snapshot(finished)

    class Crash(Hook):
        def on_epoch_start(self, loop, epoch):
            assert snapshot(finished) == before  # the new run is elsewhere until its first checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quiet_fit(small(epochs=1, lr=0.3), finished, overwrite=True, hooks=[Crash()])
    assert snapshot(finished) == before
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]  # the half-made replacement is gone

    result, _ = quiet_fit(small(epochs=1, lr=0.3), finished, overwrite=True)
    assert RunDir(finished).read_config()["config"]["lr"] == 0.3
    assert RunDir(finished).read_result()["test_accuracy"] == result.test_accuracy
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]


def test_resume_takes_the_runs_own_settings_and_the_flags_given(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", "mnist-small", "--limit", "100", "--model", "flatten dense(10)", "--lr", "0.2", "-q"]
    assert main(["train", *args, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "-q"]) == 0
    saved = RunDir(out).read_config()["config"]
    assert (saved["model"], saved["lr"], saved["limit"], saved["epochs"]) == ("flatten dense(10)", 0.2, 100, 2)
    assert len(RunDir(out).read_metrics()) == 2


def test_a_run_directory_is_opened_once_with_its_mode_on_its_way_down(tmp_path, monkeypatch):
    """``layerlab.fit(out=..., resume=True)`` turns its path and options into one ``RunDir``, which the settings,
    the loop's claim, the checkpoint and the saved predictions all use (it was made three times on that way)."""
    out, settings = tmp_path / "run", {"model": MODEL, "engine": "numpy", "lr": 0.1, "quiet": True}
    layerlab.fit(blobs(image=False), out=out, epochs=2, **settings)
    made = []
    init = RunDir.__init__

    def recording(self, path, *mode):
        made.append((Path(path), *mode))
        init(self, path, *mode)

    monkeypatch.setattr(RunDir, "__init__", recording)
    run = layerlab.fit(blobs(image=False), out=out, resume=True, epochs=3, **settings)
    assert [m for m in made if m[0] == out] == [(out, "resume")]
    assert len(run.result.history) == 3 and len(RunDir(out).read_metrics()) == 3
    monkeypatch.undo()
    run = layerlab.fit(blobs(image=False), out=RunDir(out, "resume"), epochs=4, **settings)  # opened by the caller
    assert [row["epoch"] for row in run.result.history] == [1, 2, 3, 4]


def test_the_modes_a_run_directory_is_opened_with(tmp_path):
    assert RunDir.opened(None, resume=True, overwrite=True) is None  # a run that writes nothing
    assert RunDir.opened(tmp_path, overwrite=True).mode == "overwrite" and RunDir.opened(tmp_path).mode == "new"
    given = RunDir(tmp_path, "resume")
    assert RunDir.opened(given) is given and RunDir.opened(given, resume=True) is given
    assert RunDir.opened(given, overwrite=True).mode == "overwrite"  # the options given win
    assert given.member(1).mode == "resume" and given.member(1).path == tmp_path / "member-2"
    with pytest.raises(RunDirError, match="resume=True continues the run in .*, overwrite=True replaces it"):
        RunDir.opened(tmp_path, resume=True, overwrite=True)
    with pytest.raises(RunDirError, match="opened as new, resume, overwrite, not 'append'"):
        RunDir(tmp_path, "append")


# ---------------------------------------------------------------------------------------------------
# Two writers
# ---------------------------------------------------------------------------------------------------

MNIST_50 = ["--data", "mnist-small", "--limit", "50", "--epochs", "1"]
HOLDER = textwrap.dedent(
    """
    import sys, time
    from layerlab.rundir import RunDir
    run_dir = RunDir(sys.argv[1], "resume" if len(sys.argv) > 2 else "new").claim()
    run_dir.begin()
    print("holding", flush=True)
    time.sleep(60)
    """
)


def test_a_second_writer_gets_the_holders_pid(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        before = snapshot(out)
        message = f"{out} is being written by process {holder.pid}; wait for it to end, or use another out"
        for resume in (True, False):  # the lock is checked first: not "holds an unfinished run: resume=True ..."
            with pytest.raises(LockedError) as error:
                quiet_fit(small(epochs=1), out, resume=resume)
            assert str(error.value) == message
        command = ["train", *MNIST_50, "--out", str(out)]
        for resume in ([], ["--resume"]):
            assert main(command + resume) == 2
            assert capsys.readouterr().err == f"layerlab train: error: {message[:-3]}--out\n"  # the flag's name
        assert RunDir(out).writer() == f"process {holder.pid}"
        assert snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    assert RunDir(out).writer() is None
    quiet_fit(small(epochs=1), out, resume=True)  # the kill released the lock
    assert RunDir(out).is_finished()


def test_eval_predict_and_report_of_a_run_still_training_say_so(tmp_path, capsys):
    finished = tmp_path / "mlp"
    assert main(["train", "--model", "flatten dense(10)", *MNIST_50, "--out", str(finished), "-q"]) == 0
    capsys.readouterr()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(finished), "resume"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    digit = tmp_path / "digit.png"
    Image.fromarray(load_data("mnist-small").test.x[0, 0]).save(digit)
    try:
        assert holder.stdout.readline() == "holding\n"
        note = f"note: {finished} is still training (process {holder.pid}): the weights are from its best epoch so far"
        assert main(["eval", str(finished)]) == 0
        assert capsys.readouterr().out.splitlines()[0] == note
        assert main(["predict", str(finished), str(digit), "--weights", "last"]) == 0
        assert capsys.readouterr().out.splitlines()[0] == note.replace("best", "last")
        assert main(["report", str(finished), "--out", str(tmp_path / "report")]) == 0
        report_note = f"note: {finished} is still training (process {holder.pid}): the report shows its epochs so far"
        assert capsys.readouterr().out.splitlines()[0] == report_note
    finally:
        holder.kill()
        holder.wait()
    assert main(["eval", str(finished)]) == 0
    assert "still training" not in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------
# One rule for the weights a run holds; a loss that explodes without becoming infinite
# ---------------------------------------------------------------------------------------------------


def test_fit_load_and_ensembles_use_the_best_epochs_weights(tmp_path):
    data = blobs(image=False)
    settings = small(epochs=6, lr=2.0).to_dict()  # a large rate: the last epoch is not the best one
    run = layerlab.fit(data, out=tmp_path / "run", quiet=True, **settings)
    assert run.result.best_epoch < run.result.epochs
    loaded = layerlab.load(tmp_path / "run")
    assert run.evaluate(data.test.x, data.test.y) == loaded.evaluate(data.test.x, data.test.y)
    assert run.evaluate(data.test.x, data.test.y) == pytest.approx(run.result.test_accuracy)
    last = layerlab.fit(data, quiet=True, weights="last", **settings)
    assert last.evaluate(data.test.x, data.test.y) == pytest.approx(last.result.final_test_accuracy)
    assert last.evaluate(data.test.x, data.test.y) == layerlab.load(tmp_path / "run", weights="last").evaluate(
        data.test.x, data.test.y
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_loss_that_explodes_but_stays_finite_is_flagged_in_the_result(tmp_path):
    result, _ = quiet_fit(small(epochs=3, lr=100, model="dense(8) sigmoid dense(3)"), tmp_path / "run")
    assert result.status == "completed"
    assert result.message.startswith("warning: the training loss rose from 0.997 at the first step to 12.4")
    assert result.message.endswith("the learning rate 100 is probably too large: try 10")
    assert json.loads((tmp_path / "run" / "result.json").read_text())["message"] == result.message
    assert result.summary().endswith(f"[completed] {result.message}")  # the line `layerlab train` ends with
    calm, _ = quiet_fit(small(epochs=3))
    assert calm.message == "" and calm.summary().endswith("[completed]")


# ---------------------------------------------------------------------------------------------------
# Exit codes: a failed experiment run; a bug is not a user error
# ---------------------------------------------------------------------------------------------------


def test_an_experiment_with_a_failed_run_exits_non_zero_and_still_writes_the_report(tmp_path, capsys):
    experiment = tmp_path / "broken.toml"
    experiment.write_text(
        textwrap.dedent(
            """
            name = "broken"
            [settings]
            data = "mnist-small"
            limit = 60
            epochs = 1
            engine = "numpy"
            [[runs]]
            name = "fine"
            model = "flatten dense(10)"
            [[runs]]
            name = "impossible"
            model = "flatten dense(10) maxpool(2)"
            """
        )
    )
    code = main(["run", str(experiment), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().splitlines()[-1] == "layerlab run: 1 run failed: impossible"
    assert (tmp_path / "out" / "report.md").is_file()
    statuses = {
        run["name"]: run["status"] for run in json.loads((tmp_path / "out" / "experiment.json").read_text())["runs"]
    }
    assert statuses == {"fine": "done", "impossible": "failed"}


def test_a_bug_shows_its_traceback_not_a_one_line_error(monkeypatch):
    import layerlab.cli.datasets

    def buggy(args):
        raise ValueError("a bug in layerlab")

    monkeypatch.setattr(layerlab.cli.datasets, "run", buggy)
    with pytest.raises(ValueError, match="a bug in layerlab"):
        main(["datasets"])


def test_a_users_hook_sees_every_step_and_its_stop_lands_in_the_result(tmp_path):
    seen = []

    class StopAt(layerlab.Hook):
        def on_step(self, loop, step, steps, loss):
            seen.append((step, steps))

        def on_epoch_end(self, loop, row):
            if row["epoch"] == 2:
                loop.stop("target_reached", f"stopped at {row['val_accuracy']:.0%}")

    run = layerlab.fit(
        blobs(image=False), out=tmp_path / "run", quiet=True, hooks=[StopAt()], **small(epochs=5).to_dict()
    )
    assert seen == [(step, 15) for step in range(1, 16)] * 2  # 120 examples in batches of 8
    assert (run.result.status, run.result.epochs) == ("target_reached", 2)
    assert run.result.message == f"stopped at {run.result.history[1]['val_accuracy']:.0%}"
    assert RunDir(tmp_path / "run").read_result()["status"] == "target_reached"


def test_ctrl_c_that_lands_in_a_del_still_ends_the_run_with_its_last_epoch_written(tmp_path):
    """Python only prints an exception raised in ``__del__`` (a progress bar's, say): a Ctrl-C landing there
    was lost and training went on. It is raised at the next step, and the last finished epoch is written."""
    import signal

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside __del__

    class CtrlCInDel(Hook):
        def on_epoch_end(self, loop, row):
            if row["epoch"] == 3:
                Dropped()  # freed at once

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(small(epochs=50), out, hooks=[CtrlCInDel()])
    assert RunDir(out).read_checkpoint()[1]["epoch"] == 3 and len(RunDir(out).read_metrics()) == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back after fit


def test_ctrl_c_that_lands_in_a_weakref_callback_still_ends_the_run_with_its_last_epoch_written(tmp_path):
    """A weakref or garbage-collector callback is another place where Python only prints an exception (through
    ``sys.unraisablehook``): a Ctrl-C landing there is raised at the next step, as one in ``__del__`` is."""
    import signal
    import weakref

    class Freed:
        pass

    def callback(reference):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside the weakref's callback
        for _ in range(100):
            pass

    class CtrlCInCallback(Hook):
        def on_epoch_end(self, loop, row):
            if row["epoch"] == 3:
                freed = Freed()
                self.reference = weakref.ref(freed, callback)
                del freed  # the callback runs at once

    out = tmp_path / "run"
    hook_before = sys.unraisablehook
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(small(epochs=50), out, hooks=[CtrlCInCallback()])
    assert RunDir(out).read_checkpoint()[1]["epoch"] == 3 and len(RunDir(out).read_metrics()) == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and sys.unraisablehook is hook_before
