/* duikou plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     const struct dk_plugin duikou_plugin = { DK_PLUGIN_ABI_VERSION, ... };
 *
 * The core does all I/O (HTTP, retries, limits, secrets); a plugin only builds
 * requests and turns response bodies into canonical records (JSON objects with
 * "kind" and "id", see schemas/). Records are jansson values: plugins link the
 * same libjansson as the core.
 *
 * Compatibility rules, the same both ways:
 *
 *  - Every struct that crosses the boundary starts with what its builder
 *    knows of it: struct dk_plugin with abi_version then struct_size (the
 *    plugin fills them), struct dk_source, dk_request, dk_response and
 *    dk_emit with `size` (the core fills it with sizeof as it was built).
 *  - The ABI version is read first. Another version is refused: a change
 *    that is not an append bumps DK_PLUGIN_ABI_VERSION.
 *  - Members are only ever appended. The members up to the one marked
 *    "base" in each struct are there in every struct of this ABI version
 *    (the core refuses a plugin struct smaller than its base); a member after
 *    it may be missing, and the reader checks before touching it:
 *    DK_PLUGIN_HAS(p, member) in the core, DK_SOURCE_HAS, DK_REQUEST_HAS,
 *    DK_RESPONSE_HAS and DK_EMIT_HAS in a plugin. Absent reads as NULL or 0,
 *    never as garbage from past the end.
 *  - A struct larger than the reader knows is fine: the tail is ignored.
 *
 * So a plugin built against a newer header runs in an older core (it checks
 * DK_EMIT_HAS(emit, resolve_url) or DK_EMIT_HAS(emit, held) before calling
 * it, and does without), and
 * an older plugin runs in a newer core (the core reads none of what the
 * plugin's struct_size leaves out).
 */
#ifndef DUIKOU_PLUGIN_H
#define DUIKOU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: every struct starts with its size (1 had none). */
#define DK_PLUGIN_ABI_VERSION 2u
#define DK_PLUGIN_SYMBOL "duikou_plugin"

/* Whether `s` (a pointer to one of the structs below) holds `member`, as the
 * size its builder wrote says. */
#define DK__HAS(s, sizefield, member) \
  ((size_t)(s)->sizefield >= offsetof(__typeof__(*(s)), member) + sizeof((s)->member))
#define DK_PLUGIN_HAS(p, member) DK__HAS(p, struct_size, member)
#define DK_SOURCE_HAS(src, member) DK__HAS(src, size, member)
#define DK_REQUEST_HAS(req, member) DK__HAS(req, size, member)
#define DK_RESPONSE_HAS(resp, member) DK__HAS(resp, size, member)
#define DK_EMIT_HAS(emit, member) DK__HAS(emit, size, member)

/* Error codes: negative ints, stable numbers (never renumbered, only
 * appended). The core's dk_strerror() gives the text.
 *
 * A plugin returns (from init and prepare) and is given (by the callbacks
 * below) only the codes of DK_PLUGIN_ERRNO_MAP; the core reports any other
 * code a plugin returns as DK_EPLUGIN. DK_CORE_ERRNO_MAP is the core's own:
 * it is here so that the numbers stay one list. */
#define DK_PLUGIN_ERRNO_MAP(XX)                                        \
  XX(EINVAL, -1, "invalid argument")                                   \
  XX(ENOMEM, -2, "out of memory")                                      \
  XX(EIO, -3, "input/output error")                                    \
  XX(ECONFIG, -4, "configuration error")                               \
  XX(EPARSE, -5, "cannot parse input")                                 \
  XX(EPLUGIN, -7, "plugin error")
#define DK_CORE_ERRNO_MAP(XX)                                          \
  XX(EHTTP, -6, "HTTP transfer failed")                                \
  XX(EABI, -8, "plugin ABI mismatch")                                  \
  XX(EGIT, -9, "snapshot repository error")                            \
  XX(ELOCKED, -10, "repository is locked by another duikou")           \
  XX(ENOENT, -11, "not found")                                         \
  XX(EINVALID, -12, "record is invalid")                               \
  XX(ETIMEDOUT, -13, "timed out")                                      \
  XX(ETOOBIG, -14, "size limit exceeded")                              \
  XX(EEXIST, -15, "already exists")                                    \
  XX(ECANCELED, -16, "operation canceled")                             \
  XX(ESCHEMA, -17, "schema error")                                     \
  XX(EBUSY, -18, "already running")                                    \
  XX(ENOSPC, -19, "no space left on the device")                      \
  XX(EREMOTE, -20, "remote repository unreachable")                    \
  XX(EAUTH, -21, "remote refused the credentials")                     \
  XX(EREFUSED, -22, "remote refused the update")
#define DK_ERRNO_MAP(XX) DK_PLUGIN_ERRNO_MAP(XX) DK_CORE_ERRNO_MAP(XX)

/* A number a plugin cannot hold as a JSON number (a 30-digit integer,
 * 1e999999) goes to the core as a string made of this mark and the
 * number's text (json_stringn: the mark starts with a NUL, which no real
 * string holds); the core refuses the record that holds it and names the
 * number, and the records beside it are committed. */
#define DK_NUMBER_MARK "\0duikou:number:"

enum dk_errno {
#define DK__ERR_ENUM(name, value, text) DK_##name = value,
  DK_ERRNO_MAP(DK__ERR_ENUM)
#undef DK__ERR_ENUM
};

/* What a parse says about the response it was given. The core owns retries:
 * RETRY asks for the same request again later (with backoff), ERROR gives up
 * on this round of the source. Records emitted before RETRY or ERROR are
 * discarded; a round commits only what a complete, successful parse gave. */
enum dk_result {
  DK_OK = 0,
  DK_RETRY = 1,
  DK_ERROR = 2
};

enum dk_log_level {
  DK_LOG_ERROR = 0,
  DK_LOG_WARN = 1,
  DK_LOG_INFO = 2,
  DK_LOG_DEBUG = 3
};

/* The source a plugin instance serves. Owned by the core; valid from init to
 * fini. `options` is the source's `options` mapping, already checked against
 * the plugin's options_schema (an empty object when none was given). */
struct dk_source {
  uint32_t size;         /* sizeof(struct dk_source) in the core: always first */
  const char *name;      /* "linyi-progress" */
  const char *city;      /* "jinan", "linyi", ... */
  const char *url;       /* the configured URL */
  const json_t *options; /* borrowed; base */
};

/* A request the plugin may adjust in prepare(). The core fills `url` with the
 * source URL (page 1) or the URL the plugin asked for with next_page(). */
struct dk_request {
  uint32_t size; /* sizeof(struct dk_request) in the core: always first */
  unsigned page; /* 1 for the first request of a round */
  /* Replace the URL. The string is copied. Returns 0, or DK_EINVAL. */
  int (*set_url)(struct dk_request *req, const char *url);
  /* Add a header line "Name: value". Copied. Authorization is the core's
   * business and is refused here. Returns 0, or DK_EINVAL. */
  int (*add_header)(struct dk_request *req, const char *name, const char *value);
  const char *url; /* current URL, read-only for the plugin; base */
};

/* A complete HTTP response. Everything is borrowed for the duration of the
 * parse() call. The body is NUL-terminated for convenience (body[body_len]). */
struct dk_response {
  uint32_t size; /* sizeof(struct dk_response) in the core: always first */
  unsigned page;
  long status;
  const char *url;          /* effective URL after redirects */
  const char *content_type; /* may be NULL */
  const char *body;
  size_t body_len;
  /* Value of a response header (case-insensitive name), or NULL. Base. */
  const char *(*header)(const struct dk_response *resp, const char *name);
};

/* How parse() hands results back. */
struct dk_emit {
  uint32_t size; /* sizeof(struct dk_emit) in the core: always first */
  /* Hand over one record. Takes the reference (steals it) whatever happens.
   * Returns 0, or DK_EINVAL (no record) or DK_ENOMEM when the core cannot
   * take it (stop parsing and return DK_ERROR). Records are validated by
   * the core. */
  int (*record)(struct dk_emit *emit, json_t *record);
  /* A single item of the source could not be turned into a record (a bad
   * CSV row, say). `where` locates it ("line 12", "/data/items/3"). The round
   * goes on; the item is reported and quarantined with its raw text. */
  void (*reject)(struct dk_emit *emit, const char *where, const char *raw,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
  /* Ask the core to fetch another page after this one. Copied. */
  void (*next_page)(struct dk_emit *emit, const char *url);
  /* Say why parse() returns DK_RETRY or DK_ERROR. The last call wins. */
  void (*fail)(struct dk_emit *emit, const char *fmt, ...)
      __attribute__((format(printf, 2, 3)));
  /* Log a line attributed to the source. Base. */
  void (*log)(struct dk_emit *emit, enum dk_log_level level, const char *fmt, ...)
      __attribute__((format(printf, 3, 4)));
  /* Appended: check DK_EMIT_HAS(emit, tombstone) before calling. The source
   * says the record `kind`/`id` no longer exists (a tombstone): the only way
   * a record leaves `main` besides configured absences. `reason` goes into
   * the commit. Returns 0, or DK_EINVAL for a bad kind or id. */
  int (*tombstone)(struct dk_emit *emit, const char *kind, const char *id, const char *reason);
  /* Appended: check DK_EMIT_HAS(emit, resolve_url) before calling. The URL
   * reference `ref` (absolute, "/p", "p?q", "//host/p", "../p", ...)
   * resolved against the absolute URL `base` as RFC 3986 section 5 says, by
   * the same URL parser the core fetches with. Returns the absolute URL,
   * owned by the core and valid until parse() returns, or NULL when `base`
   * is not an absolute URL or `ref` does not parse. */
  const char *(*resolve_url)(struct dk_emit *emit, const char *base, const char *ref);
  /* Appended: check DK_EMIT_HAS(emit, held) before calling. Whether the
   * core already holds, byte for byte, the record whose JSON text is
   * `json` (`len` bytes, one object): 1 means it is listed again as it was
   * (the core counts it as emitted, and the plugin must not emit it), 0
   * means the plugin parses and emits it as usual. Cheap (a hash), and
   * callable from the thread parse() runs on. */
  int (*held)(struct dk_emit *emit, const char *json, size_t len);
  /* Appended: check DK_EMIT_HAS(emit, region) before calling region, and
   * DK_EMIT_HAS(emit, held_previous) before the three below, and that the
   * pointer is not NULL (an emit built without them leaves them NULL).
   * Where this page's items lie: the bytes [first, end) of its body (after
   * the array's '[', up to its ']'), pointers into resp->body. The core
   * keeps the body and the places of the items it held or took (held()
   * was asked about each) for the next round at this page's URL. */
  void (*region)(struct dk_emit *emit, const char *first, const char *end);
  /* The page served last time at this page's URL, as the core kept it
   * (only while its items are still what the source branch holds): its
   * body (owned by the core, valid until parse() returns; *len bytes) and
   * its region (offsets *first and *end into it), or NULL. */
  const char *(*previous)(struct dk_emit *emit, size_t *len, size_t *first, size_t *end);
  /* The k-th item (from 0, in order) the core kept of the previous page:
   * its text (into the previous body) and length, or NULL past the last.
   * An item of this page equal to it byte for byte is the same record. */
  const char *(*previous_item)(struct dk_emit *emit, size_t k, size_t *len);
  /* The item at `json` (in this body) is the previous page's k-th, byte
   * for byte: it counts as listed again (as held() answering 1; the plugin
   * must not emit it). Returns 0, or DK_EINVAL for a k past the last. */
  int (*held_previous)(struct dk_emit *emit, size_t k, const char *json);
};

struct dk_plugin {
  uint32_t abi_version; /* DK_PLUGIN_ABI_VERSION: always first */
  uint32_t struct_size; /* sizeof(struct dk_plugin) as built: always second */
  const char *name;     /* unique: what a source's `plugin:` names */
  const char *version;
  const char *description;
  /* JSON Schema (draft 2020-12) of the source's `options`, as JSON text, or
   * NULL for "no options". */
  const char *options_schema;

  /* Create the per-source state. On failure return a negative DK_E* code and
   * write a message into err (size errlen); fini is then not called. */
  int (*init)(void **state, const struct dk_source *source, char *err, size_t errlen);
  /* Adjust the request for page req->page. Optional (NULL: plain GET of the
   * URL). Returns 0 or a negative DK_E* code. */
  int (*prepare)(void *state, struct dk_request *req);
  /* Turn a response into records. Required. */
  enum dk_result (*parse)(void *state, const struct dk_response *resp, struct dk_emit *emit);
  /* Free the state. Optional. Base. */
  void (*fini)(void *state);
  /* Appended (the core checks DK_PLUGIN_HAS): the Accept header value sent
   * with every request whose prepare() adds none ("application/json"), or
   * NULL for libcurl's default. */
  const char *accept;
};

/* The smallest struct_size the core takes: up to `fini`. */
#define DK_PLUGIN_BASE_SIZE (offsetof(struct dk_plugin, fini) + sizeof(void (*)(void *)))

#ifdef __cplusplus
}
#endif

#endif /* DUIKOU_PLUGIN_H */
