"""`layerlab explain`: Matt Mazur's backpropagation example to the digits it prints, other networks
against torch autograd, and the errors for networks explain cannot show."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerlab import parse
from layerlab.cli import main
from layerlab.explain import ExplainError, render_markdown, render_text, trace
from layerlab.numpy import build
from layerlab.spec import SpecError

# Mazur, "A Step by Step Backpropagation Example": each value as he prints it, in his order
MAZUR = [
    ("net_h1", "0.3775"),
    ("out_h1", "0.593269992"),
    ("out_h2", "0.596884378"),
    ("net_o1", "1.105905967"),
    ("out_o1", "0.75136507"),
    ("out_o2", "0.772928465"),
    ("E_o1", "0.274811083"),
    ("E_o2", "0.023560026"),
    ("E_total", "0.298371109"),
    ("dE_total/dout_o1", "0.74136507"),
    ("dout_o1/dnet_o1", "0.186815602"),
    ("d_o1 = dE_total/dnet_o1", "0.138498562"),  # his dE_o1/dnet_o1 (the delta of o1), used again for h1
    ("dnet_o1/dw5", "0.593269992"),
    ("dE_total/dw5", "0.082167041"),
    ("w5+", "0.35891648"),
    ("w6+", "0.408666186"),
    ("w7+", "0.511301270"),
    ("w8+", "0.561370121"),
    ("dE_o1/dout_h1", "0.055399425"),
    ("dE_o2/dout_h1", "-0.01904912"),  # he prints -0.019049119 from rounded factors; exactly -0.0190491183
    ("dE_total/dout_h1", "0.036350306"),
    ("dout_h1/dnet_h1", "0.241300709"),
    ("dnet_h1/dw1", "0.05"),
    ("dE_total/dw1", "0.000438568"),
    ("w1+", "0.149780716"),
    ("w2+", "0.19956143"),
    ("w3+", "0.24975114"),
    ("w4+", "0.29950229"),
]


def test_the_default_is_mazurs_example_to_the_printed_digits():
    tr = trace()
    names = [step.name for step in tr.steps]
    for name, printed in MAZUR:
        decimals = len(printed.split(".")[1])
        assert round(tr.value(name), decimals) == pytest.approx(float(printed), abs=10 ** -(decimals + 3)), name
    # in his order: forward, error, output layer, hidden layer
    positions = [names.index(name) for name, _ in MAZUR]
    assert positions == sorted(positions)
    assert tr.error_before == pytest.approx(0.298371109, abs=5e-10)
    assert round(tr.error_after, 10) == 0.2910277737  # the source's 0.291027924 does not follow from its weights


def test_the_default_text_shows_the_chain_rule_products():
    text = render_text(trace())
    assert "out_h1 = 1 / (1 + e^-net_h1) = 1 / (1 + e^-0.3775) = 0.593269992" in text
    assert "net_h1 = w1 * i1 + w2 * i2 + b1 * 1 = 0.15 * 0.05 + 0.2 * 0.1 + 0.35 * 1 = 0.3775" in text
    assert "E_total = E_o1 + E_o2 = 0.274811083 + 0.023560026 = 0.298371109" in text
    assert "= 0.74136507 x 0.186815602 x 0.593269992 = 0.082167041" in text
    assert "w5+ = w5 - eta x dE_total/dw5 = 0.4 - 0.5 x 0.082167041 = 0.35891648" in text
    assert "w1+ = w1 - eta x dE_total/dw1 = 0.15 - 0.5 x 0.000438568 = 0.149780716" in text
    assert "E_total = the same input through the updated network = 0.2910277737" in text
    assert "0.291027924, which does not follow from its own updated weights" in text
    assert "b1, b2 are fixed" in text
    assert "b1+" not in text  # fixed biases are not updated
    markdown = render_markdown(trace())
    assert "| `dE_total/dw5` | `dE_total/dout_o1 x dout_o1/dnet_o1 x dnet_o1/dw5` |" in markdown
    assert "### The backward pass: output layer" in markdown


def test_the_trace_is_the_engines_own_gradients():
    tr = trace()
    model = build(parse("input(2) dense(2) sigmoid dense(2) sigmoid"), dtype=np.float64, loss="sse")
    model.load_state_dict(
        {
            "0.weight": [[0.15, 0.2], [0.25, 0.3]],
            "0.bias": [0.35] * 2,
            "2.weight": [[0.4, 0.45], [0.5, 0.55]],
            "2.bias": [0.6] * 2,
        }
    )
    model.loss_and_grads(np.array([[0.05, 0.1]]), np.array([[0.01, 0.99]]))
    grads = [tr.value(f"dE_total/dw{i}") for i in range(1, 9)]
    np.testing.assert_array_equal(
        grads, np.concatenate([model.grads["0.weight"].ravel(), model.grads["2.weight"].ravel()])
    )


NETWORKS = [
    ("input(3) dense(4) tanh dense(3) relu dense(2)", "cross_entropy", [0.0, 1.0]),
    ("input(2) dense(3, bias=fixed, bias_init=normal(0.3)) elu dense(2) sigmoid", "mse", [0.2, 0.7]),
    ("input(3) dense(3) leakyrelu(0.1) dense(3) softmax", "nll", [0.0, 0.0, 1.0]),
]


@pytest.mark.parametrize(("model", "loss", "target"), NETWORKS)
def test_other_networks_agree_with_torch_autograd(model, loss, target):
    x = [0.5, -1.0, 2.0][: parse(model).input_shape[0]]
    tr = trace(model, input=x, target=target, loss=loss, lr=0.3, seed=4)
    spec = parse(model)
    state = build(spec, seed=4, dtype=np.float64).state_dict()
    layers = []
    for r in spec.resolve():
        if r.layer.kind == "dense":
            lin = torch.nn.Linear(r.input_shape[0], r.output_shape[0], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(state[f"{r.index}.weight"]))
                lin.bias.copy_(torch.from_numpy(state[f"{r.index}.bias"]))
            lin.bias.requires_grad_(not r.layer.fixed)
            layers.append(lin)
        else:
            layers.append(
                {
                    "tanh": torch.tanh,
                    "relu": torch.relu,
                    "elu": torch.nn.functional.elu,
                    "sigmoid": torch.sigmoid,
                    "leakyrelu": lambda a: torch.nn.functional.leaky_relu(a, 0.1),
                    "softmax": lambda a: torch.softmax(a, dim=1),
                }[r.layer.kind]
            )

    def forward():
        a, nets = torch.tensor([x], dtype=torch.float64), []
        for layer in layers:
            a = layer(a)
            if isinstance(layer, torch.nn.Linear):
                a.retain_grad()
                nets.append(a)
        t = torch.tensor([target], dtype=torch.float64)
        losses = {
            "cross_entropy": lambda: torch.nn.functional.cross_entropy(a, t),
            "mse": lambda: torch.nn.functional.mse_loss(a, t),
            "nll": lambda: -(t * torch.log(a)).sum(),
        }
        return losses[loss](), nets

    e, nets = forward()
    e.backward()
    assert tr.error_before == pytest.approx(e.item(), rel=1e-12)
    json_layers = tr.to_dict()["layers"][1:]
    linears = [m for m in layers if isinstance(m, torch.nn.Linear)]
    for panel, lin, net in zip(json_layers, linears, nets, strict=True):
        for k, neuron in enumerate(panel["neurons"]):
            assert neuron["e"] == pytest.approx(net[0, k].item(), rel=1e-12, abs=1e-15)
            assert neuron["d"] == pytest.approx(net.grad[0, k].item(), rel=1e-9, abs=1e-15)
            for j, w in enumerate(neuron["incoming"]):
                assert w["grad"] == pytest.approx(lin.weight.grad[k, j].item(), rel=1e-9, abs=1e-15)
                assert w["updated"] == pytest.approx((lin.weight[k, j] - 0.3 * lin.weight.grad[k, j]).item(), rel=1e-12)
            bias = neuron["bias"]
            expected = lin.bias[k].item() if bias["fixed"] else (lin.bias[k] - 0.3 * lin.bias.grad[k]).item()
            assert bias["updated"] == pytest.approx(expected, rel=1e-12)
    # the error after the update, through torch with the updated weights
    with torch.no_grad():
        for lin in linears:
            lin.weight -= 0.3 * lin.weight.grad
            if lin.bias.requires_grad:
                lin.bias -= 0.3 * lin.bias.grad
    assert tr.error_after == pytest.approx(forward()[0].item(), rel=1e-12)


def test_the_json_trace_has_a_panel_per_neuron(capsys):
    assert main(["explain", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in data["layers"]] == ["input", "hidden 1", "output"]
    h1 = data["layers"][1]["neurons"][0]
    assert h1["name"] == "h1" and round(h1["y"], 9) == 0.593269992 and round(h1["dy_de"], 9) == 0.241300709
    assert h1["bias"] == {
        "name": "b1",
        "value": 0.35,
        "grad": pytest.approx(0.008771355, abs=1e-9),
        "updated": 0.35,
        "fixed": True,
    }
    assert [w["weight"] for w in h1["incoming"]] == ["w1", "w2"]
    assert round(h1["incoming"][0]["updated"], 9) == 0.149780716
    assert data["error"]["after"] == pytest.approx(0.2910277737, abs=1e-10)
    assert data["steps"][0] == {
        "section": "forward",
        "name": "net_h1",
        "formula": "w1 * i1 + w2 * i2 + b1 * 1",
        "numbers": "0.15 * 0.05 + 0.2 * 0.1 + 0.35 * 1",
        "value": 0.3775,
        "shown": "0.3775",
    }


def test_weights_inline_as_numbers_or_json_and_from_a_file(tmp_path):
    model = "input(2) dense(2, bias=fixed) sigmoid dense(2, bias=fixed) sigmoid"
    flat = "0.15,0.2,0.25,0.3,0.35,0.35,0.4,0.45,0.5,0.55,0.6,0.6"
    by_name = json.dumps(
        {"0.weight": [[0.15, 0.2], [0.25, 0.3]], "0.bias": 0.35, "2.weight": [[0.4, 0.45], [0.5, 0.55]], "2.bias": 0.6}
    )
    (tmp_path / "w.json").write_text(by_name)
    for weights in (flat, by_name, str(tmp_path / "w.json")):
        tr = trace(model, weights, "0.05,0.1", "0.01,0.99", "sse", 0.5)
        assert round(tr.value("dE_total/dw5"), 9) == 0.082167041


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model": "input(20) dense(5) tanh dense(2)", "target": "1,0"},
            "117 weights and biases; explain prints at most 60",
        ),
        ({"model": "input(1, 4, 4) conv(2, 3) flatten dense(2)", "target": "1,0"}, "flat input"),
        ({"model": "input(2) dense(2)", "input": "1,2;3,4", "target": "0,1"}, "one target per example: 2 inputs, 1"),
        ({"model": "input(1) dense(1)", "input": ";".join(["1"] * 9), "target": "0"}, "a batch of at most 8"),
        ({"model": "input(2) relu dense(2)", "target": "1,0"}, "layer 1 is an activation"),
        ({"model": "input(2) dense(2)"}, "--target: give the 2 target outputs"),
        ({"model": "input(2) dense(2)", "input": "1,2,3", "target": "0,1"}, "the network has 2 inputs, got 3"),
        ({"model": "input(2) dense(2)", "input": "1,x", "target": "0,1"}, "give 2 numbers"),
        ({"model": "input(2) dense(2)", "target": "0,1", "weights": '{"0.weight": 1}'}, "missing 0.bias"),
        ({"model": "input(2) dense(2)", "target": "0,1", "weights": "1,2"}, "6 weights and biases, got 2"),
        ({"model": "input(2) dense(2)", "target": "0,1", "loss": "hinge"}, "--loss 'hinge'"),
        ({"model": "input(2) dense(2)", "target": "0,1", "lr": -1}, "must be a number > 0"),
    ],
)
def test_what_explain_cannot_show_is_one_clear_error(kwargs, message):
    with pytest.raises(ExplainError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        trace(**kwargs)


def test_the_cli_reports_errors_in_one_line(capsys):
    assert main(["explain", "--model", "dense(2)", "--target", "0,1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab explain: error: explain needs the input size") and err.count("\n") == 1
    with pytest.raises(SpecError):
        trace("dense(2)", target="0,1")


def test_a_batch_through_maxout_agrees_with_torch_autograd(capsys):
    """explain showed one example at a time and refused maxout; the slides' worked examples include a batch."""
    model, lr = "input(3) dense(4) maxout(2) dense(2)", 0.3
    x = [[0.5, -1.0, 2.0], [1.0, 0.2, -0.4], [-0.3, 0.8, 0.1]]
    target = [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    tr = trace(model, input=x, target=target, loss="cross_entropy", lr=lr, seed=4)
    state = build(parse(model), seed=4, dtype=np.float64).state_dict()
    w0, b0, w2, b2 = (torch.tensor(state[k], requires_grad=True) for k in ("0.weight", "0.bias", "2.weight", "2.bias"))

    def forward():
        net0 = torch.tensor(x, dtype=torch.float64) @ w0.T + b0
        net0.retain_grad()
        hidden = net0.view(3, 2, 2).max(dim=-1).values  # maxout(2): the largest of each 2 consecutive pieces
        out = hidden @ w2.T + b2
        return torch.nn.functional.cross_entropy(out, torch.tensor(target, dtype=torch.float64)), net0, hidden

    e, net0, hidden = forward()
    e.backward()
    assert tr.error_before == pytest.approx(e.item(), rel=1e-12)
    assert tr.value("E_total") == pytest.approx(e.item(), rel=1e-12)
    panel = tr.to_dict()["layers"][1]
    assert panel["kind"] == "dense + maxout" and [n["name"] for n in panel["neurons"]] == ["h1", "h2"]
    for k, neuron in enumerate(panel["neurons"]):
        assert neuron["y"] == pytest.approx(hidden[:, k].tolist(), rel=1e-12)
        for p, piece in enumerate(neuron["pieces"]):
            assert piece["name"] == f"h{k + 1}.{p + 1}"
            assert piece["e"] == pytest.approx(net0[:, 2 * k + p].tolist(), rel=1e-12)
            assert piece["d"] == pytest.approx(net0.grad[:, 2 * k + p].tolist(), rel=1e-9, abs=1e-15)
        for w in neuron["incoming"]:
            r, j = 2 * k + int(w["piece"][-1]) - 1, "i1 i2 i3".split().index(w["from"])
            assert w["grad"] == pytest.approx(w0.grad[r, j].item(), rel=1e-9, abs=1e-15)
    assert tr.value("w1+") == pytest.approx((w0[0, 0] - lr * w0.grad[0, 0]).item(), rel=1e-12)
    with torch.no_grad():
        for p in (w0, b0, w2, b2):
            p -= lr * p.grad
    assert tr.error_after == pytest.approx(forward()[0].item(), rel=1e-12)
    text = render_text(tr)
    assert "out_h1[2] = max(net_h1.1[2], net_h1.2[2])" in text and "E_total = (E[1] + E[2] + E[3]) / 3" in text
    assert "dE_total/dw1 = sum over the batch of d_h1.1[n] x i1[n]" in text
    assert main(["explain", "--model", model, "--input", "0.5,-1,2; 1,0.2,-0.4", "--target", "0,1;1,0"]) == 0
    assert "input: 0.5, -1, 2; 1, 0.2, -0.4" in capsys.readouterr().out


def test_mazurs_network_on_a_batch_of_two_is_the_mean_of_the_two_examples():
    one = trace(input="0.05,0.10", target="0.01,0.99")
    other = trace(input="0.5,0.2", target="0.99,0.01")
    both = trace(input="0.05,0.10; 0.5,0.2", target="0.01,0.99; 0.99,0.01")
    assert both.error_before == pytest.approx((one.error_before + other.error_before) / 2, rel=1e-12)
    for w in ("dE_total/dw1", "dE_total/dw5", "dE_total/dw8"):
        assert both.value(w) == pytest.approx((one.value(w) + other.value(w)) / 2, rel=1e-12)
    assert both.value("out_h1[1]") == one.value("out_h1") and both.value("E[2]") == other.error_before
