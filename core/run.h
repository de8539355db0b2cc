/* One run of one source, as every stage of the data flow sees it.
 *
 * A run goes through the stages in order: plugin_host (the plugin's
 * request, response and emit adapters), fetch (requests, retries,
 * pagination), ingest (validation and quarantine), branch (the source
 * branch), reconcile (into main), commitmsg (the messages), and engine (the
 * lifecycle that drives them). Each stage includes this header and the
 * headers of the stages before it, never one after it: a stage hands back to
 * the engine through r->finish. */
#ifndef DK_RUN_H
#define DK_RUN_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <uv.h>

#include "config.h"

struct dk_inputs_cache;
#include "engine.h"
#include "error.h"
#include "previous.h"
#include "store.h"
#include "duikou/plugin.h"

struct dk_http;
struct dk_store;
struct dk_reconcile;

/* What every run of an engine shares (owned by the engine). */
struct dk__ctx {
  uv_loop_t *loop;
  const struct dk_config *cfg;
  struct dk_http *http;
  struct dk_store *store;
  struct dk_reconcile *rc;
  struct dk_index *index; /* what main and the source branches hold (index.h); NULL until a commit needs it */
  char **index_refs;      /* the index's refs: refs/duikou/sources/<name>, in the configuration's order */
  int closing; /* no new request: runs end as canceled */
  struct dk_inputs_cache *inputs; /* what the fold's inputs are, kept between folds (converge.h; NULL until then) */
  unsigned busy; /* runs between their first parse and their end (fetch.c) */
  unsigned light; /* of those, light rounds that gave their place back (engine.c) */
  struct dk__run *wait_head, *wait_tail; /* runs waiting for a place among them, in order */
  struct dk_metrics *metrics; /* what is counted (metrics.h), or NULL; the engine's owner's */
};

/* Where an item was served: body[off, off + len) of page `page` (from 1;
 * 0 for none). */
struct dk__span {
  unsigned page;
  size_t off, len;
};

/* A page body kept until the round's ingest, for the next round's
 * previous page (previous.h). */
struct dk__page {
  char *url, *body;
  size_t len, first, end;
  int has_region;
};

enum dk__wait { DK__WAIT_NONE, DK__WAIT_START, DK__WAIT_RETRY, DK__WAIT_FINISH };

struct dk__run {
  struct dk__ctx *ctx;
  void (*finish)(struct dk__run *r); /* the engine's end of a run: commit, state, callback */
  const struct dk_source_conf *src;
  const struct dk_plugin *plugin;
  void *pstate;
  int pstate_live;
  struct dk_source pub;
  struct dk_credentials auth;       /* the source's: secrets, wiped on free */
  struct dk_credentials proxy_auth; /* the proxy's: secrets, wiped on free */
  json_t *records;      /* what the source said this round, in order */
  json_t *tombstones;   /* [{path, reason}]: what it says no longer exists */
  size_t quarantined_rejects; /* refused items put in quarantine */
  json_t *state;        /* state file contents (owned) */
  unsigned page;
  char *url;            /* current page URL */
  char *next_url;       /* asked for by the plugin ("" marks a refused one) */
  json_t *seen_urls;    /* loop guard for pagination */
  char **headers;       /* from prepare() */
  size_t nheaders;
  char failmsg[DK_ERRBUF_SIZE];
  /* provenance of the round, for the commit trailers */
  char *etag, *last_modified, *fetched_url;
  char fetched_at[40];
  EVP_MD_CTX *sha;      /* over every page body */
  char body_sha[65];    /* hex SHA-256 of the round's bodies, once finished */
  unsigned attempt;     /* tries of the current page so far */
  uv_timer_t timer;     /* the first fetch, a retry's wait, or a deferred finish */
  int timer_live;
  enum dk__wait wait;   /* what the timer is armed for */
  uv_work_t work;       /* a page's parse, then the round's ingest, on a worker thread */
  struct dk_http_res *page_res; /* the page being parsed (a copy the work owns) */
  enum dk_result parse_rc;
  int (*ready)(struct dk__run *r); /* the engine's: index and branch ready before the first parse (0 or DK_E*) */
  int is_ready;
  int revalidate;       /* the schemas changed since the branch was validated: no record is taken as held */
  /* records the plugin knew the core held (emit->held); path is the index's
   * (borrowed: an index entry's path lives as long as the index, which is
   * not let go while a run is active) */
  struct dk__held {
    const char *path;
    git_oid oid, raw;
    int has_raw;
    int raw_filed;          /* its text's hash is in the .seen file already (a previous item) */
    struct dk__span span;   /* where it was served */
  } *held;
  struct dk_seen *seen;  /* what the source served before, by the hash of the text (seen.h) */
  git_oid pending_raw;   /* the text held() did not know: the next record emitted is it */
  struct dk__span pending_span;
  int has_pending_raw;
  int held_by_raw;       /* the last record held was known by its text's hash: try that first */
  struct dk__raw { git_oid oid; int set; struct dk__span span; } *raws; /* by record index: the text each came from */
  /* the pages of the round (their bodies, taken from the parse) and the
   * previous round's, as kept (previous.h) */
  struct dk__page *pages;
  size_t npages;
  const char *cur_body;  /* the page being parsed */
  size_t cur_len;
  struct dk_prev *prev;  /* loaded on the first parse that may use it (prev_ok) */
  const struct dk_prev_page *prev_page; /* the page being parsed's previous one, or NULL */
  int prev_tried;
  int prev_ok;           /* the state names a previous file and the branch is still at its commit (engine.c) */
  unsigned char prev_tag[DK_PREV_TAG];
  enum dk__prev_kept { DK__PREV_NONE, DK__PREV_NEW, DK__PREV_SAME } prev_kept; /* what the round left (engine.c) */
  unsigned char prev_new[DK_PREV_TAG]; /* the tag of the file it wrote (DK__PREV_NEW) */
  size_t capraws;
  size_t nheld, capheld;
  struct dk__round *round; /* the round being prepared (ingest, on a worker) */
  struct dk__round *early; /* ingested with its last page's parse, on its worker (dk__run_finish takes it) */
  /* the owner's work on the last page's worker, right after its parse
   * (NULL: none): the engine ingests the round there (engine.c) */
  void (*after_last_parse)(struct dk__run *r);
  int has_slot;         /* counted in ctx->busy */
  int light;            /* its round, parsed, waits for its commit without a place (engine.c) */
  struct dk__run *wait_next;
  int partial;          /* the round being committed is a failed round's pages */
  struct dk_source_result result;
  struct dk_source_result *res; /* &result */
  size_t sidx;           /* the source's place in cfg->sources (the index's number) */
  unsigned long long progress_bytes; /* the bodies of the pages parsed (set on the loop: dk_engine_progress) */
  size_t progress_records;           /* the records they held */
  const char *mresult;   /* why it failed, as duikou_fetches_total's result (metrics.h), or NULL */
};

/* Mark the run failed with a message (redacted: a server may echo a
 * secret) and log it, without ending the run. */
void dk__run_set_failed(struct dk__run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dk__run_vset_failed(struct dk__run *r, const char *fmt, va_list ap);
/* The same, then end the run (r->finish). */
void dk__run_fail(struct dk__run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* End the run as canceled (duikou is stopping) unless it already has an
 * outcome. */
void dk__run_cancel(struct dk__run *r);
/* Arm the run's timer: after delay_ms, WAIT_FINISH ends the run, the others
 * fetch the current page. */
void dk__run_arm(struct dk__run *r, enum dk__wait why, uint64_t delay_ms);
/* Hex SHA-256 of every page body of the round (finished on first call). */
const char *dk__run_body_sha(struct dk__run *r);
/* Save the state file; a failure is logged. */
void dk__run_save_state(struct dk__run *r);
/* The run's .seen table (seen.h), read from the state folder on first use
 * (a source served as its blobs never needs it). Never NULL; the run's. */
struct dk_seen *dk__run_seen(struct dk__run *r);
/* The time now as RFC 3339 in the configured zone. */
void dk__iso_now(char *out, size_t n);

/* Fetch the current page (fetch.c): the one stage the timer calls. */
void dk__fetch_page(struct dk__run *r);
/* The run's place among the rounds being parsed and committed, given up
 * (when it ends): the next run waiting is parsed now. */
void dk__fetch_release(struct dk__run *r);

#endif
