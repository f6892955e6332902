"""Safe, lazy access to HDF5 files.

HDF5 can point outside itself (external and soft links, external or virtual dataset storage) and
can declare datasets far larger than the file ("shape bombs").  Every access here goes through
hard links only, refuses external storage, and checks declared sizes before reading, as Keras
itself now does (keras#22057, #22801, #22975).  Datasets become :class:`Weight` objects that
read on demand; the file is reopened if the model was closed meanwhile.
"""

from __future__ import annotations

import io
import threading
from typing import Any, Iterator

import h5py
import numpy as np

from kconvert.errors import InputReadError
from kconvert.ir.extent import Extent
from kconvert.ir.weights import Index, Weight
from kconvert.readers.context import Limits
from kconvert.readers.files import checked_path

_NUMERIC_KINDS = "fiub"
# What h5py raises for a damaged file: libhdf5 errors surface as KeyError (a failed lookup),
# OSError, RuntimeError or ValueError, depending on the call and the damage (OverflowError: an
# absurd address in a file read from memory).
H5_ERRORS = (KeyError, OSError, OverflowError, RuntimeError, TypeError, ValueError)


class H5File:
    """An HDF5 file (on disk or in memory) opened read-only on demand."""

    def __init__(self, source: str | bytes, display: str, limits: Limits) -> None:
        self.source = source
        self.display = display
        self.limits = limits
        self._file: h5py.File | None = None
        self._lock = threading.Lock()
        self.size = len(source) if isinstance(source, bytes) else checked_path(source, display)
        self.open()  # now, so that an unreadable file fails at load time

    def open(self) -> h5py.File:
        """The open file, (re)opened if needed: weights stay readable after :meth:`close`."""
        with self._lock:
            if self._file is None or not self._file.id.valid:
                try:
                    target = io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
                    self._file = h5py.File(target, "r")
                except H5_ERRORS as exc:
                    raise InputReadError(f"not a readable HDF5 file ({_h5_reason(exc)})", file=self.display) from None
            return self._file

    @property
    def file(self) -> h5py.File:
        return self.open()

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file.id.valid:
                self._file.close()
            self._file = None

    # -- safe navigation -----------------------------------------------------------------------

    def get(self, parent: h5py.Group, path: str) -> h5py.Group | h5py.Dataset:
        """``parent[path]`` following hard links only."""
        node: Any = parent
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, h5py.Group):
                raise self.error(f"'{node.name}' is not a group", path)
            try:
                link = node.get(part, getlink=True)
            except H5_ERRORS as exc:
                raise self.error(f"cannot read '{part}' ({_h5_reason(exc)})", path) from None
            if link is None:
                raise self.error(f"'{_join(node.name, part)}' does not exist", path)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
                raise self.error(f"'{_join(node.name, part)}' is {kind}, which kconvert does not follow", path)
            try:
                node = node[part]
            except H5_ERRORS as exc:
                raise self.error(f"cannot open '{_join(node.name, part)}' ({_h5_reason(exc)})", path) from None
        return node

    def has(self, parent: h5py.Group, name: str) -> bool:
        try:
            return parent.get(name, getlink=True) is not None
        except H5_ERRORS:
            return False

    def children(self, group: h5py.Group) -> Iterator[str]:
        try:
            names = list(group.keys())
        except H5_ERRORS as exc:
            raise self.error(f"cannot list '{group.name}' ({_h5_reason(exc)})") from None
        yield from names

    def error(self, reason: str, where: str | None = None) -> InputReadError:
        return InputReadError(reason, file=self.display, key=where)

    # -- attributes ----------------------------------------------------------------------------

    def attr(self, obj: h5py.HLObject, name: str) -> Any:
        """An attribute's value, size-checked, with strings decoded; None when absent."""
        try:
            if name not in obj.attrs:
                return None
            try:
                size = obj.attrs.get_id(name).get_storage_size()
            except H5_ERRORS:
                size = 0  # HDF5 reports an error for an attribute with no data (an empty list)
            if size > self.limits.max_config_bytes:
                raise self.error(f"attribute '{name}' of '{obj.name}' is {size} bytes, over the limit")
            value = obj.attrs[name]
        except InputReadError:
            raise
        except H5_ERRORS as exc:
            raise self.error(f"cannot read attribute '{name}' of '{obj.name}' ({_h5_reason(exc)})") from None
        return _decode(value)

    def text_attr(self, obj: h5py.HLObject, name: str) -> str | None:
        value = self.attr(obj, name)
        if value is None or isinstance(value, str):
            return value
        raise self.error(f"attribute '{name}' of '{obj.name}' is not a string")

    def names_attr(self, obj: h5py.HLObject, name: str) -> list[str] | None:
        """A list-of-strings attribute, joining Keras's chunks ``name0``, ``name1``, ... if split."""
        if self.has_attr(obj, name):
            chunks = [self.attr(obj, name)]
        elif self.has_attr(obj, f"{name}0"):
            chunks = []
            while self.has_attr(obj, f"{name}{len(chunks)}"):
                chunks.append(self.attr(obj, f"{name}{len(chunks)}"))
        else:
            return None
        out: list[str] = []
        for chunk in chunks:  # an empty list may be stored as an empty float array
            for item in chunk if isinstance(chunk, list) else [chunk]:
                if not isinstance(item, str):
                    raise self.error(f"attribute '{name}' of '{obj.name}' holds {item!r}, not a name")
                out.append(item)
        return out

    def has_attr(self, obj: h5py.HLObject, name: str) -> bool:
        try:
            return name in obj.attrs
        except H5_ERRORS:
            return False

    # -- datasets ------------------------------------------------------------------------------

    def weight(self, parent: h5py.Group, path: str) -> Weight:
        """A lazily read weight for the dataset at ``parent/path``, after safety checks."""
        ds = self.get(parent, path)
        if not isinstance(ds, h5py.Dataset):
            raise self.error(f"'{ds.name}' is a group, not a weight array", path)
        where = ds.name
        try:
            if ds.is_virtual or ds.external:
                raise self.error(f"dataset '{where}' keeps its data outside the file, which kconvert refuses")
            shape, dtype = tuple(int(d) for d in ds.shape), ds.dtype
        except InputReadError:
            raise
        except H5_ERRORS as exc:
            raise self.error(f"cannot read dataset '{where}' ({_h5_reason(exc)})") from None
        if dtype.kind not in _NUMERIC_KINDS:
            raise self.error(f"dataset '{where}' holds {dtype}, not numbers")
        offset = self._check_storage(ds, shape, dtype)
        origin = f"{self.display}:{where}"
        extent = None
        if offset is not None and _stored_as(ds, dtype):
            extent = Extent(self.source, offset, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)

        def read(index: Index = ()) -> np.ndarray:  # () reads the whole dataset, a tuple of slices a hyperslab
            try:
                return np.asarray(self.get(self.file, where)[index])
            except InputReadError:
                raise
            except H5_ERRORS as exc:
                raise InputReadError(f"cannot read dataset '{where}' ({_h5_reason(exc)})", file=self.display) from None
        return Weight.from_file(shape, dtype, read, origin, read, extent)

    def _check_storage(self, ds: h5py.Dataset, shape: tuple[int, ...], dtype: np.dtype) -> int | None:
        """Refuse datasets whose data cannot be in the file: truncation, or a declared size far
        beyond what is stored (a "shape bomb").  The byte offset of a dataset stored whole and in
        order (contiguous, every byte written), else None."""
        declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        try:
            stored = ds.id.get_storage_size()
            offset = ds.id.get_offset() if ds.chunks is None else None
        except H5_ERRORS as exc:
            raise self.error(f"cannot inspect dataset '{ds.name}' ({_h5_reason(exc)})") from None
        if offset is not None and offset + stored > self.size:
            raise self.error(f"dataset '{ds.name}' extends past the end of the file: the file is truncated")
        if declared > 1024 and declared > max(stored, 1) * (self.limits.max_compression_ratio
                                                             if ds.chunks is not None else 1):
            raise self.error(f"dataset '{ds.name}' declares {declared} bytes but stores {stored}: refusing a "
                             "truncated file or a shape bomb")
        return offset if offset is not None and declared and stored == declared else None


def _stored_as(ds: h5py.Dataset, dtype: np.dtype) -> bool:
    """Whether the file stores ``ds`` as bytes of ``dtype`` itself (byte order included), not as a
    type HDF5 converts on reading (another precision or layout), so its bytes can be copied."""
    try:
        return bool(ds.id.get_type().equal(h5py.h5t.py_create(dtype)))
    except H5_ERRORS:
        return False


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _decode(value[()])
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _h5_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__
