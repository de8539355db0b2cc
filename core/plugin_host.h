/* The plugin's side of a run: the request, response and emit adapters
 * handed to a plugin (duikou/plugin.h), and its init, prepare, parse and
 * fini. The plugin never does I/O; what it emits lands in the run. */
#ifndef DK_PLUGIN_HOST_H
#define DK_PLUGIN_HOST_H

#include "http.h"
#include "run.h"

/* Initialise the run's plugin for its source (r->pstate). Returns 0, or the
 * plugin's DK_E* code (DK_EPLUGIN for a code a plugin may not return) with
 * err (n bytes) saying why. */
int dk__plugin_init(struct dk__run *r, char *err, size_t n);
/* Release the plugin's state, if it was initialised, and what its emits
 * gathered besides records (held records, the texts records came from). */
void dk__plugin_fini(struct dk__run *r);
/* Let the plugin build the request of the current page: it may change the
 * URL (r->url) and add headers (r->headers, never Authorization); the
 * plugin's `accept` is added unless it added an Accept itself. Returns 0 or
 * the plugin's DK_E* code (DK_EPLUGIN as for init). */
int dk__plugin_prepare(struct dk__run *r);
/* Hand a response to the plugin. Records and tombstones go to r->records
 * and r->tombstones, refused items to quarantine, a next page to
 * r->next_url ("" when refused: another kind of URL); what resolve_url
 * gave lives until it returns. What a failed parse
 * emitted is dropped, as the ABI promises. Returns the plugin's result;
 * r->failmsg says why it failed, when the plugin said. */
enum dk_result dk__plugin_parse(struct dk__run *r, const struct dk_http_res *res);
/* After a good parse of res: its body is the round's page now (taken out of
 * res) if the plugin said where its items lie (emit->region); otherwise
 * res keeps it. */
void dk__plugin_keep_page(struct dk__run *r, struct dk_http_res *res);
/* Let the round's pages go. */
void dk__plugin_pages_free(struct dk__run *r);

#endif
