#!/usr/bin/env python3
"""Generates the Unicode/encoding tables of host/tok.c: host/tok_tables.inc and
host/html_entities.inc.

The C tokenizer re-implements OpenAI CLIP's text cleanup (ftfy.fix_text, html.unescape,
str.lower) and must agree with Python on every character. The tables below are therefore
derived from the Python implementations themselves, not typed in by hand:

  * single-byte code pages (latin-1, ftfy's "sloppy" windows-125x variants, iso-8859-2,
    macroman, cp437) from Python's codecs, with ftfy's sloppy rule applied;
  * ftfy's character classes (mojibake categories and UTF-8 clue sets) by testing every
    BMP code point against the classes ftfy builds;
  * fix_character_width's map (NFKC of U+FF01..U+FFEF) and fix_latin_ligatures' map;
  * the Cased / Case_Ignorable properties that str.lower() uses for the final sigma,
    probed through str.lower() itself;
  * html.entities.html5, plus ftfy's upper-case entity variants.

Developer tool only: run with a Python that has ftfy installed (pip install ftfy):
    python3 scripts/gen_tok_tables.py host/
"""
import codecs
import html
import html.entities
import re
import sys
import unicodedata

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs)
from ftfy import badness, chardata

ENCODINGS = list(chardata.CHARMAP_ENCODINGS)
assert ENCODINGS == ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251",
                     "sloppy-windows-1250", "sloppy-windows-1253", "sloppy-windows-1254",
                     "sloppy-windows-1257", "iso-8859-2", "macroman", "cp437"], ENCODINGS

CATEGORIES = ["common", "c1", "bad", "law", "currency", "start_punctuation",
              "end_punctuation", "numeric", "kaomoji", "upper_accented", "lower_accented",
              "upper_common", "lower_common", "box"]
CLUES = ["utf8_first_of_2", "utf8_first_of_3", "utf8_first_of_4", "utf8_continuation",
         "utf8_continuation_strict"]
CAT_C = ["CS_COMMON", "CS_C1", "CS_BAD", "CS_LAW", "CS_CUR", "CS_SP", "CS_EP", "CS_NUM",
         "CS_KAO", "CS_UA", "CS_LA", "CS_UC", "CS_LC", "CS_BOX"]
CLUE_C = ["CS_F2", "CS_F3", "CS_F4", "CS_CONT", "CS_CONTS"]
ENC_BIT0 = len(CAT_C) + len(CLUE_C)


def class_members(chars):
    """Code points of the BMP matched by the regex character class [chars]."""
    assert not chars.startswith("-") and not chars.endswith("-")
    rx = re.compile("[" + chars + "]")
    return {c for c in range(0x10000) if rx.match(chr(c))}


def encoding_tables():
    dec, enc_pairs, sloppy = [], [], []
    for name in ENCODINGS:
        table = []
        for b in range(256):
            table.append(ord(bytes([b]).decode(name)))
        dec.append(table)
        is_sloppy = name.startswith("sloppy")
        sloppy.append(1 if is_sloppy else 0)
        # Encoding pairs for the non-ASCII characters (and U+FFFD -> 0x1A in sloppy codecs),
        # taken from Python's own encoder so duplicates resolve the same way.
        pairs = {}
        for b in list(range(0x80, 0x100)) + [0x1A]:
            ch = bytes([b]).decode(name)
            if ord(ch) < 0x80:
                continue
            pairs[ord(ch)] = ch.encode(name)[0]
        enc_pairs.append(sorted(pairs.items()))
        # the byte-for-byte ASCII rule the C code relies on
        for b in range(0x80):
            want = 0xFFFD if (is_sloppy and b == 0x1A) else b
            assert table[b] == want, (name, b)
    return dec, enc_pairs, sloppy


def charset(enc_pairs):
    masks = {}
    for i, cat in enumerate(CATEGORIES):
        for c in class_members(badness.MOJIBAKE_CATEGORIES[cat]):
            masks[c] = masks.get(c, 0) | (1 << i)
    for i, clue in enumerate(CLUES):
        for c in class_members(chardata.UTF8_CLUES[clue]):
            masks[c] = masks.get(c, 0) | (1 << (len(CATEGORIES) + i))
    for e, pairs in enumerate(enc_pairs):
        for c, _ in pairs:
            masks[c] = masks.get(c, 0) | (1 << (ENC_BIT0 + e))
    # Cross-check the encoding bits against ftfy's own possible_encoding().
    for e, name in enumerate(ENCODINGS):
        for c in range(0x10000):
            if 0xD800 <= c < 0xE000:
                continue
            if c < 0x80:
                mine = not (c == 0x1A and name.startswith("sloppy"))
            else:
                mine = bool(masks.get(c, 0) & (1 << (ENC_BIT0 + e)))
            assert mine == chardata.possible_encoding(chr(c), name), (name, hex(c))
    return sorted(masks.items())


def width_map():
    out = []
    for c, rep in sorted(chardata.WIDTH_MAP.items()):
        assert len(rep) <= 3
        out.append((c, [ord(x) for x in rep]))
    return out


def ligatures():
    out = []
    for c, rep in sorted(chardata.LIGATURES.items()):
        assert len(rep) <= 3
        out.append((c, [ord(x) for x in rep]))
    return out


def ranges(pred):
    out, start = [], None
    for c in range(0x110000):
        if pred(c):
            if start is None:
                start = c
        elif start is not None:
            out.append((start, c - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def case_props():
    """Python's lower() turns U+03A3 into final sigma when the preceding non-case-ignorable
    character is cased and no cased character follows (skipping case-ignorables). Probing
    that rule recovers exactly the two properties Python uses."""
    def ci(c):
        ch = chr(c)
        t1 = ("a" + ch + "\u03a3").lower()[-1] == "\u03c2"
        t2 = (ch + "\u03a3").lower()[-1] == "\u03c2"
        return t1 and not t2

    def cased(c):
        ch = chr(c)
        return (ch + "\u03a3").lower()[-1] == "\u03c2"

    skip = lambda c: 0xD800 <= c < 0xE000 or c == 0x3A3
    ign = ranges(lambda c: not skip(c) and ci(c))
    # U+03A3 cannot probe itself; it is an upper-case letter, hence cased ("ΣΣ" -> "σς").
    assert "\u03a3\u03a3".lower() == "\u03c3\u03c2"
    cas = ranges(lambda c: c == 0x3A3 or (not skip(c) and cased(c)))
    # The other half of the rule, checked independently: a following character blocks the
    # final form exactly when it is cased and not case-ignorable.
    for c in list(range(0x250)) + [0x345, 0x2B0, 0x1D2C, 0x24B6, 0x2160, 0x10400, 0x1F130]:
        if skip(c):
            continue
        blocked = ("a\u03a3" + chr(c)).lower()[1] == "\u03c3"
        assert blocked == (cased(c) and not ci(c)), hex(c)
    return ign, cas


def html_tables():
    h5 = sorted(html.entities.html5.items())
    upper = []
    for name, char in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            nu = name.upper()
            if html.unescape("&" + nu) == "&" + nu:
                upper.append((nu, char.upper()))
    upper.sort()
    # Cross-check with ftfy's table.
    mine = {"&" + k: v for k, v in html.entities.html5.items() if k.endswith(";")}
    mine.update({"&" + k: v for k, v in upper})
    assert mine == chardata.HTML_ENTITIES
    return h5, upper


def cstr(s):
    return '"' + "".join(c if c.isalnum() or c in ";_" else "\\x%02x" % ord(c) for c in s) + '"'


def cps(lst, n):
    lst = list(lst) + [0] * (n - len(lst))
    return "{" + ", ".join("0x%X" % x for x in lst) + "}"


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "host"
    head = ("/* Generated by scripts/gen_tok_tables.py with Python %s (Unicode %s) and ftfy %s.\n"
            " * Do not edit: re-run the script instead. */\n"
            % (sys.version.split()[0], unicodedata.unidata_version, ftfy.__version__))

    dec, enc_pairs, sloppy = encoding_tables()
    cs = charset(enc_pairs)
    wm = width_map()
    lig = ligatures()
    ign, cas = case_props()
    L = [head, "#define TOK_N_ENC %d\n" % len(ENCODINGS)]
    L.append("static const char *const tok_enc_names[TOK_N_ENC] = {%s};\n"
             % ", ".join('"%s"' % e for e in ENCODINGS))
    L.append("static const uint8_t tok_enc_sloppy[TOK_N_ENC] = {%s};\n"
             % ", ".join(map(str, sloppy)))
    L.append("static const uint16_t tok_enc_decode[TOK_N_ENC][256] = {\n")
    for t in dec:
        L.append("    {" + ", ".join("0x%X" % x for x in t) + "},\n")
    L.append("};\n")
    for e, pairs in enumerate(enc_pairs):
        L.append("static const tok_enc_pair tok_enc_pairs_%d[] = {%s};\n"
                 % (e, ", ".join("{0x%X, 0x%X}" % p for p in pairs)))
    L.append("static const tok_enc_pair *const tok_enc_pairs[TOK_N_ENC] = {%s};\n"
             % ", ".join("tok_enc_pairs_%d" % e for e in range(len(ENCODINGS))))
    L.append("static const uint16_t tok_enc_npairs[TOK_N_ENC] = {%s};\n"
             % ", ".join(str(len(p)) for p in enc_pairs))
    L.append("enum {\n")
    for i, n in enumerate(CAT_C + CLUE_C):
        L.append("    %s = 1u << %d,\n" % (n, i))
    L.append("};\n#define CS_ENC_BIT0 %d\n" % ENC_BIT0)
    L.append("static const tok_charmask tok_charset[] = {\n")
    for i in range(0, len(cs), 6):
        L.append("    " + " ".join("{0x%X, 0x%X}," % x for x in cs[i:i + 6]) + "\n")
    L.append("};\n")
    L.append("static const tok_cpmap tok_width_map[] = {\n")
    for c, rep in wm:
        L.append("    {0x%X, %s},\n" % (c, cps(rep, 3)))
    L.append("};\n")
    L.append("static const tok_cpmap tok_ligatures[] = {\n")
    for c, rep in lig:
        L.append("    {0x%X, %s},\n" % (c, cps(rep, 3)))
    L.append("};\n")
    for name, rg in (("tok_case_ignorable", ign), ("tok_cased", cas)):
        L.append("static const tok_range %s[] = {\n" % name)
        for i in range(0, len(rg), 6):
            L.append("    " + " ".join("{0x%X, 0x%X}," % r for r in rg[i:i + 6]) + "\n")
        L.append("};\n")
    with open(outdir + "/tok_tables.inc", "w") as f:
        f.write("".join(L))

    h5, upper = html_tables()
    L = [head]
    L.append("/* html.entities.html5, sorted by name (names with and without ';'). */\n")
    L.append("static const tok_entity tok_html5[] = {\n")
    for name, val in h5:
        assert len(val) <= 3
        L.append("    {%s, %s},\n" % (cstr(name), cps([ord(c) for c in val], 3)))
    L.append("};\n")
    L.append("/* ftfy's extra upper-case entities (&EACUTE; -> \\u00c9), sorted. */\n")
    L.append("static const tok_entity tok_ftfy_upper[] = {\n")
    for name, val in upper:
        assert len(val) <= 3
        L.append("    {%s, %s},\n" % (cstr(name), cps([ord(c) for c in val], 3)))
    L.append("};\n")
    with open(outdir + "/html_entities.inc", "w") as f:
        f.write("".join(L))


if __name__ == "__main__":
    main()
