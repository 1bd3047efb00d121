"""Pickling for taskloom's worker processes: protocol 5, buffers out of band.

``dumps`` pickles with the standard library's ``pickle`` and falls back to
``cloudpickle`` for what ``pickle`` cannot take (lambdas, closures, classes and
functions of ``__main__``), as ``distributed`` does: module-level functions then
cross by reference, cheaply, and everything else by value. Large buffers (numpy
arrays, ``bytes``) are handed over out of band (``buffer_callback``), never copied
into the pickle: ``taskloom._native`` lays the pickle and the buffers out in one
block, copying each buffer once, and ``loads`` reads the block back with each buffer
a slice of it.

The block: ``u32`` buffer count, ``u64`` pickle length, ``u64`` length of each
buffer (little-endian), the pickle, then each buffer at the next multiple of 64
bytes from the block's start.
"""

from __future__ import annotations

import pickle
import struct

import cloudpickle

from dask.sizeof import sizeof

__all__ = ["dumps", "loads", "dumps_inband", "sizeof"]

_HEAD = struct.Struct("<IQ")
_ALIGN = 64


def dumps(obj):
    """``(pickle, [buffers])``: the pickle (protocol 5) and its out-of-band
    buffers, each a contiguous ``memoryview`` of the object's own memory."""
    buffers = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        # What lives in ``__main__`` of this process does not exist in a worker's.
        if b"__main__" in data:
            raise pickle.PicklingError("refers to __main__")
    except Exception:
        buffers = []
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    try:
        raws = [buffer.raw() for buffer in buffers]
    except BufferError:
        # A buffer that is not contiguous crosses in the pickle.
        return dumps_inband(obj), []
    return data, raws


def dumps_inband(obj):
    """The pickle of ``obj`` with everything in it (exceptions, small things)."""
    try:
        data = pickle.dumps(obj, protocol=5)
        if b"__main__" not in data:
            return data
    except Exception:
        pass
    return cloudpickle.dumps(obj, protocol=5)


def loads(block):
    """The object of a block (a ``bytearray``: its buffers come back writable)."""
    view = memoryview(block)
    count, length = _HEAD.unpack_from(view, 0)
    at = _HEAD.size + 8 * count
    lengths = struct.unpack_from(f"<{count}Q", view, _HEAD.size)
    data = view[at : at + length]
    at += length
    buffers = []
    for n in lengths:
        at = -(-at // _ALIGN) * _ALIGN
        buffers.append(view[at : at + n])
        at += n
    return pickle.loads(data, buffers=buffers)
