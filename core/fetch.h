/* Fetch: a run's requests on the HTTP client — the source's credentials
 * (only to its own origin), conditional GET, retries with backoff, and
 * pagination with its loop guard. Each response goes to the plugin
 * (plugin_host); the run ends through r->finish. */
#ifndef DK_FETCH_H
#define DK_FETCH_H

#include "run.h"

/* dk__fetch_page (run.h) starts the current page's request; a failure to
 * start ends the run. */

#endif
