/* tok.h — internal entry points of the CLIP tokenizer (host/tok.c).
 *
 * The public API is in clipcl.h. These expose the text-cleanup stages on their own so that
 * tests and developer checks can compare each stage with its Python original (ftfy.fix_text,
 * html.unescape, CLIP's basic_clean + whitespace_clean + lower). All take UTF-8 (invalid
 * sequences become U+FFFD as in Python's errors="replace") and return a malloc'd UTF-8
 * string the caller frees; U+0000 can occur in the output, hence the explicit length. */
#ifndef CLIPCL_TOK_H
#define CLIPCL_TOK_H

#include <stddef.h>

#include "clipcl.h"

/* Largest text accepted by the tokenizer, in bytes (CLIPCL_ERR_LIMIT beyond). */
#define TOK_MAX_TEXT_BYTES ((size_t)64 << 20)

/* ftfy.fix_text(text) with ftfy 6.x's default configuration. */
clipcl_status tok_ftfy_fix_text(const char *text, size_t len, char **out, size_t *out_len);
/* Python's html.unescape(text). */
clipcl_status tok_html_unescape(const char *text, size_t len, char **out, size_t *out_len);
/* whitespace_clean(basic_clean(text)).lower(): the exact string CLIP's pre-tokenizer sees. */
clipcl_status tok_clean_text(const char *text, size_t len, char **out, size_t *out_len);

#endif
