"""``load(name)``: each dataset by name, or an image folder by path, from local files, cache or download.

Files are looked for in ``data_dir``, then ``$LAYERLAB_DATA``, then the cache (see ``download.cache_dir``),
each directly and in a subfolder named after the dataset (``mnist/``, ``fashion-mnist/``, ``cifar10/``:
the layout of a shared copy), and for Fashion-MNIST also where Debian's ``dataset-fashion-mnist`` puts
it. Only files found nowhere are downloaded (into the cache), and only if ``download`` is true. Local
copies are checked against the published checksums too, so a run never trains on a damaged file.

Decoding happens once per source: the arrays are saved as ``.npy`` in ``<cache>/decoded/`` under a key of
the source's path, size and modification time (a changed file is decoded afresh), and later loads read
those back in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import curve, idx, playground
from .cifar import read_cifar10
from .dataset import Dataset, Split
from .download import CIFAR10, FASHION_MNIST, MNIST, Remote, cache_dir, fetch, user_cache_dir, verify_file
from .folder import read_folder
from .splits import binary as make_binary
from .splits import nielsen_split, random_split

DATASETS = {
    "mnist-small": "the 10,000 MNIST test digits shipped inside layerlab, split 8,000/1,000/1,000; works offline",
    "cifar10-small": "2,000 CIFAR-10 test photos (JPEG) shipped inside layerlab, split 1,600/200/200; works offline",
    "mnist": "MNIST handwritten digits, 28x28 grey: 50,000 train / 10,000 validation / 10,000 test (Nielsen)",
    "fashion-mnist": "Zalando's Fashion-MNIST, 10 kinds of clothing, 28x28 grey; sizes as MNIST",
    "cifar10": "CIFAR-10, 32x32 colour photos of 10 classes: 45,000 train / 5,000 validation / 10,000 test",
    **{name: f"TensorFlow Playground: {text}" for name, text in playground.PLAYGROUND.items()},
    **curve.CURVES,
}
DEFAULT_VAL = 0.1  # validation fraction where a dataset has no conventional split
TEST_FRACTION, TEST_SEED = 0.2, 0  # test set of a folder without train/ and test/: fixed, whatever the seed
SHUFFLE_SEED = 0  # image folders come class by class; their images are put in a fixed random order
SMALL_SPLIT, SMALL_SEED = (8000, 1000, 1000), 0
CIFAR_SMALL_SPLIT = (1600, 200, 200)
CIFAR10_JPEG_ZIP = "cifar10-jpeg-q75.zip"  # the shared image-folder copy (lossy), used when no binary is found
_CIFAR10_ALTERNATIVE = f" (or the JPEG copy {CIFAR10_JPEG_ZIP})"
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset packages install (dataset-fashion-mnist)
_CACHE_VERSION = "1"  # bump when decoding changes, to ignore old decoded caches


@dataclass(frozen=True)
class _Parts:
    """What a loader returns: train/test (and maybe a fixed validation split), before the split rules."""

    train: Split
    test: Split
    classes: tuple[str, ...]
    source: str
    files: tuple[str, ...]
    val: Split | None = None
    nielsen: bool = False


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def task_of(name: str | os.PathLike) -> str:
    """The task of the dataset ``name`` without loading it: "regression" for the Playground's plane and
    multigauss and the curve (a number per example), else "classification" (as ``load(name).task``)."""
    key = _key(os.fspath(name))
    return "regression" if key in playground.REGRESSION or key in curve.CURVES else "classification"


def default_val(name: str | os.PathLike) -> float | str | None:
    """What ``val=None`` stands for with the dataset ``name``, without loading it (see ``load``): the fixed
    split in words ("Nielsen's 10,000" for MNIST), "none" for a Playground set, else the fraction drawn at
    random (0.1); None for the curve, whose split is fixed by its options (``val`` is not used)."""
    key = _key(os.fspath(name))
    if key in playground.PLAYGROUND:
        return "none"
    if key in curve.CURVES:
        return None
    nielsen, small, cifar_small = (
        "Nielsen's 10,000",
        f"the fixed {SMALL_SPLIT[1]:,}",
        f"the fixed {CIFAR_SMALL_SPLIT[1]:,}",
    )
    fixed = {"mnist": nielsen, "fashion-mnist": nielsen, "mnist-small": small, "cifar10-small": cifar_small}
    return fixed.get(key, DEFAULT_VAL)


def load(
    name: str | os.PathLike,
    *,
    data_dir: str | Path | None = None,
    val: float | None = None,
    seed: int = 0,
    binary: int | str | list | None = None,
    limit: int | None = None,
    download: bool = True,
    options: dict | None = None,
) -> Dataset:
    """The dataset ``name`` (see ``DATASETS``) or the image folder / ``.zip`` at path ``name``.

    The TensorFlow Playground sets (``playground.PLAYGROUND``) are generated: ``options`` go to
    ``playground.make`` (n, noise, train_ratio, features); ``val`` is then a share of their training
    points (None: no validation split).

    ``val``: ``None`` keeps the dataset's own validation split -- the last 10,000 training images for
    MNIST and Fashion-MNIST (Nielsen), the fixed 1,000 of mnist-small, a random 10% otherwise; a fraction
    holds out that share of the training images, drawn with ``seed``; 0 gives no validation split.
    ``binary``: a class (index or name) or a list of them against the rest, or a string like ``"3 vs 5"``
    or ``"0,1 vs rest"``. ``limit`` keeps the first ``limit`` training images (for quick runs).
    """
    name = os.fspath(name)
    key = _key(name)
    if data_dir_given(data_dir) and works_offline(key):
        dataset = load(name, val=val, seed=seed, binary=binary, limit=limit, download=download, options=options)
        how = "generated" if key not in EMBEDDED else "embedded in layerlab"
        return replace(dataset, info={**dataset.info, "data_dir": f"{key} is {how}: --data-dir {data_dir} is not used"})
    if key in playground.PLAYGROUND:
        return playground.make(key, seed=seed, val=val or 0.0, **(options or {}))
    if key in curve.CURVES:
        return curve.load(seed, options)
    if options:
        raise DataError(
            f"dataset {name} takes no options (only the Playground sets do: {', '.join(playground.PLAYGROUND)})"
        )
    given = data_dir_given(data_dir)
    if key in _LOADERS:  # a data_dir given is the only place looked in: its files are used, or it is refused
        parts = _LOADERS[key]([given] if given else _search_dirs(None), download and not given)
        name = key
    elif "/" in name or os.sep in name or name.endswith(".zip") or Path(name).exists():
        parts = _folder(Path(name))
        name = Path(name).name.removesuffix(".zip")
    else:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, or the path of an image folder or .zip"
        )
    train, val_split, how = _validation(parts, val, seed)
    source = f"{parts.source}; {how}" if how else parts.source
    info = {"files": parts.files, "validation": how or "fixed by the dataset"}
    dataset = Dataset(name, train, val_split, parts.test, parts.classes, source, info=info)
    if binary is not None:
        dataset = make_binary(dataset, *_binary_args(binary))
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise DataError(f"limit is the number of training images to keep, a whole number >= 1; got {limit!r}")
        dataset = replace(dataset, train=dataset.train.take(slice(0, limit)), info={**dataset.info, "limit": limit})
    return dataset


def _validation(parts: _Parts, val: float | None, seed: int) -> tuple[Split, Split, str]:
    if val is None and parts.val is not None:
        return parts.train, parts.val, ""  # the loader's source describes its split
    if val is None and parts.nielsen:
        return *nielsen_split(parts.train, 10_000), "validation: the last 10,000 training images (Nielsen)"
    if val is not None and not isinstance(val, int | float):
        raise DataError(f"val is a fraction of the training images such as 0.1 (or 0 for none); got {val!r}")
    pool = parts.train
    if parts.val is not None:
        pool = Split(np.concatenate([pool.x, parts.val.x]), np.concatenate([pool.y, parts.val.y]))
    fraction = DEFAULT_VAL if val is None else val
    how = (
        f"validation: a random {fraction * 100:g}% of the training images (seed {seed})"
        if fraction
        else "no validation split"
    )
    return *random_split(pool, fraction, seed), how


def _binary_args(spec: int | str | list) -> tuple[object, object]:
    """``"3 vs 5"`` -> (["3"], ["5"]); ``"0,1"`` or ``"0 vs rest"`` -> (["0", "1"], None); others as they are."""
    if not isinstance(spec, str):
        return spec, None
    positive, _, negative = spec.partition(" vs ")
    names = lambda text: [part.strip() for part in text.split(",") if part.strip()]  # noqa: E731
    return names(positive), None if negative.strip() in ("", "rest") else names(negative)


def data_dir_given(data_dir: str | Path | None) -> Path | None:
    """The folder the user gave (``--data-dir``), checked: it must exist and be a folder."""
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise DataError(f"--data-dir {path} does not exist; give the folder that holds the dataset files")
    if not path.is_dir():
        raise DataError(f"--data-dir {path} is a file, not a folder; give the folder that holds the dataset files")
    return path


def _search_dirs(data_dir: str | Path | None) -> list[Path]:
    dirs = [data_dir, os.environ.get("LAYERLAB_DATA"), cache_dir(), user_cache_dir(), SYSTEM_DATASETS]
    return list(dict.fromkeys(Path(d).expanduser() for d in dirs if d))


def _find(filename: str, subfolder: str, dirs: list[Path]) -> Path | None:
    """The first of ``dir/subfolder/filename`` and ``dir/filename`` (or the name without .gz) that exists."""
    names = dict.fromkeys([filename, filename.removesuffix(".gz")])
    for d in dirs:
        for candidate in (d / subfolder / n for n in names):
            if candidate.is_file():
                return candidate
        for candidate in (d / n for n in names):
            if candidate.is_file():
                return candidate
    return None


def _locate(
    title: str, remotes: tuple[Remote, ...], subfolder: str, dirs: list[Path], download: bool, alternative: str = ""
):
    """Paths of the files (downloading missing ones into the cache) and the URLs that were downloaded."""
    found = [_find(r.name, subfolder, dirs) for r in remotes]
    missing = [r for r, path in zip(remotes, found, strict=True) if path is None]
    if missing and not download:
        unzipped = bool(missing[0].content_md5)  # IDX files: checked by content, read gzipped or not
        first = missing[0].name.removesuffix(".gz") + "(.gz)" if unzipped else missing[0].name
        where = f"{dirs[0]} has no" if len(dirs) == 1 else f"none of {', '.join(map(str, dirs))} has"
        origin = missing[0].urls[0].rsplit("/", 1)[0]
        advice = "" if len(dirs) == 1 else f"; put them there or allow downloading (from {origin}/)"
        raise DataError(
            f"{where} {first}; expected files for {title}: {_expected(remotes, alternative, subfolder)}{advice}"
        )
    urls = []
    for i, remote in enumerate(remotes):
        if found[i] is None:
            found[i], url = fetch(remote, cache_dir() / subfolder)
            urls.append(url)
    return found, urls


def _expected(remotes: tuple[Remote, ...], alternative: str, subfolder: str) -> str:
    unzipped = " (or the same files unzipped)" if remotes[0].content_md5 else ""
    names = ", ".join(r.name for r in remotes)
    return f"{names}{unzipped}{alternative}, directly in the folder or in its {subfolder}/ subfolder"


def expected_files(name: str | os.PathLike) -> str:
    """The files a ``data_dir`` must hold for the dataset ``name``, in words (as the error for a folder
    without them says); "" for a set that needs no files (embedded, generated) or an image folder."""
    key = _key(os.fspath(name))
    if key not in _REMOTES:
        return ""
    remotes, alternative, subfolder = _REMOTES[key]
    return _expected(remotes, alternative, subfolder)


def works_offline(name: str | os.PathLike) -> bool:
    """Whether ``name`` is a set layerlab generates or carries inside itself (no file, no download)."""
    key = _key(os.fspath(name))
    return key in EMBEDDED or key in playground.PLAYGROUND or key in curve.CURVES


def _where(paths: list[Path], urls: list[str]) -> str:
    folders = ", ".join(dict.fromkeys(str(p.parent) for p in paths))
    origin = ", ".join(dict.fromkeys(u.rsplit("/", 1)[0] + "/" for u in urls if u))
    return folders + (f" (downloaded from {origin})" if origin else "")


def _idx_dataset(title: str, remotes: tuple[Remote, ...], subfolder: str, classes: tuple[str, ...]):
    """A loader for an MNIST-like set of four IDX files: train images/labels, test images/labels."""

    def loader(dirs: list[Path], download: bool) -> _Parts:
        paths, urls = _locate(title, remotes, subfolder, dirs, download)
        md5s = [r.content_md5 for r in remotes]

        def decode() -> dict[str, np.ndarray]:
            train = idx.read_split(paths[0], paths[1], (md5s[0], md5s[1]))
            test = idx.read_split(paths[2], paths[3], (md5s[2], md5s[3]))
            return {"train_x": train.x, "train_y": train.y, "test_x": test.x, "test_y": test.y}

        a = _cached(subfolder, paths, decode)
        source = f"{title} IDX files in {_where(paths, urls)}, content md5-checked"
        files = tuple(map(str, paths))
        return _Parts(
            Split(a["train_x"], a["train_y"]), Split(a["test_x"], a["test_y"]), classes, source, files, nielsen=True
        )

    return loader


def _cifar10(dirs: list[Path], download: bool) -> _Parts:
    archive = _find(CIFAR10.name, "cifar10", dirs)
    if archive is None and (jpeg := _find(CIFAR10_JPEG_ZIP, "cifar10", dirs)) is not None:
        parts = _folder(jpeg)
        return replace(parts, source=f"CIFAR-10 as JPEG images (quality 75, lossy: not the official binary) in {jpeg}")
    url = None
    if archive is None:
        (archive,), (url,) = _locate("CIFAR-10", (CIFAR10,), "cifar10", dirs, download, _CIFAR10_ALTERNATIVE)

    def decode() -> dict[str, np.ndarray]:
        if url is None:  # a download was verified as it came in
            verify_file(archive, CIFAR10)
        train, test, classes = read_cifar10(archive)
        return {"train_x": train.x, "train_y": train.y, "test_x": test.x, "test_y": test.y, "classes": classes}

    a = _cached("cifar10", [archive], decode)
    source = f"CIFAR-10 binary archive {archive}" + (f" (downloaded from {url})" if url else "") + ", sha256-checked"
    train, test = Split(a["train_x"], a["train_y"]), Split(a["test_x"], a["test_y"])
    return _Parts(train, test, tuple(map(str, a["classes"])), source, (str(archive),))


def _mnist_small(dirs: list[Path], download: bool) -> _Parts:
    """The embedded MNIST test set, split once and for all by a fixed permutation (not by ``seed``)."""
    images, labels = MNIST[2], MNIST[3]
    embedded = resources.files(__package__) / "embedded"
    with resources.as_file(embedded / images.name) as x, resources.as_file(embedded / labels.name) as y:
        pool = idx.read_split(x, y, (images.content_md5, labels.content_md5))
    order = np.random.default_rng(SMALL_SEED).permutation(len(pool))
    train, val, test = (pool.take(np.sort(part)) for part in np.split(order, np.cumsum(SMALL_SPLIT)[:-1]))
    source = "embedded copy of the 10,000-image MNIST test set, split 8000/1000/1000"
    return _Parts(train, test, tuple("0123456789"), source, (str(embedded),), val=val)


def _cifar10_small(dirs: list[Path], download: bool) -> _Parts:
    """200 test images per class of the JPEG copy of CIFAR-10, embedded, split by a fixed permutation."""
    embedded = resources.files(__package__) / "embedded"
    with resources.as_file(embedded / "cifar10-small.zip") as path:
        splits, classes = read_folder(path)
    pool = splits["all"]
    order = np.random.default_rng(SMALL_SEED).permutation(len(pool))
    train, val, test = (pool.take(np.sort(part)) for part in np.split(order, np.cumsum(CIFAR_SMALL_SPLIT)[:-1]))
    source = "embedded 2,000 CIFAR-10 test images (JPEG quality 75, lossy), split 1600/200/200"
    return _Parts(train, test, classes, source, (str(embedded),), val=val)


def _folder(path: Path) -> _Parts:
    def decode() -> dict[str, np.ndarray]:
        splits, classes = read_folder(path)
        arrays = {"classes": np.array(classes)}
        for part, split in splits.items():  # listed class by class: shuffle once, so that limit= mixes classes
            order = np.random.default_rng(SHUFFLE_SEED).permutation(len(split))
            arrays[f"{part}_x"], arrays[f"{part}_y"] = split.x[order], split.y[order]
        return arrays

    label = "folder-" + hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    a = _cached(label, [path], decode)
    classes = tuple(map(str, a["classes"]))
    if "all_x" in a:
        train, test = random_split(Split(a["all_x"], a["all_y"]), TEST_FRACTION, TEST_SEED)
        source = f"image folder {path}, a fixed random {TEST_FRACTION:.0%} held out as the test set"
    else:
        train, test = Split(a["train_x"], a["train_y"]), Split(a["test_x"], a["test_y"])
        source = f"image folder {path} (train/ and test/)"
    return _Parts(train, test, classes, source, (str(path),))


def _cached(label: str, sources: list[Path], decode: Callable[[], dict]) -> dict[str, np.ndarray]:
    """The decoded arrays of ``sources``: from ``<cache>/decoded/<label>-<key>/`` or decoded and saved there."""
    folder = cache_dir() / "decoded" / f"{label}-{_fingerprint(sources)}"
    if folder.is_dir():
        try:
            return {p.stem: np.load(p) for p in folder.glob("*.npy")}
        except (OSError, ValueError):
            pass  # damaged: decode again
    arrays = decode()
    _save(folder, label, arrays)
    return arrays


def _fingerprint(sources: list[Path]) -> str:
    """16 hex digits that change when a source file (or any file under a source folder) changes."""
    digest = hashlib.sha256(_CACHE_VERSION.encode())
    for source in sources:
        root = source.resolve()
        files = [root] if root.is_file() else sorted(Path(d) / n for d, _, names in os.walk(root) for n in names)
        for f in files:
            stat = f.stat()
            digest.update(f"{f}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def _save(folder: Path, label: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays to a temporary folder, then rename it: a decoded cache is whole or absent."""
    temp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        for stale in folder.parent.glob(f"{label}-" + "?" * 16):  # older versions of the same source
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=folder.parent))
        for name, array in arrays.items():
            np.save(temp / f"{name}.npy", np.asarray(array))
        try:
            os.replace(temp, folder)
        except OSError:
            if not folder.is_dir():
                raise
            # another process (a parallel run of the same experiment) saved the same arrays first: keep its copy
    except OSError as e:
        warnings.warn(
            f"could not cache decoded arrays in {folder.parent} ({e}); the next load decodes again", stacklevel=3
        )
    finally:
        if temp is not None and temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


EMBEDDED = ("mnist-small", "cifar10-small")  #: shipped inside the package: no file is looked for

_LOADERS: dict[str, Callable[[list[Path], bool], _Parts]] = {
    "mnist-small": _mnist_small,
    "cifar10-small": _cifar10_small,
    "mnist": _idx_dataset("MNIST", MNIST, "mnist", tuple("0123456789")),
    "fashion-mnist": _idx_dataset("Fashion-MNIST", FASHION_MNIST, "fashion-mnist", FASHION_CLASSES),
    "cifar10": _cifar10,
}
#: The downloadable sets: their files, another copy that would do, and the subfolder of a shared copy.
_REMOTES: dict[str, tuple[tuple[Remote, ...], str, str]] = {
    "mnist": (MNIST, "", "mnist"),
    "fashion-mnist": (FASHION_MNIST, "", "fashion-mnist"),
    "cifar10": ((CIFAR10,), _CIFAR10_ALTERNATIVE, "cifar10"),
}
