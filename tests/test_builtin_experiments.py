"""Every built-in experiment runs end to end with --quick, and its report has the expected rows.

These are the slowest tests (about a minute in all on two cores); CI runs them.
"""

from __future__ import annotations

import json

import pytest

from layerlab.cli import main
from layerlab.experiments import builtin_names, load_experiment


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_builtin_runs_quick_and_reports(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["run", name, "--quick", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    index = json.loads((out / "experiment.json").read_text())
    assert index["quick"] is True
    assert [r["status"] for r in index["runs"]] == ["done"] * len(index["runs"])
    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "quick run" in markdown and "quick run" in html
    for run in load_experiment(name, quick=True).runs:
        assert run.name in markdown and run.name in html
    assert "data:image/png;base64," in html
    assert f"report: {out / 'report.html'}" in printed
    for plot in TEACHING_PLOTS.get(name, ()):
        assert (out / "report" / plot).stat().st_size > 10_000, plot  # drawn, not blank
        assert f"report/{plot}" in markdown


#: The teaching experiments' own figures (layerlab/report/plots/teaching.py), by experiment.
TEACHING_PLOTS = {
    "capacity": ("capacity-polynomial-degree-y-w1-x-wd-x-d-b.png", "capacity-network-size-tanh-units-on-x.png"),
    "vanishing": (
        "layer-gradients-sigmoid-vs-relu-8-hidden-layers.png",
        "activations-sigmoid-vs-relu-8-hidden-layers.png",
        "layer-gradients-remedies-batch-norm-and-he-initialisation.png",
    ),
    "activations": ("activations-activation-of-4-hidden-layers.png",),
}
