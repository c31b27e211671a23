"""Downloads that never leave a half-file behind, and the checksums of the files layerlab knows.

:func:`fetch` streams a file to a temporary file in the destination folder while hashing it, and renames
it into place (``os.replace``, atomic) only when its size and sha256 match. A short, corrupted or failed
transfer deletes the temporary file and is retried, going through the mirrors in turn; when every try
fails the error names each URL's problem, the expected size and sha256, and where to put the file by hand.
So any file found in the cache under its final name is complete and verified.

Checksums. MNIST, Fashion-MNIST and CIFAR-10 were published with md5 sums only (yann.lecun.com,
zalandoresearch/fashion-mnist, the CIFAR page; torchvision checks the same md5s). The sha256 and sizes
below are those of the same files as TensorFlow Datasets records them in its URL checksum lists and many
projects pin; each agrees with the published md5 and size. The machine this was written on had no
internet, so they were taken from those public lists, not recomputed here.

Local copies may carry a different gzip wrapper (file name and time stamp in the header) around the very
same data -- the copies in Debian's ``dataset-fashion-mnist`` do, for instance. So a ``.gz`` copy is
checked by ``content_md5``, the published md5 of the *uncompressed* file, which every faithful copy
shares; a download is checked byte for byte by sha256.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..files import atomic_write
from ..phrases import count

USER_AGENT = "layerlab (Python urllib)"


@dataclass(frozen=True)
class Remote:
    """A file published at one or more URLs -- the first canonical, the rest mirrors -- and its checksums."""

    name: str
    urls: tuple[str, ...]
    size: int
    sha256: str
    content_md5: str = ""  # md5 of the uncompressed content, for .gz files


def _mirrored(bases: tuple[str, ...], name: str, size: int, sha256: str, content_md5: str) -> Remote:
    return Remote(name, tuple(base + name for base in bases), size, sha256, content_md5)


_MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's copy; yann.lecun.com often refuses now
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's copy
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST = (
    _mirrored(
        _MNIST_URLS,
        "train-images-idx3-ubyte.gz",
        9_912_422,
        sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        content_md5="6bbc9ace898e44ae57da46a324031adb",
    ),
    _mirrored(
        _MNIST_URLS,
        "train-labels-idx1-ubyte.gz",
        28_881,
        sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        content_md5="a25bea736e30d166cdddb491f175f624",
    ),
    _mirrored(
        _MNIST_URLS,
        "t10k-images-idx3-ubyte.gz",
        1_648_877,
        sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        content_md5="2646ac647ad5339dbf082846283269ea",
    ),
    _mirrored(
        _MNIST_URLS,
        "t10k-labels-idx1-ubyte.gz",
        4_542,
        sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        content_md5="27ae3e4e09519cfbb04c329615203637",
    ),
)

_FASHION_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # plain http only; the sha256 guards it
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_MNIST = (
    _mirrored(
        _FASHION_URLS,
        "train-images-idx3-ubyte.gz",
        26_421_880,
        sha256="3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        content_md5="f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ),
    _mirrored(
        _FASHION_URLS,
        "train-labels-idx1-ubyte.gz",
        29_515,
        sha256="a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        content_md5="9018921c3c673c538a1fc5bad174d6f9",
    ),
    _mirrored(
        _FASHION_URLS,
        "t10k-images-idx3-ubyte.gz",
        4_422_102,
        sha256="346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        content_md5="8181f5470baa50b63fa0f6fddb340f0a",
    ),
    _mirrored(
        _FASHION_URLS,
        "t10k-labels-idx1-ubyte.gz",
        5_148,
        sha256="67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        content_md5="15d484375f8d13e6eb1aabb0c3f46965",
    ),
)

CIFAR10 = Remote(
    "cifar-10-binary.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    170_052_171,
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",  # md5 c32a1d4ab5d03f1284b67883e8d87530
)


def user_cache_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/layerlab``, by default ``~/.cache/layerlab``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "layerlab"


def cache_dir() -> Path:
    """Where downloads and decoded arrays go: ``$LAYERLAB_DATA`` when set and writable, else the user cache.

    ``$LAYERLAB_DATA`` may point at a read-only shared copy of the datasets; it is then only searched.
    """
    env = os.environ.get("LAYERLAB_DATA")
    if env:
        path = Path(env).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        else:
            if os.access(path, os.W_OK):
                return path
    return user_cache_dir()


class _Failed(Exception):
    """One try at one URL went wrong; ``unreachable``: the host cannot be resolved or reached (no network),
    which trying again seconds later does not change."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


def fetch(
    remote: Remote,
    dest_dir: Path,
    *,
    attempts: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, str | None]:
    """``dest_dir/remote.name`` and the URL it was downloaded from (None if it was already there).

    Each of ``attempts`` rounds tries every URL in order; round k waits ``backoff * k`` seconds first.
    ``log`` receives one line per try (default: standard error).
    """
    log = log or _to_stderr
    dest = Path(dest_dir) / remote.name
    if dest.is_file():
        return dest, None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest.parent} to download {remote.name} into ({e.strerror or e})") from None
    problems, tries = [], 0
    for round_ in range(attempts):
        time.sleep(backoff * round_)
        unreachable = True
        for url in remote.urls:
            log(f"downloading {remote.name} ({remote.size / 1e6:.1f} MB) from {url}")
            try:
                _download(url, remote, dest, timeout)
                return dest, url
            except _Failed as e:
                log(f"  failed: {e}")
                problems.append(f"{url}: {e}")
                unreachable = unreachable and e.unreachable
        tries += 1
        if unreachable:  # no URL's host could be reached: no network here, and waiting will not bring it
            break
    raise DataError(
        f"could not download {remote.name} (tried each URL {count(tries, 'time')}; nothing was saved): "
        f"{'; '.join(dict.fromkeys(problems))}. Expected {remote.size:,} bytes with sha256 {remote.sha256}. "
        f"Try again later, or fetch {remote.urls[0]} yourself and put it in {dest.parent} "
        "(or in the folder you give as data_dir / --data-dir)"
    )


def verify_file(path: Path, remote: Remote) -> None:
    """Check a local copy byte for byte against the published sha256."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != remote.sha256:
        raise DataError(
            f"{path} is not the original {remote.name}: its sha256 is {digest.hexdigest()}, expected "
            f"{remote.sha256}; replace it with the original, or delete it to download it again"
        )


def _download(url: str, remote: Remote, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest`` atomically: the file appears only if its size and sha256 check out."""

    def stream(out) -> None:
        digest, size = hashlib.sha256(), 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > remote.size:
                    raise _Failed(f"the server sent more than the expected {remote.size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size != remote.size:
            raise _Failed(f"transfer cut short: got {size:,} of {remote.size:,} bytes")
        if digest.hexdigest() != remote.sha256:
            raise _Failed(f"corrupted: sha256 is {digest.hexdigest()}, expected {remote.sha256}")

    try:
        atomic_write(dest, stream)
    except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError and timeouts are OSErrors
        cause = getattr(e, "reason", e)
        unreachable = isinstance(cause, socket.gaierror) or getattr(cause, "errno", None) == errno.ENETUNREACH
        raise _Failed(str(e) or type(e).__name__, unreachable) from None


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
