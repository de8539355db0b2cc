/* The publish stage in the daemon: when to exchange with each remote
 * (exchange.h) — after a commit that changed something (after_commit) and
 * every `every` — with the network part on a libuv worker thread and a
 * store of its own, and main folded again on the loop when another site's
 * inputs arrived. One exchange per remote at a time; a kick while one runs
 * makes one more afterwards. */
#ifndef DK_PUBLISH_H
#define DK_PUBLISH_H

#include <uv.h>
#include "config.h"
#include "exchange.h"

struct dk_publish;

/* Called on the loop after an exchange with `remote` accepted other sites'
 * refs: fold main again (the engine's store and index). */
typedef void (*dk_publish_fold_cb)(void *arg, const char *remote);

/* Start the timers of cfg's remotes (none: *out is NULL, nothing to do).
 * Credentials are read now, on the loop. Returns 0, or DK_ECONFIG with err
 * (a variable or file of a remote's auth missing). */
int dk_publish_open(uv_loop_t *loop, const struct dk_config *cfg, dk_publish_fold_cb fold, void *arg,
                    struct dk_publish **out, char *err);
/* A commit changed something: exchange soon with the after_commit remotes. */
void dk_publish_kick(struct dk_publish *p);
/* Stop the timers; cb(arg) once no exchange is in flight and every handle
 * is closed (p is freed then). NULL p: cb is called at once. */
void dk_publish_close(struct dk_publish *p, void (*cb)(void *), void *arg);
struct dk_metrics;
/* Count each exchange in m (metrics.h; NULL: nothing). */
void dk_publish_set_metrics(struct dk_publish *p, struct dk_metrics *m);

#endif
