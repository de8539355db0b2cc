#include "commitmsg.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#define DK__MSG_LINES 200 /* record lines a commit message lists */

void dk__msg_summary(struct dk_buf *msg, const struct dk__tally *tl) {
  int parts = 0;
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    const char *one = dk_kind_name((enum dk_kind)k), *many = dk_kind_folder((enum dk_kind)k);
    if (tl->changed[k])
      dk_buf_printf(msg, "%s %zu %s changed", parts++ ? "," : "", tl->changed[k], tl->changed[k] == 1 ? one : many);
    if (tl->added[k])
      dk_buf_printf(msg, "%s %zu %s added", parts++ ? "," : "", tl->added[k], tl->added[k] == 1 ? one : many);
    if (tl->deleted[k])
      dk_buf_printf(msg, "%s %zu %s deleted", parts++ ? "," : "", tl->deleted[k], tl->deleted[k] == 1 ? one : many);
  }
  if (tl->conflicts)
    dk_buf_printf(msg, "%s %zu conflict%s", parts++ ? "," : "", tl->conflicts, tl->conflicts == 1 ? "" : "s");
  if (tl->open) dk_buf_printf(msg, " (%zu open)", tl->open);
  if (parts == 0) dk_buf_puts(msg, " no change");
}

static void dk__trailers(struct dk_buf *msg, struct dk__run *r, size_t quarantined, int partial) {
  dk_buf_printf(msg, "\nDuikou-Source: %s\nDuikou-City: %s\nDuikou-Plugin: %s %s\nDuikou-URL: %s\n"
                "Duikou-Fetched-At: %s\nDuikou-Pages: %zu\n",
                r->src->name, r->src->city, r->plugin->name, r->plugin->version ? r->plugin->version : "?",
                r->fetched_url ? r->fetched_url : r->src->url, r->fetched_at, r->res->pages);
  if (r->etag) dk_buf_printf(msg, "Duikou-ETag: %s\n", r->etag);
  if (partial) dk_buf_puts(msg, "Duikou-Partial: yes\n");
  dk_buf_printf(msg, "Duikou-Body-SHA256: %s\nDuikou-Records: %zu valid, %zu invalid, %zu rejected\n"
                "Duikou-Quarantined: %zu\n",
                dk__run_body_sha(r), r->res->records, r->res->invalid, r->res->rejected, quarantined);
}

void dk__lines_upto(struct dk_buf *msg, const struct dk_buf *lines, const char *what) {
  const char *p = lines->data, *end = lines->data + lines->len;
  size_t n = 0, rest[DK_KIND_COUNT] = {0}, other = 0, more = 0;
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl + 1 : end;
    if (n++ < DK__MSG_LINES) {
      dk_buf_append(msg, p, (size_t)(stop - p));
    } else {
      const char *sep = memchr(p, ':', (size_t)(stop - p)), *sp = memchr(p, ' ', (size_t)(stop - p));
      if (sp && (!sep || sp < sep)) sep = sp; /* a conflict line: "<path> <field>: …" */
      char *path = dk_strndup(p, sep ? (size_t)(sep - p) : 0), *id = NULL;
      enum dk_kind kind;
      if (dk_record_parse_name(path, &kind, &id) == 0) rest[kind]++;
      else other++;
      free(id);
      free(path);
      more++;
    }
    p = stop;
  }
  if (more == 0) return;
  dk_buf_printf(msg, "... and %zu more %s%s (duikou diff lists them all):", more, what, more == 1 ? "" : "s");
  int parts = 0;
  for (int k = 0; k < DK_KIND_COUNT; k++)
    if (rest[k])
      dk_buf_printf(msg, "%s%zu %s", parts++ ? ", " : " ", rest[k],
                    rest[k] == 1 ? dk_kind_name((enum dk_kind)k) : dk_kind_folder((enum dk_kind)k));
  if (other) dk_buf_printf(msg, "%s%zu other", parts ? ", " : " ", other);
  dk_buf_puts(msg, "\n");
}

void dk__msg_report(struct dk_buf *msg, struct dk__run *r, size_t changes, size_t quarantined, int partial) {
  dk_buf_printf(msg, "report %s: %zu record%s, %zu changed%s\n", r->src->name, r->res->records,
                r->res->records == 1 ? "" : "s", changes, partial ? " (partial)" : "");
  dk__trailers(msg, r, quarantined, partial);
}

void dk__msg_merge(struct dk_buf *msg, struct dk__run *r, const struct dk__tally *tl, const struct dk_buf *body,
                   const struct dk_buf *conf, size_t quarantined, int partial, const char *shex) {
  dk_buf_printf(msg, "sync %s:", r->src->name);
  dk__msg_summary(msg, tl);
  dk_buf_puts(msg, "\n\n");
  if (partial)
    dk_buf_printf(msg, "Partial: the round failed after %zu page%s; their records are committed, nothing\n"
                  "else is changed. Why: %s\n\n", r->res->pages, r->res->pages == 1 ? "" : "s", r->res->error);
  dk__lines_upto(msg, body, "record");
  if (conf->len) {
    dk_buf_printf(msg, "%sConflicts:\n", body->len ? "\n" : "");
    dk__lines_upto(msg, conf, "conflict");
  }
  dk__trailers(msg, r, quarantined, partial);
  if (tl->conflicts) dk_buf_printf(msg, "Duikou-Conflicts: %zu (%zu open)\n", tl->conflicts, tl->open);
  dk_buf_printf(msg, "Duikou-Source-Commit: %s\n", shex);
}

void dk__msg_group(struct dk_buf *msg, struct dk__run *const *runs, const size_t *changes, size_t n,
                   const struct dk__tally *tl, const struct dk_buf *body, const struct dk_buf *conf,
                   size_t quarantined) {
  dk_buf_printf(msg, "sync %zu sources:", n);
  dk__msg_summary(msg, tl);
  dk_buf_puts(msg, "\n\n");
  dk__lines_upto(msg, body, "record");
  if (conf->len) {
    dk_buf_printf(msg, "%sConflicts:\n", body->len ? "\n" : "");
    dk__lines_upto(msg, conf, "conflict");
  }
  /* which report brought what: each source's own commit says the rest */
  dk_buf_puts(msg, "\nReports:\n");
  for (size_t i = 0; i < n && i < DK__MSG_LINES; i++)
    dk_buf_printf(msg, "%s (%s): %zu record%s, %zu changed\n", runs[i]->src->name, runs[i]->src->city,
                  runs[i]->res->records, runs[i]->res->records == 1 ? "" : "s", changes[i]);
  if (n > DK__MSG_LINES) dk_buf_printf(msg, "... and %zu more reports (their commits are this one's parents)\n",
                                       n - DK__MSG_LINES);
  dk_buf_printf(msg, "\nDuikou-Sources: %zu\nDuikou-Quarantined: %zu\n", n, quarantined);
  if (tl->conflicts) dk_buf_printf(msg, "Duikou-Conflicts: %zu (%zu open)\n", tl->conflicts, tl->open);
}

void dk__msg_meta(struct dk__run *r, struct dk_commit_meta *meta, char *names, size_t n) {
  size_t half = n / 2;
  snprintf(names, half, "%s (%s)", r->src->name, r->src->city);
  snprintf(names + half, n - half, "%s@%s.duikou.invalid", r->src->name, r->src->city);
  dk_commit_meta_init(meta, names, names + half, 0);
}
