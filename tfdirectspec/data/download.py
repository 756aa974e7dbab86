"""Checksum-verified downloads into a local cache."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tfdirectspec.errors import InputError

#: Environment variable that overrides the cache folder.
CACHE_ENV = "TFDIRECTSPEC_CACHE"

_CHUNK = 1 << 20
_HEX_LENGTHS = {32: "md5", 64: "sha256"}

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The download cache: ``$TFDIRECTSPEC_CACHE`` or ``~/.cache/tfdirectspec``.

    Returns:
        The folder (not created here).

    Example:
        >>> default_cache_dir()  # doctest: +SKIP
        PosixPath('/home/me/.cache/tfdirectspec')
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "tfdirectspec"


def parse_checksum(sha256_or_md5: str) -> tuple[str, str]:
    """Splits a checksum into ``(algorithm, lowercase hex digest)``.

    Args:
        sha256_or_md5: ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare hex digest, whose
            length (64 or 32) tells the algorithm.

    Returns:
        ``("sha256" | "md5", hexdigest)``.

    Raises:
        ValueError: the text is not a checksum of a known kind.

    Example:
        >>> parse_checksum("md5:5EEC1EB2EDB8DD648377D348B8E136CF")
        ('md5', '5eec1eb2edb8dd648377d348b8e136cf')
    """
    algorithm, _, digest = sha256_or_md5.strip().lower().rpartition(":")
    expected = _HEX_LENGTHS.get(len(digest))
    if algorithm == "":
        algorithm = expected or ""
    if algorithm not in ("md5", "sha256") or algorithm != expected:
        raise ValueError(f"not an md5 or sha256 checksum: {sha256_or_md5!r}")
    try:
        int(digest, 16)
    except ValueError:
        raise ValueError(f"not an md5 or sha256 checksum: {sha256_or_md5!r}") from None
    return algorithm, digest


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file.

    Args:
        path: the file.
        algorithm: ``"sha256"`` or ``"md5"``.

    Returns:
        The lowercase hex digest.

    Example:
        >>> file_checksum("train.tsv")  # doctest: +SKIP
        'be3e4fc1949189f26861b06133ad8c36dccce3f98705e8e13009aa77dfacd1f7'
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, sha256_or_md5: str, dest: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Downloads ``url`` to ``dest`` unless a verified copy is already there.

    An existing ``dest`` is re-hashed: if it matches it is used as is, otherwise it is
    downloaded again. The download goes to a temporary file next to ``dest``, is
    verified, then renamed into place atomically, so ``dest`` is never partial and
    a failed download leaves nothing behind.

    Args:
        url: the address to fetch (``http``, ``https`` or ``file``).
        sha256_or_md5: the expected checksum, see :func:`parse_checksum`.
        dest: the target file; its folder is created if missing.
        timeout: seconds to wait on the connection.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        InputError: the download failed or its checksum does not match (the message
            names the URL and both checksums).

    Example:
        >>> download("https://example.org/train.txt", "md5:5eec1eb2...", "cache/train.txt")
        ... # doctest: +SKIP
        PosixPath('cache/train.txt')
    """
    algorithm, expected = parse_checksum(sha256_or_md5)
    dest = Path(dest)
    if dest.is_file():
        actual = file_checksum(dest, algorithm)
        if actual == expected:
            return dest
        logger.warning(
            "%s: %s %s does not match %s; downloading again", dest, algorithm, actual, expected
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s to %s", url, dest)
    temp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False
        ) as handle:
            temp = Path(handle.name)
            actual = _fetch(url, handle, algorithm, timeout)
        if actual != expected:
            raise InputError(
                f"checksum mismatch for {url}: expected {algorithm} {expected}, got {actual}"
            )
        os.replace(temp, dest)
    except BaseException:
        # Also on KeyboardInterrupt: a partial file must not stay in the cache.
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise
    return dest


def _fetch(url: str, out, algorithm: str, timeout: float) -> str:
    """Streams ``url`` into the open file ``out``; returns the digest of what was written."""
    digest = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as error:
        raise InputError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = " ".join(str(getattr(error, "reason", error)).split())
        raise InputError(f"cannot download {url}: {reason}") from None
    return digest.hexdigest()
