/* eval.h - tree-walking evaluator for parsed chat templates.
 *
 * pg_tpl_eval renders a parsed statement list with the given context
 * variables. It creates the render arena, deep-copies the variables into
 * it, walks the tree and copies the output into a malloc'd string before
 * destroying the arena. See rt.h for the error model. */
#ifndef PG_TEMPLATE_EVAL_H
#define PG_TEMPLATE_EVAL_H

#include "template/chat.h"
#include "template/parser.h"

/* o must not be NULL (chat.c resolves the defaults). */
int pg_tpl_eval(const pg_tpl_nodes *root, const pg_tpl_var *vars, size_t n_vars, time_t now,
                const pg_tpl_render_opts *o, char **out, size_t *out_len, pg_error *err);

#endif
