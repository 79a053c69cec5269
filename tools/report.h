/* Audit reports for people and programs. The audit streams findings in
 * its own order; the text report spools each category to an unlinked
 * temporary file and prints one aligned section per category at the end,
 * then a totals table, so memory does not grow with the findings. The
 * JSON report (schema in docs/json.md, "fsdctl audit --json") streams
 * each finding as it comes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "reaper/audit.h"

struct report;

/* `categories` (a mask, 0 = all) selects the rows of the totals table.
 * The JSON header is written here. */
int report_new(FILE *out, bool json, const struct config *cfg, int64_t now_ns,
	       unsigned categories, struct report **ret);
void report_free(struct report *r); /* accepts NULL */

/* audit_sink callbacks: pass the struct report as ud. */
int report_finding(const struct audit_finding *f, void *ud);
void report_error(int error, const char *message, void *ud);

/* Prints the sections (text) or closes the document (JSON) with totals
 * and errors. `complete` is false when a part of the audit failed. */
int report_finish(struct report *r, const struct audit_totals *t, bool complete);

/* The totals as a one-line JSON object, for the catalog's run record. */
char *report_totals_json(const struct audit_totals *t);
