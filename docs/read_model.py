#!/usr/bin/env python3
"""Reference reader for charlstm model files (format version 1).

Written from docs/model-format.md alone, as a check that the specification
is complete.  Standard library only.  Usage: read_model.py FILE [--data]

    import read_model
    sections = read_model.load("model.ckpt")
    sections["encoder"]["tensors"]["embed"]  -> (dtype, shape, bytes)
"""
import struct
import sys
import zlib

MAGIC, VERSION, BOM, ALIGN = b"CHARLSTM", 1, 0x01020304, 64


class FormatError(Exception):
    pass


class Cursor:
    def __init__(self, buf, off, end):
        self.buf, self.off, self.end = buf, off, end

    def take(self, n, what):
        if n > self.end - self.off:
            raise FormatError(f"byte {self.off}: {what} needs {n} bytes, {self.end - self.off} left")
        b = self.buf[self.off:self.off + n]
        self.off += n
        return b

    def u8(self, what): return self.take(1, what)[0]
    def u32(self, what): return struct.unpack("<I", self.take(4, what))[0]
    def u64(self, what): return struct.unpack("<Q", self.take(8, what))[0]

    def name(self, what):
        n = self.u32(what)
        if not 1 <= n <= 63:
            raise FormatError(f"byte {self.off}: {what} length {n}")
        return self.take(n, what).decode("utf-8")

    def string(self):
        s = self.take(self.u32("string length"), "string").decode("utf-8")
        if "\0" in s:
            raise FormatError("NUL in string")
        return s

    def pad(self):
        # The padding is relative to the start of the FILE (off is absolute).
        if any(self.take((ALIGN - self.off % ALIGN) % ALIGN, "padding")):
            raise FormatError(f"byte {self.off}: non-zero padding")


def value(c, type_):
    if type_ == 1:
        return struct.unpack("<q", c.take(8, "i64"))[0]
    if type_ == 2:
        return struct.unpack("<d", c.take(8, "f64"))[0]
    if type_ == 3:
        return c.string()
    if type_ == 4:
        return [c.string() for _ in range(c.u32("string count"))]
    raise FormatError(f"unknown type code {type_}")


def tensor(c):
    name, dtype, ndim = c.name("tensor name"), c.u8("dtype"), c.u32("ndim")
    if dtype not in (1, 2) or not 1 <= ndim <= 4:
        raise FormatError(f"tensor {name}: dtype {dtype}, ndim {ndim}")
    shape = [c.u64("dim") for _ in range(ndim)]
    crc = c.u32("tensor CRC")
    c.pad()
    n = 4
    for d in shape:
        n *= d
    data = c.take(n, "tensor data")
    if zlib.crc32(data) != crc:
        raise FormatError(f"tensor {name}: checksum mismatch")
    return name, ("f32" if dtype == 1 else "i32", shape, data)


def payload(buf, off, end):
    c = Cursor(buf, off, end)
    keys, tensors = {}, {}
    for _ in range(c.u32("key count")):
        k = c.name("key")
        if k in keys:
            raise FormatError(f"duplicate key {k}")
        keys[k] = value(c, c.u8("type"))
    for _ in range(c.u32("tensor count")):
        name, t = tensor(c)
        if name in tensors:
            raise FormatError(f"duplicate tensor {name}")
        tensors[name] = t
    if c.off != end:
        raise FormatError(f"{end - c.off} unused bytes in section")
    return {"keys": keys, "tensors": tensors}


def load(path):
    buf = open(path, "rb").read()
    if buf[:8] != MAGIC:
        raise FormatError("not a charlstm model file")
    c = Cursor(buf, 8, len(buf))
    version = c.u32("version")
    if version != VERSION:
        raise FormatError(f"format version {version}")
    if c.u32("byte-order mark") != BOM or len(buf) < 24:
        raise FormatError("bad byte-order mark")
    nsec, hcrc = c.u32("section count"), c.u32("header CRC")
    if zlib.crc32(buf[:20]) != hcrc:
        raise FormatError("header checksum mismatch")
    sections = {}
    for _ in range(nsec):
        start = c.off
        name = c.name("section name")
        length, crc = c.u64("payload length"), c.u32("payload CRC")
        if zlib.crc32(buf[start:c.off]) != c.u32("section header CRC"):
            raise FormatError(f"byte {start}: section header checksum mismatch")
        c.pad()
        off = c.off
        if zlib.crc32(c.take(length, f"section {name}")) != crc:
            raise FormatError(f"section {name}: checksum mismatch")
        if name in sections:
            raise FormatError(f"duplicate section {name}")
        sections[name] = payload(buf, off, off + length)
    if c.off != len(buf):
        raise FormatError("trailing data after the last section")
    return sections


def main(argv):
    show_data = "--data" in argv
    for name, s in load(argv[1]).items():
        print(f"[{name}]")
        for k, v in s["keys"].items():
            print(f"  {k} = {v!r}")
        for k, (dtype, shape, data) in s["tensors"].items():
            line = f"  {k}: {dtype} {shape} ({len(data)} bytes)"
            if show_data and data:
                fmt = "<%d%s" % (len(data) // 4, "f" if dtype == "f32" else "i")
                line += " " + repr(list(struct.unpack(fmt, data))[:8])
            print(line)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (FormatError, UnicodeDecodeError, OSError) as e:
        sys.exit(f"{sys.argv[1]}: {e}")
