"""A search file: run settings, a space of hyperparameters, and how to search it.

A search is a TOML file (or a built-in name, see ``builtin/``)::

    name = "mlp"
    title = "An MLP on MNIST"
    [settings]                          # any `layerlab train` setting; strings may be templates
    data = "mnist"
    model = "flatten [dense({units}) {act}]*{layers} dense(10)"
    epochs = 10
    [space]                             # the hyperparameters and their ranges
    lr = { log = [1e-4, 1.0] }          # log-uniform float
    l2 = { choice = [0, 0.1, 1, 10] }   # one of these values
    units = { int = [10, 300] }         # uniform integer (step = 10 for every 10th)
    layers = { int = [1, 3] }
    act = { choice = ["relu", "sigmoid", "tanh"] }
    [search]
    sampler = "tpe"                     # grid, random, tpe, gp, cmaes
    pruner = "median"                   # none, median, halving, hyperband
    trials = 50                         # budget: trials and/or wall seconds
    timeout = 3600
    [quick]                             # overrides for --quick (settings and search keys)
    data = "mnist-small"
    trials = 4

A space key is either a training setting (``lr``) or a field of a template: ``{units}`` in a string
setting is replaced by the trial's value, and ``[text]*{layers}`` repeats ``text`` ``layers`` times.
Everything is checked here, before any training: an unknown key, an empty range, a wrong type, or a
template field that no space key defines is one `SearchError` naming the file, the key and what fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import TrainConfig, paths_from
from ..data import task_of
from ..errors import LayerlabError
from ..spec import parse
from ..task import Score, task_named


class SearchError(LayerlabError, ValueError):
    """A search file, space or option that cannot be used."""


#: How a parameter is drawn: the key of its table in [space].
KINDS = {
    "log": "a float drawn log-uniformly from [low, high], low > 0",
    "float": "a float drawn uniformly from [low, high] (optional step)",
    "int": "an integer drawn uniformly from [low, high] (optional step)",
    "log_int": "an integer drawn log-uniformly from [low, high], low >= 1",
    "choice": "one of a list of values (numbers, strings or booleans)",
}
SAMPLERS = {
    "grid": "every combination of the values, each once (Optuna's GridSampler)",
    "random": "independent random draws (Bergstra & Bengio, 2012)",
    "tpe": "model-based: the Tree-structured Parzen Estimator (Bergstra et al., 2011)",
    "gp": "model-based: Gaussian-process Bayesian optimisation (Snoek, Larochelle & Adams, 2012)",
    "cmaes": "evolution strategy: CMA-ES (Hansen & Ostermeier, 2001) on the numeric parameters, choices at random",
}
PRUNERS = {
    "none": "every trial trains all its epochs",
    "median": "stop a trial whose validation score (accuracy; regression: loss) is worse than the median of earlier "
    "trials at the same epoch",
    "halving": "asynchronous successive halving: keep the best fraction of trials at each rung of epochs",
    "hyperband": "Hyperband: several successive-halving brackets with different starting budgets",
}
SEARCH_KEYS = {"sampler", "pruner", "trials", "timeout", "seed", "heartbeat"}
TOP_KEYS = {"name", "title", "description", "settings", "space", "search", "quick", "notes"}
_FIELD = re.compile(r"\{([^{}]*)\}")
_REPEAT = re.compile(r"\[([^\[\]]*)\]\*\{(\w+)\}")
GRID_LIMIT = 10_000


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its name, kind (a key of ``KINDS``) and range or values."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    values: tuple = ()

    def suggest(self, trial) -> Any:
        """The value for an Optuna trial (``trial.suggest_*``)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind in ("int", "log_int"):
            step = int(self.step or 1)
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=self.kind == "log_int")
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.kind == "log")

    def grid(self) -> list | None:
        """Every value, when the parameter has finitely many (the grid sampler); else None."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step:
            count = int(round((self.high - self.low) / self.step)) + 1
            return [self.low + i * self.step for i in range(count)]
        return None

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.values))}"
        step = f" step {self.step:g}" if self.step else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{step}"


@dataclass
class SearchDefinition:
    """A parsed, checked search: run settings (strings may be templates), space and search options."""

    name: str
    title: str
    description: str
    settings: dict[str, Any]
    space: dict[str, Param]
    sampler: str = "tpe"
    pruner: str = "median"
    trials: int | None = 20
    timeout: float | None = None
    seed: int = 0
    heartbeat: int = 10  #: seconds between a running trial's heartbeats; 3x this without one: it is retried
    quick: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def config(self, params: dict[str, Any]) -> TrainConfig:
        """The run settings of one point of the space."""
        settings = {k: render(v, params) if isinstance(v, str) else v for k, v in self.settings.items()}
        settings |= {k: v for k, v in params.items() if k in _CONFIG_FIELDS}
        return TrainConfig.from_dict(settings)

    @property
    def score(self) -> Score:
        """What ranks the trials: the validation accuracy, or the validation loss (lowest first) of a
        regression set such as the Playground's plane (``Task.score``, as a run's best epoch)."""
        return task_named(task_of(str(self.settings.get("data", TrainConfig().data)))).score

    def grid(self) -> list[dict[str, Any]]:
        """Every point of a finite space, in a fixed order (the grid sampler's trials)."""
        points = [{}]
        for name, param in self.space.items():
            points = [point | {name: value} for point in points for value in param.grid()]
        return points

    def fingerprint(self) -> str:
        """A hash of what determines the trials' numbers: a study in a storage belongs to one search."""
        space = {name: dataclasses.asdict(param) for name, param in self.space.items()}
        text = json.dumps({"settings": self.settings, "space": space, "sampler": self.sampler}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def describe_budget(definition: SearchDefinition) -> str:
    parts = [f"{definition.trials} trials"] if definition.trials is not None else []
    parts += [f"{definition.timeout:g} s"] if definition.timeout is not None else []
    return " and ".join(parts)


def render(template: str, params: dict[str, Any]) -> str:
    """A template setting with the trial's values: ``[text]*{n}`` repeats text n times, ``{x}`` is x."""
    text = _REPEAT.sub(lambda m: " ".join([m.group(1).strip()] * int(params[m.group(2)])), template)
    return _FIELD.sub(lambda m: str(params[m.group(1)]), text)


def template_fields(template: str) -> list[str]:
    """The fields a template uses, repeat counts included."""
    return (
        [m.group(2) for m in _REPEAT.finditer(template)]
        + _FIELD.findall(_REPEAT.sub("", template))
        + [name for m in _REPEAT.finditer(template) for name in _FIELD.findall(m.group(1))]
    )


# ---------------------------------------------------------------------------------------------------
# Reading and checking
# ---------------------------------------------------------------------------------------------------


def builtin_searches() -> dict[str, str]:
    """Built-in searches: name -> title."""
    folder = resources.files(__package__).joinpath("builtin")
    return {
        entry.name.removesuffix(".toml"): tomllib.loads(entry.read_text())["title"]
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    }


def load_search(name_or_path: str, quick: bool = False, overrides: dict[str, Any] | None = None) -> SearchDefinition:
    """A built-in search by name or a search TOML file, checked; ``overrides`` are settings or search keys
    (``trials``, ``sampler``...) that beat the file's, e.g. from command-line flags."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SearchError(f"search file {path} does not exist")
        text, source = path.read_text(), str(path)
    else:
        builtin = resources.files(__package__).joinpath("builtin", f"{name_or_path}.toml")
        if not builtin.is_file():
            raise SearchError(
                f"unknown search {name_or_path!r}: give a .toml file or one of: {', '.join(builtin_searches())}"
            )
        text, source = builtin.read_text(), f"built-in {name_or_path}"
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SearchError(f"{source} is not valid TOML: {e}") from None
    for table in ("settings", "quick") if source == str(path) else ():  # a file's paths are from its folder
        if isinstance(document.get(table), dict):
            document[table] = paths_from(document[table], path.parent)
    return parse_search(document, source, quick, overrides or {})


def parse_search(
    document: dict[str, Any], source: str = "search", quick: bool = False, overrides: dict[str, Any] | None = None
) -> SearchDefinition:
    """Check a search document (the TOML file's tables) and return it as a ``SearchDefinition``."""

    def fail(where: str, message: str) -> SearchError:
        return SearchError(f"{source}: {where}: {message}")

    unknown = sorted(set(document) - TOP_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; a search file has {', '.join(sorted(TOP_KEYS))}")
    for table in ("settings", "space", "search", "quick"):
        if not isinstance(document.get(table, {}), dict):
            raise fail(f"[{table}]", "must be a table")
    settings = dict(document.get("settings", {}))
    options = dict(document.get("search", {}))
    for key in sorted(set(options) - SEARCH_KEYS):
        raise fail(f"[search] {key}", f"unknown key; known: {', '.join(sorted(SEARCH_KEYS))}")
    extra = dict(document.get("quick", {})) if quick else {}
    extra |= overrides or {}
    for key, value in extra.items():
        (options if key in SEARCH_KEYS else settings)[key] = value
    for key in settings:
        if key not in _CONFIG_FIELDS:
            raise fail(f"[settings] {key}", f"unknown setting; known: {', '.join(sorted(_CONFIG_FIELDS))}")

    if not document.get("space"):
        raise fail("[space]", "missing or empty: give at least one hyperparameter, e.g. lr = { log = [1e-4, 1.0] }")
    space = {name: _param(name, spec, fail) for name, spec in document["space"].items()}
    templates = {k: v for k, v in settings.items() if isinstance(v, str) and ("{" in v or "]*" in v)}
    used = {name for template in templates.values() for name in template_fields(template)}
    for key, template in templates.items():
        for name in template_fields(template):
            if name not in space:
                raise fail(
                    f"[settings] {key} = {template!r}",
                    f"template field {{{name}}} has no [space] entry; add e.g. {name} = {{ choice = [...] }}",
                )
    for name in space:
        if name in _CONFIG_FIELDS and name in settings and name not in used:
            raise fail(f"[space] {name}", "is also fixed in [settings]; keep one of the two")
        if name not in _CONFIG_FIELDS and name not in used:
            raise fail(
                f"[space] {name}",
                "is neither a training setting nor a template field; use it in a setting, "
                f'e.g. model = "... dense({{{name}}}) ...", or name a setting such as lr, l2, batch_size',
            )
    counts = {m.group(2) for template in templates.values() for m in _REPEAT.finditer(template)}
    for name in counts:
        values = space[name].grid() or []
        if space[name].kind not in ("int", "choice") or not all(isinstance(v, int) and v >= 0 for v in values):
            raise fail(f"[space] {name}", "repeats a block ([text]*{" + name + "}), so it must be whole numbers >= 0")

    definition = SearchDefinition(
        name=_string(document.get("name", Path(source).stem), "name", fail),
        title=_string(document.get("title", document.get("name", Path(source).stem)), "title", fail),
        description=_string(document.get("description", ""), "description", fail),
        settings=settings,
        space=space,
        quick=quick,
        source=source,
        notes=list(document.get("notes", [])),
        **_options(options, fail),
    )
    if definition.sampler == "grid":
        for name, param in space.items():
            if param.grid() is None:
                raise fail(
                    f"[space] {name}",
                    f"the grid sampler needs finitely many values, got {param.describe()}; "
                    "use choice = [...], int, or float with a step",
                )
        size = math.prod(len(p.grid()) for p in space.values())
        if size > GRID_LIMIT:
            raise fail("[space]", f"the grid has {size:,} points, more than {GRID_LIMIT:,}; use fewer values")
        definition.trials = size if definition.trials is None else min(definition.trials, size)
    if definition.sampler == "cmaes" and all(param.kind == "choice" for param in space.values()):
        raise fail(
            "[search] sampler = 'cmaes'",
            "CMA-ES samples int, float and log ranges, and every parameter here is a choice; use tpe or random",
        )
    _check_points(definition, fail)
    return definition


def _string(value: Any, key: str, fail) -> str:
    if not isinstance(value, str):
        raise fail(key, f"must be a string, got {value!r}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _param(name: str, spec: Any, fail) -> Param:
    where = f"[space] {name} = {spec!r}"
    if not isinstance(spec, dict):
        raise fail(where, f"expected a table such as {{ log = [1e-4, 1.0] }} with one of: {', '.join(KINDS)}")
    kinds = [k for k in spec if k in KINDS]
    extra = sorted(set(spec) - set(KINDS) - {"step"})
    if len(kinds) != 1 or extra:
        raise fail(
            where, f"expected exactly one of {', '.join(KINDS)} (and step for int/float), e.g. {{ log = [1e-4, 1.0] }}"
        )
    kind, value = kinds[0], spec[kinds[0]]
    if kind == "choice":
        if "step" in spec:
            raise fail(where, "step applies to int and float ranges, not choice")
        if not isinstance(value, list) or not value:
            raise fail(where, "expected a non-empty list of values, e.g. choice = [0, 0.1, 1, 10]")
        for v in value:
            if not isinstance(v, str | int | float | bool):
                raise fail(where, f"choice values must be numbers, strings or booleans, got {v!r}")
        if len(set(map(repr, value))) != len(value):
            raise fail(where, "choice values must differ")
        return Param(name, kind, values=tuple(value))
    if not (isinstance(value, list) and len(value) == 2 and all(map(_number, value))):
        raise fail(where, f"expected [low, high], two numbers: {KINDS[kind]}")
    low, high = value
    if not low < high:
        raise fail(where, f"empty range: low {low} must be below high {high}")
    if kind in ("int", "log_int") and not all(isinstance(v, int) for v in value):
        raise fail(where, f"expected two integers for {kind}, got {low!r} and {high!r}")
    if kind == "log" and low <= 0 or kind == "log_int" and low < 1:
        raise fail(where, f"a log range needs low > 0{' (>= 1 for integers)' if kind == 'log_int' else ''}, got {low}")
    step = spec.get("step")
    if step is not None:
        if kind in ("log", "log_int"):
            raise fail(where, "step applies to int and float ranges, not log ranges")
        if not _number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise fail(where, f"step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
    return Param(name, kind, float(low), float(high), step)


def _options(options: dict[str, Any], fail) -> dict[str, Any]:
    out = {}
    sampler = options.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise fail(f"[search] sampler = {sampler!r}", f"expected one of {', '.join(SAMPLERS)}")
    pruner = options.get("pruner", "median")
    if pruner not in PRUNERS:
        raise fail(f"[search] pruner = {pruner!r}", f"expected one of {', '.join(PRUNERS)}")
    out |= {"sampler": sampler, "pruner": pruner}
    trials = options.get("trials", None if sampler == "grid" else 20)
    if trials is not None and (not isinstance(trials, int) or isinstance(trials, bool) or trials < 1):
        raise fail(f"[search] trials = {trials!r}", "expected a whole number >= 1")
    timeout = options.get("timeout")
    if timeout is not None and (not _number(timeout) or timeout <= 0):
        raise fail(f"[search] timeout = {timeout!r}", "expected seconds > 0")
    if trials is None and timeout is None and sampler != "grid":
        raise fail("[search]", "no budget: give trials = N and/or timeout = seconds")
    for key, default, low in (("seed", 0, 0), ("heartbeat", 10, 1)):
        value = options.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise fail(f"[search] {key} = {value!r}", f"expected a whole number >= {low}")
        out[key] = value
    return out | {"trials": trials, "timeout": timeout}


def _check_points(definition: SearchDefinition, fail) -> None:
    """Settings that are wrong whatever else the trial draws fail now: every choice and both ends of every
    range, the other parameters at their first value, through the settings' and the spec's checks."""
    ends = {}
    for name, param in definition.space.items():
        values = param.grid() if param.kind == "choice" else [param.low, param.high]
        ends[name] = [int(v) for v in values] if param.kind in ("int", "log_int") else values
    base = {name: values[0] for name, values in ends.items()}
    points = [base | {name: value} for name, values in ends.items() for value in values]
    for point in points:
        try:
            config = definition.config(point)
            config.check()
            parse(config.model)
        except (LayerlabError, TypeError) as e:  # TypeError: a setting of the wrong type, e.g. epochs = "ten"
            raise fail("[settings] + [space]", f"at {point}: {e}") from None
        if config.val == 0:
            raise fail("[settings] val", f"a search chooses by {definition.score.name}, so val must be > 0 (or unset)")
