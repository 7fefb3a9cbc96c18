/* labelsets.c — lookup over the generated label-set tables, and template filling. */
#include "labelsets.h"

#include <stdint.h>
#include <string.h>

#include "err.h"

#include "labelsets_data.inc"

#define LBL_N_SETS ((int)(sizeof lbl_sets / sizeof lbl_sets[0]))
#define LBL_N_TSETS ((int)(sizeof lbl_tsets / sizeof lbl_tsets[0]))
/* Longer than any built-in name or alias; longer user input simply matches nothing. */
#define LBL_NAME_MAX 64

int lbl_count(void) { return LBL_N_SETS; }

const lbl_set *lbl_get(int i) { return i >= 0 && i < LBL_N_SETS ? &lbl_sets[i] : NULL; }

int lbl_tset_count(void) { return LBL_N_TSETS; }

const lbl_tset *lbl_tset_get(int i) { return i >= 0 && i < LBL_N_TSETS ? &lbl_tsets[i] : NULL; }

/* ASCII-only folding on purpose: locale-dependent tolower() would make lookups differ by
 * environment. Must match normalize() in scripts/gen_labelsets.py. Returns 0 when the
 * normalized name does not fit in out[LBL_NAME_MAX]. */
static int lbl_norm(const char *in, char out[LBL_NAME_MAX])
{
    size_t n = 0;
    for (; *in; in++) {
        char c = *in;
        if (c == '-' || c == '_' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (n + 1 >= LBL_NAME_MAX)
            return 0;
        out[n++] = c;
    }
    out[n] = '\0';
    return 1;
}

static const lbl_set *lbl_find_norm(const char *key)
{
    char canon[LBL_NAME_MAX];
    for (int i = 0; i < LBL_N_SETS; i++) {
        const lbl_set *s = &lbl_sets[i];
        if (lbl_norm(s->name, canon) && strcmp(canon, key) == 0)
            return s;
        for (const char *const *a = s->aliases; *a; a++)
            if (strcmp(*a, key) == 0)
                return s;
    }
    return NULL;
}

const lbl_set *lbl_find(const char *name)
{
    char key[LBL_NAME_MAX];
    if (!name) {
        err_set(CLIPCL_ERR_INVALID_ARG, "label set: no name given");
        return NULL;
    }
    const lbl_set *s = lbl_norm(name, key) ? lbl_find_norm(key) : NULL;
    if (!s)
        err_set(CLIPCL_ERR_INVALID_ARG, "unknown label set '%.80s'", name);
    return s;
}

int lbl_n_synonyms(const lbl_set *s, int cls)
{
    if (!s || cls < 0 || cls >= s->n_classes)
        return 0;
    int n = 0;
    while (s->classes[cls][n])
        n++;
    return n;
}

const char *const *lbl_templates_find(const char *name, int *n)
{
    char key[LBL_NAME_MAX];
    if (n)
        *n = 0;
    if (!name) {
        err_set(CLIPCL_ERR_INVALID_ARG, "template set: no name given");
        return NULL;
    }
    if (lbl_norm(name, key)) {
        for (int i = 0; i < LBL_N_TSETS; i++)
            if (strcmp(lbl_tsets[i].name, key) == 0) {
                if (n)
                    *n = lbl_tsets[i].n_templates;
                return lbl_tsets[i].templates;
            }
        const lbl_set *s = lbl_find_norm(key);
        if (s) {
            if (n)
                *n = s->n_templates;
            return s->templates;
        }
    }
    err_set(CLIPCL_ERR_INVALID_ARG,
            "unknown template set '%.80s' (simple, imagenet80, imagenet7 or a label set name)",
            name);
    return NULL;
}

/* One pass of the template grammar. With out != NULL it also writes the filled text, which
 * the caller has sized from a previous check pass. */
static clipcl_status lbl_scan(const char *tmpl, const char *name, char *out, size_t *fixed_len)
{
    size_t fixed = 0;
    int holes = 0;
    for (const char *p = tmpl; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (out)
                *out++ = *p;
            fixed++;
            p++;
        } else if (p[0] == '{' && p[1] == '}') {
            if (++holes > 1)
                return err_set(CLIPCL_ERR_INVALID_ARG,
                               "template '%.80s' has more than one {} (exactly one allowed)",
                               tmpl);
            if (out) {
                size_t nl = strlen(name);
                memcpy(out, name, nl);
                out += nl;
            }
            p++;
        } else if (*p == '{' || *p == '}') {
            return err_set(CLIPCL_ERR_INVALID_ARG,
                           "template '%.80s': unsupported '%c' at byte %zu (only {} is a "
                           "placeholder; write {{ or }} for a literal brace)",
                           tmpl, *p, (size_t)(p - tmpl));
        } else {
            if (out)
                *out++ = *p;
            fixed++;
        }
    }
    if (holes == 0)
        return err_set(CLIPCL_ERR_INVALID_ARG, "template '%.80s' has no {} placeholder", tmpl);
    if (out)
        *out = '\0';
    if (fixed_len)
        *fixed_len = fixed;
    return CLIPCL_OK;
}

clipcl_status lbl_template_check(const char *tmpl, size_t *fixed_len)
{
    if (!tmpl)
        return err_set(CLIPCL_ERR_INVALID_ARG, "template: NULL");
    return lbl_scan(tmpl, NULL, NULL, fixed_len);
}

clipcl_status lbl_fill(const char *tmpl, const char *name, char *buf, size_t cap)
{
    size_t fixed;
    if (buf && cap > 0)
        buf[0] = '\0';
    if (!tmpl || !name || !buf || cap == 0)
        return err_set(CLIPCL_ERR_INVALID_ARG, "lbl_fill: NULL template, name or buffer");
    clipcl_status st = lbl_scan(tmpl, NULL, NULL, &fixed);
    if (st != CLIPCL_OK)
        return st;
    size_t nl = strlen(name);
    /* Compared this way round so that fixed + nl + 1 is never computed when it could wrap. */
    if (nl >= cap || fixed >= cap - nl)
        return err_set(CLIPCL_ERR_LIMIT,
                       "template '%.80s' filled with '%.80s' needs %zu bytes, buffer has %zu",
                       tmpl, name, nl > SIZE_MAX - fixed - 1 ? SIZE_MAX : fixed + nl + 1, cap);
    return lbl_scan(tmpl, name, buf, NULL);
}
