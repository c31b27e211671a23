"""``TrainConfig``: every setting of a run, in one flat record.

The command-line flags, the keys of a TOML file (``--config``, an experiment's ``[settings]``) and the
keywords of ``layerlab.fit`` have the same names (``--batch-size`` is ``batch_size``). The values a
setting can take come from one registry each: optimisers and engines from ``layerlab.engine``,
schedules from ``layerlab.schedules``, initialisers from ``layerlab.spec``, augmentations from
``layerlab.augment``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from .engine import DTYPES, ENGINES, OPTIMIZERS, check_engine_options, learning_rate, optimizer_options
from .errors import TrainError
from .schedules import SCHEDULES

NIELSEN_MLP = "flatten dense(100) sigmoid dense(10)"


def _setting(default: Any, help: str, metavar: str | None = None) -> Any:
    """A field with its help text (and the flag's placeholder: ``--init-weights FILE``)."""
    return field(default=default, metadata={"help": help, "metavar": metavar})


def _names(registry) -> str:
    return ", ".join(registry)


@dataclass
class TrainConfig:
    """Every setting of a run. The command-line flags and TOML keys have the same names."""

    model: str = _setting(NIELSEN_MLP, "the model spec; the input shape comes from the data")
    data: str = _setting("mnist-small", "dataset name (layerlab datasets lists them) or an image folder/zip")
    data_dir: str | None = _setting(None, "where local copies of datasets are (else $LAYERLAB_DATA / the cache)")
    val: float | None = _setting(None, "validation fraction (MNIST uses Nielsen's 50k/10k split when None)")
    data_options: dict = field(
        default_factory=dict,
        metadata={"help": 'options of a generated dataset, e.g. {noise = 10, features = ["x1", "x2"]}'},
    )
    limit: int | None = _setting(None, "keep only the first N training images (quick runs)")
    expand: str | None = _setting(
        None, '"shift": add the 4 one-pixel shifts of every training image (Nielsen, chapter 6)'
    )
    augment: str | None = _setting(None, 'random transforms per batch, e.g. "rotate(15) elastic(alpha=34, sigma=4)"')
    engine: str = _setting("torch", " or ".join(f"{name} ({e.description})" for name, e in ENGINES.items()))
    device: str = _setting("auto", "torch engine: auto, cpu, cuda, cuda:1, mps")
    dtype: str = _setting("float32", " or ".join(DTYPES))
    autocast: str | None = _setting(None, "torch engine: bf16 runs matrix products in bfloat16 (fast on GPUs)")
    channels_last: bool = _setting(False, "torch engine: convolutions in NHWC memory layout (faster on recent GPUs)")
    compile: str | None = _setting(
        None, "torch engine: torch.compile the model: default, reduce-overhead (CUDA graphs on a GPU), max-autotune"
    )
    threads: int | None = _setting(
        None,
        "torch engine on a CPU: threads per run (default 1: one is never slowed down by a busy machine; on an idle "
        "one a CNN trains ~1.5x faster with a thread per core)",
    )
    epochs: int = _setting(10, "passes over the training set")
    batch_size: int = _setting(10, "examples per gradient step (mini-batch size m)")
    lr: float | None = _setting(None, "learning rate (eta); None: 0.1 for SGD, the optimiser's default otherwise")
    optimizer: str = _setting("sgd", _names(OPTIMIZERS))
    momentum: float | None = _setting(
        None, f"for {', '.join(n for n, o in OPTIMIZERS.items() if o.momentum)} (None: the optimiser's default)"
    )
    weight_decay: float = _setting(0.0, "the optimiser's weight decay, on every parameter")
    l1: float = _setting(0.0, "Nielsen's lambda for L1: cost + l1/n sum |w| over dense/conv weights")
    l2: float = _setting(0.0, "Nielsen's lambda for L2: cost + l2/(2n) sum w^2 over dense/conv weights")
    loss: str = _setting("cross_entropy", "cross_entropy (from logits), nll, mse, sse, bce")
    label_smoothing: float = _setting(
        0.0,
        "torch engine, cross_entropy: the target puts 1 - s on the label and s spread over all classes "
        "(Szegedy et al. 2016; airbench uses 0.2); the reported losses include it",
    )
    schedule: str = _setting(
        "constant", f"{_names(SCHEDULES)} (plateau: lower eta when validation stalls, Nielsen chapter 3)"
    )
    lr_step: int = _setting(10, "step schedule: epochs between decays")
    lr_gamma: float = _setting(0.5, "step/plateau: factor applied to the learning rate")
    lr_patience: int = _setting(
        5, "plateau: epochs without a better validation score (accuracy; regression: loss) before a decay"
    )
    lr_min: float = _setting(0.0, "cosine: final learning rate; plateau: no decay below it")
    warmup: int = _setting(0, "epochs over which the rate rises step by step from ~0 to lr (for large batches)")
    patience: int = _setting(
        0, "early stopping: epochs without a better validation score (accuracy; regression: loss); 0: off"
    )
    grad_norms: bool = _setting(
        True, "record each layer's mean gradient norm per epoch (sampled on up to 50 steps); off costs nothing"
    )
    seed: int = _setting(0, "seed of the initial weights, the example order, dropout and augmentation")
    init_weights: str | None = _setting(
        None,
        "start from the weights in this .safetensors file (a run's best/last.safetensors, a Playground "
        "export) instead of drawing them from the seed",
        "FILE",
    )
    eval_batch_size: int = _setting(1000, "batch size for evaluation (does not change results)")

    def check(self) -> None:
        """Raise a ``TrainError`` naming the first bad setting and what would be valid."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise TrainError(message)

        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {_names(OPTIMIZERS)}, got {self.optimizer!r}")
        takes_momentum = [name for name, o in OPTIMIZERS.items() if o.momentum]
        need(
            self.momentum is None or self.optimizer in takes_momentum,
            f"--momentum applies to {', '.join(takes_momentum)}, not {self.optimizer}",
        )
        need(self.dtype in DTYPES, f"--dtype must be {' or '.join(DTYPES)}, got {self.dtype!r}")
        check_engine_options(self)
        need(self.threads is None or self.threads >= 1, f"--threads must be at least 1, got {self.threads}")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.seed >= 0, f"--seed must be a whole number >= 0, got {self.seed}")
        need(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        need(
            self.lr is None or (self.lr > 0 and math.isfinite(self.lr)),
            f"--lr must be a finite number > 0, got {self.lr}",
        )
        need(0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        need(
            self.label_smoothing == 0 or self.loss == "cross_entropy",
            f"--label-smoothing smooths the targets of cross_entropy, not of {self.loss}",
        )
        need(self.l1 >= 0 and self.l2 >= 0, f"--l1 and --l2 must be >= 0, got {self.l1} and {self.l2}")
        need(self.patience >= 0, f"--patience must be >= 0 (0 turns early stopping off), got {self.patience}")
        need(self.schedule in SCHEDULES, f"--schedule must be one of {_names(SCHEDULES)}, got {self.schedule!r}")
        need(0 < self.lr_gamma <= 1, f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        need(self.lr_step >= 1 and self.lr_patience >= 1, "--lr-step and --lr-patience must be at least 1")
        need(self.warmup >= 0, f"--warmup must be >= 0 epochs (0: none), got {self.warmup}")
        need(self.val is None or 0 <= self.val < 1, f"--val must be a fraction in [0, 1), got {self.val}")
        need(self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}")
        need(self.expand in (None, "shift"), f"--expand knows only 'shift' (Nielsen, chapter 6), got {self.expand!r}")
        need(
            self.init_weights is None or self.init_weights.endswith(".safetensors"),
            f"--init-weights {self.init_weights}: not a .safetensors file; layerlab starts only from .safetensors "
            "weights (never pickles): a run's best.safetensors or last.safetensors, or a Playground export",
        )

    def resolved_lr(self) -> float:
        """The learning rate given, else the optimiser's usual one (Nielsen's eta = 0.1 for SGD)."""
        return learning_rate(self)

    def optimizer_options(self) -> dict[str, float]:
        """Keyword options for the optimiser (the same names in both engines)."""
        return optimizer_options(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "") -> TrainConfig:
        """Settings by name, each checked against its declared type; ``where`` (a file, a run) starts a message."""
        check_settings(values, where)
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def changed_from(self, other: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
        """The names of the settings whose values differ from ``other``'s."""
        return [k for k, v in self.to_dict().items() if k not in ignore and getattr(other, k) != v]


# ---------------------------------------------------------------------------------------------------
# Settings from TOML files and flags: one spelling rule, every value checked against its declared type
# ---------------------------------------------------------------------------------------------------

#: What a value of each declared type must be, in words.
_EXPECTED = {
    "int": "a whole number",
    "float": "a finite number",
    "str": "text in quotes",
    "bool": "true or false",
    "dict": 'a table such as {noise = 10, features = ["x1", "x2"]}',
}


def _fits(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, {"str": str, "bool": bool, "dict": dict}[kind])


def toml_value(value: Any) -> str:
    """A value as it would be written in TOML: strings in double quotes (escaped), lists in brackets,
    tables inline (``{ n = 500, noise = 0 }``), inf and nan as TOML spells them; anything else as Python
    writes it (an error message's wrong value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = [f"{_toml_key(key)} = {toml_value(item)}" for key, item in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return repr(value)


def _toml_key(key: Any) -> str:
    text = str(key)
    return text if text and all(c.isalnum() and c.isascii() or c in "_-" for c in text) else json.dumps(text)


def check_settings(values: dict[str, Any], where: str = "", flags: bool = False) -> None:
    """Raise ``TrainError`` for an unknown setting or a value that is not of the setting's declared type
    (a non-finite number included), naming ``where``, the key (as a flag with ``flags``), the value and
    what was expected."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    prefix = f"{where}: " if where else ""
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise TrainError(f"{prefix}unknown setting {key!r}; {hint}known settings: {', '.join(sorted(fields))}")
        kinds = fields[key].type.split(" | ")
        if value is None and "None" in kinds or any(_fits(value, kind) for kind in kinds if kind != "None"):
            continue
        expected = " or ".join(_EXPECTED[kind] for kind in kinds if kind != "None")
        shown = f"--{key.replace('_', '-')} {value}" if flags else f"{key} = {toml_value(value)}"
        meaning = fields[key].metadata.get("help", "").split(";")[0]  # what the setting is, not its default
        raise TrainError(f"{prefix}{shown}: expected {expected} ({meaning})")


def setting_names(table: dict[str, Any], where: str) -> dict[str, Any]:
    """A TOML table with its keys spelled as settings are: ``batch-size`` (the flag's spelling) is
    ``batch_size``. The same rule for ``--config`` files and every table of an experiment file."""
    out: dict[str, Any] = {}
    spelt: dict[str, str] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in out:
            raise TrainError(f"{where}: {spelt[name]} and {key} are the same setting; keep one")
        out[name], spelt[name] = value, key
    return out


#: Settings that name a file or folder. In a TOML file (``--config``, an experiment file) a relative one is
#: relative to that file's folder, wherever layerlab is started (an export's config and weights lie side by
#: side); on the command line and in ``layerlab.fit`` it is relative to the current folder, as usual.
PATH_SETTINGS = ("init_weights", "data_dir")


def paths_from(settings: dict[str, Any], folder: str | os.PathLike) -> dict[str, Any]:
    """``settings`` read from a TOML file in ``folder``, with the relative paths of ``PATH_SETTINGS`` made
    absolute from that folder (``~`` is the home folder)."""
    out = dict(settings)
    for key in PATH_SETTINGS:
        if isinstance(out.get(key), str):
            out[key] = os.path.abspath(os.path.join(folder, os.path.expanduser(out[key])))
    return out


def read_toml(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The tables of a TOML file; a missing or malformed file is a ``TrainError`` naming it (``what``: "config
    file", "experiment file")."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise TrainError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise TrainError(f"{what} {path} is a folder, not a TOML file; give the .toml file inside it") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TrainError(f"{what} {path} is not valid TOML: {e}") from None
