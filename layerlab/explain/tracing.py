"""The trace: one forward pass, backward pass and SGD update of a small dense network, step by step,
every value read from the numpy engine's recorded pass (the package's docstring says which)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..numpy.model import LAYERS, Model, Pass, build, initial_state
from ..numpy.optimizers import SGD
from ..spec import Spec, parse
from .reading import Block, ExplainError, explainable_blocks, read_matrix, read_weights
from .rendering import LOSS_TEXT, Step, Trace, num

#: The worked example of Matt Mazur, "A Step by Step Backpropagation Example" (2015).
MAZUR_MODEL = "input(2) dense(2, bias=fixed) sigmoid dense(2, bias=fixed) sigmoid"
MAZUR_WEIGHTS = {
    "0.weight": [[0.15, 0.20], [0.25, 0.30]],  # w1 w2 / w3 w4
    "0.bias": [0.35, 0.35],  # b1
    "2.weight": [[0.40, 0.45], [0.50, 0.55]],  # w5 w6 / w7 w8
    "2.bias": [0.60, 0.60],  # b2
}
MAZUR_INPUT, MAZUR_TARGET, MAZUR_LOSS, MAZUR_LR = [0.05, 0.10], [0.01, 0.99], "sse", 0.5
MAZUR_ERROR_AFTER = 0.291027924  # as printed in the source; see the note in ``trace``

#: dE/dy of each loss at an output y with target t (the text; the value comes from the engine).
LOSS_GRADIENTS = {
    "sse": "-({t} - {y})",
    "mse": "2 ({y} - {t}) / n",
    "cross_entropy": "softmax({y}) - {t}",
    "nll": "-{t} / {y}",
    "bce": "(sigmoid({y}) - {t}) / n",
}


def trace(
    model: str | Spec | None = None,
    weights: Any = None,
    input: Any = None,
    target: Any = None,
    loss: str | None = None,
    lr: float | None = None,
    seed: int = 0,
) -> Trace:
    """One forward pass, backward pass and SGD update of a small dense network, step by step.

    Every argument left out is Mazur's example (weights drawn with ``seed`` when a model is given
    without weights; a model without ``input(...)`` is refused).
    """
    default = model is None
    if default:
        model = MAZUR_MODEL
        weights = MAZUR_WEIGHTS if weights is None else weights
        input = MAZUR_INPUT if input is None else input
        target = MAZUR_TARGET if target is None else target
    loss, lr = _loss_and_rate(loss or MAZUR_LOSS, MAZUR_LR if lr is None else lr)
    spec = parse(model) if isinstance(model, str) else model
    walk = _walk(spec, explainable_blocks(spec), weights, input, target, loss, lr, seed)
    steps, panels = [*_forward_steps(walk), *_error_steps(walk)], []
    for bi in reversed(range(len(walk.blocks))):  # the backward pass, output layer first
        block_steps, panel = _backward_block(walk, bi)
        steps += block_steps
        panels.insert(0, panel)
    after = walk.error_after
    steps.append(
        Step("after the update", "E_total", "the same input through the updated network", "", after, f"{after:.10f}")
    )
    x, t = (walk.x[0], walk.t[0]) if walk.batch == 1 else (walk.x, walk.t)
    panels.insert(
        0,
        {
            "name": "input",
            "neurons": [{"name": s, "y": walk.per_example(walk.x[:, j])} for j, s in enumerate(walk.in_names(-1))],
        },
    )
    error = float(walk.tape.loss)
    return Trace(
        str(spec), loss, float(lr), x.tolist(), t.tolist(), panels, error, float(after), steps, _notes(walk, default)
    )


def _loss_and_rate(loss: str, lr: Any) -> tuple[str, float]:
    if loss not in LOSS_TEXT:
        raise ExplainError(f"--loss {loss!r}: choose one of {', '.join(LOSS_TEXT)}")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (0 < lr < math.inf):
        raise ExplainError(f"--lr {lr!r}: the learning rate must be a number > 0")
    return loss, lr


@dataclass
class _Walk:
    """What the trace reads: the network in blocks, the example(s) and targets, the engine's recorded pass
    (``Model.recorded_pass``), the activations' local derivatives, and the weights before and after the update."""

    blocks: list[Block]
    net: Model
    x: np.ndarray
    t: np.ndarray
    loss: str
    lr: float
    tape: Pass
    local: dict[int, np.ndarray]  # the activation's cached local derivative f'(e), by the dense layer's index
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    error_after: float

    @property
    def batch(self) -> int:
        return len(self.x)

    def ex(self, n: int) -> str:
        """The example a value belongs to: nothing for one example, [1], [2], ... for a batch."""
        return "" if self.batch == 1 else f"[{n + 1}]"

    def per_example(self, values: np.ndarray) -> float | list[float]:
        """JSON: a number, or one per example."""
        return float(values[0]) if self.batch == 1 else [float(v) for v in values]

    def out_of(self, bi: int) -> np.ndarray:
        """y of each neuron of block ``bi`` (the input for -1), per example."""
        if bi < 0:
            return self.x
        b = self.blocks[bi]
        return self.tape.outputs[b.activation if b.activation is not None else b.dense]

    def in_names(self, bi: int) -> list[str]:
        return [f"i{j + 1}" for j in range(self.x.shape[1])] if bi < 0 else self.blocks[bi].names

    def weight_name(self, bi: int, r: int, j: int) -> str:
        """Mazur's numbering: w1, w2, ... row by row, layer after layer."""
        offset = sum(math.prod(self.net.layers[self.blocks[q].dense].params["weight"].shape) for q in range(bi))
        return f"w{offset + r * len(self.in_names(bi - 1)) + j + 1}"


def _walk(
    spec: Spec, blocks: list[Block], weights: Any, input: Any, target: Any, loss: str, lr: float, seed: int
) -> _Walk:
    """Read the weights, input and target; run the engine's recorded pass and one SGD step."""
    state = read_weights(weights, spec) if weights is not None else initial_state(spec, seed=seed, dtype=np.float64)
    n_out = spec.output_shape()[0]
    x = read_matrix(
        input if input is not None else np.zeros(spec.input_shape), spec.input_shape[0], "inputs", "--input"
    )
    if target is None:
        raise ExplainError(f"--target: give the {n_out} target outputs, e.g. {','.join(['0'] * n_out)}")
    t = read_matrix(target, n_out, "outputs", "--target")
    if len(t) != len(x):
        raise ExplainError(f"--target: give one target per example: {len(x)} inputs, {len(t)} targets")
    net = build(spec, dtype=np.float64, loss=loss, state={**initial_state(spec, seed=seed, dtype=np.float64), **state})
    _name(blocks, spec, net)
    tape = net.recorded_pass(x, t)  # the engine's forward, loss and backward, every value kept
    local = {
        b.dense: net.layers[b.activation].backward(np.ones_like(tape.outputs[b.activation]))
        for b in blocks
        if b.activation is not None and LAYERS[b.kind].derivative is not None
    }
    before = {k: v.copy() for k, v in net.state_dict().items()}
    SGD(lr=lr).step(net.params, net.grads)  # the engine's optimiser; bias=fixed parameters are not in params
    error_after = net.loss.forward(net.forward(x), t)
    return _Walk(blocks, net, x, t, loss, lr, tape, local, before, net.state_dict(), error_after)


def _forward_steps(w: _Walk) -> list[Step]:
    """net = the weighted sum and out = f(net) of every neuron (every maxout piece), example by example."""
    steps = []
    for n in range(w.batch):
        for bi, b in enumerate(w.blocks):
            weight, e = w.before[f"{b.dense}.weight"], w.tape.outputs[b.dense][n]
            srcs, ys = w.in_names(bi - 1), w.out_of(bi - 1)[n]
            for k, name in enumerate(b.names):
                for r in b.rows(k):
                    terms = [
                        f"{w.weight_name(bi, r, j)} * {'out_' + s if bi else s}{w.ex(n)}" for j, s in enumerate(srcs)
                    ]
                    values = [f"{num(weight[r, j])} * {num(ys[j])}" for j in range(len(srcs))]
                    if b.bias_names:
                        terms.append(f"{b.bias_names[r]} * 1")
                        values.append(f"{num(w.before[f'{b.dense}.bias'][r])} * 1")
                    steps.append(
                        Step("forward", f"net_{b.row_names[r]}{w.ex(n)}", " + ".join(terms), " + ".join(values), e[r])
                    )
                steps.append(Step("forward", f"out_{name}{w.ex(n)}", *_activation_text(w, b, n, k), w.out_of(bi)[n, k]))
    return steps


def _activation_text(w: _Walk, b: Block, n: int, k: int) -> tuple[str, str]:
    """out = f(net) as a formula and with the numbers (the activation's ``formula``; maxout names its pieces)."""
    e, name = w.tape.outputs[b.dense][n], b.names[k]
    if b.kind == "maxout":
        formula = "max(" + ", ".join(f"net_{b.row_names[r]}{w.ex(n)}" for r in b.rows(k)) + ")"
        return formula, "max(" + ", ".join(num(e[r]) for r in b.rows(k)) + ")"
    text = LAYERS[b.kind].formula
    return text.format(e=f"net_{name}{w.ex(n)}"), text.format(e=num(e[k])) if b.kind not in (
        "softmax",
        "linear",
    ) else ""


def _error_steps(w: _Walk) -> list[Step]:
    """The error of each example (with sse, of each output) and E_total, each from the engine's loss."""
    loss, t, out, outs, ex = w.loss, w.t, w.out_of(len(w.blocks) - 1), w.blocks[-1].names, w.ex
    steps, shares = [], []
    for n in range(w.batch):
        example = w.net.loss.forward(out[n : n + 1], t[n : n + 1])  # the engine's loss on one example
        if loss == "sse":
            parts = []
            for k, name in enumerate(outs):  # the engine's loss on one output is that output's share
                e_k = w.net.loss.forward(out[n : n + 1, k : k + 1], t[n : n + 1, k : k + 1])
                steps.append(
                    Step(
                        "error",
                        f"E_{name}{ex(n)}",
                        f"1/2 (target_{name}{ex(n)} - out_{name}{ex(n)})^2",
                        f"1/2 ({num(t[n, k])} - {num(out[n, k])})^2",
                        e_k,
                    )
                )
                parts.append(num(e_k))
            if w.batch > 1:
                steps.append(
                    Step("error", f"E{ex(n)}", " + ".join(f"E_{o}{ex(n)}" for o in outs), " + ".join(parts), example)
                )
        elif w.batch > 1:
            steps.append(Step("error", f"E{ex(n)}", LOSS_TEXT[loss].removeprefix("E_total = "), "", example))
        shares.append(parts if loss == "sse" and w.batch == 1 else [num(example)])
    return steps + [_total_error_step(w, shares)]


def _total_error_step(w: _Walk, shares: list[list[str]]) -> Step:
    """E_total: the mean over the batch, the sum of the outputs' shares (sse), or the loss's formula."""
    if w.batch > 1:
        names = " + ".join(f"E{w.ex(n)}" for n in range(w.batch))
        numbers = " + ".join(s[0] for s in shares)
        formula = f"({names}) / {w.batch}, the mean over the batch"
        return Step("error", "E_total", formula, f"({numbers}) / {w.batch}", w.tape.loss)
    if w.loss == "sse":
        formula = " + ".join(f"E_{o}" for o in w.blocks[-1].names)
        return Step("error", "E_total", formula, " + ".join(shares[0]), w.tape.loss)
    return Step("error", "E_total", LOSS_TEXT[w.loss].removeprefix("E_total = "), "", w.tape.loss)


def _backward_block(w: _Walk, bi: int) -> tuple[list[Step], dict[str, Any]]:
    """The backward steps of block ``bi`` (each neuron's error signal, its weights' gradients, then the
    updates of the block's weights) and its panel for the JSON form."""
    b, steps, neurons = w.blocks[bi], [], []
    for k in range(len(b.names)):
        for n in range(w.batch):
            steps += _error_signal_steps(w, bi, k, n)
        gradient_steps, incoming = _weight_gradients(w, bi, k)
        steps += gradient_steps
        neurons.append(_neuron_panel(w, bi, k, incoming))
    steps += _update_steps(w, bi)
    name = "output" if bi == len(w.blocks) - 1 else f"hidden {bi + 1}"
    return steps, {"name": name, "kind": f"dense + {b.kind}", "neurons": neurons}


def _section(w: _Walk, bi: int) -> str:
    return "backward, output layer" if bi == len(w.blocks) - 1 else "backward, hidden layer"


def _dE_dout(w: _Walk, bi: int, k: int, n: int) -> tuple[list[Step], str, str]:
    """dE/dout of neuron k for example n: the loss's gradient at an output, else the sum over the neurons
    above of their error signal times the weight between (with steps for each term)."""
    name, ex = w.blocks[bi].names[k], w.ex
    if bi == len(w.blocks) - 1:
        mean = f" / {w.batch}" if w.batch > 1 and w.loss in ("sse", "cross_entropy", "nll") else ""  # the batch mean
        gradient = LOSS_GRADIENTS[w.loss]
        out = w.out_of(bi)
        formula = gradient.format(t=f"target_{name}{ex(n)}", y=f"out_{name}{ex(n)}") + mean
        return [], formula, gradient.format(t=num(w.t[n, k]), y=num(out[n, k])) + mean
    above = w.blocks[bi + 1]
    w_up, d_up = w.before[f"{above.dense}.weight"], w.tape.d_outputs[above.dense][n]
    mazur = w.loss == "sse" and bi + 1 == len(w.blocks) - 1 and w.batch == 1  # his name: dE_o1/dout_h1
    steps, labels, shown = [], [], []
    for m, row in enumerate(above.row_names):
        label = f"dE_{row}/dout_{name}" if mazur else f"dE/dout_{name}{ex(n)} via {row}"
        wn = w.weight_name(bi + 1, m, k)
        numbers = f"{num(d_up[m])} x {num(w_up[m, k])}"
        steps.append(Step(_section(w, bi), label, f"d_{row}{ex(n)} x {wn}", numbers, d_up[m] * w_up[m, k]))
        labels.append(label)
        shown.append(num(d_up[m] * w_up[m, k]))
    return steps, " + ".join(labels), " + ".join(shown)


def _error_signal_steps(w: _Walk, bi: int, k: int, n: int) -> list[Step]:
    """dE/dout, then the error signal d = dE/dnet of neuron k (of each maxout piece) for example n."""
    b, name, ex, section = w.blocks[bi], w.blocks[bi].names[k], w.ex(n), _section(w, bi)
    dy = w.tape.d_outputs[b.activation if b.activation is not None else b.dense]  # dE/dy
    d_net, fprime = w.tape.d_outputs[b.dense], w.local.get(b.dense)  # dE/de, the error signal d; f'(e)
    steps, formula, shown = _dE_dout(w, bi, k, n)
    steps.append(Step(section, f"dE_total/dout_{name}{ex}", formula, shown, dy[n, k]))
    signal = f"d_{name}{ex} = dE_total/dnet_{name}{ex}"
    if fprime is not None:
        text = LAYERS[b.kind].derivative
        numbers = text.format(e=num(w.tape.outputs[b.dense][n, k]), y=num(w.out_of(bi)[n, k]))
        derivative = text.format(e=f"net_{name}{ex}", y=f"out_{name}{ex}")
        steps.append(Step(section, f"dout_{name}{ex}/dnet_{name}{ex}", derivative, numbers, fprime[n, k]))
        product = f"dE_total/dout_{name}{ex} x dout_{name}{ex}/dnet_{name}{ex}"
        steps.append(Step(section, signal, product, f"{num(dy[n, k])} x {num(fprime[n, k])}", d_net[n, k]))
    elif b.kind == "maxout":  # the gradient goes to the piece that won (the first on a tie)
        for r in b.rows(k):
            piece = b.row_names[r]
            formula = f"dE_total/dout_{name}{ex} if net_{piece}{ex} is the largest piece, else 0"
            steps.append(Step(section, f"d_{piece}{ex} = dE_total/dnet_{piece}{ex}", formula, "", d_net[n, r]))
    elif b.kind == "softmax":
        formula = f"sum over the layer's outputs j of dE_total/dout_j x dout_j/dnet_{name}{ex}"
        steps.append(Step(section, signal, formula, "", d_net[n, k]))
    else:
        formula = f"dE_total/dout_{name}{ex} (no activation: out_{name} = net_{name})"
        steps.append(Step(section, signal, formula, "", d_net[n, k]))
    return steps


def _weight_gradients(w: _Walk, bi: int, k: int) -> tuple[list[Step], list[dict[str, Any]]]:
    """dE/dw of each incoming weight of neuron k (of each maxout piece), and their panel entries."""
    b, name, section = w.blocks[bi], w.blocks[bi].names[k], _section(w, bi)
    srcs, ys = w.in_names(bi - 1), w.out_of(bi - 1)
    dy = w.tape.d_outputs[b.activation if b.activation is not None else b.dense]
    d_net, fprime, grads = w.tape.d_outputs[b.dense], w.local.get(b.dense), w.tape.grads[f"{b.dense}.weight"]
    steps, incoming = [], []
    for r in b.rows(k):
        row = b.row_names[r]
        for j, s in enumerate(srcs):
            wn, g, src = w.weight_name(bi, r, j), grads[r, j], f"out_{s}" if bi else s
            if w.batch > 1:
                formula = f"sum over the batch of d_{row}[n] x {src}[n]"
                shown = " + ".join(f"{num(d_net[n, r])} x {num(ys[n, j])}" for n in range(w.batch))
            elif fprime is not None:
                formula = f"dE_total/dout_{name} x dout_{name}/dnet_{name} x dnet_{name}/d{wn}"
                shown = f"{num(dy[0, k])} x {num(fprime[0, k])} x {num(ys[0, j])}"
            else:
                formula, shown = f"d_{row} x dnet_{row}/d{wn}", f"{num(d_net[0, r])} x {num(ys[0, j])}"
            if w.batch == 1:
                steps.append(Step(section, f"dnet_{row}/d{wn}", src, "", ys[0, j]))
            steps.append(Step(section, f"dE_total/d{wn}", formula, shown, g))
            updated = float(w.after[f"{b.dense}.weight"][r, j])
            weight = {"from": s, "weight": wn, "value": float(w.before[f"{b.dense}.weight"][r, j])}
            weight |= {"x": w.per_example(ys[:, j]), "grad": float(g), "updated": updated}
            incoming.append({**weight, **({"piece": row} if b.kind == "maxout" else {})})
    return steps, incoming


def _neuron_panel(w: _Walk, bi: int, k: int, incoming: list[dict[str, Any]]) -> dict[str, Any]:
    """Neuron k of block ``bi`` for the JSON form: e, y, dE/dy, f'(e), d, its weights and its bias."""
    b, pe = w.blocks[bi], w.per_example
    e, y = w.tape.outputs[b.dense], w.out_of(bi)
    dy = w.tape.d_outputs[b.activation if b.activation is not None else b.dense]
    d_net, fprime = w.tape.d_outputs[b.dense], w.local.get(b.dense)
    maxout = b.kind == "maxout"
    neuron = {
        "name": b.names[k],
        "e": pe(e[:, k]) if not maxout else pe(y[:, k]),
        "y": pe(y[:, k]),
        "dE_dy": pe(dy[:, k]),
        "dy_de": None if fprime is None else pe(fprime[:, k]),
        "d": pe(d_net[:, k]) if not maxout else None,
        "incoming": incoming,
        "bias": None,
    }
    if maxout:
        neuron["pieces"] = [{"name": b.row_names[r], "e": pe(e[:, r]), "d": pe(d_net[:, r])} for r in b.rows(k)]
    if b.bias_names:
        key, first = f"{b.dense}.bias", b.rows(k)[0]
        neuron["bias"] = {
            "name": b.bias_names[first],
            "value": float(w.before[key][first]),
            "grad": float(w.tape.grads[key][first]),
            "updated": float(w.after[key][first]),
            "fixed": key in w.net.fixed,
        }
    return neuron


def _update_steps(w: _Walk, bi: int) -> list[Step]:
    """w+ = w - eta x dE/dw for the block's weights (and biases unless fixed), from the engine's SGD."""
    b, section, lr, steps = w.blocks[bi], _section(w, bi), w.lr, []
    weight, bias = f"{b.dense}.weight", f"{b.dense}.bias"
    for r, row in enumerate(b.row_names):
        for j in range(len(w.in_names(bi - 1))):
            wn, g = w.weight_name(bi, r, j), w.tape.grads[weight][r, j]
            numbers = f"{num(w.before[weight][r, j])} - {num(lr)} x {num(g)}"
            steps.append(Step(section, f"{wn}+", f"{wn} - eta x dE_total/d{wn}", numbers, w.after[weight][r, j]))
        if b.bias_names and bias not in w.net.fixed:
            bn = b.bias_names[r]
            gradient = f"d_{row}" if w.batch == 1 else f"sum over the batch of d_{row}[n]"
            numbers = f"{num(w.before[bias][r])} - {num(lr)} x {num(w.tape.grads[bias][r])}"
            steps.append(Step(section, f"{bn}+", f"{bn} - eta x {gradient}", numbers, w.after[bias][r]))
    return steps


def _notes(w: _Walk, default: bool) -> list[str]:
    notes = []
    fixed = sorted({bn for b in w.blocks if b.bias_names and f"{b.dense}.bias" in w.net.fixed for bn in b.bias_names})
    if fixed:
        notes.append(
            f"the biases {', '.join(fixed)} are fixed (bias=fixed in the model): the update leaves them as they are"
        )
    if default:
        notes.append(
            f"E_total after the update is {w.error_after:.10f}; the source prints {MAZUR_ERROR_AFTER}, which does "
            "not follow from its own updated weights (they give the value above)"
        )
    notes.append('worked example and names after Matt Mazur, "A Step by Step Backpropagation Example"')
    return notes


def _name(blocks: list[Block], spec: Spec, net) -> None:
    """h1, h2 (one hidden layer) or h1_1, h2_1 (several), o1, o2; one bias name per layer when its
    biases are fixed and equal (Mazur's b1, b2), else one per neuron (b_h1)."""
    hidden = len(blocks) - 1
    for bi, b in enumerate(blocks):
        rows = spec.layers[b.dense].args["units"]
        units = rows // b.pieces
        if bi == hidden:
            b.names = [f"o{k + 1}" for k in range(units)]
        elif hidden == 1:
            b.names = [f"h{k + 1}" for k in range(units)]
        else:
            b.names = [f"h{bi + 1}_{k + 1}" for k in range(units)]
        b.row_names = [f"{n}.{p + 1}" if b.pieces > 1 else n for n in b.names for p in range(b.pieces)]
        params = net.layers[b.dense].params
        if "bias" in params:
            shared = f"{b.dense}.bias" in net.fixed and np.all(params["bias"] == params["bias"][0])
            b.bias_names = [f"b{bi + 1}"] * rows if shared else [f"b_{n}" for n in b.row_names]
