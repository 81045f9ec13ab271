"""CRC32C (Castagnoli), the checksum of TFRecord framing, with TF's masking.

No maintained CRC32C library is installed with xlaflow's dependencies, so this is a
table-driven implementation: a Python byte loop for short inputs and, for long ones, many
lanes advanced together in NumPy and joined by CRC linearity (zero-byte shift operators).
"""

from __future__ import annotations

import numpy as np

_POLY = 0x82F63B78  # CRC32C, reflected
_MASK_DELTA = 0xA282EAD8


def _table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)
_LANES_FROM = 32768  # from here the NumPy lanes beat the byte loop (measured)


def _register(data, reg):
    # the raw register after feeding `data` (no final inversion)
    table = _TABLE
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


# --- zero-byte shift operators: the register after n zero bytes is linear in the register

def _apply(matrix, reg):
    # matrix: 32 column images (the result for each single set bit)
    out = 0
    i = 0
    while reg:
        if reg & 1:
            out ^= matrix[i]
        reg >>= 1
        i += 1
    return out


def _compose(a, b):
    # the operator "b, then a"
    return [_apply(a, col) for col in b]


_ONE_ZERO_BYTE = [_register(b"\0", 1 << i) for i in range(32)]
_POWERS = [_ONE_ZERO_BYTE]  # _POWERS[k] shifts by 2**k zero bytes
for _ in range(40):
    _POWERS.append(_compose(_POWERS[-1], _POWERS[-1]))


def _shift(reg, nbytes):
    k = 0
    while nbytes:
        if nbytes & 1:
            reg = _apply(_POWERS[k], reg)
        nbytes >>= 1
        k += 1
    return reg


def _shift_many(regs, nbytes):
    # the same shift for a NumPy array of registers: the operator's 32 columns, made into
    # four byte tables, so that applying it is four gathers
    columns = np.array([_shift(1 << i, nbytes) for i in range(32)], dtype=np.uint32)
    byte = np.arange(256, dtype=np.uint32)
    out = np.zeros_like(regs)
    for k in range(4):
        table = np.zeros(256, dtype=np.uint32)
        for bit in range(8):
            table ^= np.where((byte >> np.uint32(bit)) & np.uint32(1), columns[8 * k + bit],
                              np.uint32(0))
        out ^= table[(regs >> np.uint32(8 * k)) & np.uint32(0xFF)]
    return out


def _lanes_register(data):
    # register from init 0 over `data`: zero bytes in front change nothing from 0, so the
    # input is front-padded to lanes x width, each lane run alone, and the lanes joined
    # pairwise: reg(A || B) = shift_|B|(reg(A)) ^ reg(B).
    n = len(data)
    lanes = 1 << max(4, min(14, (n // 64).bit_length()))
    width = -(-n // lanes)
    buf = np.zeros(lanes * width, dtype=np.uint8)
    buf[lanes * width - n:] = np.frombuffer(data, dtype=np.uint8)
    grid = buf.reshape(lanes, width).T.copy()  # row j: byte j of every lane
    regs = np.zeros(lanes, dtype=np.uint32)
    table, low = _TABLE_NP, np.uint32(0xFF)
    eight = np.uint32(8)
    for row in grid:
        regs = table[(regs ^ row) & low] ^ (regs >> eight)
    span = width
    while len(regs) > 1:
        regs = _shift_many(regs[0::2], span) ^ regs[1::2]
        span *= 2
    return int(regs[0])


def crc32c(data, crc=0):
    """The CRC32C of `data` (bytes-like), continuing from a previous `crc` if given."""
    data = memoryview(data).cast("B")
    reg = crc ^ 0xFFFFFFFF
    if len(data) < _LANES_FROM:
        return _register(data, reg) ^ 0xFFFFFFFF
    return _shift(reg, len(data)) ^ _lanes_register(data) ^ 0xFFFFFFFF


def masked_crc32c(data):
    """TF's masked CRC (record_writer): rotate right by 15 and add a constant, so that a
    CRC stored inside checksummed data does not checksum to a fixed value."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
