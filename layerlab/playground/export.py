"""What an export gives besides the weights: a ``layerlab train`` config and a Python snippet.

The config trains the same set-up (data set, features, network, learning rate, batch size, penalty) with
``layerlab train`` on the numpy engine, starting from the exported weights (``init_weights``, a path
relative to the config file's folder: the two files are downloaded side by side); the snippet loads the
exported weights and continues training them with the same learning rule the page uses. The Images
page's export is the same pair for the torch engine: a config, and a notebook cell calling ``layerlab.fit``.
"""

from __future__ import annotations

import json

from ..config import toml_value
from .image_protocol import AUGMENTATIONS, ImageSettings
from .protocol import Settings


def _penalty_keys(settings: Settings, n_train: int) -> dict[str, float]:
    """layerlab's Nielsen-style lambda is divided by the training points; Playground's rate is not."""
    if settings.regularization == "none" or settings.rate == 0:
        return {}
    return {settings.regularization: settings.rate * n_train}


def train_config(settings: Settings, model: str, loss: str, n_train: int, weights_file: str) -> str | None:
    """TOML for ``layerlab train --config`` that continues from ``weights_file`` (a name next to the config
    file), or None for uploaded data (not a layerlab dataset)."""
    s = settings
    if s.data == "upload":
        return None
    features = ", ".join(json.dumps(f) for f in s.features)
    lines = [
        "# The playground's set-up for `layerlab train --config` (numpy engine), continuing from the exported",
        "# weights: init_weights is relative to this file's folder (keep the two files side by side).",
        f"init_weights = {json.dumps(weights_file)}",
        f"model = {json.dumps(model)}",
        f"data = {json.dumps(s.data)}",
        f"data_options = {{ n = {s.points}, noise = {s.noise}, train_ratio = {s.ratio / 100:g}, "
        f"features = [{features}] }}",
        "val = 0.0",
        'engine = "numpy"',
        f"loss = {json.dumps(loss)}",
        'optimizer = "sgd"',
        f"lr = {s.lr!r}",
        f"batch_size = {s.batch}",
        "epochs = 500",
        f"seed = {s.seed}",
    ]
    for key, value in _penalty_keys(s, n_train).items():
        lines.append(f"{key} = {value!r}  # Playground's rate {s.rate:g} x {n_train} training points")
    return "\n".join(lines) + "\n"


def python_snippet(settings: Settings, weights_file: str, loss: str, n_train: int) -> str:
    """Python that loads the exported weights and continues training them as the page does."""
    s = settings
    if s.data == "upload":
        data = f"""upload = json.loads(meta["upload"])
points, labels = np.array(upload["points"], np.float32), np.array(upload["labels"])
if upload["problem"] == "regression":
    labels = labels.astype(np.float32).reshape(-1, 1)
order = np.random.default_rng({s.seed}).permutation(len(points))
points, labels = points[order], labels[order]
n_train = min(max(1, round(len(points) * {s.ratio} / 100)), len(points) - 1)
features = {list(s.features)!r}
train_x, train_y = features_of(points[:n_train], features), labels[:n_train]
test_x, test_y = features_of(points[n_train:], features), labels[n_train:]"""
    else:
        data = f"""data = make({s.data!r}, n={s.points}, noise={s.noise}, train_ratio={s.ratio / 100:g}, seed={s.seed},
            features={list(s.features)!r})
train_x, train_y, test_x, test_y = data.train.x, data.train.y, data.test.x, data.test.y"""
    penalty = "None"
    if s.regularization != "none" and s.rate:
        penalty = f"Penalties(({s.regularization.upper()}({s.rate!r}),))"
    return f"""import json

import numpy as np

from layerlab import parse
from layerlab.data.playground import features_of, make
from layerlab.numpy import L1, L2, SGD, build
from layerlab.numpy.regularizers import Penalties
from layerlab.weights import load_weights

state, meta = load_weights({weights_file!r})
model = build(parse(meta["spec"]), state=state, loss={loss!r})
{data}
optimizer, penalty = SGD(lr={s.lr!r}), {penalty}
rng = np.random.default_rng([{s.seed}, 3])
start = int(meta["epoch"])
for epoch in range(start + 1, start + 101):
    order = rng.permutation(len(train_x))
    for first in range(0, len(order), {s.batch}):
        batch = order[first : first + {s.batch}]
        model.train_step(train_x[batch], train_y[batch], optimizer, penalty)
test_loss = model.evaluate(test_x, test_y)[0]
print(f"epoch {{epoch}}: test loss {{test_loss:.4f}} ({loss})")
"""


# -- the Images page ------------------------------------------------------------------------------------


def _image_keys(settings: ImageSettings, model: str, weights_file: str) -> dict:
    """The ``TrainConfig`` settings of an Images session (torch engine), starting from ``weights_file``."""
    keys = {
        "init_weights": weights_file,
        "model": model,
        "data": settings.data,
        "engine": "torch",
        "optimizer": settings.optimizer,
        "lr": settings.lr,
        "batch_size": settings.batch,
        "epochs": 10,
        "seed": settings.seed,
    }
    if settings.l2:
        keys["l2"] = settings.l2
    if AUGMENTATIONS[settings.augment]:
        keys["augment"] = AUGMENTATIONS[settings.augment]
    return keys


def image_train_config(settings: ImageSettings, model: str, weights_file: str) -> str:
    """TOML for ``layerlab train --config`` that continues an Images session from ``weights_file`` (a name
    next to the config file)."""
    lines = [
        "# The Images playground's set-up for `layerlab train --config` (torch engine), continuing from the",
        "# exported weights: init_weights is relative to this file's folder (keep the two files side by side).",
    ]
    lines += [f"{key} = {toml_value(value)}" for key, value in _image_keys(settings, model, weights_file).items()]
    return "\n".join(lines) + "\n"


def image_notebook_cell(settings: ImageSettings, model: str, weights_file: str, name: str) -> str:
    """A notebook cell that continues the session from the exported weights with ``layerlab.fit``."""
    keys = _image_keys(settings, model, weights_file)
    arguments = "".join(f"    {key}={value!r},\n" for key, value in keys.items())
    return f"""import layerlab

# the Images playground's set-up, continuing from the weights it exported: put {weights_file} next to this notebook
run = layerlab.fit(
{arguments}    out="runs/{name}",
)
run
"""
