"""The IDX file format (LeCun's format of the MNIST files): reading arrays, raw or gzip-compressed.

Memory follows the bytes actually present: no header, however large its claim, and no
compressed file ("gzip bomb") makes a reader allocate or inflate more than the data there is or
the size it was told to expect.
"""
import gzip
import io
import os
import struct
import sys
import zlib

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "read_idx_file", "read_bytes", "inflate"]


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (bad magic number, dimensions or size)."""


# IDX type code -> big-endian numpy dtype
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


_MAX_NDIM = 64          # NumPy's limit on array dimensions
_CHUNK = 1 << 24        # read data in 16 MiB pieces: memory follows the bytes present, not the header's claim


def read_idx(fileobj):
    """Read one IDX array (LeCun's format of the MNIST files) from a binary file object.

    Parameters
    ----------
    fileobj : binary file-like object
        Positioned at the start of raw IDX data (a `gzip.GzipFile` for compressed data:
        it is read incrementally, never inflated beyond what the header announces).

    Returns
    -------
    ndarray
        Of the stored shape; ``uint8`` for unsigned bytes, otherwise the stored
        type in native byte order (int8, int16, int32, float32, float64).

    Raises
    ------
    TypeError
        If ``fileobj`` gives text, not bytes.
    IDXFormatError
        If the magic number is wrong (it must be ``00 00 TT ND`` with a known
        type code TT and 1 <= ND <= 64 dimensions), the header is truncated, the
        dimensions describe more bytes than this platform can address, or the data
        holds fewer or more items than the dimensions say. Memory use is bounded by
        the bytes actually present, whatever the header claims.
    """
    magic = fileobj.read(4)
    if not isinstance(magic, (bytes, bytearray, memoryview)):
        raise TypeError(f"read_idx needs a binary file object (opened with 'rb'), got {type(fileobj).__name__}")
    if len(magic) != 4:
        raise IDXFormatError(f"truncated IDX header: expected a 4-byte magic number, found {len(magic)} bytes")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXFormatError(f"bad IDX magic number {magic.hex()}: the first two bytes must be zero")
    code, ndim = magic[2], magic[3]
    if code not in _IDX_TYPES:
        raise IDXFormatError(f"bad IDX magic number {magic.hex()}: unknown type code 0x{code:02x}, "
                             f"expected one of {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)}")
    if ndim == 0:
        raise IDXFormatError(f"bad IDX magic number {magic.hex()}: zero dimensions")
    if ndim > _MAX_NDIM:
        raise IDXFormatError(f"bad IDX magic number {magic.hex()}: {ndim} dimensions, at most {_MAX_NDIM} "
                             "are supported")
    raw_dims = fileobj.read(4 * ndim)
    if len(raw_dims) != 4 * ndim:
        raise IDXFormatError(f"truncated IDX header: expected {ndim} dimensions ({4 * ndim} bytes), "
                             f"found {len(raw_dims)} bytes")
    shape = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(_IDX_TYPES[code])
    count = 1
    for n in shape:                     # Python ints: no int64 overflow
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > sys.maxsize:
        raise IDXFormatError(f"dimensions {shape} describe {count} items ({nbytes} bytes), more than this "
                             "platform can address")
    data = bytearray()
    while len(data) < nbytes:
        piece = fileobj.read(min(_CHUNK, nbytes - len(data)))
        if not piece:
            break
        data += piece
    found = len(data) // dtype.itemsize
    if len(data) != nbytes:
        raise IDXFormatError(f"expected {count} items for shape {shape}, found {found}"
                             + (f" and {len(data) % dtype.itemsize} stray bytes" if len(data) % dtype.itemsize
                                else ""))
    if fileobj.read(1):
        raise IDXFormatError(f"expected {count} items for shape {shape}, found more data after them")
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def read_idx_file(path):
    """Read an IDX file, raw or gzip-compressed (detected from its first bytes).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        See `read_idx`.

    Raises
    ------
    IDXFormatError
        For a malformed file (the message starts with the path). A compressed file is
        inflated incrementally and never beyond the size its header announces.
    OSError
        If the file cannot be read.
    """
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        try:
            if head == _GZIP_MAGIC:
                with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                    return read_idx(gz)
            return read_idx(fh)
        except IDXFormatError as exc:
            raise IDXFormatError(f"{path}: {exc}") from None
        except _GZIP_ERRORS as exc:
            raise IDXFormatError(f"{path}: broken gzip data ({exc})") from None


_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def _gunzip(fileobj, limit, where):
    """Inflate gzip data from ``fileobj``: at most ``limit + 1`` bytes are produced; ``where`` starts each message."""
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as gz:
            out = gz.read(-1 if limit is None else limit + 1)
    except _GZIP_ERRORS as exc:
        raise IDXFormatError(f"{where}broken gzip data ({exc})") from None
    if limit is not None and len(out) > limit:
        raise IDXFormatError(f"{where}decompresses to more than {limit} bytes, the size of the expected file")
    return out


def read_bytes(path, limit=None):
    """Return the content of a raw or gzip-compressed file (detected from its first bytes), decompressed.

    Parameters
    ----------
    path : str or os.PathLike
    limit : int or None
        The size in bytes of the expected content. A longer file is refused after reading
        or inflating at most ``limit + 1`` bytes, so a gzip bomb costs no more memory
        than the expected file.

    Returns
    -------
    bytes

    Raises
    ------
    IDXFormatError
        For broken gzip data or content longer than ``limit`` (the message starts with the path).
    OSError
        If the file cannot be read.
    """
    with open(path, "rb") as fh:
        if fh.read(2) == _GZIP_MAGIC:
            fh.seek(0)
            return _gunzip(fh, limit, f"{path}: ")
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            raise IDXFormatError(f"{path}: holds {size} bytes, more than the {limit} bytes of the expected file")
        data = fh.read() if limit is None else fh.read(size + 1)     # what is there, not what is allowed
    if limit is not None and len(data) > limit:          # the file grew since it was measured
        raise IDXFormatError(f"{path}: holds more than {limit} bytes, the size of the expected file")
    return data


def inflate(payload, limit=None):
    """Return gzip-compressed ``payload`` decompressed, or ``payload`` itself when it is not gzip data.

    Parameters
    ----------
    payload : bytes
        Gzip data (detected from its first bytes) or raw content.
    limit : int or None
        The size in bytes of the expected content; nothing beyond ``limit + 1`` bytes is inflated.

    Returns
    -------
    bytes

    Raises
    ------
    IDXFormatError
        For broken gzip data or content longer than ``limit``.
    """
    if payload[:2] != _GZIP_MAGIC:
        if limit is not None and len(payload) > limit:
            raise IDXFormatError(f"holds {len(payload)} bytes, more than the {limit} bytes of the expected file")
        return payload
    return _gunzip(io.BytesIO(payload), limit, "")
