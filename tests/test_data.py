"""Dataset loaders on small files written here in the real formats, splits, binary(), the embedded set."""

import gzip
import io
import os
import shutil
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerlab.data import DATASETS, DataError, Dataset, Split, catalog, load
from layerlab.data.cifar import RECORD, read_cifar10
from layerlab.data.folder import read_folder
from layerlab.data.idx import read_images, read_labels, read_split
from layerlab.data.splits import binary, nielsen_split, random_split

SHARED = Path("/work/shared/data")
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, and no system-wide dataset folder."""
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(catalog, "SYSTEM_DATASETS", tmp_path / "no-system-datasets")
    return tmp_path / "cache"


# --- IDX ---------------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic_ndim: int | None = None) -> bytes:
    ndim = array.ndim if magic_ndim is None else magic_ndim
    return bytes([0, 0, 0x08, ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write(path: Path, data: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_and_labels_round_trip(tmp_path, gz):
    images = rng.integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = np.array([3, 0, 9, 1, 1, 7, 2], np.uint8)
    x = read_images(write(tmp_path / "img", idx_bytes(images), gz))
    y = read_labels(write(tmp_path / "lab", idx_bytes(labels), gz))
    assert x.dtype == np.uint8 and x.shape == (7, 1, 5, 6)
    np.testing.assert_array_equal(x[:, 0], images)
    assert y.dtype == np.int64 and y.tolist() == [3, 0, 9, 1, 1, 7, 2]
    x[0, 0, 0, 0] = 1  # arrays are writable, not views of the file bytes


def test_idx_bad_magic_names_file_and_both_numbers(tmp_path):
    labels = write(tmp_path / "labels.gz", idx_bytes(np.zeros(4, np.uint8)), gz=True)
    with pytest.raises(DataError, match=r"labels\.gz: bad magic number 0x00000801, expected 0x00000803"):
        read_images(labels)
    with pytest.raises(DataError, match="bad magic number 0x1f8b0800"):  # gzip inside gzip
        read_labels(write(tmp_path / "double.gz", gzip.compress(labels.read_bytes()), gz=True))


def test_idx_truncated_and_oversized_data(tmp_path):
    data = idx_bytes(np.zeros((7, 5, 6), np.uint8))
    with pytest.raises(DataError, match=r"is truncated: its header declares shape 7x5x6 \(210 bytes\) but 180 bytes"):
        read_images(write(tmp_path / "short", data[:-30], gz=False))
    with pytest.raises(DataError, match="has extra bytes at the end"):
        read_images(write(tmp_path / "long", data + b"\0", gz=True))
    with pytest.raises(DataError, match="ends inside its 16-byte header"):
        read_images(write(tmp_path / "header", data[:10], gz=False))
    with pytest.raises(DataError, match="too short to be an IDX file"):
        read_labels(write(tmp_path / "tiny", b"\0\0", gz=False))


def test_idx_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"cut\.gz is truncated: the gzip stream ends early"):
        read_images(cut)


def test_idx_split_counts_must_agree_and_content_md5_is_checked(tmp_path):
    images = write(tmp_path / "img.gz", idx_bytes(np.zeros((3, 2, 2), np.uint8)), gz=True)
    labels = write(tmp_path / "lab.gz", idx_bytes(np.zeros(2, np.uint8)), gz=True)
    with pytest.raises(DataError, match=r"img\.gz holds 3 images but .*lab\.gz holds 2 labels"):
        read_split(images, labels)
    with pytest.raises(DataError, match=r"img\.gz is not the original file: .* published value is 0{32}"):
        read_images(images, content_md5="0" * 32)


# --- CIFAR-10 binary ---------------------------------------------------------------------------------------

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_records(n: int, first_label: int = 0) -> tuple[bytes, np.ndarray, np.ndarray]:
    labels = (np.arange(n) + first_label) % 10
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(n, -1)], axis=1)
    return records.tobytes(), images, labels


def write_cifar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def cifar_members(counts=(3, 2, 1, 2, 3), test=4):
    members, train_x, train_y = {}, [], []
    for i, n in enumerate(counts, start=1):
        members[f"data_batch_{i}.bin"], x, y = cifar_records(n, first_label=i)
        train_x.append(x)
        train_y.append(y)
    members["test_batch.bin"], test_x, test_y = cifar_records(test)
    members["batches.meta.txt"] = ("\n".join(CIFAR_NAMES) + "\n\n").encode()
    return members, (np.concatenate(train_x), np.concatenate(train_y)), (test_x, test_y)


def test_cifar_binary_archive_is_read_in_order(tmp_path):
    members, (train_x, train_y), (test_x, test_y) = cifar_members()
    train, test, classes = read_cifar10(write_cifar(tmp_path / "c.tar.gz", members))
    assert classes == tuple(CIFAR_NAMES)
    assert train.x.shape == (11, 3, 32, 32) and train.x.dtype == np.uint8 and train.y.dtype == np.int64
    np.testing.assert_array_equal(train.x, train_x)  # red plane first: (channels, height, width) as stored
    np.testing.assert_array_equal(train.y, train_y)
    np.testing.assert_array_equal(test.x, test_x)
    assert test.y.tolist() == [0, 1, 2, 3]


def test_cifar_wrong_record_size(tmp_path):
    members, _, _ = cifar_members()
    members["data_batch_3.bin"] += b"\x07"
    with pytest.raises(DataError, match=rf"data_batch_3\.bin in .* has {RECORD + 1:,} bytes, not a whole number"):
        read_cifar10(write_cifar(tmp_path / "c.tar.gz", members))


def test_cifar_truncated_or_incomplete_archive(tmp_path):
    members, _, _ = cifar_members(counts=(40, 40, 40, 40, 40), test=40)
    archive = write_cifar(tmp_path / "c.tar.gz", members)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size * 6 // 10])
    with pytest.raises(DataError, match=r"cut\.tar\.gz is truncated or not a gzip-compressed tar archive"):
        read_cifar10(cut)
    del members["test_batch.bin"]
    with pytest.raises(DataError, match=r"lacks test_batch\.bin: use the binary version"):
        read_cifar10(write_cifar(tmp_path / "partial.tar.gz", members))


def test_cifar_label_beyond_the_class_names(tmp_path):
    members, _, _ = cifar_members()
    members["batches.meta.txt"] = b"cat\ndog\n"
    with pytest.raises(DataError, match=r"has label \d but batches\.meta\.txt names only 2 classes"):
        read_cifar10(write_cifar(tmp_path / "c.tar.gz", members))


# --- image folders and zips --------------------------------------------------------------------------------


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def image_tree(size=(5, 4)) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """Files of a train/test image folder (two classes, one image grey) and each split's expected (N, 3, H, W)."""
    files, expected = {}, {"train": [], "test": []}
    for split, per_class in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            for i in range(per_class):
                rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                if (split, cls, i) == ("train", "dog", 1):
                    grey = rgb[..., 0]
                    files[f"{split}/{cls}/{i:03d}.png"] = png(grey)
                    rgb = np.repeat(grey[..., None], 3, axis=2)
                else:
                    files[f"{split}/{cls}/{i:03d}.png"] = png(rgb)
                expected[split].append(rgb.transpose(2, 0, 1))
    files["train/notes.txt"] = b"not an image, ignored"
    return files, {split: np.stack(images) for split, images in expected.items()}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes], top: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(top + name, data)
        archive.writestr("__MACOSX/._junk", b"resource fork")
    return path


def test_image_folder_on_disk_and_in_a_zip_give_the_same_arrays(tmp_path):
    files, expected = image_tree()
    from_dir, classes = read_folder(write_tree(tmp_path / "imgs", files))
    from_zip, zip_classes = read_folder(write_zip(tmp_path / "imgs.zip", files, top="imgs/"))
    assert classes == zip_classes == ("cat", "dog")
    for splits in (from_dir, from_zip):
        assert set(splits) == {"train", "test"}
        np.testing.assert_array_equal(splits["train"].x, expected["train"])  # grey image promoted to RGB
        np.testing.assert_array_equal(splits["test"].x, expected["test"])
        assert splits["train"].y.tolist() == [0, 0, 0, 1, 1, 1] and splits["test"].y.tolist() == [0, 0, 1, 1]


def test_image_folder_greyscale_and_jpeg(tmp_path):
    grey = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    smooth = np.full((6, 6, 3), 120, np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(smooth).save(jpeg, "JPEG", quality=95)
    write_tree(tmp_path / "g", {"a/1.png": png(grey), "b/2.PNG": png(grey.T)})
    splits, classes = read_folder(tmp_path / "g")
    assert splits["all"].x.shape == (2, 1, 6, 6) and classes == ("a", "b")
    np.testing.assert_array_equal(splits["all"].x[1, 0], grey.T)
    write_tree(tmp_path / "j", {"a/1.jpg": jpeg.getvalue(), "b/1.jpeg": jpeg.getvalue()})
    x = read_folder(tmp_path / "j")[0]["all"].x
    assert x.shape == (2, 3, 6, 6) and np.abs(x.astype(int) - 120).max() <= 2


def test_image_of_the_wrong_size_names_the_file_and_both_sizes(tmp_path):
    files, _ = image_tree()
    files["train/dog/002.png"] = png(np.zeros((6, 4, 3), np.uint8))
    for root in (write_tree(tmp_path / "d", files), write_zip(tmp_path / "d.zip", files)):
        with pytest.raises(DataError, match=r"train/dog/002\.png is 6x4 pixels .*/train/cat/000\.png is 5x4"):
            read_folder(root)


def test_folder_structure_errors(tmp_path):
    files, _ = image_tree()
    (write_tree(tmp_path / "e", files) / "train" / "owl").mkdir()
    with pytest.raises(DataError, match=r"class folder .*e/train/owl has no images"):
        read_folder(tmp_path / "e")
    write_tree(tmp_path / "flat", {"1.png": png(np.zeros((2, 2), np.uint8))})
    with pytest.raises(DataError, match="has no class folders"):
        read_folder(tmp_path / "flat")
    with pytest.raises(DataError, match="has a train/ folder but no test/ folder"):
        read_folder(write_tree(tmp_path / "t", {k: v for k, v in files.items() if k.startswith("train/")}))
    extra = {**files, "test/owl/1.png": files["test/cat/000.png"]}
    with pytest.raises(DataError, match=r"test/ has class folders \['owl'\] that train/ lacks"):
        read_folder(write_zip(tmp_path / "x.zip", extra))
    broken = {**files, "test/cat/000.png": b"not a png"}
    with pytest.raises(DataError, match=r"test/cat/000\.png is not a readable PNG or JPEG image"):
        read_folder(write_tree(tmp_path / "b", broken))
    with pytest.raises(DataError, match="does not exist"):
        read_folder(tmp_path / "nowhere")
    with pytest.raises(DataError, match="neither a folder nor a zip file"):
        read_folder(tmp_path / "flat" / "1.png")


def test_damaged_zips(tmp_path):
    files, _ = image_tree()
    whole = write_zip(tmp_path / "whole.zip", files).read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.zip is not a readable zip file \(truncated or damaged\?\)"):
        read_folder(tmp_path / "cut.zip")
    start = whole.index(files["test/dog/001.png"])  # stored uncompressed: flip a byte inside the member
    (tmp_path / "flipped.zip").write_bytes(whole[: start + 50] + bytes([whole[start + 50] ^ 1]) + whole[start + 51 :])
    with pytest.raises(DataError, match=r"cannot read .*flipped\.zip/test/dog/001\.png \(Bad CRC-32"):
        read_folder(tmp_path / "flipped.zip")


# --- splits and binary -------------------------------------------------------------------------------------


def numbered(n: int, classes: int = 4) -> Split:
    return Split(np.arange(n)[:, None], np.arange(n) % classes)


def test_nielsen_split_keeps_the_order():
    train, val = nielsen_split(numbered(60), val_size=10)
    assert train.x[:, 0].tolist() == list(range(50)) and val.x[:, 0].tolist() == list(range(50, 60))
    with pytest.raises(DataError, match="a validation split of 60 needs more than"):
        nielsen_split(numbered(60), val_size=60)


def test_random_split_is_seeded_disjoint_and_ordered():
    data = numbered(103)
    train, val = random_split(data, 0.25, seed=3)
    again, _ = random_split(data, 0.25, seed=3)
    other, _ = random_split(data, 0.25, seed=4)
    assert (len(train), len(val)) == (77, 26)
    np.testing.assert_array_equal(train.x, again.x)
    assert not np.array_equal(train.x, other.x)
    assert sorted(train.x[:, 0].tolist() + val.x[:, 0].tolist()) == list(range(103))
    assert np.all(np.diff(train.x[:, 0]) > 0) and np.all(np.diff(val.x[:, 0]) > 0)
    assert len(random_split(data, 0.0)[1]) == 0 and len(random_split(data, 0.001)[1]) == 1
    with pytest.raises(DataError, match="at least 0 and below 1"):
        random_split(data, 1.0)


def small_dataset() -> Dataset:
    split = numbered(20)
    return Dataset("toy", split, split.take(slice(0, 8)), split.take(slice(8, 16)), classes=("a", "b", "c", "d"))


def test_binary_one_class_against_the_rest():
    two = binary(small_dataset(), positive=0)
    assert two.classes == ("not a", "a") and two.name == "toy (a vs rest)"
    assert len(two.train) == 20 and two.train.y.tolist() == [1, 0, 0, 0] * 5
    assert two.val.y.tolist() == [1, 0, 0, 0, 1, 0, 0, 0]
    assert "made binary: a (label 1) vs the rest (label 0)" in two.source


def test_binary_two_chosen_classes_drops_the_others():
    two = binary(small_dataset(), positive=["d"], negative=[1])
    assert two.classes == ("b", "d") and len(two.train) == 10
    assert two.train.x[:, 0].tolist() == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    assert two.train.y.tolist() == [0, 1] * 5
    with pytest.raises(DataError, match=r"toy has no class 'e'; give an index below 4 or one of a, b, c, d"):
        binary(small_dataset(), positive="e")
    with pytest.raises(DataError, match=r"classes \[1\] are both positive and negative"):
        binary(small_dataset(), positive=[0, 1], negative="b")


# --- load(): the catalog -----------------------------------------------------------------------------------


def test_mnist_small_is_embedded_and_split_8000_1000_1000():
    data = load("mnist-small")
    assert (len(data.train), len(data.val), len(data.test)) == (8000, 1000, 1000)
    assert data.input_shape == (1, 28, 28) and data.train.x.dtype == np.uint8 and data.num_classes == 10
    assert data.source == "embedded copy of the 10,000-image MNIST test set, split 8000/1000/1000"
    assert data.test.y[:10].tolist() == [0, 4, 5, 0, 4, 1, 3, 1, 9, 2]  # the fixed permutation, pinned
    counts = np.bincount(np.concatenate([data.train.y, data.val.y, data.test.y]))
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # each test image once
    assert load("mnist-small", seed=5).test.y[:10].tolist() == [0, 4, 5, 0, 4, 1, 3, 1, 9, 2]


def test_load_options_val_limit_binary():
    data = load("mnist-small", val=0.1, seed=1, limit=500, binary="3 vs 5")
    assert data.classes == ("5", "3") and set(data.train.y.tolist()) == {0, 1}
    assert len(data.train) == 500 and "validation: a random 10% of the training images (seed 1)" in data.source
    full = load("mnist-small", val=0.1, seed=1)
    assert len(full.train) + len(full.val) == 9000 and len(full.val) == 900
    assert load("mnist-small", binary=0).classes == ("not 0", "0")
    assert len(load("mnist-small", val=0).val) == 0
    with pytest.raises(DataError, match="limit is the number of training images"):
        load("mnist-small", limit=0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match="unknown dataset 'minst'; known: mnist-small, cifar10-small, mnist, fashion"):
        load("minst")
    assert set(DATASETS) == {
        "mnist-small",
        "cifar10-small",
        "mnist",
        "fashion-mnist",
        "cifar10",
        "circle",
        "xor",
        "gauss",
        "spiral",
        "plane",
        "multigauss",
        "curve",
    }


def test_playground_sets_are_generated_with_their_options():
    data = load("xor", val=0.2, seed=3, options={"n": 100, "noise": 5})
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 50)
    assert "noise 5%" in data.source
    with pytest.raises(DataError, match="takes no options"):
        load("mnist-small", options={"noise": 5})


def test_missing_files_without_download_say_where_to_put_them(tmp_path):
    message = rf"{tmp_path} has no train-images-idx3-ubyte\(\.gz\); expected files for MNIST"
    with pytest.raises(DataError, match=message):
        load("mnist", data_dir=tmp_path, download=False)


def test_local_mnist_copies_are_checked_against_the_published_content(tmp_path):
    for name, array in [
        ("train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8)),
        ("train-labels-idx1-ubyte.gz", np.zeros(2, np.uint8)),
        ("t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8)),  # uncompressed copies count too
        ("t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8)),
    ]:
        (tmp_path / "mnist").mkdir(exist_ok=True)
        write(tmp_path / "mnist" / name, idx_bytes(array), gz=name.endswith(".gz"))
    with pytest.raises(DataError, match=r"mnist/train-images-idx3-ubyte\.gz is not the original file"):
        load("mnist", data_dir=tmp_path, download=False)


def test_local_cifar_archive_is_checked_by_sha256(tmp_path):
    members, _, _ = cifar_members()
    write_cifar(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(DataError, match=r"not the original cifar-10-binary\.tar\.gz: its sha256 is [0-9a-f]{64}"):
        load("cifar10", data_dir=tmp_path, download=False)


def test_cifar10_falls_back_to_the_shared_jpeg_zip(tmp_path):
    files, _ = image_tree(size=(32, 32))
    (tmp_path / "cifar10").mkdir()
    write_zip(tmp_path / "cifar10" / "cifar10-jpeg-q75.zip", files)
    data = load("cifar10", data_dir=tmp_path, download=False, val=0)
    assert data.source.startswith("CIFAR-10 as JPEG images (quality 75, lossy: not the official binary)")
    assert (len(data.train), len(data.test), data.classes) == (6, 4, ("cat", "dog"))


def test_folder_by_path_is_shuffled_split_and_cached(tmp_path, private_cache):
    files = {
        f"{cls}/{i}.png": png(np.full((3, 3), 10 * k + i, np.uint8)) for k, cls in enumerate("xyz") for i in range(10)
    }
    root = write_tree(tmp_path / "pool", files)
    data = load(str(root), val=0.25, seed=2)
    assert data.name == "pool" and data.classes == ("x", "y", "z")
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)  # test: a fixed 20%, then val 25%
    everything = np.concatenate([data.train.x, data.val.x, data.test.x])[:, 0, 0, 0]
    assert sorted(everything.tolist()) == sorted(10 * k + i for k in range(3) for i in range(10))
    assert data.train.y[:9].tolist() != sorted(data.train.y[:9].tolist())  # shuffled, not class by class
    np.testing.assert_array_equal(data.train.y, (data.train.x[:, 0, 0, 0] // 10))
    assert np.array_equal(load(str(root), val=0.25, seed=3).test.x, data.test.x)  # the test set ignores seed

    [cached] = (private_cache / "decoded").iterdir()
    assert {p.name for p in cached.iterdir()} == {"classes.npy", "all_x.npy", "all_y.npy"}
    (root / "x" / "0.png").write_bytes(png(np.full((3, 3), 99, np.uint8)))
    os.utime(root / "x" / "0.png", ns=(0, 123))
    changed = load(str(root))
    assert 99 in np.concatenate([changed.train.x, changed.val.x, changed.test.x])
    assert [p.name for p in (private_cache / "decoded").iterdir()] != [cached.name]  # replaced, not added


def test_decoded_cache_is_used_on_the_second_load(tmp_path, private_cache, monkeypatch):
    files, expected = image_tree()
    root = write_zip(tmp_path / "set.zip", files)
    first = load(str(root), val=0)
    monkeypatch.setattr(catalog, "read_folder", lambda path: pytest.fail("decoded again"))
    second = load(str(root), val=0)
    np.testing.assert_array_equal(first.train.x, second.train.x)
    assert sorted(map(bytes, second.test.x)) == sorted(map(bytes, expected["test"]))


def test_two_processes_decoding_the_same_set_at_once_share_one_cache(tmp_path, private_cache, monkeypatch):
    files, _ = image_tree()
    root = write_zip(tmp_path / "set.zip", files)
    replace = os.replace

    def another_process_finishes_first(source, target):
        shutil.copytree(source, target)  # the same arrays, saved by a parallel run a moment earlier
        replace(source, target)

    monkeypatch.setattr(catalog.os, "replace", another_process_finishes_first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "could not cache decoded arrays" would fail here
        first = load(str(root), val=0)
    monkeypatch.setattr(catalog, "read_folder", lambda path: pytest.fail("decoded again"))
    np.testing.assert_array_equal(load(str(root), val=0).train.x, first.train.x)
    assert [p.name for p in (private_cache / "decoded").iterdir() if p.name.startswith(".")] == []  # no temp left


# --- the full datasets of this machine (absent in CI) ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="no shared copy of MNIST here")
def test_full_mnist_from_the_shared_copy_and_its_cache():
    data = load("mnist", data_dir=SHARED, download=False)
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert round(float(data.test.x.mean()) / 255, 4) == 0.1325
    assert "/work/shared/data/mnist" in data.source and "Nielsen" in data.source
    np.testing.assert_array_equal(load("mnist", data_dir=SHARED).val.x, data.val.x)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist absent")
def test_fashion_mnist_from_debians_package():
    data = load("fashion-mnist", data_dir="/usr/share/datasets", download=False)
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.classes[9] == "Ankle boot" and data.train.y[:5].tolist() == [9, 0, 0, 3, 0]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "cifar10").is_dir(), reason="no shared copy of CIFAR-10 here")
def test_full_cifar10_jpeg_zip():
    data = load("cifar10", data_dir=SHARED, download=False)
    assert (len(data.train), len(data.val), len(data.test)) == (45_000, 5_000, 10_000)
    assert data.input_shape == (3, 32, 32) and data.classes == tuple(CIFAR_NAMES)
    assert np.bincount(data.test.y).tolist() == [1000] * 10


def test_embedded_cifar10_small_is_balanced_colour_images():
    from layerlab.data import load

    dataset = load("cifar10-small")
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (1600, 200, 200)
    assert dataset.input_shape == (3, 32, 32) and dataset.train.x.dtype == np.uint8
    assert dataset.classes[:3] == ("airplane", "automobile", "bird")
    counts = np.bincount(np.concatenate([dataset.train.y, dataset.val.y, dataset.test.y]), minlength=10)
    assert counts.tolist() == [200] * 10
    assert "embedded" in dataset.source and "lossy" in dataset.source
