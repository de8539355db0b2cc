/* The demo's story: see story.h. Every date is a simulated day in 2024;
 * `duikou demo` syncs the month ends from April to December, so each event
 * below shows in one month's round and stays. */
#include "story.h"

#include <stddef.h>

/* Task 08 (畅通临沂农产品销售渠道) falls behind from 10 September: both
 * cities' systems say delayed and its progress stays at 30%. */
#define STORY_DELAYED 8
/* Task 05 (持续巩固易地扶贫搬迁成果): Jinan's register marks it completed on
 * 25 October; Linyi's ledger marked it delayed on 15 October and catches up
 * with Jinan in November. Both changed the status in October: a conflict the
 * `latest` policy settles (Jinan's report is the newer). */
#define STORY_SETTLED 5
/* Task 14 (加强成果转化协同合作, in progress until January 2025): in
 * November each city adds its own sentence to the text. No policy may choose
 * a task's text (`task.text: manual`): the conflict stays open for a person
 * (neither city reports the task changed again in 2024, so nothing reopens
 * or closes it). */
#define STORY_OPEN 14
/* Linyi's ledger, July only: task 08's status typed as the label 进行中
 * instead of the code in_progress, which the task schema refuses; August's
 * ledger has it right again. */
#define STORY_TYPO 8

int csim_story_task(enum csim_view view, long n, long day, struct csim_story *out)
{
  *out = (struct csim_story){NULL, -1, -1, NULL};
  if (n == STORY_DELAYED && day >= csim__days(2024, 9, 10)) {
    *out = (struct csim_story){"delayed", csim__days(2024, 9, 10), 30, NULL};
    return 1;
  }
  if (n == STORY_SETTLED && view == CSIM_VIEW_JINAN && day >= csim__days(2024, 10, 25)) {
    *out = (struct csim_story){"completed", csim__days(2024, 10, 25), -1, NULL};
    return 1;
  }
  if (n == STORY_SETTLED && view == CSIM_VIEW_LINYI && day >= csim__days(2024, 10, 15)) {
    if (day < csim__days(2024, 11, 1))
      *out = (struct csim_story){"delayed", csim__days(2024, 10, 15), -1, NULL};
    else
      *out = (struct csim_story){"completed", csim__days(2024, 10, 25), -1, NULL};
    return 1;
  }
  if (n == STORY_OPEN && view == CSIM_VIEW_JINAN && day >= csim__days(2024, 11, 20)) {
    out->text_add = "（济南11月补充：每季度联合举办一次科技成果对接会）";
    return 1;
  }
  if (n == STORY_OPEN && view == CSIM_VIEW_LINYI && day >= csim__days(2024, 11, 22)) {
    out->text_add = "（临沂11月补充：在临沂高新区共建中试基地）";
    return 1;
  }
  return 0;
}

int csim_story_ledger_has(long n)
{
  return n == STORY_DELAYED || n == STORY_SETTLED || n == STORY_OPEN;
}

const char *csim_story_ledger_status(long n, long day, const char *status)
{
  if (n == STORY_TYPO && day >= csim__days(2024, 7, 1) && day < csim__days(2024, 8, 1))
    return "进行中";
  return status;
}
