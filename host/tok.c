/* tok.c — OpenAI CLIP's tokenizer (clip.simple_tokenizer.SimpleTokenizer + clip.tokenize),
 * reproduced id for id.
 *
 * CLIP's encode() is: ftfy.fix_text → html.unescape twice → strip → `\s+` → " " → strip →
 * str.lower() → regex pre-tokenizer → byte-level BPE. Every stage is re-implemented here with
 * the Python semantics that decide the ids, including the odd corners (ftfy's mojibake
 * heuristics, html.unescape's legacy entities, the final-sigma rule of str.lower(), the
 * IGNORECASE flag of the pre-tokenizer). The character tables come from
 * scripts/gen_tok_tables.py (tok_tables.inc, html_entities.inc); categories, NFC and simple
 * case mappings come from utf8proc.
 *
 * Text is processed as arrays of code points (uint32_t): Python's str semantics are per code
 * point, and several stages (ftfy's re-encodings) need random access.
 *
 * Thread safety: a tokenizer is immutable after creation. There is no word cache (Python's
 * memoizes BPE results; C runs BPE fast enough without one), so calls share nothing and the
 * same tokenizer can be used from any number of threads. Scratch memory is per call.
 *
 * Known, deliberate differences from Python (none reachable by real text):
 *   - Unicode data: categories, NFC and case mappings follow utf8proc's Unicode version;
 *     Python's regex/unicodedata may be older or newer for characters assigned since.
 *   - A numeric character reference longer than 4300 digits makes Python's int() raise; here
 *     it is out of range and becomes U+FFFD like any other too-large number.
 *   - Input is limited to TOK_MAX_TEXT_BYTES (CLIPCL_ERR_LIMIT beyond).
 *   - ftfy's fix_surrogates is not needed: no stage here can produce a lone surrogate
 *     (UTF-8 input with surrogates is invalid and becomes U+FFFD, as in Python's decoder).
 * Like ftfy, the cleanup re-runs its fixers until the text stops changing, so deeply nested
 * escapes ("&amp;amp;amp;…") cost one pass per level: quadratic in the worst case, as in
 * Python. The ids are exact for every input; only the time grows. */
#include "tok.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#include <zlib.h>

#include "err.h"

typedef struct { uint16_t cp; uint8_t byte; } tok_enc_pair;
typedef struct { uint16_t cp; uint32_t mask; } tok_charmask;
typedef struct { uint32_t cp; uint32_t rep[3]; } tok_cpmap;
typedef struct { uint32_t lo, hi; } tok_range;
typedef struct { const char *name; uint32_t cp[3]; } tok_entity;
typedef struct { uint64_t key; uint32_t rank, out; } tok_pair;

#include "html_entities.inc"
#include "tok_tables.inc"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NONE 0xFFFFFFFFu /* "past the end" marker for look-ahead code points */

/* Indices into the generated code-page tables (order of ftfy's CHARMAP_ENCODINGS). */
enum { ENC_LATIN1 = 0, ENC_SLOPPY1252 = 1, ENC_MACROMAN = 8 };

/* Vocabulary file layout (clip/simple_tokenizer.py: merges[1:49152-256-2+1]). */
#define BPE_N_MERGES 48894
#define BPE_N_VOCAB (512 + BPE_N_MERGES + 2)
#define BPE_MAX_FILE ((size_t)64 << 20)
#define BPE_MAX_SYMBOL 1024

/* ====================================================================== buffers */

/* Growable code-point string. Allocation failure is sticky (oom) so that the long text
 * pipeline checks once per stage instead of after every push. */
typedef struct { uint32_t *p; size_t n, cap; int oom; } ustr;
typedef struct { uint8_t *p; size_t n, cap; int oom; } bstr;

static int grow(void **p, size_t *cap, size_t need, size_t elem, int *oom)
{
    if (*oom) return 0;
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) { *oom = 1; return 0; }
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) { *oom = 1; return 0; }
    *p = q;
    *cap = c;
    return 1;
}

static inline void us_push(ustr *s, uint32_t c)
{
    if (s->n < s->cap || grow((void **)&s->p, &s->cap, s->n + 1, sizeof *s->p, &s->oom))
        s->p[s->n++] = c;
}

static void us_add(ustr *s, const uint32_t *p, size_t n)
{
    if (n && grow((void **)&s->p, &s->cap, s->n + n, sizeof *s->p, &s->oom)) {
        memcpy(s->p + s->n, p, n * sizeof *p);
        s->n += n;
    }
}

/* Appends a NUL-padded replacement of up to 3 code points. */
static void us_add3(ustr *s, const uint32_t rep[3])
{
    for (int k = 0; k < 3 && rep[k]; k++) us_push(s, rep[k]);
}

static void us_free(ustr *s) { free(s->p); memset(s, 0, sizeof *s); }

static int us_eq(const ustr *a, const ustr *b)
{
    return a->n == b->n && (a->n == 0 || !memcmp(a->p, b->p, a->n * sizeof *a->p));
}

static void us_swap(ustr *a, ustr *b) { ustr t = *a; *a = *b; *b = t; }

static inline void bs_push(bstr *s, uint8_t c)
{
    if (s->n < s->cap || grow((void **)&s->p, &s->cap, s->n + 1, 1, &s->oom)) s->p[s->n++] = c;
}

static void bs_free(bstr *s) { free(s->p); memset(s, 0, sizeof *s); }

/* ====================================================================== UTF-8 */

/* Decodes one sequence at s[i]; returns its length and the code point in *cp, or 0 with
 * *len_bad = the length of the maximal invalid subpart (Python's errors="replace" unit). */
static size_t utf8_next(const uint8_t *s, size_t n, size_t i, uint32_t *cp, size_t *len_bad)
{
    uint8_t b = s[i];
    if (b < 0x80) { *cp = b; return 1; }
    int need;
    uint32_t v;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) { need = 1; v = b & 0x1Fu; }
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; v = b & 0x0Fu;
        if (b == 0xE0) lo = 0xA0;
        else if (b == 0xED) hi = 0x9F; /* surrogates are invalid in UTF-8 */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; v = b & 0x07u;
        if (b == 0xF0) lo = 0x90;
        else if (b == 0xF4) hi = 0x8F;
    } else { *len_bad = 1; return 0; }
    size_t j = i + 1;
    for (int k = 0; k < need; k++, j++) {
        if (j >= n || s[j] < lo || s[j] > hi) { *len_bad = j - i; return 0; }
        v = (v << 6) | (s[j] & 0x3Fu);
        lo = 0x80; hi = 0xBF;
    }
    *cp = v;
    return j - i;
}

static void utf8_decode_replace(const uint8_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp; size_t bad = 0;
        size_t k = utf8_next(s, n, i, &cp, &bad);
        if (k) { us_push(out, cp); i += k; }
        else { us_push(out, 0xFFFD); i += bad; }
    }
}

/* Strict decoding of s[a, b): 0 on the first invalid or truncated sequence. */
static int utf8_decode_strict(const uint8_t *s, size_t a, size_t b, ustr *out)
{
    for (size_t i = a; i < b;) {
        uint32_t cp; size_t bad;
        size_t k = utf8_next(s, b, i, &cp, &bad);
        if (!k) return 0;
        us_push(out, cp);
        i += k;
    }
    return 1;
}

static size_t utf8_put(uint32_t c, uint8_t o[4])
{
    if (c < 0x80) { o[0] = (uint8_t)c; return 1; }
    if (c < 0x800) { o[0] = (uint8_t)(0xC0 | c >> 6); o[1] = (uint8_t)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12); o[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | c >> 18); o[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F)); o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

static void utf8_encode(const uint32_t *s, size_t n, bstr *out)
{
    uint8_t t[4];
    for (size_t i = 0; i < n; i++) {
        size_t k = utf8_put(s[i], t);
        for (size_t j = 0; j < k; j++) bs_push(out, t[j]);
    }
}

/* ====================================================================== character classes */

static int in_ranges(const tok_range *r, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid].lo) hi = mid;
        else if (c > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* ftfy's character classes and code-page membership (CS_* bits) of one code point. */
static uint32_t cmask(uint32_t c)
{
    if (c < 0x80) return c == 0x20 ? CS_CONT : 0;
    if (c > 0xFFFF) return 0;
    size_t lo = 0, hi = NELEM(tok_charset);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tok_charset[mid].cp < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < NELEM(tok_charset) && tok_charset[lo].cp == c ? tok_charset[lo].mask : 0;
}

static int in_list(uint32_t c, const uint32_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == c) return 1;
    return 0;
}

#define IN(c, ...) in_list((c), (const uint32_t[]){__VA_ARGS__}, \
                           sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* str.isspace() (and `\s` of Python's re module). */
static int py_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* `\s` of the third-party regex module that CLIP imports (the White_Space property: unlike
 * str.isspace() it excludes U+001C..U+001F). */
static int rx_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

static int is_decimal(uint32_t c) /* Python re's \d on str */
{
    if (c < 0x80) return c >= '0' && c <= '9';
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}

static int py_isword(uint32_t c) { return c == '_' || is_letter(c) || is_number(c); }
static int ascii_alpha(uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int ascii_lower(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int ascii_alnum(uint32_t c) { return ascii_alpha(c) || ascii_digit(c); }
static int ascii_xdigit(uint32_t c) { return ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* ====================================================================== html.unescape */

static const tok_entity *find_entity(const tok_entity *t, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        size_t tl = strlen(t[mid].name);
        int c = memcmp(t[mid].name, name, tl < len ? tl : len);
        if (c == 0) c = (tl > len) - (tl < len);
        if (c < 0) lo = mid + 1;
        else if (c > 0) hi = mid;
        else return &t[mid];
    }
    return NULL;
}

/* Python's html._replace_charref for a numeric reference (value saturated at 0x110000). */
static void numeric_charref(uint32_t num, ustr *out)
{
    if (num == 0) { us_push(out, 0xFFFD); return; }
    if (num == 0x0D) { us_push(out, 0x0D); return; }
    if (num >= 0x80 && num <= 0x9F) { us_push(out, tok_enc_decode[ENC_SLOPPY1252][num]); return; }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { us_push(out, 0xFFFD); return; }
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
        num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return; /* "invalid code points" are dropped */
    us_push(out, num);
}

/* html.unescape: the regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) */
static void html_unescape(const uint32_t *s, size_t n, ustr *out)
{
    size_t i = 0;
    while (i < n && s[i] != '&') i++;
    us_add(out, s, i);
    while (i < n) {
        if (s[i] != '&') { us_push(out, s[i++]); continue; }
        if (i + 1 < n && s[i + 1] == '#') {
            size_t j = i + 2;
            int hex = 0;
            if (j < n && ascii_digit(s[j])) hex = 0;
            else if (j + 1 < n && (s[j] == 'x' || s[j] == 'X') && ascii_xdigit(s[j + 1])) { hex = 1; j++; }
            else { us_push(out, '&'); i++; continue; }
            uint32_t num = 0;
            for (; j < n && (hex ? ascii_xdigit(s[j]) : ascii_digit(s[j])); j++) {
                uint32_t d = ascii_digit(s[j]) ? s[j] - '0' : (s[j] | 0x20) - 'a' + 10;
                if (num <= 0x10FFFF) num = num * (hex ? 16 : 10) + d;
                if (num > 0x10FFFF) num = 0x110000;
            }
            if (j < n && s[j] == ';') j++;
            numeric_charref(num, out);
            i = j;
            continue;
        }
        size_t j = i + 1, k = j;
        while (k < n && k - j < 32 && !IN(s[k], '\t', '\n', '\f', ' ', '<', '&', '#', ';')) k++;
        if (k == j) { us_push(out, '&'); i++; continue; }
        size_t end = k < n && s[k] == ';' ? k + 1 : k;
        /* Entity names are ASCII: only the ASCII prefix of the name can match. */
        char name[34];
        size_t na = 0;
        while (j + na < end && s[j + na] < 0x80) { name[na] = (char)s[j + na]; na++; }
        const tok_entity *e = NULL;
        size_t x = end - j;
        if (na == x) e = find_entity(tok_html5, NELEM(tok_html5), name, x);
        if (!e) /* the longest legacy name that prefixes it ("&notit;" -> "¬it;") */
            for (x = end - j - 1; x >= 2; x--)
                if (x <= na && (e = find_entity(tok_html5, NELEM(tok_html5), name, x))) break;
        if (e) {
            us_add3(out, e->cp);
            us_add(out, s + j + x, end - j - x);
        } else {
            us_push(out, '&');
            us_add(out, s + j, end - j);
        }
        i = end;
    }
}

/* ====================================================================== ftfy */

/* ftfy.badness.is_bad: does any of BADNESS_RE's alternatives match somewhere? */
static int is_bad(const uint32_t *s, size_t n)
{
    const uint32_t A2 = CS_BAD | CS_LA | CS_UA | CS_BOX | CS_SP | CS_EP | CS_CUR | CS_NUM | CS_LAW;
    const uint32_t A4 = CS_LA | CS_UA | CS_BOX | CS_SP | CS_EP | CS_CUR | CS_NUM | CS_LAW;
    for (size_t i = 0; i < n; i++) {
        uint32_t c[7], m[7];
        c[0] = s[i];
        m[0] = cmask(c[0]);
        /* Every alternative starts with an ASCII letter, one of ".,?!", a space, or a
         * character of ftfy's classes: anything else cannot start a match. */
        if (c[0] < 0x80 ? !ascii_alpha(c[0]) && !py_isspace(c[0]) && !IN(c[0], '.', ',', '?', '!')
                        : !m[0] && !py_isspace(c[0]))
            continue;
        for (size_t k = 1; k < 7; k++) {
            c[k] = i + k < n ? s[i + k] : NONE;
            m[k] = c[k] == NONE ? 0 : cmask(c[k]);
        }
        if (m[0] & CS_C1) return 1;
        if ((m[0] & A2) && (m[1] & CS_BAD)) return 1;
        if (ascii_alpha(c[0]) && (m[1] & (CS_LC | CS_UC)) && (m[2] & CS_BAD)) return 1;
        if ((m[0] & CS_BAD) && (m[1] & A4)) return 1;
        if ((m[0] & (CS_LA | CS_LC | CS_BOX | CS_EP | CS_CUR | CS_NUM)) && (m[1] & CS_UA)) return 1;
        if ((m[0] & (CS_BOX | CS_EP | CS_CUR | CS_NUM)) && (m[1] & CS_LA)) return 1;
        if ((m[0] & (CS_LA | CS_BOX | CS_EP)) && (m[1] & CS_CUR)) return 1;
        if (py_isspace(c[0]) && (m[1] & CS_UA) && (m[2] & CS_CUR)) return 1;
        if ((m[0] & (CS_UA | CS_BOX)) && (m[1] & (CS_NUM | CS_LAW))) return 1;
        if ((m[0] & (CS_LA | CS_UA | CS_BOX | CS_CUR | CS_EP)) && (m[1] & CS_SP) && (m[2] & CS_NUM))
            return 1;
        if ((m[0] & (CS_LA | CS_UA | CS_CUR | CS_NUM | CS_BOX | CS_LAW)) && (m[1] & CS_EP) &&
            (m[2] & CS_SP))
            return 1;
        if ((m[0] & (CS_CUR | CS_NUM | CS_BOX)) && (m[1] & CS_SP)) return 1;
        if (ascii_lower(c[0]) && (m[1] & CS_UA) && (m[2] & (CS_SP | CS_CUR))) return 1;
        if ((m[0] & CS_BOX) && (m[1] & CS_KAO)) return 1;
        if ((m[0] & (CS_LA | CS_UA | CS_CUR | CS_NUM | CS_SP | CS_EP | CS_LAW)) && (m[1] & CS_BOX))
            return 1;
        if ((m[0] & CS_BOX) && (m[1] & CS_EP)) return 1;
        if ((m[0] & (CS_LA | CS_UA)) && (m[1] & (CS_SP | CS_EP)) && c[2] != NONE && py_isword(c[2]))
            return 1;
        /* the ligature œ when not followed by an unaccented Latin letter */
        if ((c[0] == 0x152 || c[0] == 0x153) && c[1] != NONE && !ascii_alpha(c[1])) return 1;
        if ((m[0] & CS_UA) && c[1] == 0xB0) return 1;
        if (IN(c[0], 0xC2, 0xC3, 0xCE, 0xD0) &&
            ((m[1] & (CS_SP | CS_EP)) || IN(c[1], 0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178,
                                            0x17E, 0xA0, 0xAD, 0xAE, 0xA9, 0xB0, 0xB7, 0xBB,
                                            0x2013, 0x2014, 0xB4)))
            return 1;
        if (c[0] == 0xD7 && (c[1] == 0xB2 || c[1] == 0xB3)) return 1;
        if ((c[0] == 0xD8 || c[0] == 0xD9) && (c[2] == 0xD8 || c[2] == 0xD9)) {
            const uint32_t X = CS_COMMON | CS_CUR | CS_BAD | CS_NUM | CS_SP;
            if (((m[1] & X) || IN(c[1], 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)) &&
                ((m[3] & X) || IN(c[3], 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)))
                return 1;
        }
        if (c[0] == 0xE0 && IN(c[1], 0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE)) return 1;
        if (c[0] == 0x221A && IN(c[1], 0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264,
                                 0x2265, 0xA5, 0xB5, 0xF8))
            return 1;
        if (c[0] == 0x2248 && (c[1] == 0xB0 || c[1] == 0xA2)) return 1;
        if (c[0] == 0x201A && c[1] == 0xC4 &&
            IN(c[2], 0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0))
            return 1;
        if (c[0] == 0x201A && (c[1] == 0xE2 || c[1] == 0xF3) && IN(c[2], 0xE0, 0xE4, 0xB0, 0xEA))
            return 1;
        if (c[0] == 0x432 && c[1] == 0x402) return 1;
        if (IN(c[0], 0x412, 0x413, 0x420, 0x421) && IN(c[2], 0x412, 0x413, 0x420, 0x421) &&
            ((m[1] & (CS_C1 | CS_BAD | CS_SP | CS_EP | CS_CUR)) || c[1] == 0xB0 || c[1] == 0xB5))
            return 1;
        if (c[0] == 0x413 && c[1] == 0x45E && c[2] == 0x412 && c[3] == 0x402 && c[4] == 0x412 &&
            c[5] != NONE && c[5] != '\n' && (ascii_alpha(c[6]) || c[6] == ' '))
            return 1;
        if (c[0] == 0xC3 && (c[1] == 0xA0 || c[1] == 0xA1)) return 1;
        if (ascii_lower(c[0]) && (((c[1] == 0xC3 || c[1] == 0xC2) && c[2] == ' ') ||
                                  (py_isspace(c[1]) && (c[2] == 0xC3 || c[2] == 0xC2) && c[3] == ' ')))
            return 1;
        if (i == 0 && (c[0] == 0xC3 || c[0] == 0xC2) && c[1] == ' ') return 1;
        if ((ascii_lower(c[0]) || IN(c[0], '.', ',', '?', '!') || (m[0] & CS_EP)) && c[1] == 0xC2 &&
            (c[2] == ' ' || (m[2] & (CS_SP | CS_EP))))
            return 1;
        if (c[0] == 0x3B2 && c[1] == 0x20AC && IN(c[2], 0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0)) return 1;
        if (IN(c[0], 0x392, 0x393, 0x39E, 0x39F) && IN(c[2], 0x392, 0x393, 0x39E, 0x39F) &&
            ((m[1] & (CS_C1 | CS_BAD | CS_SP | CS_EP | CS_CUR)) || c[1] == 0xB0))
            return 1;
        if (c[0] == 0x101 && c[1] == 0x20AC) return 1;
    }
    return 0;
}

/* UTF8_DETECTOR_RE at position i: the end of the match, or 0 when none. */
static size_t utf8_detect_at(const uint32_t *s, size_t n, size_t i)
{
    if (i > 0 && (cmask(s[i - 1]) & CS_CONTS)) return 0;
    size_t p = i;
    while (p < n) {
        uint32_t m = cmask(s[p]);
#define CONT(k) (p + (k) < n && (cmask(s[p + (k)]) & CS_CONT))
        if ((m & CS_F2) && CONT(1)) p += 2;
        else if ((m & CS_F3) && CONT(1) && CONT(2)) p += 3;
        else if ((m & CS_F4) && CONT(1) && CONT(2) && CONT(3)) p += 4;
        else break;
#undef CONT
    }
    return p > i ? p : 0;
}

static int possible_encoding(const uint32_t *s, size_t n, int e)
{
    uint32_t bit = 1u << (CS_ENC_BIT0 + e);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            if (s[i] == 0x1A && tok_enc_sloppy[e]) return 0;
        } else if (!(cmask(s[i]) & bit)) {
            return 0;
        }
    }
    return 1;
}

static void encode_single_byte(const uint32_t *s, size_t n, int e, bstr *out)
{
    const tok_enc_pair *t = tok_enc_pairs[e];
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80) { bs_push(out, (uint8_t)c); continue; }
        size_t lo = 0, hi = tok_enc_npairs[e];
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (t[mid].cp < c) lo = mid + 1;
            else hi = mid;
        }
        /* possible_encoding() was checked first, so the character is always there */
        bs_push(out, lo < tok_enc_npairs[e] && t[lo].cp == c ? t[lo].byte : 0x1A);
    }
}

static int b_cont(const bstr *b, size_t i) { return i < b->n && b->p[i] >= 0x80 && b->p[i] <= 0xBF; }
static int b_at(const bstr *b, size_t i, uint8_t v) { return i < b->n && b->p[i] == v; }
static int b_in(const bstr *b, size_t i, uint8_t lo, uint8_t hi)
{
    return i < b->n && b->p[i] >= lo && b->p[i] <= hi;
}

/* [\x80-\x84\x86-\x9f\xa1-\xbf]: continuation bytes that are neither … nor NBSP. */
static int b_cont_x(const bstr *b, size_t i) { return b_cont(b, i) && b->p[i] != 0x85 && b->p[i] != 0xA0; }

/* ALTERED_UTF8_RE at i: match length or 0. */
static size_t altered_at(const bstr *b, size_t i)
{
    uint8_t c = b->p[i];
    if ((c == 0xC2 || c == 0xC3 || c == 0xC5 || c == 0xCE || c == 0xD0 || c == 0xD9) && b_at(b, i + 1, 0x20))
        return 2;
    if ((c == 0xE2 || c == 0xE3) && b_at(b, i + 1, 0x20) && b_cont_x(b, i + 2)) return 3;
    if (c >= 0xE0 && c <= 0xE3 && b_cont_x(b, i + 1) && b_at(b, i + 2, 0x20)) return 3;
    if (c == 0xF0) {
        if (b_at(b, i + 1, 0x20) && b_cont(b, i + 2) && b_cont(b, i + 3)) return 4;
        if (b_cont(b, i + 1) && b_at(b, i + 2, 0x20) && b_cont(b, i + 3)) return 4;
        if (b_cont(b, i + 1) && b_cont(b, i + 2) && b_at(b, i + 3, 0x20)) return 4;
    }
    return 0;
}

static int starts_with(const bstr *b, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i + k <= b->n && !memcmp(b->p + i, lit, k);
}

/* ftfy.fixes.restore_byte_a0 */
static void restore_byte_a0(bstr *b)
{
    bstr t = {0};
    /* A_GRAVE_WORD_RE: b"\xc3 (?! |quele|quela|quilo|s )" -> b"\xc3\xa0 " */
    for (size_t i = 0; i < b->n;) {
        if (b->p[i] == 0xC3 && b_at(b, i + 1, ' ') &&
            !(b_at(b, i + 2, ' ') || starts_with(b, i + 2, "quele") || starts_with(b, i + 2, "quela") ||
              starts_with(b, i + 2, "quilo") || starts_with(b, i + 2, "s "))) {
            bs_push(&t, 0xC3); bs_push(&t, 0xA0); bs_push(&t, ' ');
            i += 2;
        } else {
            bs_push(&t, b->p[i++]);
        }
    }
    for (size_t i = 0; i < t.n;) {
        size_t k = altered_at(&t, i);
        if (!k) { i++; continue; }
        for (size_t j = i; j < i + k; j++)
            if (t.p[j] == 0x20) t.p[j] = 0xA0;
        i += k;
    }
    if (t.oom) b->oom = 1;
    bs_free(b);
    *b = t;
}

/* LOSSY_UTF8_RE at i: match length or 0. */
static size_t lossy_at(const bstr *b, size_t i)
{
    uint8_t c = b->p[i];
#define SUBQ(k) (b_at(b, i + (k), 0x1A) || b_at(b, i + (k), '?'))
#define SUBC(k) (b_at(b, i + (k), 0x1A) || b_cont(b, i + (k)))
#define SUBQC(k) (SUBQ(k) || b_cont(b, i + (k)))
    if (c >= 0xC2 && c <= 0xDF && b_at(b, i + 1, 0x1A)) return 2;
    if ((c == 0xC2 || c == 0xC3) && b_at(b, i + 1, '?')) return 2;
    if (c == 0xED && b_in(b, i + 1, 0xA0, 0xAF) && b_at(b, i + 3, 0xED) && b_in(b, i + 4, 0xB0, 0xBF)) {
        if (SUBQ(2) && SUBQC(5)) return 6;
        if (SUBQC(2) && SUBQ(5)) return 6;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (SUBQ(1) && SUBC(2)) return 3;
        if (SUBC(1) && SUBQ(2)) return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (SUBQ(1) && SUBC(2) && SUBC(3)) return 4;
        if (SUBC(1) && SUBQ(2) && SUBC(3)) return 4;
        if (SUBC(1) && SUBC(2) && SUBQ(3)) return 4;
    }
    if (c == 0x1A) return 1;
    return 0;
#undef SUBQ
#undef SUBC
#undef SUBQC
}

/* ftfy.fixes.replace_lossy_sequences: each match becomes the UTF-8 of U+FFFD. */
static void replace_lossy(bstr *b)
{
    bstr t = {0};
    for (size_t i = 0; i < b->n;) {
        size_t k = lossy_at(b, i);
        if (k) { bs_push(&t, 0xEF); bs_push(&t, 0xBF); bs_push(&t, 0xBD); i += k; }
        else bs_push(&t, b->p[i++]);
    }
    if (t.oom) b->oom = 1;
    bs_free(b);
    *b = t;
}

/* `$` of Python's re on bytes: the end, or just before a final newline. */
static int b_dollar(const bstr *b, size_t k) { return k == b->n || (k + 1 == b->n && b->p[k] == '\n'); }

/* One slot "([lo-hi]|$)" of ftfy's utf-8-variants expressions, advancing *p on a byte. */
static int slot(const bstr *b, size_t *p, uint8_t lo, uint8_t hi)
{
    if (b_in(b, *p, lo, hi)) { (*p)++; return 1; }
    return b_dollar(b, *p);
}

static int null_at(const bstr *b, size_t k) /* (\xc0(\x80|$)) */
{
    size_t p = k + 1;
    return b->p[k] == 0xC0 && slot(b, &p, 0x80, 0x80);
}

static int cesu_at(const bstr *b, size_t k) /* ftfy's CESU8_EXPR */
{
    size_t p = k + 1;
    return b->p[k] == 0xED && slot(b, &p, 0xA0, 0xAF) && slot(b, &p, 0x80, 0xBF) &&
           slot(b, &p, 0xED, 0xED) && slot(b, &p, 0xB0, 0xBF) && slot(b, &p, 0x80, 0xBF);
}

static int surrogate_at(const bstr *b, size_t k)
{
    size_t p = k + 1;
    return b->p[k] == 0xED && slot(b, &p, 0xA0, 0xBF) && slot(b, &p, 0x80, 0xBF);
}

/* bytes.decode("utf-8-variants") of ftfy (strict): UTF-8 plus CESU-8 surrogate pairs and
 * Java's C0 80 for U+0000, following its incremental decoder step by step. */
static int decode_utf8_variants(const bstr *b, ustr *out)
{
    size_t pos = 0;
    while (pos < b->n) {
        size_t m = pos;
        while (m < b->n && !null_at(b, m) && !cesu_at(b, m) && !surrogate_at(b, m)) m++;
        if (m == b->n) return utf8_decode_strict(b->p, pos, b->n, out);
        if (m > pos) {
            if (!utf8_decode_strict(b->p, pos, m, out)) return 0;
            pos = m;
        }
        if (b->p[pos] == 0xC0) {
            if (b->n - pos < 2) return 0;
            us_push(out, 0);
            pos += 2;
        } else {
            if (b->n - pos < 6 || !cesu_at(b, pos)) return 0;
            const uint8_t *q = b->p + pos;
            us_push(out, ((uint32_t)(q[1] & 0x0F) << 16) + ((uint32_t)(q[2] & 0x3F) << 10) +
                             ((uint32_t)(q[4] & 0x0F) << 6) + (q[5] & 0x3Fu) + 0x10000);
            pos += 6;
        }
    }
    return 1;
}

static void fix_encoding(const uint32_t *s, size_t n, ustr *out);

/* ftfy.fixes.decode_inconsistent_utf8 */
static void decode_inconsistent_utf8(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n;) {
        size_t e = utf8_detect_at(s, n, i);
        if (!e) { us_push(out, s[i++]); continue; }
        if (e - i < n && is_bad(s + i, e - i)) fix_encoding(s + i, e - i, out);
        else us_add(out, s + i, e - i);
        i = e;
    }
}

static void fix_c1_controls(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n; i++)
        us_push(out, s[i] >= 0x80 && s[i] <= 0x9F ? tok_enc_decode[ENC_SLOPPY1252][s[i]] : s[i]);
}

/* ftfy's _fix_encoding_one_step_and_explain (the text itself when nothing applies). */
static void fix_encoding_step(const uint32_t *s, size_t n, ustr *out)
{
    size_t i;
    for (i = 0; i < n && s[i] < 0x80; i++) {}
    if (i == n || !is_bad(s, n)) { us_add(out, s, n); return; }

    unsigned possible = 0;
    for (int e = 0; e < TOK_N_ENC; e++) {
        if (!possible_encoding(s, n, e)) continue;
        possible |= 1u << e;
        bstr b = {0};
        encode_single_byte(s, n, e, &b);
        if (e != ENC_MACROMAN) {
            size_t k;
            for (k = 0; k < b.n && !altered_at(&b, k); k++) {}
            if (k < b.n) restore_byte_a0(&b);
        }
        if (tok_enc_sloppy[e]) replace_lossy(&b);
        if (b.oom) { bs_free(&b); out->oom = 1; return; }
        int variants = memchr(b.p, 0xED, b.n) || memchr(b.p, 0xC0, b.n);
        ustr d = {0};
        int ok = variants ? decode_utf8_variants(&b, &d) : utf8_decode_strict(b.p, 0, b.n, &d);
        bs_free(&b);
        if (ok) {
            us_add(out, d.p, d.n);
            if (d.oom) out->oom = 1;
            us_free(&d);
            return;
        }
        us_free(&d);
    }

    for (i = 0; i < n && !utf8_detect_at(s, n, i); i++) {}
    if (i < n) {
        ustr d = {0};
        decode_inconsistent_utf8(s, n, &d);
        if (d.oom) out->oom = 1;
        if (d.n != n || memcmp(d.p, s, n * sizeof *s)) {
            us_add(out, d.p, d.n);
            us_free(&d);
            return;
        }
        us_free(&d);
    }

    /* Latin-1 that was meant as Windows-1252 (strict: its five unassigned bytes fail).
     * ftfy also tests for "windows-1252" among the possible encodings, a name its list
     * never holds, so this branch runs whenever Latin-1 fits. */
    if (possible & (1u << ENC_LATIN1)) {
        int ok = 1, changed = 0;
        for (i = 0; i < n; i++) {
            if (IN(s[i], 0x81, 0x8D, 0x8F, 0x90, 0x9D)) ok = 0;
            if (s[i] >= 0x80 && s[i] <= 0x9F) changed = 1;
        }
        if (ok && changed) { fix_c1_controls(s, n, out); return; }
    }
    for (i = 0; i < n && !(s[i] >= 0x80 && s[i] <= 0x9F); i++) {}
    if (i < n) { fix_c1_controls(s, n, out); return; }
    us_add(out, s, n);
}

/* ftfy.fix_encoding: steps until nothing changes. */
static void fix_encoding(const uint32_t *s, size_t n, ustr *out)
{
    ustr cur = {0}, next = {0};
    us_add(&cur, s, n);
    for (;;) {
        next.n = 0;
        fix_encoding_step(cur.p, cur.n, &next);
        if (cur.oom || next.oom) { out->oom = 1; break; }
        if (us_eq(&cur, &next)) break;
        us_swap(&cur, &next);
    }
    us_add(out, cur.p, cur.n);
    us_free(&cur);
    us_free(&next);
}

/* ftfy.fixes.unescape_html: &#?[0-9A-Za-z]{1,24}; via ftfy's entity table. */
static void ftfy_unescape_html(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') { us_push(out, s[i++]); continue; }
        int hash = i + 1 < n && s[i + 1] == '#';
        size_t j = i + 1 + (size_t)hash, k = j;
        while (k < n && k - j <= 24 && ascii_alnum(s[k])) k++;
        if (k == j || k - j > 24 || k >= n || s[k] != ';') { us_push(out, s[i++]); continue; }
        size_t end = k + 1;
        if (!hash) {
            char name[26];
            for (size_t t = j; t < end; t++) name[t - j] = (char)s[t];
            const tok_entity *e = find_entity(tok_html5, NELEM(tok_html5), name, end - j);
            if (!e) e = find_entity(tok_ftfy_upper, NELEM(tok_ftfy_upper), name, end - j);
            if (e) us_add3(out, e->cp);
            else us_add(out, s + i, end - i);
        } else {
            /* numeric: html.unescape of the match, unless that leaves a ';' behind */
            ustr u = {0};
            html_unescape(s + i, end - i, &u);
            if (u.oom) out->oom = 1;
            size_t t;
            for (t = 0; t < u.n && u.p[t] != ';'; t++) {}
            if (t < u.n) us_add(out, s + i, end - i);
            else us_add(out, u.p, u.n);
            us_free(&u);
        }
        i = end;
    }
}

static void map_chars(const uint32_t *s, size_t n, const tok_cpmap *map, size_t nmap, ustr *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        const tok_cpmap *hit = NULL;
        if (c >= map[0].cp && c <= map[nmap - 1].cp) {
            size_t lo = 0, hi = nmap;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (map[mid].cp < c) lo = mid + 1;
                else hi = mid;
            }
            if (lo < nmap && map[lo].cp == c) hit = &map[lo];
        }
        if (hit) us_add3(out, hit->rep);
        else us_push(out, c);
    }
}

static void uncurl_quotes(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        us_push(out, c);
    }
}

static void fix_line_breaks(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == '\r' && i + 1 < n && s[i + 1] == '\n') continue; /* CRLF -> LF */
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        us_push(out, c);
    }
}

/* \033\[((?:\d|;)*)([a-zA-Z]) removed */
static void remove_terminal_escapes(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n;) {
        if (s[i] == 0x1B && i + 1 < n && s[i + 1] == '[') {
            size_t j = i + 2;
            while (j < n && (s[j] == ';' || is_decimal(s[j]))) j++;
            if (j < n && ascii_alpha(s[j])) { i = j + 1; continue; }
        }
        us_push(out, s[i++]);
    }
}

static void remove_control_chars(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
            (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
            continue;
        us_push(out, c);
    }
}

/* Unicode NFC through utf8proc. Text below U+0300 is already NFC: nothing there composes
 * or decomposes canonically, and no combining mark exists yet. */
static void nfc(const uint32_t *s, size_t n, ustr *out)
{
    size_t i;
    for (i = 0; i < n && s[i] < 0x300; i++) {}
    if (i == n) { us_add(out, s, n); return; }
    bstr b = {0};
    utf8_encode(s, n, &b);
    if (b.oom || b.n > (size_t)PTRDIFF_MAX) { bs_free(&b); out->oom = 1; return; }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map(b.p, (utf8proc_ssize_t)b.n, &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    bs_free(&b);
    if (r < 0) { out->oom = 1; free(dst); return; } /* valid input: only allocation fails */
    utf8_decode_replace(dst, (size_t)r, out);
    free(dst);
}

/* ftfy.fix_and_explain on one segment: all fixers in order until the text is stable. */
static void fix_segment(const uint32_t *s, size_t n, int unescape, ustr *out)
{
    /* Printable ASCII with tabs and line feeds (and no '&' to unescape) is left alone by
     * every fixer: the common case skips the loop. */
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (!((c >= 0x20 && c < 0x7F && !(c == '&' && unescape)) || c == '\t' || c == '\n' || c == '\f'))
            break;
    }
    if (i == n) { us_add(out, s, n); return; }
    ustr cur = {0}, a = {0}, b = {0};
    us_add(&cur, s, n);
    for (;;) {
        a.n = 0;
        if (unescape) ftfy_unescape_html(cur.p, cur.n, &a);
        else us_add(&a, cur.p, cur.n);
        b.n = 0; fix_encoding(a.p, a.n, &b);
        a.n = 0; fix_c1_controls(b.p, b.n, &a);
        b.n = 0; map_chars(a.p, a.n, tok_ligatures, NELEM(tok_ligatures), &b);
        a.n = 0; map_chars(b.p, b.n, tok_width_map, NELEM(tok_width_map), &a);
        b.n = 0; uncurl_quotes(a.p, a.n, &b);
        a.n = 0; fix_line_breaks(b.p, b.n, &a);
        b.n = 0; remove_terminal_escapes(a.p, a.n, &b);
        a.n = 0; remove_control_chars(b.p, b.n, &a);
        b.n = 0; nfc(a.p, a.n, &b);
        if (cur.oom || a.oom || b.oom) { out->oom = 1; break; }
        if (us_eq(&cur, &b)) break;
        us_swap(&cur, &b);
    }
    us_add(out, cur.p, cur.n);
    us_free(&cur); us_free(&a); us_free(&b);
}

/* ftfy.fix_text: independent segments ending at each "\n" (at most 10^6 code points).
 * HTML unescaping is "auto": off from the first segment that contains '<' onwards. */
static void ftfy_fix_text(const uint32_t *s, size_t n, ustr *out)
{
    int unescape = 1;
    for (size_t pos = 0; pos < n;) {
        size_t end = pos;
        while (end < n && s[end] != '\n') end++;
        end = end < n ? end + 1 : n;
        if (end - pos > 1000000) end = pos + 1000000;
        for (size_t i = pos; i < end && unescape; i++)
            if (s[i] == '<') unescape = 0;
        fix_segment(s + pos, end - pos, unescape, out);
        pos = end;
    }
}

/* ====================================================================== CLIP's cleanup */

/* str.lower(): simple mappings, U+0130 -> "i\u0307", and the final-sigma rule. */
static int final_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && in_ranges(tok_case_ignorable, NELEM(tok_case_ignorable), s[j - 1])) j--;
    if (j == 0 || !in_ranges(tok_cased, NELEM(tok_cased), s[j - 1])) return 0;
    for (j = i + 1; j < n && in_ranges(tok_case_ignorable, NELEM(tok_case_ignorable), s[j]); j++) {}
    return j == n || !in_ranges(tok_cased, NELEM(tok_cased), s[j]);
}

static void py_lower(const uint32_t *s, size_t n, ustr *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80) us_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
        else if (c == 0x130) { us_push(out, 'i'); us_push(out, 0x307); }
        else if (c == 0x3A3) us_push(out, final_sigma(s, n, i) ? 0x3C2 : 0x3C3);
        else us_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
}

static void clean_text(const uint32_t *s, size_t n, ustr *out)
{
    ustr a = {0}, b = {0};
    ftfy_fix_text(s, n, &a);
    html_unescape(a.p, a.n, &b);
    a.n = 0;
    html_unescape(b.p, b.n, &a);
    size_t lo = 0, hi = a.n;
    while (lo < hi && py_isspace(a.p[lo])) lo++;
    while (hi > lo && py_isspace(a.p[hi - 1])) hi--;
    b.n = 0;
    for (size_t i = lo; i < hi;) {
        if (rx_isspace(a.p[i])) {
            while (i < hi && rx_isspace(a.p[i])) i++;
            us_push(&b, ' ');
        } else {
            us_push(&b, a.p[i++]);
        }
    }
    lo = 0; hi = b.n;
    while (lo < hi && py_isspace(b.p[lo])) lo++;
    while (hi > lo && py_isspace(b.p[hi - 1])) hi--;
    if (a.oom || b.oom) out->oom = 1;
    if (hi > lo) py_lower(b.p + lo, hi - lo, out); /* b.p is NULL for an empty text */
    us_free(&a);
    us_free(&b);
}

/* ====================================================================== vocabulary */

struct clipcl_tokenizer {
    char *strs;            /* every vocabulary string, byte-decoded, NUL-terminated */
    uint32_t *off;         /* [BPE_N_VOCAB] start of each id's string in strs */
    uint16_t *len;         /* [BPE_N_VOCAB] its length in bytes */
    int32_t *sym_of_id;    /* [BPE_N_VOCAB] distinct-string index ("symbol") of each id */
    int32_t *id_of_sym;    /* [n_sym] the id Python's encoder gives it (the last holder) */
    uint32_t n_sym;
    tok_pair *pairs;       /* open addressing on (left symbol << 32 | right symbol) */
    uint32_t pair_mask;
    int32_t byte_sym[256], byte_end_sym[256]; /* a byte alone, and with "</w>" */
    int32_t sot, eot;
};

#define PAIR_EMPTY UINT64_MAX

static uint32_t pair_slot(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static int pair_find(const clipcl_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *res)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t h = pair_slot(key, t->pair_mask);; h = (h + 1) & t->pair_mask) {
        const tok_pair *e = &t->pairs[h];
        if (e->key == key) { *rank = e->rank; *res = (int32_t)e->out; return 1; }
        if (e->key == PAIR_EMPTY) return 0;
    }
}

/* GPT-2's bytes_to_unicode(): byte bs[i] is vocabulary entry i. */
static void byte_order(uint8_t bs[256], uint16_t cs_of_byte[256])
{
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            bs[n++] = (uint8_t)b;
            cs_of_byte[b] = (uint16_t)b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            bs[n++] = (uint8_t)b;
            cs_of_byte[b] = (uint16_t)(256 + extra++);
        }
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static clipcl_status read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(CLIPCL_ERR_IO, "cannot open BPE vocabulary '%s'", path);
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    clipcl_status st = CLIPCL_OK;
    for (;;) {
        if (n == cap) {
            if (cap >= BPE_MAX_FILE) {
                st = err_set(CLIPCL_ERR_FORMAT, "BPE vocabulary '%s' is larger than %zu MiB", path,
                             BPE_MAX_FILE >> 20);
                goto fail;
            }
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *q = realloc(buf, cap);
            if (!q) { st = err_set(CLIPCL_ERR_NOMEM, "reading BPE vocabulary '%s'", path); goto fail; }
            buf = q;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (ferror(f)) { st = err_set(CLIPCL_ERR_IO, "cannot read BPE vocabulary '%s'", path); goto fail; }
    fclose(f);
    *data = buf;
    *len = n;
    return CLIPCL_OK;
fail:
    fclose(f);
    free(buf);
    return st;
}

/* Inflates a gzip stream only as far as the lines the tokenizer uses (the first ~7% of the
 * file); the rest of the merges list is never read by CLIP. */
static clipcl_status gunzip_head(const uint8_t *gz, size_t gz_len, size_t want_lines, const char *name,
                                 char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return err_set(CLIPCL_ERR_NOMEM, "%s: zlib initialisation failed", name);
    char *buf = NULL;
    size_t n = 0, cap = 0, lines = 0;
    clipcl_status st = CLIPCL_OK;
    z.next_in = (Bytef *)gz;
    z.avail_in = gz_len > UINT_MAX ? UINT_MAX : (uInt)gz_len;
    for (;;) {
        if (cap - n < 65536) {
            if (cap >= BPE_MAX_FILE) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: decompressed vocabulary exceeds %zu MiB", name,
                             BPE_MAX_FILE >> 20);
                goto fail;
            }
            cap = cap ? cap * 2 : 1 << 20;
            char *q = realloc(buf, cap);
            if (!q) { st = err_set(CLIPCL_ERR_NOMEM, "%s: decompressing the vocabulary", name); goto fail; }
            buf = q;
        }
        z.next_out = (Bytef *)buf + n;
        z.avail_out = 65536; /* small steps, so inflating stops soon after the last line */
        int r = inflate(&z, Z_NO_FLUSH);
        size_t got = 65536 - z.avail_out;
        for (size_t i = n; i < n + got; i++) lines += buf[i] == '\n';
        n += got;
        if (lines >= want_lines || r == Z_STREAM_END) break;
        if (r != Z_OK && !(r == Z_BUF_ERROR && got > 0)) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: corrupt or truncated gzip data (%s)", name,
                         z.msg ? z.msg : r == Z_BUF_ERROR ? "unexpected end of data" : "inflate failed");
            goto fail;
        }
    }
    inflateEnd(&z);
    *out = buf;
    *out_len = n;
    return CLIPCL_OK;
fail:
    inflateEnd(&z);
    free(buf);
    return st;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Converts one merge symbol (byte-level characters) to the bytes it stands for. */
static int symbol_bytes(const char *p, size_t n, const int16_t *byte_of_cs, char *out, size_t *out_n)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp; size_t bad;
        size_t l = utf8_next((const uint8_t *)p, n, i, &cp, &bad);
        if (!l || cp >= 0x144 || byte_of_cs[cp] < 0 || k >= BPE_MAX_SYMBOL) return 0;
        out[k++] = (char)byte_of_cs[cp];
        i += l;
    }
    *out_n = k;
    return 1;
}

static clipcl_status build_vocab(clipcl_tokenizer *t, const char *text, size_t text_len, const char *name)
{
    clipcl_status st = CLIPCL_OK;
    uint8_t bs[256];
    uint16_t cs_of_byte[256];
    int16_t byte_of_cs[0x144];
    int32_t *hash = NULL;
    uint16_t *split = NULL;
    char sym[2][BPE_MAX_SYMBOL];
    size_t cap = 1 << 20, used = 0;
    byte_order(bs, cs_of_byte);
    for (int i = 0; i < 0x144; i++) byte_of_cs[i] = -1;
    for (int b = 0; b < 256; b++) byte_of_cs[cs_of_byte[b]] = (int16_t)b;

    t->off = malloc(BPE_N_VOCAB * sizeof *t->off);
    t->len = malloc(BPE_N_VOCAB * sizeof *t->len);
    t->sym_of_id = malloc(BPE_N_VOCAB * sizeof *t->sym_of_id);
    t->id_of_sym = malloc(BPE_N_VOCAB * sizeof *t->id_of_sym);
    t->strs = malloc(cap);
    split = malloc(BPE_N_MERGES * sizeof *split);
    if (!t->off || !t->len || !t->sym_of_id || !t->id_of_sym || !t->strs || !split) goto nomem;

#define ADD_STRING(id, p, n)                                                          \
    do {                                                                              \
        if (used + (n) + 1 > cap) {                                                   \
            char *q_ = realloc(t->strs, cap * 2);                                     \
            if (!q_) goto nomem;                                                      \
            t->strs = q_;                                                             \
            cap *= 2;                                                                 \
        }                                                                             \
        memcpy(t->strs + used, (p), (n));                                             \
        t->strs[used + (n)] = 0;                                                      \
        t->off[id] = (uint32_t)used;                                                  \
        t->len[id] = (uint16_t)(n);                                                   \
        used += (n) + 1;                                                              \
    } while (0)

    for (int i = 0; i < 256; i++) {
        char one[5] = {(char)bs[i], '<', '/', 'w', '>'};
        ADD_STRING(i, one, 1);
        ADD_STRING(256 + i, one, 5);
    }
    /* line 1 is a header; lines 2 … 48,895 are the merges CLIP uses */
    const char *p = text, *end = text + text_len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: not a BPE merges file (no line break found)", name);
        goto fail;
    }
    {
        int header_ok = 0;
        for (const char *q = p; q + 8 <= nl; q++)
            if (!memcmp(q, "#version", 8)) { header_ok = 1; break; }
        if (!header_ok) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: line 1 is not a BPE merges header (no '#version')", name);
            goto fail;
        }
    }
    p = nl + 1;
    for (int r = 0; r < BPE_N_MERGES; r++) {
        long line = r + 2;
        if (p >= end) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: only %ld lines, CLIP's vocabulary needs %d merges "
                         "(lines 2 to %d)", name, line - 1, BPE_N_MERGES, BPE_N_MERGES + 1);
            goto fail;
        }
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *f[3] = {0}, *fe[3] = {0};
        int nf = 0;
        for (const char *q = p; q < le && nf < 3;) {
            while (q < le && is_ws(*q)) q++;
            if (q == le) break;
            f[nf] = q;
            while (q < le && !is_ws(*q)) q++;
            fe[nf++] = q;
        }
        if (nf != 2) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: line %ld: expected two symbols separated by a space, "
                         "found %d", name, line, nf > 2 ? 3 : nf);
            goto fail;
        }
        size_t n0, n1;
        if (!symbol_bytes(f[0], (size_t)(fe[0] - f[0]), byte_of_cs, sym[0], &n0) ||
            !symbol_bytes(f[1], (size_t)(fe[1] - f[1]), byte_of_cs, sym[1], &n1) ||
            n0 + n1 > BPE_MAX_SYMBOL) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: line %ld: symbol is not made of byte-level BPE "
                         "characters (or is too long)", name, line);
            goto fail;
        }
        char joined[2 * BPE_MAX_SYMBOL];
        memcpy(joined, sym[0], n0);
        memcpy(joined + n0, sym[1], n1);
        ADD_STRING(512 + r, joined, n0 + n1);
        split[r] = (uint16_t)n0;
        p = nl ? nl + 1 : end;
    }
    ADD_STRING(BPE_N_VOCAB - 2, "<|startoftext|>", 15);
    ADD_STRING(BPE_N_VOCAB - 1, "<|endoftext|>", 13);
#undef ADD_STRING

    /* Distinct strings → symbols; Python's encoder maps a string to its last id. */
    uint32_t hmask = (1u << 17) - 1;
    hash = malloc((hmask + 1) * sizeof *hash);
    if (!hash) goto nomem;
    for (uint32_t h = 0; h <= hmask; h++) hash[h] = -1;
    t->n_sym = 0;
    for (int id = 0; id < BPE_N_VOCAB; id++) {
        const char *s = t->strs + t->off[id];
        uint32_t h = (uint32_t)fnv1a(s, t->len[id]) & hmask;
        for (;; h = (h + 1) & hmask) {
            if (hash[h] < 0) {
                hash[h] = (int32_t)t->n_sym;
                t->id_of_sym[t->n_sym] = id;
                t->sym_of_id[id] = (int32_t)t->n_sym++;
                break;
            }
            int32_t other = t->id_of_sym[hash[h]];
            if (t->len[other] == t->len[id] && !memcmp(t->strs + t->off[other], s, t->len[id])) {
                t->sym_of_id[id] = hash[h];
                t->id_of_sym[hash[h]] = id;
                break;
            }
        }
    }
    /* Merge ranks: (left, right) → rank and the merged symbol; a repeated pair keeps its last
     * rank as in Python's dict. Pairs with a part outside the vocabulary never occur. */
    t->pair_mask = (1u << 17) - 1;
    t->pairs = malloc((t->pair_mask + 1) * sizeof *t->pairs);
    if (!t->pairs) goto nomem;
    for (uint32_t h = 0; h <= t->pair_mask; h++) t->pairs[h].key = PAIR_EMPTY;
    for (int r = 0; r < BPE_N_MERGES; r++) {
        const char *s = t->strs + t->off[512 + r];
        int32_t part[2] = {-1, -1};
        size_t pl[2] = {split[r], (size_t)t->len[512 + r] - split[r]};
        const char *ps[2] = {s, s + split[r]};
        for (int k = 0; k < 2; k++)
            for (uint32_t h = (uint32_t)fnv1a(ps[k], pl[k]) & hmask; hash[h] >= 0; h = (h + 1) & hmask) {
                int32_t id = t->id_of_sym[hash[h]];
                if (t->len[id] == pl[k] && !memcmp(t->strs + t->off[id], ps[k], pl[k])) {
                    part[k] = hash[h];
                    break;
                }
            }
        if (part[0] < 0 || part[1] < 0) continue;
        uint64_t key = (uint64_t)(uint32_t)part[0] << 32 | (uint32_t)part[1];
        uint32_t h = pair_slot(key, t->pair_mask);
        while (t->pairs[h].key != PAIR_EMPTY && t->pairs[h].key != key) h = (h + 1) & t->pair_mask;
        t->pairs[h].key = key;
        t->pairs[h].rank = (uint32_t)r;
        t->pairs[h].out = (uint32_t)t->sym_of_id[512 + r];
    }
    for (int i = 0; i < 256; i++) {
        t->byte_sym[bs[i]] = t->sym_of_id[i];
        t->byte_end_sym[bs[i]] = t->sym_of_id[256 + i];
    }
    t->sot = t->id_of_sym[t->sym_of_id[BPE_N_VOCAB - 2]];
    t->eot = t->id_of_sym[t->sym_of_id[BPE_N_VOCAB - 1]];
    free(hash);
    free(split);
    return CLIPCL_OK;
nomem:
    st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory building the vocabulary", name);
fail:
    free(hash);
    free(split);
    return st;
}

extern const unsigned char bpe_vocab_gz[];
extern const size_t bpe_vocab_gz_len;

clipcl_status clipcl_tokenizer_create(const char *bpe_path, clipcl_tokenizer **out)
{
    if (!out) return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_tokenizer_create: out is NULL");
    *out = NULL;
    clipcl_status st;
    uint8_t *file = NULL;
    char *text = NULL;
    size_t file_len = 0, text_len = 0;
    const char *name = bpe_path ? bpe_path : "embedded BPE vocabulary";
    const uint8_t *data = bpe_vocab_gz;
    size_t data_len = bpe_vocab_gz_len;
    clipcl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(CLIPCL_ERR_NOMEM, "clipcl_tokenizer_create: out of memory");
    if (bpe_path) {
        if ((st = read_file(bpe_path, &file, &file_len)) != CLIPCL_OK) goto fail;
        data = file;
        data_len = file_len;
    }
    if (data_len >= 2 && data[0] == 0x1F && data[1] == 0x8B) {
        if ((st = gunzip_head(data, data_len, BPE_N_MERGES + 1, name, &text, &text_len)) != CLIPCL_OK)
            goto fail;
        st = build_vocab(t, text, text_len, name);
    } else {
        st = build_vocab(t, (const char *)data, data_len, name);
    }
    if (st != CLIPCL_OK) goto fail;
    free(text);
    free(file);
    *out = t;
    return CLIPCL_OK;
fail:
    free(text);
    free(file);
    clipcl_tokenizer_free(t);
    return st;
}

void clipcl_tokenizer_free(clipcl_tokenizer *t)
{
    if (!t) return;
    free(t->strs); free(t->off); free(t->len); free(t->sym_of_id); free(t->id_of_sym);
    free(t->pairs);
    free(t);
}

const char *clipcl_token_text(const clipcl_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= BPE_N_VOCAB) return NULL;
    return t->strs + t->off[id];
}

/* ====================================================================== BPE */

typedef struct { uint32_t rank, pos; int32_t l, r, out; } bpe_ent;

typedef struct {
    int32_t *sym, *next, *prev;
    size_t cap;
    bpe_ent *heap, *pend;
    size_t nheap, npend, heap_cap, pend_cap;
    int32_t *ids;          /* output */
    size_t nids, ids_cap;
    int oom;
} bpe_work;

static int ent_less(const bpe_ent *a, const bpe_ent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_work *w, bpe_ent e)
{
    if (!grow((void **)&w->heap, &w->heap_cap, w->nheap + 1, sizeof *w->heap, &w->oom)) return;
    size_t i = w->nheap++;
    while (i > 0 && ent_less(&e, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = e;
}

static bpe_ent heap_pop(bpe_work *w)
{
    bpe_ent top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap) break;
        if (c + 1 < w->nheap && ent_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!ent_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap) w->heap[i] = last;
    return top;
}

static void emit(bpe_work *w, int32_t id)
{
    if (w->nids < w->ids_cap || grow((void **)&w->ids, &w->ids_cap, w->nids + 1, sizeof *w->ids, &w->oom))
        w->ids[w->nids++] = id;
}

/* Queues the pair starting at node p when it has a merge rank. */
static void candidate(const clipcl_tokenizer *t, bpe_work *w, int32_t p, int to_pending)
{
    int32_t q = w->next[p];
    uint32_t rank;
    int32_t res;
    if (q < 0 || !pair_find(t, w->sym[p], w->sym[q], &rank, &res)) return;
    bpe_ent e = {rank, (uint32_t)p, w->sym[p], w->sym[q], res};
    if (!to_pending) { heap_push(w, e); return; }
    if (grow((void **)&w->pend, &w->pend_cap, w->npend + 1, sizeof *w->pend, &w->oom)) w->pend[w->npend++] = e;
}

static int ent_valid(const bpe_work *w, const bpe_ent *e)
{
    int32_t p = (int32_t)e->pos, q;
    return w->sym[p] == e->l && (q = w->next[p]) >= 0 && w->sym[q] == e->r;
}

/* Python's bpe(): repeatedly merge every occurrence (left to right) of the adjacent pair with
 * the lowest rank. A heap ordered by (rank, position) visits the same merges in the same
 * order; pairs created while one rank is being merged are queued until that rank is done,
 * as Python only looks for new pairs after a full pass. */
static void bpe_word(const clipcl_tokenizer *t, bpe_work *w, const uint8_t *b, size_t m)
{
    if (m == 1) { emit(w, t->id_of_sym[t->byte_end_sym[b[0]]]); return; }
    if (m > w->cap) {
        size_t c = w->cap ? w->cap : 64;
        while (c < m) c *= 2;
        int32_t *a = realloc(w->sym, c * sizeof *a);
        if (a) w->sym = a;
        int32_t *b2 = a ? realloc(w->next, c * sizeof *b2) : NULL;
        if (b2) w->next = b2;
        int32_t *c2 = b2 ? realloc(w->prev, c * sizeof *c2) : NULL;
        if (!c2) { w->oom = 1; return; }
        w->prev = c2;
        w->cap = c;
    }
    for (size_t i = 0; i < m; i++) {
        w->sym[i] = i + 1 < m ? t->byte_sym[b[i]] : t->byte_end_sym[b[i]];
        w->next[i] = i + 1 < m ? (int32_t)(i + 1) : -1;
        w->prev[i] = (int32_t)i - 1;
    }
    w->nheap = 0;
    for (size_t i = 0; i + 1 < m; i++) candidate(t, w, (int32_t)i, 0);
    while (w->nheap && !w->oom) {
        uint32_t rank = w->heap[0].rank;
        w->npend = 0;
        while (w->nheap && w->heap[0].rank == rank) {
            bpe_ent e = heap_pop(w);
            if (!ent_valid(w, &e)) continue;
            int32_t p = (int32_t)e.pos, q = w->next[p], r = w->next[q];
            w->sym[p] = e.out;
            w->sym[q] = -1;
            w->next[p] = r;
            if (r >= 0) w->prev[r] = p;
            if (w->prev[p] >= 0) candidate(t, w, w->prev[p], 1);
            candidate(t, w, p, 1);
        }
        for (size_t k = 0; k < w->npend; k++) heap_push(w, w->pend[k]);
    }
    for (int32_t p = 0; p >= 0; p = w->next[p]) emit(w, t->id_of_sym[w->sym[p]]);
}

static void bpe_work_free(bpe_work *w)
{
    free(w->sym); free(w->next); free(w->prev); free(w->heap); free(w->pend); free(w->ids);
}

/* ====================================================================== pre-tokenizer */

/* One character of a pattern literal under IGNORECASE (the regex module's simple case
 * folding: besides ASCII case, 's' also matches U+017F LONG S). */
static int lit_eq(uint32_t c, char p)
{
    if (c == (uint32_t)p) return 1;
    if (p >= 'a' && p <= 'z' && c == (uint32_t)(p - 32)) return 1;
    return p == 's' && c == 0x17F;
}

static size_t lit_match(const uint32_t *s, size_t n, size_t i, const char *lit)
{
    size_t k = 0;
    for (; lit[k]; k++)
        if (i + k >= n || !lit_eq(s[i + k], lit[k])) return 0;
    return k;
}

/* [^\s\p{L}\p{N}] under IGNORECASE: U+0345 (whose case partner is the letter iota) is
 * excluded too, so it ends up in no token at all, exactly as with the regex module. */
static int is_other(uint32_t c) { return !rx_isspace(c) && !is_letter(c) && !is_number(c) && c != 0x345; }

/* The pattern <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
 * [^\s\p{L}\p{N}]+ (first alternative that matches, as Python's findall does), then BPE. */
static void pretokenize_bpe(const clipcl_tokenizer *t, const uint32_t *s, size_t n, bpe_work *w)
{
    static const char *const lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                       "'ve", "'m", "'ll", "'d"};
    bstr tok = {0};
    for (size_t i = 0; i < n && !w->oom;) {
        size_t e = 0;
        for (size_t k = 0; k < NELEM(lits) && !e; k++) e = lit_match(s, n, i, lits[k]);
        if (e) e += i;
        else if (is_letter(s[i])) for (e = i + 1; e < n && is_letter(s[e]); e++) {}
        else if (is_number(s[i])) e = i + 1;
        else if (is_other(s[i])) for (e = i + 1; e < n && is_other(s[e]); e++) {}
        else { i++; continue; }
        tok.n = 0;
        utf8_encode(s + i, e - i, &tok);
        if (tok.oom) { w->oom = 1; break; }
        /* Only the exact special strings are in Python's BPE cache (a "<|ſtartoftext|>"
         * matched through IGNORECASE goes through BPE like any other token). */
        if (tok.n == 15 && !memcmp(tok.p, "<|startoftext|>", 15)) emit(w, t->sot);
        else if (tok.n == 13 && !memcmp(tok.p, "<|endoftext|>", 13)) emit(w, t->eot);
        else bpe_word(t, w, tok.p, tok.n);
        i = e;
    }
    bs_free(&tok);
}

/* ====================================================================== public API */

static clipcl_status decode_input(const char *text, size_t len, ustr *u)
{
    if (len > TOK_MAX_TEXT_BYTES)
        return err_set(CLIPCL_ERR_LIMIT, "tokenizer: text of %zu bytes exceeds the limit of %zu MiB",
                       len, TOK_MAX_TEXT_BYTES >> 20);
    utf8_decode_replace((const uint8_t *)text, len, u);
    if (u->oom) { us_free(u); return err_set(CLIPCL_ERR_NOMEM, "tokenizer: out of memory"); }
    return CLIPCL_OK;
}

static clipcl_status encode_all(const clipcl_tokenizer *t, const char *text, size_t len, bpe_work *w)
{
    ustr u = {0}, c = {0};
    clipcl_status st = decode_input(text, len, &u);
    if (st != CLIPCL_OK) return st;
    clean_text(u.p, u.n, &c);
    us_free(&u);
    if (!c.oom) pretokenize_bpe(t, c.p, c.n, w);
    int oom = c.oom || w->oom;
    us_free(&c);
    if (oom) return err_set(CLIPCL_ERR_NOMEM, "tokenizer: out of memory");
    if (w->nids > (size_t)INT_MAX - 2)
        return err_set(CLIPCL_ERR_LIMIT, "tokenizer: more than %d tokens", INT_MAX - 2);
    return CLIPCL_OK;
}

clipcl_status clipcl_tokenize(const clipcl_tokenizer *tok, const char *text, int32_t *out,
                              int context, int no_truncate, int *n_tokens)
{
    if (!tok || !text || !out)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_tokenize: NULL %s",
                       !tok ? "tokenizer" : !text ? "text" : "output");
    if (context < 2)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_tokenize: context %d is below 2", context);
    bpe_work w = {0};
    clipcl_status st = encode_all(tok, text, strlen(text), &w);
    if (st != CLIPCL_OK) goto done;
    int total = (int)w.nids + 2;
    if (n_tokens) *n_tokens = total;
    if (total > context && no_truncate) {
        st = err_set(CLIPCL_ERR_TOO_LONG, "text has %d tokens with start and end, more than the "
                     "context of %d", total, context);
        goto done;
    }
    /* clip.tokenize(truncate=True): cut to the context, then put <|endoftext|> last */
    int keep = total > context ? context - 2 : (int)w.nids;
    out[0] = tok->sot;
    if (keep > 0) memcpy(out + 1, w.ids, (size_t)keep * sizeof *out);
    out[keep + 1] = tok->eot;
    for (int i = keep + 2; i < context; i++) out[i] = 0;
done:
    bpe_work_free(&w);
    return st;
}

clipcl_status clipcl_tokenize_raw(const clipcl_tokenizer *tok, const char *text, ptrdiff_t len,
                                  int32_t *out, int cap, int *n)
{
    if (!tok || !text || !n || cap < 0 || (cap > 0 && !out))
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_tokenize_raw: %s",
                       !tok ? "NULL tokenizer" : !text ? "NULL text" : !n ? "NULL count" :
                       cap < 0 ? "negative capacity" : "NULL output with a capacity");
    bpe_work w = {0};
    /* a negative length means NUL-terminated text */
    clipcl_status st = encode_all(tok, text, len < 0 ? strlen(text) : (size_t)len, &w);
    if (st == CLIPCL_OK) {
        *n = (int)w.nids;
        if (cap > 0 && w.nids) memcpy(out, w.ids, (w.nids < (size_t)cap ? w.nids : (size_t)cap) * sizeof *out);
    }
    bpe_work_free(&w);
    return st;
}

/* ====================================================================== test entry points */

static clipcl_status stage(const char *text, size_t len, char **out, size_t *out_len,
                           void (*fn)(const uint32_t *, size_t, ustr *))
{
    if (!text || !out || !out_len) return err_set(CLIPCL_ERR_INVALID_ARG, "tokenizer stage: NULL argument");
    ustr u = {0}, r = {0};
    bstr b = {0};
    clipcl_status st = decode_input(text, len, &u);
    if (st != CLIPCL_OK) return st;
    fn(u.p, u.n, &r);
    utf8_encode(r.p, r.n, &b);
    bs_push(&b, 0);
    int oom = u.oom || r.oom || b.oom;
    us_free(&u);
    us_free(&r);
    if (oom) { bs_free(&b); return err_set(CLIPCL_ERR_NOMEM, "tokenizer: out of memory"); }
    *out = (char *)b.p;
    *out_len = b.n - 1;
    return CLIPCL_OK;
}

clipcl_status tok_ftfy_fix_text(const char *text, size_t len, char **out, size_t *out_len)
{
    return stage(text, len, out, out_len, ftfy_fix_text);
}

clipcl_status tok_html_unescape(const char *text, size_t len, char **out, size_t *out_len)
{
    return stage(text, len, out, out_len, html_unescape);
}

clipcl_status tok_clean_text(const char *text, size_t len, char **out, size_t *out_len)
{
    return stage(text, len, out, out_len, clean_text);
}
