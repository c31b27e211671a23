"""Torch augmentation: the same geometry as the numpy twins, dtypes, seeding on a torch.Generator, registry."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

import layerlab.torch.augment as T
from layerlab import augment as A
from layerlab.augment import AugmentError

RANDOM_SETTINGS = {
    "shift": {},
    "rotate": {"degrees": 15},
    "translate": {"max_shift": 2},
    "shear": {"degrees": 10},
    "scale": {"range": (0.8, 1.2)},
    "affine": {"degrees": 15, "max_shift": 2, "shear": 10, "scale": (0.9, 1.1)},
    "elastic": {"alpha": 34, "sigma": 4},
    "crop": {"padding": 2},
    "resized_crop": {"scale": (0.3, 1.0)},
    "flip": {},
}
FIXED = [  # transforms whose draws are all one value: the engines must give the same images
    ("rotate", {"degrees": (90, 90)}),
    ("rotate", {"degrees": (-33, -33)}),
    ("shear", {"degrees": (20, 20)}),
    ("scale", {"range": (0.8, 0.8)}),
    ("affine", {"degrees": (30, 30), "shear": (-10, -10), "scale": (1.2, 1.2)}),
    ("translate", {"max_shift": 0}),
    ("elastic", {"alpha": 0}),
    ("crop", {"size": (7, 9)}),
    ("resized_crop", {"scale": (1, 1), "ratio": (9 / 7, 9 / 7)}),
    ("flip", {"p": 1}),
    ("flip", {"p": 0}),
    ("shift", {"pixels": 0}),
]


def images(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.uniform(0, 1, shape).astype(dtype)


def generator(seed):
    return torch.Generator().manual_seed(seed)


def ramps(n, h, w):
    """Float64 images whose channel 0 holds each pixel's column and channel 1 its row."""
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return torch.stack([cols, rows]).expand(n, 2, h, w).clone()


# ---------------------------------------------------------------- the same geometry as numpy


def test_resample_and_affine_match_numpy():
    rng = np.random.default_rng(3)
    x = images((4, 3, 7, 9), np.float64)
    matrix, offset = rng.normal(0, 1, (4, 2, 2)), rng.normal(4, 3, (4, 2))
    out = T.resample(torch.from_numpy(x), torch.from_numpy(matrix), torch.from_numpy(offset), size=(5, 8))
    np.testing.assert_allclose(out.numpy(), A.resample(x, matrix, offset, size=(5, 8)), atol=1e-10)
    forward, shift = rng.normal(0, 1, (4, 2, 2)) + 2 * np.eye(2), rng.normal(0, 2, (4, 2))
    np.testing.assert_allclose(
        T.affine(torch.from_numpy(x), forward, shift).numpy(), A.affine(x, forward, shift), atol=1e-10
    )
    xu = images((4, 3, 7, 9))
    diff = T.affine(torch.from_numpy(xu), forward, shift).numpy().astype(int) - A.affine(xu, forward, shift)
    assert np.abs(diff).max() <= 1 and np.mean(diff != 0) < 0.01  # float32 vs float64 rounding of uint8


def test_displace_and_gaussian_blur_match_scipy():
    rng = np.random.default_rng(4)
    noise = rng.uniform(-1, 1, (2, 3, 7, 9))
    for sigma in (0.0, 0.3, 1.0, 4.0, 20.0):  # 20: a kernel far wider than the image
        blurred = T.gaussian_blur(torch.from_numpy(noise), sigma).numpy()
        np.testing.assert_allclose(blurred, gaussian_filter(noise, (0, 0, sigma, sigma), mode="nearest"), atol=1e-12)
    x, (dx, dy) = images((3, 2, 7, 9), np.float64), 3 * noise
    out = T.displace(torch.from_numpy(x), torch.from_numpy(dx), torch.from_numpy(dy))
    np.testing.assert_allclose(out.numpy(), A.displace(x, dx, dy), atol=1e-10)


def test_crop_flip_and_rotate_match_numpy():
    x = images((5, 3, 6, 8))
    top, left = np.array([0, 1, 2, 3, 4]), np.array([4, 3, 2, 1, 0])
    out = T.crop(torch.from_numpy(x), torch.from_numpy(top), torch.from_numpy(left), (5, 7), padding=2)
    np.testing.assert_array_equal(out.numpy(), A.crop(x, top, left, (5, 7), padding=2))
    np.testing.assert_array_equal(T.crop(torch.from_numpy(x), 2, 2, (6, 8), padding=2).numpy(), x)
    np.testing.assert_array_equal(T.flip(torch.from_numpy(x)).numpy(), A.flip(x))
    square = images((3, 2, 7, 7))
    np.testing.assert_array_equal(T.rotate(torch.from_numpy(square), 90).numpy(), np.rot90(square, 1, axes=(2, 3)))
    np.testing.assert_array_equal(T.affine(torch.from_numpy(x), None, (2, -1)).numpy(), A.shift(x, dy=-1, dx=2))


@pytest.mark.parametrize(("name", "params"), FIXED, ids=[f"{n}{p}" for n, p in FIXED])
def test_fixed_transforms_match_numpy(name, params):
    x = images((4, 2, 7, 9), np.float64)
    if name == "rotate" and params["degrees"][0] == 90:
        x = x[..., :7]  # a quarter turn maps a square grid onto itself
    numpy_out = A.make_augmentation([(name, params)])(x, np.random.default_rng(0))
    torch_out = T.make_augmentation([(name, params)])(torch.from_numpy(x), generator(0))
    assert torch_out.dtype == torch.float64 and torch_out.shape == numpy_out.shape
    np.testing.assert_allclose(torch_out.numpy(), numpy_out, atol=1e-10)


# ---------------------------------------------------------------- random behaviour, as for numpy


def test_random_shift_picks_one_of_the_five_numpy_copies():
    x = np.repeat(images((1, 1, 6, 6)), 200, axis=0)
    copies = A.shift_expand(x[:1], np.zeros(1))[0]
    out = T.RandomShift()(torch.from_numpy(x), generator(1)).numpy()
    which = [[i for i in range(5) if np.array_equal(o, copies[i])] for o in out]
    assert all(len(w) == 1 for w in which)
    assert np.bincount([w[0] for w in which], minlength=5).min() >= 20


def test_random_crop_cuts_windows_of_the_padded_image_everywhere():
    x = torch.arange(1, 43, dtype=torch.uint8).reshape(1, 1, 6, 7).repeat(300, 1, 1, 1)
    out = T.RandomCrop(size=(4, 5), padding=1)(x, generator(0)).numpy()
    assert out.shape == (300, 1, 4, 5)
    padded = np.pad(x[0, 0].numpy(), 1)
    windows = {(t, l): padded[t : t + 4, l : l + 5] for t in range(5) for l in range(5)}
    found = [[key for key, w in windows.items() if np.array_equal(o[0], w)] for o in out]
    assert all(len(f) == 1 for f in found) and {f[0] for f in found} == set(windows)


def test_random_resized_crop_magnifies_its_box():
    out = T.RandomResizedCrop(scale=(0.25, 0.25), ratio=(1, 1))(ramps(20, 32, 32), generator(0))
    torch.testing.assert_close(out[:, 0].diff(dim=2), torch.full((20, 32, 31), 15 / 31, dtype=torch.float64))
    torch.testing.assert_close(out[:, 1].diff(dim=1), torch.full((20, 31, 32), 15 / 31, dtype=torch.float64))
    assert out.min() >= 0 and out.max() <= 31 and out[:, 0, 0, 0].max() - out[:, 0, 0, 0].min() > 5
    assert T.RandomResizedCrop(size=(20, 24))(torch.zeros(3, 3, 32, 32, dtype=torch.uint8)).shape == (3, 3, 20, 24)


def test_elastic_displacement_has_simard_size_and_smoothness():
    alpha, sigma = 34.0, 4.0
    x = ramps(16, 64, 64)
    moved = (T.ElasticDistortion(alpha, sigma)(x, generator(0)) - x).numpy()
    dx, dy = moved[:, 0, 16:48, 16:48], moved[:, 1, 16:48, 16:48]
    t = np.arange(-16, 17)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    expected = alpha / np.sqrt(3) * np.sum(kernel**2)
    assert 0.8 * expected < dx.std() < 1.25 * expected and 0.8 * expected < dy.std() < 1.25 * expected
    assert np.corrcoef(dx[..., 1:].ravel(), dx[..., :-1].ravel())[0, 1] > 0.95
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < 0.2
    twice = (T.ElasticDistortion(2 * alpha, sigma)(x, generator(0)) - x).numpy()
    np.testing.assert_allclose(twice[:, :, 24:40, 24:40], 2 * moved[:, :, 24:40, 24:40], atol=1e-9)


# ---------------------------------------------------------------- what every transform keeps


@pytest.mark.parametrize("name", list(RANDOM_SETTINGS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_transforms_keep_shape_dtype_and_place(name, dtype):
    x = torch.full((12, 3, 16, 16), 10, dtype=dtype) * torch.arange(1, 13, dtype=dtype)[:, None, None, None]
    out = T.make_augmentation([(name, RANDOM_SETTINGS[name])])(x, generator(0))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    torch.testing.assert_close(out[:, :, 8, 8], x[:, :, 8, 8])  # image i stays at i: labels remain valid


@pytest.mark.parametrize("name", list(RANDOM_SETTINGS))
def test_seeded_and_drawn_per_image(name):
    transform = T.make_augmentation([(name, RANDOM_SETTINGS[name])])
    x = torch.from_numpy(np.repeat(images((1, 2, 11, 13)), 16, axis=0))
    first = transform(x, generator(7))
    assert torch.equal(transform(x, generator(7)), first)
    assert not torch.equal(transform(x, generator(8)), first)
    assert len({o.numpy().tobytes() for o in first}) > 1
    assert transform(x).shape == x.shape  # no generator: torch's global one


# ---------------------------------------------------------------- registry and errors


def test_registry_mirrors_numpy():
    assert list(T.AUGMENTATIONS) == list(A.AUGMENTATIONS)
    for name, cls in T.AUGMENTATIONS.items():
        assert issubclass(cls, A.AUGMENTATIONS[name]) and cls.__name__ == A.AUGMENTATIONS[name].__name__
        assert repr(cls(**RANDOM_SETTINGS[name])) == repr(A.AUGMENTATIONS[name](**RANDOM_SETTINGS[name]))
    augment = T.make_augmentation([("rotate", {"degrees": 15}), ("elastic", {"alpha": 34, "sigma": 4})])
    assert [type(t) for t in augment.transforms] == [T.RandomRotation, T.ElasticDistortion]
    with pytest.raises(AugmentError, match="RandomRotation: degrees must be a number d >= 0"):
        T.RandomRotation(degrees=-1)


def test_bad_inputs_say_what_to_do():
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(AugmentError, match="take a torch.Generator or None, got Generator; pass torch.Generator"):
        T.RandomRotation()(x, np.random.default_rng(0))
    with pytest.raises(AugmentError, match=r"as a tensor \(N, C, H, W\); got shape \(4, 28, 28\)"):
        T.HorizontalFlip()(x[:, 0], generator(0))
    with pytest.raises(AugmentError, match="does not fit in 28x28 images; choose a smaller size or more padding"):
        T.RandomCrop(size=32, padding=1)(x, generator(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_transform_waits_for_the_gpu():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for name, params in RANDOM_SETTINGS.items():
            out = T.make_augmentation([(name, params)])(x, g)
            assert out.device == x.device
    finally:
        torch.cuda.set_sync_debug_mode("default")
