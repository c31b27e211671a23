"""The model spec: grammar, Python API, shape inference, parameter counts and error messages."""

import pytest
import torch

from layerlab import spec as S
from layerlab.spec import Call, Spec, SpecError, parse

KERAS_CNN = "input(1, 28, 28) conv(25, 3) maxpool(2) conv(50, 3) maxpool(2) flatten dense(100) relu dense(10) softmax"


def test_slide_keras_cnn_shapes_and_parameters():
    """Deck 004 "CNN in Keras": 25x26x26, 25x13x13, 50x11x11 (225 weights per filter), 50x5x5, 1250."""
    resolved = parse(KERAS_CNN).resolve()
    shapes = [r.output_shape for r in resolved]
    assert shapes == [(25, 26, 26), (25, 13, 13), (50, 11, 11), (50, 5, 5), (1250,), (100,), (100,), (10,), (10,)]
    conv2 = resolved[2]
    assert conv2.params["weight"] == (50, 25, 3, 3)
    assert 25 * 3 * 3 == 225  # weights per filter of the second conv, as the slide asks
    assert [r.num_params for r in resolved] == [250, 0, 11300, 0, 0, 125100, 0, 1010, 0]
    assert parse(KERAS_CNN).num_params() == 137_660


def test_parameter_total_equals_the_equivalent_torch_model():
    torch_model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 25, 3),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(25, 50, 3),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(1250, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )
    assert parse(KERAS_CNN).num_params() == sum(p.numel() for p in torch_model.parameters())
    bn = parse("input(3, 8, 8) conv(4, 3, bias=false) batchnorm relu flatten dense(5) batchnorm")
    torch_bn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, bias=False),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(144, 5),
        torch.nn.BatchNorm1d(5),
    )
    assert bn.num_params() == sum(p.numel() for p in torch_bn.parameters()) == 108 + 8 + 725 + 10


def test_summary_table_lists_layers_shapes_and_total():
    table = parse(KERAS_CNN).summary()
    assert "conv(25, 3)" in table and "25 x 26 x 26" in table and "50 x 5 x 5" in table
    assert table.splitlines()[-1] == "trainable parameters: 137,660"
    bn = parse("input(4) batchnorm dense(2)").summary()
    assert "non-trainable values (batch-norm running averages): 8" in bn


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("input(3, 32, 32) conv(8, 3, padding=same)", (8, 32, 32)),
        ("input(3, 32, 32) conv(8, 3, stride=2, padding=same)", (8, 16, 16)),
        ("input(3, 31, 31) conv(8, 5, stride=2)", (8, 14, 14)),
        ("input(3, 10, 10) conv(8, 3, padding=2)", (8, 12, 12)),
        ("input(2, 9, 9) maxpool(3, stride=2)", (2, 4, 4)),
        ("input(2, 9, 9) l2pool(2)", (2, 4, 4)),
        ("input(2, 9, 9) avgpool(3, stride=1)", (2, 7, 7)),
        ("input(6, 5, 5) globalavgpool", (6,)),
        ("input(6, 5, 5) maxout(3)", (2, 5, 5)),
        ("input(12) maxout(4)", (3,)),
        ("input(1, 28, 28) conv(20, 5) maxpool(2) conv(40, 5) maxpool(2) flatten", (640,)),
    ],
)
def test_shape_inference(text, shape):
    assert parse(text).output_shape() == shape


def test_text_and_python_api_build_the_same_spec_and_round_trip():
    text = (
        "input(1, 28, 28) conv(20, 5, init=normal(0.01), padding=same) leakyrelu(slope=0.1) maxpool(2) "
        "flatten dropout(0.5) dense(10, bias=false)"
    )
    built = Spec(
        [
            S.conv(20, 5, padding="same", init=Call("normal", (0.01,))),
            S.leakyrelu(slope=0.1),
            S.maxpool(2),
            "flatten",
            S.dropout(0.5),
            S.dense(10, bias=False),
        ],
        input_shape=(1, 28, 28),
    )
    assert parse(text) == built
    assert parse(str(built)) == built
    assert str(built) == (
        "input(1, 28, 28) conv(20, 5, padding=same, init=normal(0.01)) leakyrelu(slope=0.1) "
        "maxpool(2) flatten dropout dense(10, bias=false)"
    )


def test_defaults_aliases_and_keyword_values():
    conv = parse("conv2d(4, 3)").layers[0]
    assert conv.kind == "conv"
    assert conv.args == {
        "filters": 4,
        "kernel": 3,
        "stride": 1,
        "padding": "valid",
        "init": Call("glorot_uniform"),
        "bias": True,
        "bias_init": Call("zeros"),
    }
    assert parse("conv(4, 3, padding=0)").layers[0].args["padding"] == "valid"
    assert parse("dropout(p=0.25)").layers[0].args["p"] == 0.25
    assert parse("dense(10, init=he_normal)").layers[0].args["init"] == Call("he_normal")


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("conv(20 5)", "unexpected '5'", 9),
        ("conv(20, 5) relu maxpol(2)", "unknown layer 'maxpol' (did you mean 'maxpool'?)", 18),
        ("dense(10) $", "unexpected character '$'", 11),
        ("dense(10, 3, 4, 5, 6)", "dense takes at most 4 arguments", 1),
        ("dense", "dense needs the argument 'units'", 1),
        ("conv(8, 3, strides=2)", "conv has no argument 'strides'", 1),
        ("dense(1.5)", "units=1.5 must be a whole number", 1),
        ("dropout(1.0)", "p=1.0 must be less than 1.0", 1),
        ("conv(8, 3, padding=full)", "must be 'valid', 'same' or a number of pixels", 1),
        ("dense(8, init=gaussian)", "init='gaussian' must be one of: normal", 1),
        ("dense(8, init=he_normal(2))", "he_normal takes", 1),
        ("dense(units=4, 3)", "a positional argument after a keyword argument", 16),
        ("input(1, 28) dense(3)", "input(...) has the wrong number of sizes", 1),
        ("", "empty model", 1),
    ],
)
def test_parse_errors_point_at_the_token_and_say_what_was_expected(text, message, column):
    with pytest.raises(SpecError) as info:
        parse(text)
    lines = str(info.value).splitlines()
    assert message in lines[0]
    assert lines[0].endswith(f"at column {column}")
    assert lines[1].strip() == text.strip()
    assert lines[2].index("^") - 2 == column - 1  # the caret sits under the offending token
    assert lines[3].startswith("  expected ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input(1, 28, 28) conv(20, 5) dense(10)",
            "layer 2 `dense(10)` does not fit its input of shape (20, 24, 24): dense expects a flat input",
        ),
        ("input(784) conv(4, 3)", "layer 1 `conv(4, 3)` does not fit its input of shape (784,): conv expects an image"),
        ("input(1, 4, 4) conv(2, 5)", "kernel 5x5 is larger than the padded input 4x4"),
        ("input(1, 4, 4) conv(2, 2, padding=same)", "padding=same needs an odd kernel size"),
        (
            "input(3, 6, 6) maxpool(2) maxpool(2) maxpool(2)",
            "layer 3 `maxpool(2)` does not fit its input of shape (3, 1, 1)",
        ),
        ("input(10) maxout(3)", "maxout(3) needs a feature/channel count divisible by 3, got 10"),
        ("input(2, 4, 4) softmax", "softmax expects a flat input"),
    ],
)
def test_shape_mismatches_name_the_layer_and_both_shapes(text, message):
    with pytest.raises(SpecError) as info:
        parse(text).resolve()
    assert message in str(info.value)


def test_missing_input_shape_is_explained():
    with pytest.raises(SpecError, match="no input shape"):
        parse("dense(3)").resolve()
    assert parse("dense(3)").output_shape((5,)) == (3,)
    with pytest.raises(SpecError, match="input shape must be"):
        parse("dense(3)", input_shape=(1, 28))


def test_python_api_errors():
    with pytest.raises(SpecError, match="unknown layer 'convolution'"):
        S.layer("convolution", 3, 3)
    with pytest.raises(AttributeError):
        S.not_a_layer  # noqa: B018
    with pytest.raises(SpecError, match="a Spec holds layers"):
        Spec([3])
