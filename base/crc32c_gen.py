#!/usr/bin/env python3
"""crc32c_gen.py - generate the CRC32C tables of base/crc32c.c.

The tables are constants checked in beside the code (the library has no global state to
initialise lazily); this program is where they come from.  It prints the C text between the
`/* clang-format off */` and `/* clang-format on */` markers of base/crc32c.c:

  crc_table[k][n]        slicing-by-8: the raw register (no ~ at either end) after feeding
                         byte n to a zero register, followed by k zero bytes;
  crc_shift_long[k][n]   register n << 8k advanced over CRC_LONG (8192) zero bytes;
  crc_shift_short[k][n]  the same over CRC_SHORT (256) zero bytes: the linear maps that join
                         the three parallel SSE4.2 streams (Mark Adler's crc32c.c).

Usage:
  base/crc32c_gen.py             print the tables
  base/crc32c_gen.py --check F   compare them with the text in F (base/crc32c.c);
                                    exit 0 when equal, 1 when not (first difference on
                                    stderr), 2 when F is unreadable or lacks the markers
Python standard library only.
"""
import sys

POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected
CRC_LONG = 8192    # must match base/crc32c.c
CRC_SHORT = 256
BEGIN = "/* clang-format off */\n"
END = "/* clang-format on */\n"


def byte_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        t.append(c)
    return t


def slicing_tables(t0):
    tabs = [t0]
    for _ in range(7):
        prev = tabs[-1]
        # one more zero byte after the previous table's value
        tabs.append([(c >> 8) ^ t0[c & 0xFF] for c in prev])
    return tabs


def shift_tables(t0, nbytes):
    # Advancing the register over zero bytes is linear over GF(2): find the image of each of
    # the 32 register bits, then an entry is the XOR of the images of its set bits.
    basis = []
    for b in range(32):
        c = 1 << b
        for _ in range(nbytes):
            c = (c >> 8) ^ t0[c & 0xFF]
        basis.append(c)

    def apply(reg):
        r = 0
        b = 0
        while reg:
            if reg & 1:
                r ^= basis[b]
            reg >>= 1
            b += 1
        return r

    return [[apply(n << (8 * k)) for n in range(256)] for k in range(4)]


def c_array(name, tabs):
    out = ["static const uint32_t %s[%d][256] = {\n" % (name, len(tabs))]
    for i, tab in enumerate(tabs):
        out.append("    {\n")
        words = ["0x%08x" % v for v in tab]
        lines = [", ".join(words[j:j + 6]) for j in range(0, len(words), 6)]
        out.append(",\n".join("        " + ln for ln in lines) + "\n")
        out.append("    }" + ("," if i + 1 < len(tabs) else "") + "\n")
    out.append("};\n")
    return "".join(out)


def generate():
    t0 = byte_table()
    return (c_array("crc_table", slicing_tables(t0)) + "\n" + "#if NTG_CRC_HW\n" +
            c_array("crc_shift_long", shift_tables(t0, CRC_LONG)) + "\n" +
            c_array("crc_shift_short", shift_tables(t0, CRC_SHORT)))


def checked_in(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        sys.stderr.write("crc32c_gen.py: %s: %s\n" % (path, e.strerror))
        sys.exit(2)
    a = text.find(BEGIN)
    b = text.find(END, a + len(BEGIN)) if a >= 0 else -1
    if a < 0 or b < 0:
        sys.stderr.write("crc32c_gen.py: %s: no '%s' ... '%s' block\n" %
                         (path, BEGIN.strip(), END.strip()))
        sys.exit(2)
    return text[a + len(BEGIN):b], text.count("\n", 0, a + len(BEGIN)) + 1


def main(argv):
    if len(argv) == 1:
        sys.stdout.write(generate())
        return 0
    if len(argv) == 3 and argv[1] == "--check":
        want, first_line = checked_in(argv[2])
        got = generate()
        if want == got:
            return 0
        w, g = want.splitlines(), got.splitlines()
        for i in range(max(len(w), len(g))):
            wl = w[i] if i < len(w) else "(end of block)"
            gl = g[i] if i < len(g) else "(end of output)"
            if wl != gl:
                sys.stderr.write("%s:%d: checked-in table differs from the generator's:\n"
                                 "  file:      %s\n  generated: %s\n" %
                                 (argv[2], first_line + i, wl, gl))
                break
        return 1
    sys.stderr.write("usage: crc32c_gen.py [--check base/crc32c.c]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
