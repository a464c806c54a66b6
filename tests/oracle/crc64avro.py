"""CRC-64-AVRO (Rabin) as the Avro specification writes it, independent of the C code.

Used by the schema oracle and by fill_fingerprints.py to derive expected fingerprints.
"""

EMPTY = 0xC15D213AA4D7A795


def _table():
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def fingerprint64(data: bytes) -> int:
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ b) & 0xFF]
    return fp


def hex64(data: bytes) -> str:
    return "%016x" % fingerprint64(data)


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:]:
        print(hex64(arg.encode("utf-8")))
