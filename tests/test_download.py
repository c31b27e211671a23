"""Downloads against a loopback HTTP server serving good, truncated and corrupted files; no internet needed."""

import gzip
import hashlib
import json
import re
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from layerlab.data import DataError, catalog, load
from layerlab.data.download import Remote, cache_dir, fetch, user_cache_dir

PAYLOAD = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()


class Server:
    """Serves ``files[path]`` on 127.0.0.1; for a path in ``truncated`` it promises the body but sends half."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: Counter = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests[self.path] += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.truncated else body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    s.files["/good/blob.bin"] = s.files["/truncated/blob.bin"] = PAYLOAD
    s.truncated.add("/truncated/blob.bin")
    s.files["/corrupt/blob.bin"] = PAYLOAD[:100] + bytes([PAYLOAD[100] ^ 1]) + PAYLOAD[101:]
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def blob(*urls: str) -> Remote:
    return Remote("blob.bin", urls, len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())


def quick_fetch(remote, dest, log=None):
    return fetch(remote, dest, attempts=2, backoff=0, timeout=5, log=log or (lambda message: None))


def test_good_file_is_verified_cached_and_not_downloaded_again(server, tmp_path):
    url = f"{server.url}/good/blob.bin"
    log = []
    path, used = quick_fetch(blob(url), tmp_path / "cache", log.append)
    assert (path, used) == (tmp_path / "cache" / "blob.bin", url)
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in path.parent.iterdir()] == ["blob.bin"]  # no temporary file left behind
    assert log == [f"downloading blob.bin (0.1 MB) from {url}"]
    assert quick_fetch(blob(url), tmp_path / "cache") == (path, None)
    assert server.requests[url.removeprefix(server.url)] == 1


@pytest.mark.parametrize(
    "kind, problem",
    [
        ("truncated", r"transfer cut short: got 25,000 of 50,000 bytes"),
        ("corrupt", r"corrupted: sha256 is [0-9a-f]{64}, expected " + hashlib.sha256(PAYLOAD).hexdigest()),
    ],
)
def test_bad_transfer_is_retried_then_fails_leaving_nothing(server, tmp_path, kind, problem):
    url = f"{server.url}/{kind}/blob.bin"
    with pytest.raises(DataError) as error:
        quick_fetch(blob(url), tmp_path / "cache")
    message = str(error.value)
    assert f"{url}: " in message and re.search(problem, message)
    assert "Expected 50,000 bytes with sha256 " in message and "nothing was saved" in message
    assert f"put it in {tmp_path / 'cache'}" in message
    assert server.requests[f"/{kind}/blob.bin"] == 2  # one per round
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_later_good_mirror_succeeds(server, tmp_path):
    urls = [f"{server.url}/truncated/blob.bin", f"{server.url}/missing/blob.bin", f"{server.url}/good/blob.bin"]
    log = []
    path, used = quick_fetch(blob(*urls), tmp_path, log.append)
    assert used == urls[2] and path.read_bytes() == PAYLOAD
    assert [server.requests[u.removeprefix(server.url)] for u in urls] == [1, 1, 1]
    assert sum(line.startswith("  failed:") for line in log) == 2 and "404" in log[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


def test_more_bytes_than_expected_is_an_error(server, tmp_path):
    short = Remote("blob.bin", (f"{server.url}/good/blob.bin",), 1000, hashlib.sha256(PAYLOAD[:1000]).hexdigest())
    with pytest.raises(DataError, match="the server sent more than the expected 1,000 bytes"):
        quick_fetch(short, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_gives_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"could not download blob\.bin .*http://127\.0\.0\.1:9/blob\.bin: "):
        quick_fetch(blob("http://127.0.0.1:9/blob.bin"), tmp_path)


def test_a_host_that_cannot_be_resolved_is_tried_once_not_once_per_round(tmp_path):
    """No network (or a misspelt host): waiting and retrying cannot help, so the first round is the last."""
    log = []
    url = "http://mnist-mirror.invalid/blob.bin"  # .invalid never resolves (RFC 2606)
    with pytest.raises(DataError, match=r"could not download blob\.bin \(tried each URL 1 time; nothing was saved\)"):
        fetch(blob(url), tmp_path, attempts=3, backoff=0, log=log.append)
    assert sum(line.startswith("downloading") for line in log) == 1 and len(log) == 2
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_is_layerlab_data_unless_it_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "layerlab"
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "data"))
    assert cache_dir() == tmp_path / "data" and (tmp_path / "data").is_dir()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "file" / "data"))  # cannot be created
    assert cache_dir() == tmp_path / "xdg" / "layerlab"
    monkeypatch.delenv("LAYERLAB_DATA")
    assert cache_dir() == tmp_path / "xdg" / "layerlab"


def idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


@pytest.fixture
def served_mnist(server, tmp_path, monkeypatch):
    """A tiny MNIST (20 training, 5 test images of 4x4) only on the loopback server, each file behind a
    URL that answers 404 first; returns the four file names."""
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog, "SYSTEM_DATASETS", tmp_path / "none")
    arrays = {
        "train-images-idx3-ubyte.gz": np.arange(20 * 4 * 4, dtype=np.uint8).reshape(20, 4, 4),
        "train-labels-idx1-ubyte.gz": np.arange(20, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": np.zeros((5, 4, 4), np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(5, dtype=np.uint8),
    }
    remotes = []
    for name, array in arrays.items():
        data = idx_gz(array)
        server.files[f"/mnist/{name}"] = data
        content = hashlib.md5(gzip.decompress(data)).hexdigest()
        urls = (f"{server.url}/nowhere/{name}", f"{server.url}/mnist/{name}")
        remotes.append(Remote(name, urls, len(data), hashlib.sha256(data).hexdigest(), content))
    loader = catalog._idx_dataset("MNIST", tuple(remotes), "mnist", tuple("0123456789"))
    monkeypatch.setitem(catalog._LOADERS, "mnist", loader)
    monkeypatch.setattr(catalog, "fetch", lambda remote, dest: quick_fetch(remote, dest))
    return list(arrays)


def test_load_downloads_missing_files_into_the_cache_once(server, tmp_path, served_mnist):
    """The whole path of ``load("mnist")`` with the MNIST file list pointed at the loopback server."""
    arrays = served_mnist
    with pytest.raises(DataError, match="put them there or allow downloading"):
        load("mnist", download=False)
    data = load("mnist", val=0.25)
    assert (len(data.train), len(data.val), len(data.test)) == (15, 5, 5)
    assert f"MNIST IDX files in {tmp_path / 'cache' / 'mnist'} (downloaded from {server.url}/mnist/)" in data.source
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(arrays)
    requests = sum(server.requests.values())
    load("mnist", val=0.25)
    assert sum(server.requests.values()) == requests  # second load: nothing fetched


def test_an_experiment_downloads_its_dataset_once_before_its_runs(server, tmp_path, served_mnist, capsys):
    from layerlab.cli import main

    experiment = tmp_path / "two.toml"
    experiment.write_text(
        'name = "two"\n[settings]\ndata = "mnist"\nval = 0.25\nmodel = "flatten dense(10)"\nepochs = 1\n'
        'batch_size = 5\n[[runs]]\nname = "slow"\nlr = 0.01\n[[runs]]\nname = "fast"\nlr = 0.1\n'
        '[[runs]]\nname = "three-outputs"\nmodel = "flatten dense(3)"\n'  # fails on its own, as before
    )
    assert main(["run", str(experiment), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "3 runs, 0 already finished" in captured.out
    assert captured.err.splitlines()[-1] == "layerlab run: 1 run failed: three-outputs"
    assert server.requests == Counter(
        {f"/{where}/{name}": 1 for name in served_mnist for where in ("nowhere", "mnist")}
    )  # each file fetched once for the three runs (after one 404 from the first URL)
    index = json.loads((tmp_path / "out" / "experiment.json").read_text())
    assert [run["status"] for run in index["runs"]] == ["done", "done", "failed"]
