"""The explanation as data (``Step``: one line, ``Trace``: the worked training step) and its forms:
text (what ``layerlab explain`` prints), Markdown, HTML for a notebook, JSON."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

LOSS_TEXT = {
    "sse": "E_total = sum of 1/2 (target - out)^2 over the outputs",
    "mse": "E_total = mean of (out - target)^2 over the outputs",
    "cross_entropy": "E_total = -sum of target log softmax(out) (the outputs are logits)",
    "nll": "E_total = -sum of target log out (the outputs are probabilities)",
    "bce": "E_total = mean of -t log sigmoid(out) - (1 - t) log(1 - sigmoid(out))",
}


def num(value: float) -> str:
    """A number as the worked example prints it: 9 decimals, trailing zeros dropped (0.74136507)."""
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) < 1e-4 or abs(value) >= 1e6:
        return f"{value:.6e}"
    return f"{value:.9f}".rstrip("0").rstrip(".")


@dataclass
class Step:
    """One line of the explanation: ``name = formula = numbers = value``."""

    section: str
    name: str
    formula: str
    numbers: str
    value: float
    shown: str = ""  #: the value as printed, when not ``num(value)``

    def __post_init__(self) -> None:
        self.value = float(self.value)
        self.shown = self.shown or num(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "formula": self.formula,
            "numbers": self.numbers,
            "value": self.value,
            "shown": self.shown,
        }


@dataclass
class Trace:
    """One worked training step of a small network, number by number: the forward pass, every
    backward step and the error before and after the update (what ``layerlab explain`` prints)."""

    model: str
    loss: str
    lr: float
    input: list[float]
    target: list[float]
    layers: list[dict[str, Any]]
    error_before: float
    error_after: float
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "loss": self.loss,
            "lr": self.lr,
            "input": self.input,
            "target": self.target,
            "layers": self.layers,
            "error": {"before": self.error_before, "after": self.error_after},
            "steps": [s.to_dict() for s in self.steps],
            "notes": self.notes,
        }

    def value(self, name: str) -> float:
        """The value of the step called ``name`` (e.g. ``"out_h1"``, ``"w5+"``)."""
        for step in self.steps:
            if step.name == name:
                return step.value
        raise KeyError(name)

    @property
    def values(self) -> dict[str, float]:
        """Every step's value by its name: ``{"net_h1": 0.3775, "out_h1": 0.593269992, ...}``."""
        return {step.name: step.value for step in self.steps}

    @property
    def text(self) -> str:
        """What ``layerlab explain`` prints."""
        return render_text(self)

    @property
    def markdown(self) -> str:
        """What ``layerlab explain --format markdown`` prints."""
        return render_markdown(self)

    def __repr__(self) -> str:
        return render_text(self)

    def _repr_markdown_(self) -> str:
        return render_markdown(self)

    def _repr_html_(self) -> str:
        return render_html(self)


SECTION_TITLES = {
    "forward": "The forward pass",
    "error": "The total error",
    "backward, output layer": "The backward pass: output layer",
    "backward, hidden layer": "The backward pass: hidden layers (with the weights before the update)",
    "after the update": "After one update",
}


def _examples(values: list) -> str:
    """One example's numbers, or a batch's examples separated by ';'."""
    rows = values if values and isinstance(values[0], list) else [values]
    return "; ".join(", ".join(map(num, row)) for row in rows)


def _header(tr: Trace) -> list[str]:
    return [
        f"model: {tr.model}",
        f"input: {_examples(tr.input)}   target: {_examples(tr.target)}   "
        f"loss: {tr.loss} ({LOSS_TEXT[tr.loss]})   eta: {num(tr.lr)}",
    ]


def _line(step: Step) -> str:
    parts = [step.name]
    if step.formula:
        parts.append(step.formula)
    if step.numbers and step.numbers != step.formula:
        parts.append(step.numbers)
    parts.append(step.shown)
    return " = ".join(parts)


def render_text(tr: Trace) -> str:
    lines = _header(tr)
    section = None
    for step in tr.steps:
        if step.section != section:
            section = step.section
            title = SECTION_TITLES.get(section, section)
            lines += ["", title, "-" * len(title)]
        lines.append("  " + _line(step))
    lines += ["", *(f"note: {n}" for n in tr.notes)]
    return "\n".join(lines)


def render_markdown(tr: Trace) -> str:
    lines = [f"**{h.split(':', 1)[0]}**:{h.split(':', 1)[1]}" for h in _header(tr)[:1]]
    lines.append("")
    lines.append(_header(tr)[1])
    section = None
    for step in tr.steps:
        if step.section != section:
            section = step.section
            lines += [
                "",
                f"### {SECTION_TITLES.get(section, section)}",
                "",
                "| quantity | formula | numbers | value |",
                "|---|---|---|---:|",
            ]
        cells = [step.name, step.formula, step.numbers if step.numbers != step.formula else "", step.shown]
        lines.append("| " + " | ".join(f"`{c}`" if c and i < 3 else c for i, c in enumerate(cells)) + " |")
    lines += ["", *(f"> {n}" for n in tr.notes)]
    return "\n".join(lines)


def render_html(tr: Trace) -> str:
    """The Markdown form's tables as HTML, for a notebook's output."""
    e = html.escape
    header = _header(tr)
    parts = [f"<p><b>model</b>: <code>{e(tr.model)}</code><br>{e(header[1])}</p>"]
    section = None
    for step in tr.steps:
        if step.section != section:
            if section is not None:
                parts.append("</table>")
            section = step.section
            parts += [
                f"<h4>{e(SECTION_TITLES.get(section, section))}</h4>",
                "<table><tr><th>quantity</th><th>formula</th><th>numbers</th><th>value</th></tr>",
            ]
        numbers = step.numbers if step.numbers != step.formula else ""
        texts = (step.name, step.formula, numbers)
        cells = "".join(f"<td><code>{e(c)}</code></td>" if c else "<td></td>" for c in texts)
        parts.append(f'<tr>{cells}<td style="text-align: right">{e(step.shown)}</td></tr>')
    if section is not None:
        parts.append("</table>")
    parts += [f"<blockquote>{e(note)}</blockquote>" for note in tr.notes]
    return "\n".join(parts)


def render_json(tr: Trace) -> str:
    return json.dumps(tr.to_dict(), indent=2)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
