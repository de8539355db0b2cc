/* Text from a source, made safe for a terminal.
 *
 * A value a source sent (an id, a title, a unit name) may hold control
 * characters: C0 and C1 controls (ESC, CSI U+009B, NEL U+0085), DEL, bidi
 * formatting characters that reorder what the reader sees (U+202E), and line
 * or paragraph separators. Everything duikou prints for a person passes
 * through these functions, so such a value can neither send escape sequences
 * nor start a new line on an operator's terminal. */
#ifndef DK_ESCAPE_H
#define DK_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* 1 when code point c is one a terminal must not receive raw. */
int dk_esc_unsafe(uint32_t c);

/* Append s (len bytes) to b: unsafe characters as \n, \t, \r, \xNN (C0, DEL
 * and bytes that are not UTF-8) or \u{XXXX}; with `quoted`, '"' and '\' are
 * escaped too (for a quoted log value). */
void dk_esc_append(struct dk_buf *b, const char *s, size_t len, int quoted);

/* A malloc'd escaped copy of s (NULL in, "" out). The caller frees. */
char *dk_esc(const char *s);

/* dk_esc() into one of 16 buffers used in turn, for the command line's
 * printf arguments: valid until 16 more calls. NULL in, NULL out. The
 * buffers are shared: for the command line's one thread only. */
const char *dk_esc_tmp(const char *s);

/* JSON text (as jansson writes it: controls below 0x20 already escaped)
 * with the remaining unsafe characters written as \uXXXX escapes, which is
 * the same JSON value. Returns a malloc'd copy. */
char *dk_esc_json(const char *json);

#endif
