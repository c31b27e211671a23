"""What a report says, before it is rendered: header, rows, shared settings, the base model, plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LayerlabError
from ..spec import parse
from .reading import ExperimentSource
from .table import Row, base_model, rows, shared_settings


@dataclass
class Plot:
    """A figure of the report: the exercise it belongs to, what it shows, its PNG file."""

    exercise: str
    caption: str
    path: Path


@dataclass
class Document:
    title: str
    rows: list[Row]
    description: str = ""
    quick: bool = False
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  #: the settings every run shares
    settings_title: str = "Shared settings"
    model_summary: str = ""  #: the base model's layers, as ``layerlab summary`` prints them
    plots: list[Plot] = field(default_factory=list)


def document(experiment: ExperimentSource, plots: list[Plot] | None = None) -> Document:
    table = rows(experiment.runs)
    settings = shared_settings(experiment.runs)
    model = base_model(experiment.runs)
    title = "Settings" if len(experiment.runs) == 1 else "Shared settings"
    if model and "model" not in settings:
        settings = {"model": model} | settings
        title += " (model: the base model, which some runs change)"
    return Document(
        title=experiment.title,
        rows=table,
        description=experiment.description,
        quick=experiment.quick,
        notes=experiment.notes,
        settings=settings,
        settings_title=title,
        model_summary=_summary(model, experiment),
        plots=plots or [],
    )


def _summary(model: str | None, experiment: ExperimentSource) -> str:
    """``layerlab summary``'s table of the base model on the runs' input shape; "" when unknown."""
    shapes = [run.dataset.get("input_shape") for run in experiment.runs if run.dataset.get("input_shape")]
    if not model or not shapes:
        return ""
    try:
        return parse(model, tuple(shapes[0])).summary()
    except LayerlabError:
        return ""
