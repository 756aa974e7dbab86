"""Downloads against a loopback HTTP server: success, cache reuse, mismatch, HTTP errors."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest

from tfdirectspec.data import download
from tfdirectspec.data.datasets import DatasetSpec, RemoteFile, _load_remote
from tfdirectspec.data.download import default_cache_dir, parse_checksum
from tfdirectspec.errors import InputError


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves ``tmp_path / "www"`` on 127.0.0.1 at a free port; yields (base URL, folder, log)."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(_CountingHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, httpd.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _publish(root, name, content):
    (root / name).write_bytes(content)
    return hashlib.sha256(content).hexdigest(), hashlib.md5(content).hexdigest()


def test_download_verifies_then_reuses_the_cached_copy(server, tmp_path):
    base, root, requests = server
    sha256, md5 = _publish(root, "train.txt", b"0 1 2\n1 2\n" * 1000)
    dest = tmp_path / "cache" / "sub" / "train.txt"
    assert download(f"{base}/train.txt", sha256, dest) == dest
    assert dest.read_bytes() == (root / "train.txt").read_bytes()
    assert requests == ["/train.txt"]
    assert download(f"{base}/train.txt", f"md5:{md5}", dest) == dest
    assert requests == ["/train.txt"]  # verified from disk, not fetched again
    assert sorted(p.name for p in dest.parent.iterdir()) == ["train.txt"]


def test_a_corrupted_cached_copy_is_downloaded_again(server, tmp_path):
    base, root, requests = server
    sha256, _ = _publish(root, "test.txt", b"5 6\n")
    dest = tmp_path / "test.txt"
    dest.write_bytes(b"truncated")
    download(f"{base}/test.txt", f"sha256:{sha256}", dest)
    assert dest.read_bytes() == b"5 6\n" and len(requests) == 1


def test_checksum_mismatch_names_url_and_both_sums_and_leaves_nothing(server, tmp_path):
    base, root, _ = server
    _, md5 = _publish(root, "train.txt", b"0 1\n")
    wrong = "0" * 32
    dest = tmp_path / "cache" / "train.txt"
    url = f"{base}/train.txt"
    with pytest.raises(InputError) as info:
        download(url, wrong, dest)
    message = str(info.value)
    assert url in message and wrong in message and md5 in message
    assert "\n" not in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_http_errors_become_input_errors(server, tmp_path):
    base, _, _ = server
    with pytest.raises(InputError, match=r"cannot download .*/missing\.txt: HTTP 404"):
        download(f"{base}/missing.txt", "0" * 64, tmp_path / "cache" / "m.txt")
    assert list((tmp_path / "cache").iterdir()) == []


def test_parse_checksum_and_cache_dir(monkeypatch, tmp_path):
    assert parse_checksum("SHA256:" + "A" * 64) == ("sha256", "a" * 64)
    for bad in ("md5:" + "0" * 64, "abc", "crc:1234", "z" * 32):
        with pytest.raises(ValueError):
            parse_checksum(bad)
    monkeypatch.setenv("TFDIRECTSPEC_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("TFDIRECTSPEC_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "tfdirectspec")


def test_remote_dataset_downloads_lightgcn_files_into_the_cache(server, tmp_path):
    base, root, requests = server
    _, train_md5 = _publish(root, "train.txt", b"0 0 1 2\n1 1\n2 2 3\n")
    _, test_md5 = _publish(root, "test.txt", b"0 3\n1 0\n2 1\n")
    spec = DatasetSpec(
        name="toy",
        description="loopback",
        files=(
            RemoteFile("train", f"{base}/train.txt", f"md5:{train_md5}"),
            RemoteFile("test", f"{base}/test.txt", f"md5:{test_md5}"),
        ),
        fmt="lightgcn",
    )
    data = _load_remote(spec, tmp_path / "cache")
    assert data.summary() == {"users": 3, "items": 4, "train": 6, "valid": 0, "test": 3}
    np.testing.assert_array_equal(data.item_ids, np.arange(4))
    assert sorted(p.name for p in (tmp_path / "cache" / "toy").iterdir()) == [
        "test.txt",
        "train.txt",
    ]
    _load_remote(spec, tmp_path / "cache")
    assert len(requests) == 2
    broken = DatasetSpec("toy2", "x", files=(RemoteFile("train", f"{base}/no.txt", "0" * 32),))
    with pytest.raises(InputError, match="HTTP 404.*TFDIRECTSPEC_DATA"):
        _load_remote(broken, tmp_path / "cache")
