"""One browser tab's Images session: a network learning the digits on the torch engine, and its frames.

The network is the spec the page describes (a preset of Lab 4A or Nielsen's ladder, or any spec that fits
1x28x28 and ends in 10 scores), trained by the torch engine's own ``TorchTrainable`` (``make_trainable``
with a ``TrainConfig``, as ``layerlab train`` does): each frame trains a slice of the epoch's order, as
many mini-batches as fit in the frame's time. A frame carries what changed since the last one:

- the new points of the learning curves (training loss and accuracy since the last point, validation
  loss and accuracy), the validation accuracy;
- when the network was measured again: the test set's confusion matrix and misclassified digits (a digit's
  pixels travel once per session);
- the activation maps of every activation layer (and the output) for the chosen test image or the drawn
  digit, and its top-3 classes;
- when the weights changed: the first layer's filters, and each weight's gradient norm over the slice.

Measuring the 1,000 validation and 1,000 test images of mnist-small (the first 2,000 of MNIST's) takes
the small models a few milliseconds and a CNN tens of them; it is done again once its cost is at most a
quarter of the time since the last one, so that training keeps most of the core. Maps and filters travel
as bytes (base64), 0-255 over each map's range.
A drawn digit is prepared as ``layerlab predict`` prepares a file (``data.images.prepare``: inverted when
dark on light, scaled into a 20x20 box, centred by its centre of mass in 28x28, as MNIST's digits).
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ..config import TrainConfig
from ..data import load
from ..data.images import prepare
from ..engine import make_trainable
from ..errors import LayerlabError
from ..spec import KINDS, parse
from ..weights import weights_from_bytes, weights_to_bytes
from .export import image_notebook_cell, image_train_config
from .image_protocol import IMAGE_LIMITS, INPUT_SHAPE, ImageSettings, image_settings_from, model_text
from .protocol import ProtocolError

MAX_MAPS = 16  # activation maps (channels) shown per layer
MAX_UNITS = 200  # units shown of a dense layer's output
MAX_FILTERS = 32  # first-layer filters shown (a dense layer's first units as 28x28 images)
MISCLASSIFIED = 24  # misclassified test digits shown
EVAL_SHARE = 4  # measure again when the time since the last measurement is EVAL_SHARE x its cost
MEASURED = 2000  # the validation and test images measured live: the first 2,000 of MNIST's 10,000


def _bytes(values: np.ndarray, symmetric: bool = False) -> str:
    """Values scaled to 0-255 over their range (``symmetric``: -m..m with 0 at 128), base64."""
    values = np.nan_to_num(np.asarray(values, np.float64))
    if symmetric:
        top = float(np.abs(values).max()) or 1.0
        scaled = (values / top + 1) * 127.5
    else:
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        scaled = (values - low) / ((high - low) or 1.0) * 255
    return base64.b64encode(np.rint(scaled).clip(0, 255).astype(np.uint8).tobytes()).decode()


class ImageSession:
    """The state of one Images tab; every method runs to completion (the server calls them one at a time)."""

    def __init__(self, settings: ImageSettings | None = None, data_dir: str | None = None):
        self.settings = settings or ImageSettings()
        self.data_dir = data_dir
        self.rev = 0
        self.picked = 0  # the test image whose maps are shown, unless a digit was drawn
        self.drawing: np.ndarray | None = None  # the drawn digit, prepared (1, 28, 28) uint8
        self.drawing_notes: list[str] = []
        self.sent_digits: set[int] = set()
        self._build_data()
        self._build_network()

    # -- set-up --------------------------------------------------------------------------------------

    def configure(self, settings: ImageSettings, rev: int = 0) -> dict[str, bool]:
        """Take new settings; rebuilds the data and/or the network only when their fields changed."""
        old = self.settings
        data = any(getattr(old, f) != getattr(settings, f) for f in ImageSettings.DATA_FIELDS)
        network = data or any(getattr(old, f) != getattr(settings, f) for f in ImageSettings.NETWORK_FIELDS)
        snapshot = dict(self.__dict__)  # the session as it was: kept when the new one cannot be built
        self.settings, self.rev = settings, rev
        try:
            if data:
                self._build_data()
            if network:
                self._build_network()
        except LayerlabError:
            self.__dict__.update(snapshot)
            raise
        if not network:
            self.trainable.set_lr(settings.lr)
        return {"data": data, "network": network}

    def reset(self) -> None:
        """New initial weights (the next seed), as the 2-D page's reset."""
        self.settings = image_settings_from({"seed": (self.settings.seed + 1) % 2**31}, self.settings)
        self._build_network()

    def _build_data(self) -> None:
        name = self.settings.data
        limit = None if name == "mnist-small" else IMAGE_LIMITS["train_images"]
        try:
            self.dataset = load(name, data_dir=self.data_dir, download=False, limit=limit)
        except LayerlabError as e:
            hint = "" if self.data_dir else " (start the playground with --data-dir FOLDER to use it)"
            raise ProtocolError(f"{name}: {str(e).splitlines()[0]}{hint}") from None
        d = self.dataset
        if max(len(d.val), len(d.test)) > MEASURED:  # a frame's measurement stays a few hundred ms at most
            first = slice(0, MEASURED)
            self.dataset = replace(d, val=d.val.take(first), test=d.test.take(first))
        self.sent_digits = set()
        self.picked = min(self.picked, len(self.dataset.test) - 1)

    def _build_network(self) -> None:
        s = self.settings
        self.spec_text = model_text(s)
        self.spec = parse(self.spec_text, INPUT_SHAPE)
        self.config = TrainConfig(
            model=self.spec_text,
            data=s.data,
            optimizer=s.optimizer,
            lr=s.lr,
            batch_size=s.batch,
            l2=s.l2,
            augment=s.augmentation,
            seed=s.seed,
            engine="torch",
            epochs=10,
        )
        self.config.check()
        train = self.dataset.train
        self.trainable = make_trainable(self.config, self.spec, len(train))
        self.trainable.add_data("train", train.x, train.y)
        self.trainable.add_data("val", self.dataset.val.x, self.dataset.val.y)
        self.placed = self.spec.resolve()
        self.order_rng = np.random.default_rng([s.seed, 5])
        self.order = self.order_rng.permutation(len(train))
        self.position = self.epoch = self.steps = 0
        self.step_seconds = 0.0  # a mini-batch step's time, measured
        self.curve: list[dict[str, float]] = []
        self.curve_sent = 0
        self.pending = [0.0, 0, 0, 0]  # loss sum, steps, correct, images since the last curve point
        self.grad_norms: dict[str, float] = {}
        self.measured_at_step = self.weights_sent_at = -1  # none measured, none sent
        self.last_eval = self.eval_cost = 0.0
        self.measurement: dict[str, Any] = {}
        self.message = ""

    # -- training ------------------------------------------------------------------------------------

    def train(self, steps: int, budget: float = math.inf, stop: Callable[[], bool] | None = None) -> bool:
        """Train ``steps`` mini-batches, or fewer when ``budget`` seconds run out (at least one), or when
        ``stop()`` says so (checked every ``budget / 5`` seconds: a drawn digit is waiting).

        Returns False when the loss became infinite or NaN (training stops; ``message`` says why)."""
        started, done, batch = time.perf_counter(), 0, self.settings.batch
        n_train = len(self.order)
        while done < steps:
            left = budget - (time.perf_counter() - started)
            slice_ = min(left, budget / 5)  # training slices between two looks at ``stop``
            if not math.isfinite(slice_):
                fit = steps - done  # no time limit: as many as asked, an epoch's part at a time
            else:
                fit = int(slice_ / self.step_seconds) if self.step_seconds else 1
            per_epoch = math.ceil((n_train - self.position) / batch)
            k = max(1, min(steps - done, fit, per_epoch, 500))
            part = self.order[self.position : self.position + k * batch]
            begun = time.perf_counter()
            stats = self.trainable.train_epoch(part, batch, lambda step, loss: None)
            taken = len(stats.losses)
            self.step_seconds = (time.perf_counter() - begun) / max(1, taken)
            if taken and not np.isfinite(stats.losses).all():
                self.message = (
                    f"the training loss became {stats.losses[-1]} after {self.steps + taken:,} steps: the learning "
                    f"rate {self.settings.lr:g} is too large for this network; lower it and press reset"
                )
                return False
            seen = min(len(part), taken * batch)
            self.pending = [
                self.pending[0] + float(stats.losses.sum()),
                self.pending[1] + taken,
                self.pending[2] + stats.correct,
                self.pending[3] + seen,
            ]
            if stats.grad_norms:
                self.grad_norms = stats.grad_norms
            done, self.steps, self.position = done + taken, self.steps + taken, self.position + seen
            if self.position >= n_train:
                self.epoch, self.position = self.epoch + 1, 0
                self.order = self.order_rng.permutation(n_train)
            if time.perf_counter() - started > budget or (stop is not None and stop()):
                break
        return True

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.position / len(self.order)

    # -- measuring -----------------------------------------------------------------------------------

    def measure(self) -> None:
        """Validation loss and accuracy (a point of the curves), the test set's confusion matrix and
        misclassified digits; the training figures of the point are those since the last one."""
        begun = time.perf_counter()
        val_loss, val_accuracy = self.trainable.evaluate("val")
        test = self.dataset.test
        predicted = self.trainable.predict_proba(test.x).argmax(axis=1)
        confusion = np.zeros((10, 10), np.int64)
        np.add.at(confusion, (test.y, predicted), 1)
        wrong = np.flatnonzero(predicted != test.y)
        loss_sum, steps, correct, images = self.pending
        point = {
            "step": self.steps,
            "epoch": round(self.epochs_done, 4),
            "val_loss": _finite(val_loss),
            "val_accuracy": round(val_accuracy, 4),
            "train_loss": _finite(loss_sum / steps) if steps else None,
            "train_accuracy": round(correct / images, 4) if images else None,
        }
        if steps or not self.curve:
            self.curve.append(point)
        self.pending = [0.0, 0, 0, 0]
        self.measurement = {
            "val_loss": point["val_loss"],
            "val_accuracy": point["val_accuracy"],
            "test_accuracy": round(float((predicted == test.y).mean()), 4),
            "confusion": confusion.tolist(),
            "misclassified": [
                {"index": int(i), "label": int(test.y[i]), "predicted": int(predicted[i])}
                for i in wrong[:MISCLASSIFIED]
            ],
            "wrong": len(wrong),
        }
        self.measured_at_step = self.steps
        now = time.perf_counter()
        self.eval_cost, self.last_eval = now - begun, now

    def _measure_due(self, playing: bool) -> bool:
        if self.measured_at_step == self.steps:
            return False
        if not playing:
            return True
        return time.perf_counter() - self.last_eval >= EVAL_SHARE * self.eval_cost

    # -- what the page draws -------------------------------------------------------------------------

    def frame(self, playing: bool = False, measure: bool = True) -> dict[str, Any]:
        """What changed since the last frame (see the module's docstring); ``measure`` False leaves the
        validation and test sets for a later frame (a drawn digit is waiting)."""
        frame: dict[str, Any] = {
            "type": "frame",
            "rev": self.rev,
            "step": self.steps,
            "epoch": round(self.epochs_done, 4),
            "playing": playing,
            **self.inspect(),
        }
        if self.weights_sent_at != self.steps:  # the weights changed: their filters and gradients too
            frame |= {"grad_norms": self.gradient_norms(), "filters": self.filters()}
            self.weights_sent_at = self.steps
        if measure and self._measure_due(playing):
            self.measure()
            frame.update(self.measurement)
            frame["digits"] = self.digits([m["index"] for m in self.measurement["misclassified"]])
        frame["curve"] = self.curve[self.curve_sent :]
        self.curve_sent = len(self.curve)
        if self.message:
            frame["message"], self.message = self.message, ""
        return frame

    def digits(self, indices: list[int]) -> dict[str, str]:
        """The pixels of the test digits the page has not been sent yet: index -> 784 bytes in base64."""
        new = [i for i in indices if i not in self.sent_digits]
        self.sent_digits.update(new)
        return {str(i): base64.b64encode(self.dataset.test.x[i].tobytes()).decode() for i in new}

    def gradient_norms(self) -> list[dict[str, Any]]:
        """Each weight's gradient norm (mean over the sampled steps of the last training slice), in layer order."""
        names = {f"{r.index}.weight": str(r.layer) for r in self.placed}
        return [{"layer": names.get(k, k), "norm": _finite(v)} for k, v in self.grad_norms.items()]

    def filters(self) -> dict[str, Any]:
        """The first layer with weights: a conv layer's filters (its first input channel), or a dense layer's
        first units as 28x28 images; each scaled symmetrically (grey is 0)."""
        first = next(r for r in self.placed if "weight" in r.params)
        weight = self.trainable.weights()[f"{first.index}.weight"]
        if first.layer.kind == "conv":
            shown = weight[:MAX_FILTERS, 0]
        else:
            shown = weight[: min(MAX_FILTERS, 16)].reshape(-1, 28, 28)
        n, h, w = shown.shape
        return {"layer": str(first.layer), "count": n, "height": h, "width": w, "pixels": _bytes(shown, True)}

    def current_input(self) -> np.ndarray:
        return self.drawing if self.drawing is not None else self.dataset.test.x[self.picked]

    @torch.no_grad()
    def inspect(self) -> dict[str, Any]:
        """The chosen image (a test digit or the drawing): its top-3 classes and every activation layer's maps."""
        image = self.current_input()
        model = self.trainable.model
        model.eval()
        x = self.trainable.as_input(torch.as_tensor(image[None], device=self.trainable.device))
        layers = []
        last = len(self.placed) - 1
        for r, module in zip(self.placed, model, strict=True):
            x = module(x)
            if not (KINDS[r.layer.kind].activation or r.index == last):
                continue
            values = x[0].float().cpu().numpy()
            entry: dict[str, Any] = {"layer": str(r.layer), "index": r.index, "shape": list(values.shape)}
            if values.ndim == 3:
                shown = values[:MAX_MAPS]
                entry |= {"maps": len(shown), "height": shown.shape[1], "width": shown.shape[2]}
            else:
                shown = values.reshape(-1)[:MAX_UNITS]
                entry |= {"units": len(shown)}
            entry["pixels"] = _bytes(shown)
            layers.append(entry)
        probabilities = torch.softmax(x.float(), dim=1)[0].cpu().numpy()
        top = np.argsort(-probabilities, kind="stable")[:3]
        classes = self.dataset.classes
        return {
            "source": "drawing" if self.drawing is not None else "test",
            "picked": self.picked,
            "label": None if self.drawing is not None else int(self.dataset.test.y[self.picked]),
            "input": base64.b64encode(np.asarray(image, np.uint8).tobytes()).decode(),
            "top3": [
                {"class": classes[i], "index": int(i), "probability": round(float(probabilities[i]), 4)} for i in top
            ],
            "activations": layers,
            "notes": self.drawing_notes if self.drawing is not None else [],
        }

    def pick(self, index: int) -> None:
        """Show a test image's maps (and forget the drawing)."""
        if index >= len(self.dataset.test):
            raise ProtocolError(f"pick: there are {len(self.dataset.test):,} test images, numbered from 0")
        self.picked, self.drawing, self.drawing_notes = index, None, []

    def draw(self, drawing: np.ndarray) -> dict[str, Any]:
        """A drawn digit, prepared as ``layerlab predict`` prepares an image; returns its classification."""
        prepared, notes = prepare(drawing, INPUT_SHAPE)
        self.drawing, self.drawing_notes = prepared.astype(np.uint8), notes
        return {"type": "classified", **self.inspect()}

    def data_message(self) -> dict[str, Any]:
        """What the page needs once per data set and network: sizes, classes, the spec."""
        d = self.dataset
        return {
            "type": "data",
            "data": d.name,
            "classes": list(d.classes),
            "sizes": {"train": len(d.train), "val": len(d.val), "test": len(d.test)},
            "spec": self.spec_text,
            "parameters": self.spec.num_params(),
            "settings": self.settings.to_json(),
            "device": self.trainable.description,
        }

    # -- export and import ---------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The weights (.safetensors, with the spec and the page's settings as metadata), a config for
        ``layerlab train`` and a notebook cell, both of which continue training from the weights."""
        s = self.settings
        name = f"playground-{s.preset}-step{self.steps}"
        metadata = {
            "spec": self.spec_text,
            "playground_images": json.dumps(s.to_json()),
            "step": str(self.steps),
            "epoch": str(self.epoch),
        }
        weights = weights_to_bytes(self.trainable.weights(), metadata)
        return {
            "type": "export",
            "name": name,
            "spec": self.spec_text,
            "weights": base64.b64encode(weights).decode(),
            "config": image_train_config(s, self.spec_text, f"{name}.safetensors"),
            "command": f"layerlab train --config {name}.toml --out runs/{name}",
            "python": image_notebook_cell(s, self.spec_text, f"{name}.safetensors", name),
        }

    def import_weights(self, blob: bytes) -> None:
        """Restore an export: the settings from its metadata, then its weights."""
        try:
            state, metadata = weights_from_bytes(blob)
        except LayerlabError as e:
            raise ProtocolError(f"import: {e}") from None
        if "playground_images" not in metadata or "spec" not in metadata:
            raise ProtocolError("import: the file has no Images settings; export it from the Images page")
        try:
            settings = image_settings_from(json.loads(metadata["playground_images"]))
        except json.JSONDecodeError:
            raise ProtocolError("import: the file's settings are not valid JSON") from None
        snapshot = dict(self.__dict__)  # the session as it was: kept when the file does not fit
        try:
            if not self.configure(settings, self.rev)["network"]:
                self._build_network()
            if self.spec_text != metadata["spec"]:
                raise ProtocolError(
                    f"import: the weights are for {metadata['spec']}, the settings build {self.spec_text}"
                )
            self.trainable.load_weights(state)
        except LayerlabError as e:
            self.__dict__.update(snapshot)
            raise ProtocolError(str(e) if str(e).startswith("import") else f"import: {e}") from None
        step = metadata.get("step", "0")
        self.steps = int(step) if step.isdigit() else 0
        self.measured_at_step = self.weights_sent_at = -1


def _finite(value: float) -> float | None:
    return round(float(value), 5) if math.isfinite(value) else None
