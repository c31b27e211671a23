"""One browser tab's training session: its data, its numpy network, the frames the page draws.

The network is built from the spec text the controls describe (``input(F) dense(4) tanh dense(2) tanh
dense(1) sigmoid``) and trained by the numpy engine's own forward and backward passes with plain SGD,
one mini-batch at a time, as TensorFlow Playground does. The output unit differs from Playground's in
form only: a sigmoid p on labels 0/1 with mean squared error, where Playground has tanh on labels -1/+1
with half the squared error; the page shows Playground's loss, which is 2 x our mse (regression: a
linear output, Playground's loss is mse / 2). Three or more classes get a softmax output.

A frame holds what the page draws: the losses, the output over a grid of the plane (the heat map), every
hidden neuron's output over a coarser grid, the weights and biases, and the explanation of one neuron.
Heat maps are bytes (0 = -1, 255 = +1), rows from the top of the plane down; the hidden neurons' maps
all in one byte string. The server sends a frame as one binary WebSocket message (``protocol.pack_frame``).
One forward pass over the training points, the test points and the grid (whose features are computed
once per network) gives the losses and every map of a frame.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import safetensors.numpy

from ..data.playground import EXTENT, features_of, grid, make
from ..numpy import SGD, build
from ..numpy.regularizers import L1, L2, Penalties
from ..spec import parse
from ..task import task_named
from ..weights import WeightsError, weights_from_bytes
from . import tasks
from .export import python_snippet, train_config
from .protocol import Edit, ProtocolError, Settings, Upload, settings_from, upload_from_json

GRID = 50  # the output heat map is GRID x GRID
NEURON_STEP = 2  # neuron heat maps take every 2nd grid point: 25 x 25
EXPLAIN_ROWS = 10  # samples of the batch shown in the explanation


@dataclass
class Data:
    """Raw points (N, 2), labels, and what they are."""

    train_points: np.ndarray
    train_labels: np.ndarray  # class indices (N,) int64, or targets (N, 1) float32
    test_points: np.ndarray
    test_labels: np.ndarray
    problem: str
    classes: tuple[str, ...]
    extent: float


def encode(values: np.ndarray) -> bytes:
    """Values in [-1, 1] (clipped; NaN as 0) as bytes, 0 for -1 and 255 for +1."""
    scaled = np.clip(values, -1, 1)
    scaled += 1
    scaled *= 127.5
    np.rint(scaled, out=scaled)
    return np.nan_to_num(scaled, nan=128.0).astype(np.uint8).tobytes()


class Session:
    """The state of one tab; every method runs to completion (the server calls them one at a time)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.upload: Upload | None = None
        self.rev = 0
        self.explain_neuron: tuple[int, int] | None = None
        self.message = ""  # why training stopped (a diverged loss), shown once
        self._build_data()
        self._build_network()

    # -- set-up --------------------------------------------------------------------------------------

    def configure(self, settings: Settings, rev: int = 0) -> dict[str, bool]:
        """Take new settings; rebuilds the data and/or the network only when their fields changed."""
        old = self.settings
        if settings.data == "upload" and self.upload is None:
            raise ProtocolError("data is 'upload' but no CSV file was uploaded in this tab; upload one first")
        if self.upload is not None and settings.data == "upload" and settings.problem != self.upload.problem:
            raise ProtocolError(f"the uploaded data is a {self.upload.problem} problem; problem must match it")
        self.settings, self.rev = settings, rev
        data = any(getattr(old, f) != getattr(settings, f) for f in Settings.DATA_FIELDS)
        network = data or any(getattr(old, f) != getattr(settings, f) for f in Settings.NETWORK_FIELDS)
        if data:
            self._build_data()
        if network:
            self._build_network()
        else:
            self.optimizer.lr = settings.lr
            self.penalty = _penalty(settings)
        return {"data": data, "network": network}

    def set_upload(self, upload: Upload) -> None:
        self.upload = upload
        self.settings = replace(self.settings, data="upload", problem=upload.problem, seed=0, task=0)
        self._build_data()
        self._build_network()

    def _build_data(self) -> None:
        s = self.settings
        if s.data == "upload":
            assert self.upload is not None
            u = self.upload
            order = np.random.default_rng(s.seed).permutation(len(u.points))
            points, labels = u.points[order], u.labels[order]
            n_train = min(max(1, round(len(points) * s.ratio / 100)), len(points) - 1)
            if not task_named(u.problem).has_classes:
                labels = labels.reshape(-1, 1)
            extent = float(np.abs(u.points).max()) * 1.1 or 1.0
            self.data = Data(
                points[:n_train], labels[:n_train], points[n_train:], labels[n_train:], u.problem, u.classes, extent
            )
        else:
            d = make(s.data, n=s.points, noise=s.noise, train_ratio=s.ratio / 100, seed=s.seed)
            self.data = Data(
                d.info["points"]["train"], d.train.y, d.info["points"]["test"], d.test.y, d.task, d.classes, EXTENT
            )
        self.order_rng = np.random.default_rng([s.seed, 3])

    @property
    def n_classes(self) -> int:
        return len(self.data.classes) if task_named(self.data.problem).has_classes else 0

    def spec_text(self) -> str:
        """The network as a spec without its input: hidden layers, then the output layer."""
        s = self.settings
        hidden = [f"dense({n}) {s.activation}" for n in s.hidden]
        if self.n_classes > 2:
            output = f"dense({self.n_classes}) softmax"
        else:
            output = "dense(1) sigmoid" if self.n_classes == 2 else "dense(1) linear"
        return " ".join([*hidden, output])

    @property
    def loss_name(self) -> str:
        return "nll" if self.n_classes > 2 else "mse"

    def _build_network(self) -> None:
        s = self.settings
        self.features = s.features
        self.x_train = features_of(self.data.train_points, s.features)
        self.x_test = features_of(self.data.test_points, s.features)
        self.spec = parse(self.spec_text(), (len(s.features),))
        self.model = build(self.spec, seed=s.init, loss=self.loss_name)
        self.optimizer = SGD(lr=s.lr)
        self.params = self.model.params  # updated in place: one dict per network, not one per step
        self.param_keys = [(f"{i}.{k}", layer, k) for i, layer in enumerate(self.model.layers) for k in layer.params]
        self.penalty = _penalty(s)
        self.epoch = 0
        self.position = 0
        self.order = self.order_rng.permutation(len(self.x_train))
        self.message = ""
        self.grid_x = grid(s.features, GRID, self.data.extent)[2]
        self.x_all = self.model.as_input(np.concatenate([self.x_train, self.x_test, self.grid_x]))
        if self.explain_neuron is not None:
            try:
                self.select(self.explain_neuron)
            except ProtocolError:  # its layer or unit is gone
                self.explain_neuron = None

    # -- training ------------------------------------------------------------------------------------

    def _next_batch(self) -> np.ndarray:
        return self.order[self.position : self.position + self.settings.batch]

    def step(self) -> bool:
        """One mini-batch step; False (weights untouched) when the loss is not finite."""
        batch = self._next_batch()
        with np.errstate(all="ignore"):  # an overflow is reported once, as the message below
            loss = self.model.loss_and_grads(self.x_train[batch], self.data.train_labels[batch], self.penalty)
        if not math.isfinite(loss):
            self.message = (
                f"the training loss became {loss} at epoch {self.epoch + 1}: the learning rate {self.settings.lr:g} "
                "is too large for this network; lower it and press reset"
            )
            return False
        self.optimizer.step(self.params, {name: layer.grads[key] for name, layer, key in self.param_keys})
        self.position += len(batch)
        if self.position >= len(self.order):
            self.epoch += 1
            self.position = 0
            self.order = self.order_rng.permutation(len(self.x_train))
        return True

    def advance(self, epochs: int, budget: float = math.inf) -> bool:
        """Train ``epochs`` epochs, or fewer when ``budget`` seconds run out (at least one step).

        Returns False when the loss diverged (training stops; ``message`` says why).
        """
        started, goal = time.perf_counter(), self.epoch + epochs
        while self.epoch < goal:
            if not self.step():
                return False
            if time.perf_counter() - started > budget:
                break
        return True

    # -- what the page draws -------------------------------------------------------------------------

    def _forward_all(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """One test-mode forward pass over the training points, the test points and the grid at once
        (one matrix product per layer, not three); returns the output and each hidden layer's output."""
        x = self.x_all
        hidden = []
        last = len(self.model.layers) - 1
        for i, layer in enumerate(self.model.layers):
            x = layer.forward(x, False)
            if i % 2 == 1 and i < last:  # a hidden layer's activation output
                hidden.append(x)
        return x, hidden

    def losses(self, output: np.ndarray | None = None) -> dict[str, float | None]:
        """Train and test loss, ours and on Playground's scale, and the accuracy of a classifier."""
        if output is None:
            output = self._forward_all()[0]
        n_train, n_test = len(self.x_train), len(self.x_test)
        result: dict[str, float | None] = {}
        for part, out, y in (
            ("train", output[:n_train], self.data.train_labels),
            ("test", output[n_train : n_train + n_test], self.data.test_labels),
        ):
            loss = self.model.loss.forward(out, y)
            result[f"{part}_loss"] = _finite(loss)
            if self.n_classes == 2:
                result[f"{part}_playground"] = _finite(2 * loss)  # 1/2 (o - y)^2 on -1/+1 = 2 (p - t)^2
            elif self.n_classes == 0:
                result[f"{part}_playground"] = _finite(loss / 2)  # 1/2 (o - y)^2 = mse / 2
            else:
                result[f"{part}_playground"] = None  # Playground has no loss for 3+ classes
            if self.n_classes:
                predicted = self.model.loss.probabilities(out).argmax(axis=1)
                result[f"{part}_accuracy"] = float((predicted == y).mean())
        return result

    def maps(self, output: np.ndarray | None = None, hidden: list[np.ndarray] | None = None) -> dict[str, Any]:
        """The output heat map and every hidden neuron's, over the grid (forward pass in test mode).

        The hidden neurons' maps are one byte string: neuron after neuron, layer after layer, each
        ``neuron_grid`` x ``neuron_grid`` bytes (one encoding per frame, not one per neuron).
        """
        if output is None or hidden is None:
            output, hidden = self._forward_all()
        start = len(self.x_train) + len(self.x_test)
        if hidden:
            on_grid = np.concatenate([h[start:] for h in hidden], axis=1).reshape(GRID, GRID, -1)
            images = on_grid[::-1][::NEURON_STEP, ::NEURON_STEP].transpose(2, 0, 1)
            neurons = encode(images)
        else:
            neurons = b""
        out = output[start:].reshape(GRID, GRID, -1)[::-1]
        if self.n_classes > 2:
            return {
                "output": out.argmax(axis=2).astype(np.uint8).tobytes(),
                "confidence": encode(out.max(axis=2) * 2 - 1),
                "neurons": neurons,
            }
        value = out[:, :, 0] * 2 - 1 if self.n_classes == 2 else out[:, :, 0]
        return {"output": encode(value), "neurons": neurons}

    def frame(self, playing: bool = False) -> dict[str, Any]:
        """Everything the page redraws after training: losses, heat maps, weights, an explanation."""
        with np.errstate(all="ignore"):
            return self._frame(playing)

    def _frame(self, playing: bool) -> dict[str, Any]:
        dense = self.model.layers[::2]
        output, hidden = self._forward_all()
        weights = _round_each([layer.params[name] for name in ("weight", "bias") for layer in dense], 4)
        frame = {
            "type": "frame",
            "rev": self.rev,
            "epoch": self.epoch,
            "playing": playing,
            **self.losses(output),
            **self.maps(output, hidden),
            "weights": weights[: len(dense)],
            "biases": weights[len(dense) :],
        }
        target = tasks.target(self.settings.task)
        if target is not None and self.n_classes == 2:
            test = frame["test_playground"]
            frame["target"] = {"value": target, "met": test is not None and test < target}
        if self.explain_neuron is not None:
            frame["explain"] = self.explain(*self.explain_neuron)
        if self.message:
            frame["message"], self.message = self.message, ""
        return frame

    def data_message(self) -> dict[str, Any]:
        """The points (sent when the data change): train and test as [x1, x2, label] rows."""

        def rows(points: np.ndarray, labels: np.ndarray) -> list[list[float]]:
            flat = labels.reshape(len(labels), -1)[:, 0]
            return _round(np.column_stack([points, flat]), 4)

        d = self.data
        return {
            "type": "data",
            "problem": d.problem,
            "classes": list(d.classes),
            "extent": d.extent,
            "train": rows(d.train_points, d.train_labels),
            "test": rows(d.test_points, d.test_labels),
            "grid": GRID,
            "neuron_grid": len(range(0, GRID, NEURON_STEP)),
            "spec": str(self.spec),
            "settings": self.settings.to_json(),
            "note": self.upload.note if self.upload is not None and self.settings.data == "upload" else "",
        }

    # -- editing one weight or bias -------------------------------------------------------------------

    def edit(self, change: Edit) -> None:
        """Set one weight or bias, as clicking a link or a neuron does in TensorFlow Playground."""
        widths = [len(self.features), *self.settings.hidden, self.model.layers[-2].params["bias"].shape[0]]
        if change.layer >= len(widths) or change.unit >= widths[change.layer]:
            raise ProtocolError(
                f"edit: there is no neuron {change.unit} in layer {change.layer}; the layers have {widths[1:]} neurons"
            )
        dense = self.model.layers[2 * (change.layer - 1)]
        if change.param == "bias":
            dense.params["bias"][change.unit] = change.value
            return
        assert change.input is not None
        if change.input >= widths[change.layer - 1]:
            source = "features" if change.layer == 1 else f"neurons in layer {change.layer - 1}"
            raise ProtocolError(
                f"edit: layer {change.layer}'s neurons have {widths[change.layer - 1]} inputs ({source}), "
                f"no input {change.input}"
            )
        dense.params["weight"][change.unit, change.input] = change.value

    # -- the neuron explanation ----------------------------------------------------------------------

    def select(self, neuron: tuple[int, int] | None) -> None:
        if neuron is not None:
            layer, unit = neuron
            widths = [*self.settings.hidden, self.model.layers[-2].params["bias"].shape[0]]
            if layer > len(widths) or unit >= widths[layer - 1]:
                raise ProtocolError(
                    f"explain: there is no neuron {unit} in layer {layer}; the layers have {widths} neurons"
                )
        self.explain_neuron = neuron

    def explain(self, layer: int, unit: int) -> dict[str, Any]:
        """What neuron ``unit`` of ``layer`` (1 = first hidden layer) does on the next training batch.

        Reads the engine's recorded pass on that batch with the current weights (``Model.recorded_pass``:
        each layer's input, output and dL/d(output)): the neuron's weighted sum e, its output y = f(e),
        its error signal d = dL/de, and the step SGD will take on its incoming weights,
        dw_i = -lr (sum over the batch of d x_i + the penalty's gradient). Nothing is updated.
        """
        model, batch = self.model, self._next_batch()
        tape = model.recorded_pass(self.x_train[batch], self.data.train_labels[batch])
        dense_index = 2 * (layer - 1)
        dense = model.layers[dense_index]
        w, b = dense.params["weight"][unit], float(dense.params["bias"][unit])
        grad = tape.grads[f"{dense_index}.weight"][unit]
        if self.penalty is not None:
            grad += self.penalty.grad(dense.params["weight"])[unit]
        x_in = tape.inputs[dense_index]
        e = tape.outputs[dense_index][:, unit]
        y = tape.outputs[dense_index + 1][:, unit]
        d_e = tape.d_outputs[dense_index][:, unit]
        names = list(self.features) if layer == 1 else [f"h{layer - 1}.{k}" for k in range(x_in.shape[1])]
        rows = min(EXPLAIN_ROWS, len(batch))
        return {
            "layer": layer,
            "unit": unit,
            "output_layer": layer == len(self.settings.hidden) + 1,
            "activation": type(model.layers[dense_index + 1]).__name__.lower(),
            "inputs": names,
            "weights": _round(w, 5),
            "bias": round(b, 5),
            "batch_size": len(batch),
            "step": self.position // max(1, self.settings.batch) + 1,
            "x": _round(x_in[:rows], 4),
            "e": _round(e[:rows], 5),
            "y": _round(y[:rows], 5),
            "d": [float(f"{v:.4g}") for v in d_e[:rows]],
            "delta_w": [float(f"{v:.4g}") for v in -self.settings.lr * grad],
            "delta_b": float(f"{-self.settings.lr * float(tape.grads[f'{dense_index}.bias'][unit]):.4g}"),
            "lr": self.settings.lr,
        }

    # -- export and import ---------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The weights (.safetensors, with the spec and the page's settings as metadata), a config for
        ``layerlab train`` and a Python snippet, both of which continue training from the weights."""
        s = self.settings
        metadata = {"spec": str(self.spec), "playground": json.dumps(s.to_json()), "epoch": str(self.epoch)}
        if s.data == "upload":
            assert self.upload is not None
            metadata["upload"] = json.dumps(self.upload.to_json())
        weights = safetensors.numpy.save(self.model.state_dict(), metadata=metadata)
        name = f"playground-{s.data}-epoch{self.epoch}"
        config = train_config(s, self.spec_text(), self.loss_name, len(self.x_train), f"{name}.safetensors")
        return {
            "type": "export",
            "name": name,
            "spec": str(self.spec),
            "weights": base64.b64encode(weights).decode(),
            "config": config,
            "command": None if config is None else f"layerlab train --config {name}.toml --out runs/{name}",
            "python": python_snippet(s, f"{name}.safetensors", self.loss_name, len(self.x_train)),
        }

    def import_weights(self, blob: bytes) -> None:
        """Restore an export: the settings (and uploaded points) from its metadata, then its weights."""
        try:
            state, metadata = weights_from_bytes(blob)
        except WeightsError as e:  # any malformed file: one message, never a crash
            raise ProtocolError(f"import: {e}; import a file that Export model saved") from None
        if not isinstance(metadata, dict) or "playground" not in metadata or "spec" not in metadata:
            raise ProtocolError("import: the file has no playground settings; export it from the playground page")
        try:
            settings = settings_from(json.loads(metadata["playground"]))
            upload = upload_from_json(json.loads(metadata["upload"])) if settings.data == "upload" else None
        except (json.JSONDecodeError, KeyError):
            raise ProtocolError("import: the file's playground settings are incomplete or not valid JSON") from None
        old = (self.settings, self.upload)
        self.settings, self.upload = settings, upload
        try:
            self._build_data()
            self._build_network()
            if str(self.spec) != metadata["spec"]:
                raise ProtocolError(f"import: the weights are for {metadata['spec']}, the settings build {self.spec}")
            self.model.load_state_dict(state)
        except ValueError as e:
            self.settings, self.upload = old
            self._build_data()
            self._build_network()
            raise ProtocolError(f"import: {e}") from None
        self.epoch = int(metadata.get("epoch", "0")) if metadata.get("epoch", "").isdigit() else 0


def _penalty(settings: Settings) -> Penalties | None:
    """Playground's regularisation: rate x |w| (L1) or rate x w^2 / 2 (L2) on every weight, per step."""
    if settings.regularization == "none" or settings.rate == 0:
        return None
    return Penalties(((L1 if settings.regularization == "l1" else L2)(settings.rate),))


def _round(values: np.ndarray, digits: int) -> list:
    """Rounded, as float64 first (a float32 prints as 0.30000001192092896 in JSON); a diverged value
    shows as +-1e9 (JSON has no infinity), with the frame's message saying what happened."""
    return _rounded(np.asarray(values, dtype=np.float64), digits).tolist()


def _rounded(array: np.ndarray, digits: int) -> np.ndarray:
    """A float64 array with NaN as 0 and infinities as +-1e9, rounded (``_round``'s rule)."""
    return np.round(np.nan_to_num(array, nan=0.0, posinf=1e9, neginf=-1e9), digits)


def _round_each(arrays: list[np.ndarray], digits: int) -> list[list]:
    """``[_round(a, digits) for a in arrays]``, cleaned and rounded in one pass over all of them (a frame's
    weights and biases: two numpy calls per frame, not two per layer)."""
    flat = _rounded(np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]), digits)
    ends = np.cumsum([a.size for a in arrays]).tolist()
    return [flat[end - a.size : end].reshape(a.shape).tolist() for a, end in zip(arrays, ends, strict=True)]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
