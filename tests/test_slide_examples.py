"""The lecture slides' worked examples, recomputed by the numpy engine.

Decks in ../shared/slides/: 000 (max pooling), 003 (the perceptron and the backpropagation example),
004 (convolution of a 6x6 image with two 3x3 filters). The slides round to 3 or 4 digits; the
backpropagation numbers are also checked to 8 digits against the full-precision values of the worked
example the slides follow (Matt Mazur, "A Step by Step Backpropagation Example").
"""

from __future__ import annotations

import numpy as np
import pytest

from layerlab import parse
from layerlab.numpy import SGD, build
from layerlab.numpy import activations as act
from layerlab.numpy.conv import Conv2D
from layerlab.numpy.dense import Dense
from layerlab.numpy.pooling import MaxPool2D

# ---------------------------------------------------------------------------------------------------
# Deck 003: the perceptron y = g(1 + 3 x1 - 2 x2)
# ---------------------------------------------------------------------------------------------------


def test_deck_003_perceptron():
    """x = (-1, 2): 1 + 3 * -1 - 2 * 2 = -6, and the sigmoid gives g(-6) ~ 0.002."""
    perceptron = Dense(np.array([[3.0, -2.0]]), np.array([1.0]))
    z = perceptron.forward(np.array([[-1.0, 2.0]]))
    assert z[0, 0] == -6.0
    assert act.Sigmoid().forward(z)[0, 0] == pytest.approx(0.002, abs=5e-4)  # 0.00247
    assert act.Step().forward(z)[0, 0] == 0.0  # the step perceptron says "no"


# ---------------------------------------------------------------------------------------------------
# Deck 003: backpropagation, 2 inputs - 2 hidden - 2 outputs, all logistic
# ---------------------------------------------------------------------------------------------------

INPUTS, TARGETS = np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])


def slide_network(bias: str = "true"):
    """w1..w4 (input -> hidden) and w5..w8 (hidden -> output) as (out, in) matrices; b1 = 0.35, b2 = 0.60.

    w1: i1->h1, w2: i2->h1, w3: i1->h2, w4: i2->h2, w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2.
    Each layer has one bias shared by its two units (b1 * 1 in net_h1 and net_h2).
    """
    spec = parse(f"input(2) dense(2, bias={bias}) sigmoid dense(2, bias={bias}) sigmoid")
    model = build(spec, dtype=np.float64, loss="sse")
    model.load_state_dict(
        {
            "0.weight": [[0.15, 0.20], [0.25, 0.30]],
            "0.bias": [0.35] * 2,
            "2.weight": [[0.40, 0.45], [0.50, 0.55]],
            "2.bias": [0.60] * 2,
        }
    )
    return model


def test_deck_003_forward_pass():
    model = slide_network()
    hidden = model.layers[1].forward(model.layers[0].forward(INPUTS))
    assert model.layers[0].forward(INPUTS)[0, 0] == pytest.approx(0.3775, abs=1e-12)  # net_h1
    np.testing.assert_allclose(hidden, [[0.593, 0.597]], atol=5e-4)
    assert hidden[0, 0] == pytest.approx(0.593269992, abs=1e-8)
    net_o = model.layers[2].forward(hidden)
    assert net_o[0, 0] == pytest.approx(1.106, abs=5e-4)
    out = model.forward(INPUTS)
    np.testing.assert_allclose(out, [[0.751, 0.773]], atol=5e-4)
    assert out[0, 0] == pytest.approx(0.75136507, abs=1e-8)
    per_output = 0.5 * (TARGETS - out) ** 2
    np.testing.assert_allclose(per_output, [[0.275, 0.024]], atol=5e-4)  # E_o1, E_o2
    e_total = model.loss.forward(out, TARGETS)
    assert e_total == pytest.approx(0.298, abs=5e-4)
    assert e_total == pytest.approx(0.298371109, abs=1e-8)


def test_deck_003_backward_pass_and_one_update():
    """eta = 0.5. The slides update only the weights w1..w8 (the biases stay 0.35 and 0.60), and that is
    what reproduces their E_total = 0.291 after the update; updating the biases too would give 0.280."""
    model = slide_network(bias="fixed")
    model.loss_and_grads(INPUTS, TARGETS)
    grads = model.grads
    # dE/dnet_o1 = dE/dout_o1 * dout_o1/dnet_o1 = 0.741 * 0.187, the gradient of o1's bias
    assert grads["2.bias"][0] == pytest.approx(0.741 * 0.187, abs=5e-4)
    assert grads["2.weight"][0, 0] == pytest.approx(0.082, abs=5e-4)  # dE/dw5 = 0.741 * 0.187 * 0.593
    assert grads["2.weight"][0, 0] == pytest.approx(0.082167041, abs=1e-9)
    assert grads["0.weight"][0, 0] == pytest.approx(0.00044, abs=5e-6)  # dE/dw1
    assert grads["0.weight"][0, 0] == pytest.approx(0.000438568, abs=1e-9)

    assert set(model.params) == {"0.weight", "2.weight"}  # bias=fixed: the optimiser sees the weights only
    SGD(lr=0.5).step(model.params, grads)  # backward used the old w5..w8, as the slides do
    np.testing.assert_allclose(model.params["2.weight"], [[0.359, 0.409], [0.511, 0.561]], atol=5e-4)
    # w1+ = 0.15 - 0.5 * 0.000438568 = 0.14978: the slide cuts it to 0.1497 (w2+..w4+ are rounded)
    np.testing.assert_allclose(model.params["0.weight"], [[0.1497, 0.1996], [0.2498, 0.2995]], atol=1e-4)
    assert model.params["2.weight"][0, 0] == pytest.approx(0.35891648, abs=1e-8)  # w5+
    assert model.params["0.weight"][0, 0] == pytest.approx(0.149780716, abs=1e-9)  # w1+
    np.testing.assert_array_equal(model.state_dict()["0.bias"], [0.35, 0.35])
    np.testing.assert_array_equal(model.state_dict()["2.bias"], [0.60, 0.60])

    e_after = model.loss.forward(model.forward(INPUTS), TARGETS)
    assert e_after == pytest.approx(0.291, abs=5e-4)
    # Mazur gives 0.291027924 from rounded intermediate values; exactly it is 0.2910277737
    assert e_after == pytest.approx(0.291027924, abs=1e-6)


def test_deck_003_updating_the_biases_too_would_not_give_the_slides_number():
    model = slide_network()
    model.train_step(INPUTS, TARGETS, SGD(lr=0.5))  # every parameter, biases included
    assert model.loss.forward(model.forward(INPUTS), TARGETS) == pytest.approx(0.2805, abs=5e-4)


# ---------------------------------------------------------------------------------------------------
# Deck 000: max pooling
# ---------------------------------------------------------------------------------------------------


def test_deck_000_max_pooling():
    x = np.array([[1, 1, 2, 4], [5, 6, 3, 8], [3, 2, 0, 1], [1, 2, 7, 5]], dtype=np.float64)
    y = MaxPool2D(size=2, stride=2).forward(x[None, None])
    np.testing.assert_array_equal(y[0, 0], [[6, 8], [3, 7]])


# ---------------------------------------------------------------------------------------------------
# Deck 004: convolution of a 6x6 image with two 3x3 filters
# ---------------------------------------------------------------------------------------------------

IMAGE = np.array(
    [
        [1, 0, 0, 0, 0, 1],
        [0, 1, 0, 0, 1, 0],
        [0, 0, 1, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [0, 1, 0, 0, 1, 0],
        [0, 0, 1, 0, 1, 0],
    ],
    dtype=np.float64,
)
FILTER_1 = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)  # a diagonal
FILTER_2 = np.array([[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]], dtype=np.float64)  # a vertical line

# The feature maps of the lecture (cross-correlation: the filter is not flipped), checked by hand:
# Filter 1 at the top left sees the image's diagonal 1, 1, 1 on its own diagonal: 3.
FEATURE_MAP_1 = [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
FEATURE_MAP_2 = [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]


def correlate_by_hand(image: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The slide's 'dot product' at every position, written out: an independent reference."""
    k = len(kernel)
    positions = range(0, len(image) - k + 1, stride)
    return np.array([[np.sum(image[i : i + k, j : j + k] * kernel) for j in positions] for i in positions])


def test_deck_004_filter_1_stride_1():
    y = Conv2D(FILTER_1[None, None], stride=1).forward(IMAGE[None, None])
    np.testing.assert_array_equal(y[0, 0], FEATURE_MAP_1)
    np.testing.assert_array_equal(correlate_by_hand(IMAGE, FILTER_1, 1), FEATURE_MAP_1)


def test_deck_004_filter_1_stride_2():
    y = Conv2D(FILTER_1[None, None], stride=2).forward(IMAGE[None, None])
    np.testing.assert_array_equal(y[0, 0], [[3, -3], [-3, 0]])  # every other row and column of map 1
    np.testing.assert_array_equal(correlate_by_hand(IMAGE, FILTER_1, 2), [[3, -3], [-3, 0]])


def test_deck_004_two_filters_give_a_2x4x4_output():
    conv = Conv2D(np.stack([FILTER_1, FILTER_2])[:, None])  # weight (2 filters, 1 channel, 3, 3)
    y = conv.forward(IMAGE[None, None])
    assert y.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(y[0], [FEATURE_MAP_1, FEATURE_MAP_2])
    np.testing.assert_array_equal(correlate_by_hand(IMAGE, FILTER_2, 1), FEATURE_MAP_2)
    # deck 004 "max pooling": each 4x4 feature map becomes a 2x2 image, one channel per filter
    pooled = MaxPool2D(2).forward(y)
    np.testing.assert_array_equal(pooled[0], [[[3, 0], [3, 1]], [[-1, 1], [0, 3]]])


# ---------------------------------------------------------------------------------------------------
# XOR: not linearly separable, learned by one hidden layer
# ---------------------------------------------------------------------------------------------------

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_is_learned_by_a_two_layer_network(seed):
    model = build(parse("input(2) dense(4) tanh dense(2)"), seed=seed)
    optimizer = SGD(lr=0.5, momentum=0.9)
    for _ in range(300):
        model.train_step(XOR_X, XOR_Y, optimizer)
    loss, accuracy = model.evaluate(XOR_X, XOR_Y)
    assert accuracy == 1.0
    assert loss < 0.01
    np.testing.assert_array_equal(model.predict(XOR_X), XOR_Y)


def test_xor_is_not_learned_without_a_hidden_layer():
    """A linear classifier gets at most 3 of the 4 XOR points right, however long it trains."""
    model = build(parse("input(2) dense(2)"), seed=0)
    optimizer = SGD(lr=0.5, momentum=0.9)
    for _ in range(300):
        model.train_step(XOR_X, XOR_Y, optimizer)
    loss, accuracy = model.evaluate(XOR_X, XOR_Y)
    assert accuracy <= 0.75
    assert loss > 0.6  # stuck near log 2 = 0.693
