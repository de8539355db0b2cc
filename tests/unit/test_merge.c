/* The three-way merge of records: one table of cases, each its own test,
 * plus the configuration and the details a table row cannot show.
 *
 * JSON in the table is written with single quotes, turned into double quotes
 * before parsing, so that the cases read as records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "merge.h"

#define PROG "'kind':'progress','id':'jnly-2024/12/linyi/2024-06','task':'jnly-2024/12','city':'linyi','period':'2024-06'"
#define TASK "'kind':'task','id':'jnly-2024/12','plan':'jnly-2024','number':12"
#define PLAN "'kind':'plan','id':'jnly-2024','year':2024"

/* 2024-06-30 17:00 in Jinan, and instants around it written with other offsets. */
#define T0 "'2024-06-01T09:00:00+08:00'"
#define T17 "'2024-06-30T17:00:00+08:00'"
#define T17Z "'2024-06-30T09:00:00Z'"
#define T18Z "'2024-06-30T10:00:00Z'"
#define T16Z "'2024-06-30T08:00:00Z'"

#define UA "{'name':'济南市教育局','city':'jinan','role':'lead'}"
#define UA_SHARED "{'name':'济南市教育局','city':'jinan','role':'shared'}"
#define UA_SUPPORT "{'name':'济南市教育局','city':'jinan','role':'support'}"
#define UA_PROVINCE "{'name':'济南市教育局','city':'province','role':'lead'}"
#define UB "{'name':'临沂市教育局','city':'linyi','role':'shared'}"
#define UB_LEAD "{'name':'临沂市教育局','city':'linyi','role':'lead'}"
#define UC "{'name':'济南市工业和信息化局','city':'jinan','role':'support'}"
#define UC_LEAD "{'name':'济南市工业和信息化局','city':'jinan','role':'lead'}"
#define UD "{'name':'临沂市工业和信息化局','city':'linyi','role':'support'}"

#define OWNER "{'default':'owner'}"
#define MANUAL "{'default':'manual'}"
#define PRIORITY "{'default':'priority','priority':['jinan-tasks','linyi-progress']}"
#define LAYERED "{'default':'manual','kinds':{'task':'latest'},'fields':{'task.title':'priority'}," \
                "'priority':['jinan-tasks','linyi-progress']}"

#define JINAN .source = "jinan-tasks", .city = "jinan"
#define LINYI .source = "linyi-progress", .city = "linyi"

struct want_conflict {
  const char *field, *winner, *policy; /* policy NULL: not checked */
};

struct mcase {
  const char *name;
  const char *base, *ours, *theirs; /* NULL: absent */
  int tombstone;
  const char *conf;                 /* the `reconcile` mapping, NULL: none */
  const char *source, *city;        /* NULL: linyi-progress, linyi */
  struct { const char *source, *record; } others[3];
  const char *merged;               /* NULL: absent */
  enum dk_merge_action action;
  struct want_conflict conflicts[5]; /* up to the first field == NULL */
  size_t nchanges;
};

static const struct mcase cases[] = {
  /* ---- record level ---- */
  {"add", NULL, NULL, "{" PROG ",'status':'in_progress','percent':60}", .merged = "{" PROG ",'status':'in_progress','percent':60}",
   .action = DK_MERGE_ADD, .nchanges = 1},
  {"main deleted it, source re-reports the same: stays deleted", "{" PROG ",'status':'in_progress'}", NULL,
   "{" PROG ",'status':'in_progress'}", .merged = NULL, .action = DK_MERGE_NONE},
  {"main deleted it, source changed it, manual: stays deleted, open", "{" PROG ",'status':'in_progress'}", NULL,
   "{" PROG ",'status':'completed'}", .conf = MANUAL, .merged = NULL, .action = DK_MERGE_NONE,
   .conflicts = {{"", "open", "manual"}}},
  {"main deleted it, source changed it, owner: the owner re-adds it", "{" PROG ",'status':'in_progress'}", NULL,
   "{" PROG ",'status':'completed'}", .conf = OWNER, LINYI, .merged = "{" PROG ",'status':'completed'}",
   .action = DK_MERGE_ADD, .conflicts = {{"", "linyi-progress", "owner"}}, .nchanges = 1},
  {"tombstone, main already without it", "{" PROG ",'status':'in_progress'}", NULL, NULL, .tombstone = 1,
   .merged = NULL, .action = DK_MERGE_NONE},
  {"tombstone, main unchanged: deleted", "{" PROG ",'status':'in_progress'}", "{" PROG ",'status':'in_progress'}", NULL,
   .tombstone = 1, .merged = NULL, .action = DK_MERGE_DELETE, .nchanges = 1},
  {"tombstone, main changed, manual: kept, open", "{" PROG ",'status':'in_progress'}", "{" PROG ",'status':'completed'}",
   NULL, .tombstone = 1, .conf = MANUAL, .merged = "{" PROG ",'status':'completed'}", .action = DK_MERGE_NONE,
   .conflicts = {{"", "open", "manual"}}},
  {"tombstone, main changed, latest: a tombstone has no time, kept", "{" PROG ",'status':'in_progress','updated_at':" T0 "}",
   "{" PROG ",'status':'completed','updated_at':" T17 "}", NULL, .tombstone = 1,
   .merged = "{" PROG ",'status':'completed','updated_at':" T17 "}", .action = DK_MERGE_NONE,
   .conflicts = {{"", "main", "latest"}}},
  {"tombstone, main changed, owner: the owner city deletes", "{" PROG ",'status':'in_progress'}",
   "{" PROG ",'status':'completed'}", NULL, .tombstone = 1, .conf = OWNER, LINYI, .merged = NULL,
   .action = DK_MERGE_DELETE, .conflicts = {{"", "linyi-progress", "owner"}}, .nchanges = 1},
  {"tombstone of a record the source never said: conflict", NULL, "{" PROG ",'status':'completed'}", NULL,
   .tombstone = 1, .conf = MANUAL, .merged = "{" PROG ",'status':'completed'}", .action = DK_MERGE_NONE,
   .conflicts = {{"", "open", "manual"}}},

  /* ---- fields without conflict ---- */
  {"unchanged re-report keeps main's change", "{" PROG ",'status':'in_progress','percent':50}",
   "{" PROG ",'status':'delayed','percent':50}", "{" PROG ",'status':'in_progress','percent':50}",
   .merged = "{" PROG ",'status':'delayed','percent':50}", .action = DK_MERGE_NONE},
  {"re-reported field kept, the source's other change taken", "{" PROG ",'status':'in_progress','percent':50}",
   "{" PROG ",'status':'delayed','percent':50}", "{" PROG ",'status':'in_progress','percent':60}",
   .merged = "{" PROG ",'status':'delayed','percent':60}", .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"changed only by the source", "{" PROG ",'status':'in_progress'}", "{" PROG ",'status':'in_progress'}",
   "{" PROG ",'status':'completed','percent':100}", .merged = "{" PROG ",'status':'completed','percent':100}",
   .action = DK_MERGE_CHANGE, .nchanges = 2},
  {"same change on both sides (60 and 60.0 alike)", "{" PROG ",'status':'in_progress','percent':50}",
   "{" PROG ",'status':'completed','percent':100}", "{" PROG ",'status':'completed','percent':100.0}",
   .merged = "{" PROG ",'status':'completed','percent':100}", .action = DK_MERGE_NONE},
  {"field removed by the source", "{" PROG ",'status':'in_progress','summary':'x'}",
   "{" PROG ",'status':'in_progress','summary':'x'}", "{" PROG ",'status':'in_progress'}",
   .merged = "{" PROG ",'status':'in_progress'}", .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"field removed by the source, changed on main", "{" PROG ",'status':'in_progress','summary':'x'}",
   "{" PROG ",'status':'in_progress','summary':'y'}", "{" PROG ",'status':'in_progress'}", .conf = MANUAL,
   .merged = "{" PROG ",'status':'in_progress','summary':'y'}", .action = DK_MERGE_NONE,
   .conflicts = {{"summary", "open", "manual"}}},
  {"field added on both sides differently", "{" PROG ",'status':'in_progress'}",
   "{" PROG ",'status':'in_progress','summary':'a'}", "{" PROG ",'status':'in_progress','summary':'b'}",
   .conf = MANUAL, .merged = "{" PROG ",'status':'in_progress','summary':'a'}", .action = DK_MERGE_NONE,
   .conflicts = {{"summary", "open", "manual"}}},
  {"no base: main's record from elsewhere merged as if from {}", NULL,
   "{" PROG ",'status':'in_progress','summary':'a'}", "{" PROG ",'status':'delayed','percent':10}",
   .conf = MANUAL, .merged = "{" PROG ",'status':'in_progress','summary':'a','percent':10}",
   .action = DK_MERGE_CHANGE, .conflicts = {{"status", "open", "manual"}}, .nchanges = 1},

  /* ---- owner ---- */
  {"owner: linyi progress from the linyi source", "{" PROG ",'percent':50}", "{" PROG ",'percent':60}",
   "{" PROG ",'percent':70}", .conf = OWNER, LINYI, .merged = "{" PROG ",'percent':70}",
   .action = DK_MERGE_CHANGE, .conflicts = {{"percent", "linyi-progress", "owner"}}, .nchanges = 1},
  {"owner: linyi progress from a jinan source", "{" PROG ",'percent':50}", "{" PROG ",'percent':60}",
   "{" PROG ",'percent':70}", .conf = OWNER, JINAN, .merged = "{" PROG ",'percent':60}",
   .action = DK_MERGE_NONE, .conflicts = {{"percent", "main", "owner"}}},
  {"owner: a task has no city, latest settles", "{" TASK ",'title':'A','updated_at':" T0 "}",
   "{" TASK ",'title':'B','updated_at':" T17 "}", "{" TASK ",'title':'C','updated_at':" T18Z "}", .conf = OWNER,
   JINAN, .merged = "{" TASK ",'title':'C','updated_at':" T18Z "}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"title", "jinan-tasks", "latest"}, {"updated_at", "jinan-tasks", "latest"}}, .nchanges = 2},

  /* ---- latest (the default) ---- */
  {"latest: theirs newer (other offset)", "{" PROG ",'percent':50,'updated_at':" T0 "}",
   "{" PROG ",'percent':60,'updated_at':" T17 "}", "{" PROG ",'percent':70,'updated_at':" T18Z "}",
   .merged = "{" PROG ",'percent':70,'updated_at':" T18Z "}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"percent", "linyi-progress", "latest"}, {"updated_at", "linyi-progress", "latest"}}, .nchanges = 2},
  {"latest: theirs older", "{" PROG ",'percent':50,'updated_at':" T0 "}",
   "{" PROG ",'percent':60,'updated_at':" T17 "}", "{" PROG ",'percent':70,'updated_at':" T16Z "}",
   .merged = "{" PROG ",'percent':60,'updated_at':" T17 "}", .action = DK_MERGE_NONE,
   .conflicts = {{"percent", "main", "latest"}, {"updated_at", "main", "latest"}}},
  {"latest: the same instant", "{" PROG ",'percent':50,'updated_at':" T0 "}",
   "{" PROG ",'percent':60,'updated_at':" T17 "}", "{" PROG ",'percent':70,'updated_at':" T17Z "}",
   .merged = "{" PROG ",'percent':60,'updated_at':" T17 "}", .action = DK_MERGE_NONE,
   .conflicts = {{"percent", "main", "latest"}, {"updated_at", "main", "latest"}}},
  {"latest: no time on main", "{" PROG ",'percent':50}", "{" PROG ",'percent':60}",
   "{" PROG ",'percent':70,'updated_at':" T18Z "}", .merged = "{" PROG ",'percent':60,'updated_at':" T18Z "}",
   .action = DK_MERGE_CHANGE, .conflicts = {{"percent", "main", "latest"}}, .nchanges = 1},
  {"latest: unparsable time", "{" PROG ",'percent':50,'updated_at':" T0 "}",
   "{" PROG ",'percent':60,'updated_at':" T17 "}", "{" PROG ",'percent':70,'updated_at':'2024-06-31 25:00'}",
   .merged = "{" PROG ",'percent':60,'updated_at':" T17 "}", .action = DK_MERGE_NONE,
   .conflicts = {{"percent", "main", "latest"}, {"updated_at", "main", "latest"}}},
  {"latest: reported_at without updated_at", "{" PROG ",'percent':50,'reported_at':" T0 "}",
   "{" PROG ",'percent':60,'reported_at':" T17 "}", "{" PROG ",'percent':70,'reported_at':" T18Z "}",
   .merged = "{" PROG ",'percent':70,'reported_at':" T18Z "}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"percent", "linyi-progress", "latest"}, {"reported_at", "linyi-progress", "latest"}},
   .nchanges = 2},

  /* ---- priority ---- */
  {"priority: better rank than main's backer", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, JINAN, .others = {{"linyi-progress", "{" TASK ",'title':'B'}"}},
   .merged = "{" TASK ",'title':'C'}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"title", "jinan-tasks", "priority"}}, .nchanges = 1},
  {"priority: worse rank", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}", "{" TASK ",'title':'C'}",
   .conf = PRIORITY, LINYI, .others = {{"jinan-tasks", "{" TASK ",'title':'B'}"}}, .merged = "{" TASK ",'title':'B'}",
   .action = DK_MERGE_NONE, .conflicts = {{"title", "main", "priority"}}},
  {"priority: unlisted incoming source", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, .source = "city-portal", .city = "jinan",
   .others = {{"linyi-progress", "{" TASK ",'title':'B'}"}}, .merged = "{" TASK ",'title':'B'}",
   .action = DK_MERGE_NONE, .conflicts = {{"title", "main", "priority"}}},
  {"priority: listed beats an unlisted backer", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, LINYI, .others = {{"city-portal", "{" TASK ",'title':'B'}"}},
   .merged = "{" TASK ",'title':'C'}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"title", "linyi-progress", "priority"}}, .nchanges = 1},
  {"priority: unlisted against unlisted is a tie", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, .source = "city-portal",
   .others = {{"other-portal", "{" TASK ",'title':'B'}"}}, .merged = "{" TASK ",'title':'B'}",
   .action = DK_MERGE_NONE, .conflicts = {{"title", "main", "priority"}}},
  {"priority: the best backer counts", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, LINYI,
   .others = {{"city-portal", "{" TASK ",'title':'B'}"}, {"jinan-tasks", "{" TASK ",'title':'B'}"}},
   .merged = "{" TASK ",'title':'B'}", .action = DK_MERGE_NONE, .conflicts = {{"title", "main", "priority"}}},
  {"priority: nobody holds main's value", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}",
   "{" TASK ",'title':'C'}", .conf = PRIORITY, JINAN,
   .others = {{"linyi-progress", "{" TASK ",'title':'X'}"}, {"city-portal", NULL}},
   .merged = "{" TASK ",'title':'B'}", .action = DK_MERGE_NONE, .conflicts = {{"title", "main", "priority"}}},
  {"priority: backer found inside a keyed element", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA_SHARED "," UB "]}", "{" TASK ",'units':[" UA_SUPPORT "," UB "]}", .conf = PRIORITY,
   JINAN, .others = {{"linyi-progress", "{" TASK ",'units':[" UB "," UA_SHARED "]}"}},
   .merged = "{" TASK ",'units':[" UA_SUPPORT "," UB "]}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"units[济南市教育局].role", "jinan-tasks", "priority"}}, .nchanges = 1},

  /* ---- manual, and policies by kind and field ---- */
  {"manual: conflict left open", "{" TASK ",'title':'A'}", "{" TASK ",'title':'B'}", "{" TASK ",'title':'C'}",
   .conf = MANUAL, .merged = "{" TASK ",'title':'B'}", .action = DK_MERGE_NONE,
   .conflicts = {{"title", "open", "manual"}}},
  {"field policy over kind policy over default (task)",
   "{" TASK ",'title':'A','status':'in_progress','text':'x','updated_at':" T0 "}",
   "{" TASK ",'title':'B','status':'delayed','text':'y','updated_at':" T18Z "}",
   "{" TASK ",'title':'C','status':'completed','text':'z','updated_at':" T17 "}", .conf = LAYERED, JINAN,
   .others = {{"linyi-progress", "{" TASK ",'title':'B'}"}},
   .merged = "{" TASK ",'title':'C','status':'delayed','text':'y','updated_at':" T18Z "}", .action = DK_MERGE_CHANGE,
   .conflicts = {{"status", "main", "latest"}, {"text", "main", "latest"}, {"title", "jinan-tasks", "priority"},
                 {"updated_at", "main", "latest"}},
   .nchanges = 1},
  {"field policy over kind policy over default (plan)", "{" PLAN ",'title':'A'}", "{" PLAN ",'title':'B'}",
   "{" PLAN ",'title':'C'}", .conf = LAYERED, JINAN, .merged = "{" PLAN ",'title':'B'}", .action = DK_MERGE_NONE,
   .conflicts = {{"title", "open", "manual"}}},

  /* ---- nested objects and types ---- */
  {"nested object: different members on each side", "{" TASK ",'section':{'number':'四','title':'A'}}",
   "{" TASK ",'section':{'number':'五','title':'A'}}", "{" TASK ",'section':{'number':'四','title':'B'}}",
   .merged = "{" TASK ",'section':{'number':'五','title':'B'}}", .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"nested object: same member, dotted conflict", "{" TASK ",'section':{'number':'四','title':'A'}}",
   "{" TASK ",'section':{'number':'五','title':'B'}}", "{" TASK ",'section':{'number':'四','title':'C'}}",
   .conf = MANUAL, .merged = "{" TASK ",'section':{'number':'五','title':'B'}}", .action = DK_MERGE_NONE,
   .conflicts = {{"section.title", "open", "manual"}}},
  {"type change string to object is one value", "{" TASK ",'section':'四'}", "{" TASK ",'section':'五'}",
   "{" TASK ",'section':{'number':'四','title':'推进产业深度合作'}}", .conf = MANUAL,
   .merged = "{" TASK ",'section':'五'}", .action = DK_MERGE_NONE, .conflicts = {{"section", "open", "manual"}}},

  /* ---- keyed arrays ---- */
  {"units: an element added on each side", "{" TASK ",'units':[" UA "]}", "{" TASK ",'units':[" UA "," UC "]}",
   "{" TASK ",'units':[" UA "," UD "]}", .merged = "{" TASK ",'units':[" UA "," UC "," UD "]}",
   .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"units: role changed by the source, element added on main", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA "," UB "," UC "]}", "{" TASK ",'units':[" UA_SHARED "," UB "]}",
   .merged = "{" TASK ",'units':[" UA_SHARED "," UB "," UC "]}", .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"units: element removed by the source", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA "," UB "," UC "]}", "{" TASK ",'units':[" UA "]}",
   .merged = "{" TASK ",'units':[" UA "," UC "]}", .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"units: removed by the source, changed on main", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA "," UB_LEAD "]}", "{" TASK ",'units':[" UA "]}", .conf = MANUAL,
   .merged = "{" TASK ",'units':[" UA "," UB_LEAD "]}", .action = DK_MERGE_NONE,
   .conflicts = {{"units[临沂市教育局]", "open", "manual"}}},
  {"units: removed on main, changed by the source", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA "," UC "]}", "{" TASK ",'units':[" UA "," UB_LEAD "]}", .conf = MANUAL,
   .merged = "{" TASK ",'units':[" UA "," UC "]}", .action = DK_MERGE_NONE,
   .conflicts = {{"units[临沂市教育局]", "open", "manual"}}},
  {"units: same element, different fields", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA_SHARED "," UB "]}", "{" TASK ",'units':[" UA_PROVINCE "," UB "]}",
   .merged = "{" TASK ",'units':[{'name':'济南市教育局','city':'province','role':'shared'}," UB "]}",
   .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"units: same element, same field", "{" TASK ",'units':[" UA "," UB "]}",
   "{" TASK ",'units':[" UA_SHARED "," UB "]}", "{" TASK ",'units':[" UA_SUPPORT "," UB "]}", .conf = MANUAL,
   .merged = "{" TASK ",'units':[" UA_SHARED "," UB "]}", .action = DK_MERGE_NONE,
   .conflicts = {{"units[济南市教育局].role", "open", "manual"}}},
  {"units: the same unit added differently on both sides", "{" TASK ",'units':[" UA "]}",
   "{" TASK ",'units':[" UA "," UC "]}", "{" TASK ",'units':[" UA "," UC_LEAD "]}", .conf = MANUAL,
   .merged = "{" TASK ",'units':[" UA "," UC "]}", .action = DK_MERGE_NONE,
   .conflicts = {{"units[济南市工业和信息化局].role", "open", "manual"}}},
  {"units: main's order kept", "{" TASK ",'units':[" UA "," UB "]}", "{" TASK ",'units':[" UB "," UA "]}",
   "{" TASK ",'units':[" UA_SHARED "," UB "]}", .merged = "{" TASK ",'units':[" UB "," UA_SHARED "]}",
   .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"milestones: different milestones done on each side",
   "{" PROG ",'milestones':[{'id':'m1','done':false},{'id':'m2','done':false}]}",
   "{" PROG ",'milestones':[{'id':'m1','done':true},{'id':'m2','done':false}]}",
   "{" PROG ",'milestones':[{'id':'m1','done':false},{'id':'m2','done':true}]}",
   .merged = "{" PROG ",'milestones':[{'id':'m1','done':true},{'id':'m2','done':true}]}",
   .action = DK_MERGE_CHANGE, .nchanges = 1},
  {"milestones: same milestone, conflicting date", "{" PROG ",'milestones':[{'id':'m1','done':false}]}",
   "{" PROG ",'milestones':[{'id':'m1','done':true,'date':'2024-05-20'}]}",
   "{" PROG ",'milestones':[{'id':'m1','done':true,'date':'2024-05-21'}]}",
   .merged = "{" PROG ",'milestones':[{'id':'m1','done':true,'date':'2024-05-20'}]}", .action = DK_MERGE_NONE,
   .conflicts = {{"milestones[m1].date", "main", "latest"}}},
  {"milestones without ids are one value", "{" PROG ",'milestones':[{'title':'a'}]}",
   "{" PROG ",'milestones':[{'title':'b'}]}", "{" PROG ",'milestones':[{'title':'c'}]}", .conf = MANUAL,
   .merged = "{" PROG ",'milestones':[{'title':'b'}]}", .action = DK_MERGE_NONE,
   .conflicts = {{"milestones", "open", "manual"}}},
  {"non-keyed array is one value", "{" PLAN ",'issuers':['济南市人民政府办公厅']}",
   "{" PLAN ",'issuers':['济南市人民政府办公厅','临沂市人民政府办公室']}",
   "{" PLAN ",'issuers':['济南市人民政府办公厅','山东省人民政府办公厅']}", .conf = MANUAL,
   .merged = "{" PLAN ",'issuers':['济南市人民政府办公厅','临沂市人民政府办公室']}", .action = DK_MERGE_NONE,
   .conflicts = {{"issuers", "open", "manual"}}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static json_t *load(const char *text) {
  if (text == NULL) return NULL;
  char *s = strdup(text);
  for (char *p = s; *p; p++)
    if (*p == '\'') *p = '"';
  json_error_t e;
  json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
  if (v == NULL) fail_msg("bad JSON in the test (%s): %s", e.text, s);
  free(s);
  return v;
}

static const char *show(const json_t *v, char *buf, size_t n) {
  char *s = v ? json_dumps(v, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
  snprintf(buf, n, "%s", s ? s : "(absent)");
  free(s);
  return buf;
}

static struct dk_reconcile *reconcile(const char *conf) {
  char err[DK_ERRBUF_SIZE] = "";
  json_t *c = load(conf);
  struct dk_reconcile *rc;
  int ret = dk_reconcile_new(c, &rc, err);
  json_decref(c);
  if (ret != 0) fail_msg("reconcile %s: %s", conf, err);
  return rc;
}

/* Run a merge on the JSON texts; the caller frees out and the inputs. */
struct run {
  struct dk_reconcile *rc;
  json_t *base, *ours, *theirs, *others[3];
  struct dk_merge_other other[3];
  struct dk_merge_in in;
  struct dk_merge_out out;
};

static void run_case(const struct mcase *c, struct run *r) {
  memset(r, 0, sizeof *r);
  r->rc = reconcile(c->conf);
  r->base = load(c->base);
  r->ours = load(c->ours);
  r->theirs = load(c->theirs);
  size_t n = 0;
  for (; n < 3 && c->others[n].source != NULL; n++) {
    r->others[n] = load(c->others[n].record);
    r->other[n] = (struct dk_merge_other){c->others[n].source, NULL, r->others[n]};
  }
  r->in = (struct dk_merge_in){
    .rc = r->rc, .source = c->source ? c->source : "linyi-progress", .city = c->source ? c->city : "linyi",
    .base = r->base, .ours = r->ours, .theirs = r->theirs, .tombstone = c->tombstone,
    .others = r->other, .nothers = n};
  char err[DK_ERRBUF_SIZE] = "";
  int ret = dk_merge(&r->in, &r->out, err);
  if (ret != 0) fail_msg("%s: dk_merge failed: %s", c->name, err);
}

static void run_free(struct run *r) {
  dk_merge_out_free(&r->out);
  json_decref(r->base);
  json_decref(r->ours);
  json_decref(r->theirs);
  for (int i = 0; i < 3; i++) json_decref(r->others[i]);
  dk_reconcile_free(r->rc);
}

static const char *action_name(enum dk_merge_action a) {
  static const char *names[] = {"none", "add", "change", "delete"};
  return names[a];
}

static void test_case(void **state) {
  const struct mcase *c = *state;
  struct run r;
  char a[2048], b[2048];
  run_case(c, &r);
  json_t *want = load(c->merged);
  int same = want == NULL ? r.out.merged == NULL : r.out.merged != NULL && json_equal(want, r.out.merged);
  if (!same) fail_msg("merged: want %s, got %s", show(want, a, sizeof a), show(r.out.merged, b, sizeof b));
  json_decref(want);
  if (r.out.action != c->action)
    fail_msg("action: want %s, got %s", action_name(c->action), action_name(r.out.action));

  /* the whole outcome in the message when the counts differ */
  size_t nwant = 0, open = 0;
  while (nwant < 5 && c->conflicts[nwant].field != NULL) nwant++;
  if (r.out.nconflicts != nwant || r.out.nchanges != c->nchanges) {
    for (size_t i = 0; i < r.out.nconflicts; i++)
      print_message("  conflict %s: winner %s (%s)\n", r.out.conflicts[i].field, r.out.conflicts[i].winner,
                    dk_policy_name(r.out.conflicts[i].policy));
    for (size_t i = 0; i < r.out.nchanges; i++)
      print_message("  change %s: %s -> %s\n", r.out.changes[i].field, show(r.out.changes[i].from, a, sizeof a),
                    show(r.out.changes[i].to, b, sizeof b));
  }
  assert_int_equal(r.out.nconflicts, nwant);
  for (size_t i = 0; i < nwant; i++) {
    const struct want_conflict *w = &c->conflicts[i];
    assert_string_equal(r.out.conflicts[i].field, w->field);
    assert_string_equal(r.out.conflicts[i].winner, w->winner);
    if (w->policy != NULL) assert_string_equal(dk_policy_name(r.out.conflicts[i].policy), w->policy);
    open += strcmp(w->winner, "open") == 0;
  }
  assert_int_equal(r.out.open, open);
  assert_int_equal(r.out.nchanges, c->nchanges);
  run_free(&r);
}

static void want_change(const struct dk_merge_change *ch, const char *field, const char *from, const char *to) {
  char a[1024], b[1024];
  assert_string_equal(ch->field, field);
  json_t *f = load(from), *t = load(to);
  if (!(f ? ch->from && json_equal(f, ch->from) : ch->from == NULL))
    fail_msg("%s: from: want %s, got %s", field, show(f, a, sizeof a), show(ch->from, b, sizeof b));
  if (!(t ? ch->to && json_equal(t, ch->to) : ch->to == NULL))
    fail_msg("%s: to: want %s, got %s", field, show(t, a, sizeof a), show(ch->to, b, sizeof b));
  json_decref(f);
  json_decref(t);
}

/* The changes of one merge, in field order, each with its values. */
static void test_changes_list(void **state) {
  const struct mcase c = {
    "changes", "{" TASK ",'title':'A','section':{'number':'四','title':'S'},'units':[" UA "," UB "]}",
    "{" TASK ",'title':'A','section':{'number':'五','title':'S'},'units':[" UA "," UB "," UC "]}",
    "{" TASK ",'title':'T','section':{'number':'四','title':'S2'},'units':[" UA_SHARED "],'text':'全文'}",
    .tombstone = 0};
  struct run r;
  run_case(&c, &r);
  assert_int_equal(r.out.action, DK_MERGE_CHANGE);
  assert_int_equal(r.out.nconflicts, 0);
  assert_int_equal(r.out.nchanges, 5);
  want_change(&r.out.changes[0], "section.title", "'S'", "'S2'");
  want_change(&r.out.changes[1], "text", NULL, "'全文'");
  want_change(&r.out.changes[2], "title", "'A'", "'T'");
  want_change(&r.out.changes[3], "units[济南市教育局]", UA, UA_SHARED);
  want_change(&r.out.changes[4], "units[临沂市教育局]", UB, NULL);
  run_free(&r);

  const struct mcase add = {"add", NULL, NULL, "{" PROG ",'status':'in_progress'}", .tombstone = 0};
  run_case(&add, &r);
  assert_int_equal(r.out.nchanges, 1);
  want_change(&r.out.changes[0], "", NULL, "{" PROG ",'status':'in_progress'}");
  run_free(&r);

  const struct mcase del = {"delete", "{" PROG ",'status':'in_progress'}", "{" PROG ",'status':'in_progress'}", NULL,
                            .tombstone = 1};
  run_case(&del, &r);
  assert_int_equal(r.out.nchanges, 1);
  want_change(&r.out.changes[0], "", "{" PROG ",'status':'in_progress'}", NULL);
  run_free(&r);
}

/* A conflict carries copies of the three values, NULL for absent. */
static void test_conflict_values(void **state) {
  const struct mcase c = {"values", "{" PROG ",'status':'in_progress'}",
                          "{" PROG ",'status':'in_progress','summary':'a'}",
                          "{" PROG ",'status':'in_progress','summary':'b'}", .conf = MANUAL};
  struct run r;
  run_case(&c, &r);
  assert_int_equal(r.out.nconflicts, 1);
  const struct dk_merge_conflict *cf = &r.out.conflicts[0];
  assert_string_equal(cf->field, "summary");
  assert_null(cf->base);
  assert_string_equal(json_string_value(cf->ours), "a");
  assert_string_equal(json_string_value(cf->theirs), "b");
  assert_ptr_not_equal(cf->ours, json_object_get(r.ours, "summary"));
  assert_int_equal(cf->policy, DK_POLICY_MANUAL);
  assert_int_equal(r.out.open, 1);
  /* the result is the caller's own, not a reference to ours */
  assert_ptr_not_equal(r.out.merged, r.ours);
  run_free(&r);

  const struct mcase rec = {"record", "{" PROG ",'status':'in_progress'}", NULL, "{" PROG ",'status':'completed'}",
                            .conf = MANUAL};
  run_case(&rec, &r);
  assert_int_equal(r.out.nconflicts, 1);
  cf = &r.out.conflicts[0];
  assert_string_equal(cf->field, "");
  assert_true(json_equal(cf->base, r.base));
  assert_null(cf->ours);
  assert_true(json_equal(cf->theirs, r.theirs));
  run_free(&r);
}

static void test_bad_input(void **state) {
  char err[DK_ERRBUF_SIZE];
  struct dk_merge_out out;
  json_t *task = load("{" TASK ",'title':'A'}"), *other = load("{'kind':'task','id':'jnly-2024/13','title':'A'}");
  json_t *nokind = load("{'id':'jnly-2024/12'}"), *arr = load("[1]");

  struct dk_merge_in in = {.source = "jinan-tasks", .city = "jinan", .theirs = NULL};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  assert_string_equal(err, "theirs is NULL without a tombstone");
  in = (struct dk_merge_in){.source = "jinan-tasks", .theirs = task, .tombstone = 1};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  in = (struct dk_merge_in){.source = "jinan-tasks", .theirs = task, .ours = other};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  assert_string_equal(err, "ours is task jnly-2024/13, another version is task jnly-2024/12");
  in = (struct dk_merge_in){.source = "jinan-tasks", .theirs = nokind};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  in = (struct dk_merge_in){.source = "jinan-tasks", .theirs = task, .base = arr};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  assert_string_equal(err, "base: a record must be an object");
  in = (struct dk_merge_in){.theirs = task};
  assert_int_equal(dk_merge(&in, &out, err), DK_EINVAL);
  assert_null(out.merged);
  dk_merge_out_free(&out);

  /* without a reconcile configuration: latest */
  in = (struct dk_merge_in){.source = "jinan-tasks", .theirs = task};
  assert_int_equal(dk_merge(&in, &out, err), 0);
  assert_int_equal(out.action, DK_MERGE_ADD);
  dk_merge_out_free(&out);
  dk_merge_out_free(&out);

  json_decref(task);
  json_decref(other);
  json_decref(nokind);
  json_decref(arr);
}

static void want_config_error(const char *conf, const char *message) {
  char err[DK_ERRBUF_SIZE] = "";
  json_t *c = load(conf);
  struct dk_reconcile *rc = (struct dk_reconcile *)1;
  assert_int_equal(dk_reconcile_new(c, &rc, err), DK_ECONFIG);
  assert_null(rc);
  assert_string_equal(err, message);
  json_decref(c);
}

static void test_reconcile_errors(void **state) {
  want_config_error("{'default':'newest'}",
                    "reconcile.default: \"newest\" is not a policy (owner, latest, priority, manual)");
  want_config_error("{'priority':['jinan-tasks','linyi-progress','jinan-tasks']}",
                    "reconcile.priority: \"jinan-tasks\" is listed twice");
  want_config_error("{'priority':['jinan-tasks',3]}", "reconcile.priority[1]: expected a source name");
  want_config_error("{'priority':'jinan-tasks'}", "reconcile.priority: expected a list of source names");
  want_config_error("{'kinds':{'tasks':'owner'}}",
                    "reconcile.kinds: \"tasks\" is not a kind (plan, task, progress, unit)");
  want_config_error("{'kinds':{'task':'first'}}",
                    "reconcile.kinds.task: \"first\" is not a policy (owner, latest, priority, manual)");
  want_config_error("{'fields':{'title':'owner'}}",
                    "reconcile.fields: \"title\" is not kind.field (a kind among plan, task, progress, unit, "
                    "then a field, e.g. task.title)");
  want_config_error("{'fields':{'task.Title':'owner'}}",
                    "reconcile.fields: \"task.Title\" is not kind.field (a kind among plan, task, progress, unit, "
                    "then a field, e.g. task.title)");
  want_config_error("{'fields':{'task.title':1}}",
                    "reconcile.fields.task.title: expected a policy (owner, latest, priority, manual)");
  want_config_error("{'policy':'owner'}",
                    "reconcile: unknown key \"policy\" (expected default, kinds, fields or priority)");
  want_config_error("['owner']", "reconcile: expected a mapping");
}

static void test_reconcile_lookup(void **state) {
  struct dk_reconcile *rc = reconcile(LAYERED);
  assert_int_equal(dk_reconcile_policy(rc, "task", "title"), DK_POLICY_PRIORITY);
  assert_int_equal(dk_reconcile_policy(rc, "task", "status"), DK_POLICY_LATEST);
  assert_int_equal(dk_reconcile_policy(rc, "task", NULL), DK_POLICY_LATEST);
  assert_int_equal(dk_reconcile_policy(rc, "plan", "title"), DK_POLICY_MANUAL);
  assert_int_equal(dk_reconcile_policy(rc, "progress", ""), DK_POLICY_MANUAL);
  assert_int_equal(dk_reconcile_rank(rc, "jinan-tasks"), 0);
  assert_int_equal(dk_reconcile_rank(rc, "linyi-progress"), 1);
  assert_int_equal(dk_reconcile_rank(rc, "city-portal"), -1);
  dk_reconcile_free(rc);

  rc = reconcile(NULL);
  assert_int_equal(dk_reconcile_policy(rc, "task", "title"), DK_POLICY_LATEST);
  assert_int_equal(dk_reconcile_policy(rc, "unit", NULL), DK_POLICY_LATEST);
  assert_int_equal(dk_reconcile_rank(rc, "jinan-tasks"), -1);
  dk_reconcile_free(rc);
  assert_int_equal(dk_reconcile_policy(NULL, "task", "title"), DK_POLICY_LATEST);

  rc = reconcile("{'default':'owner','fields':{'progress.percent':'manual'}}");
  assert_int_equal(dk_reconcile_policy(rc, "progress", "percent"), DK_POLICY_MANUAL);
  assert_int_equal(dk_reconcile_policy(rc, "task", "percent"), DK_POLICY_OWNER);
  dk_reconcile_free(rc);
}

static void test_policy_names(void **state) {
  const char *names[] = {"owner", "latest", "priority", "manual"};
  for (int i = 0; i < 4; i++) {
    enum dk_policy p;
    assert_int_equal(dk_policy_parse(names[i], &p), 0);
    assert_string_equal(dk_policy_name(p), names[i]);
  }
  enum dk_policy p = DK_POLICY_OWNER;
  assert_int_equal(dk_policy_parse("Owner", &p), DK_EINVAL);
  assert_int_equal(dk_policy_parse(NULL, &p), DK_EINVAL);
  assert_string_equal(dk_policy_name((enum dk_policy)42), "unknown");
}

int main(void) {
  static struct CMUnitTest tests[NCASES + 6];
  size_t n = 0;
  for (size_t i = 0; i < NCASES; i++)
    tests[n++] = (struct CMUnitTest){cases[i].name, test_case, NULL, NULL, (void *)&cases[i]};
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_changes_list);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_conflict_values);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bad_input);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_reconcile_errors);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_reconcile_lookup);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_policy_names);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
