/* toolcall.h - a model's tool calls and reasoning in its generated text.
 *
 * Text level only (no tokens, no HTTP): the OpenAI adapter and `pagoda
 * parse-output` use it. Three parts:
 *   detect   the model's call format from its chat template text (markers
 *            the template writes for assistant tool calls);
 *   parse    one whole output -> content, reasoning_content, tool calls
 *            (name + arguments as compact JSON text);
 *   stream   the same parse fed piece by piece, giving events (content
 *            delta, reasoning delta, call start with index and name, call
 *            arguments). Reassembling the events of ANY split of a text
 *            gives exactly the one-shot parse of that text: a piece that
 *            might still turn out to be a marker, or a call that is not
 *            complete yet, is held back until it is decided. A call is
 *            announced only once it is complete and valid (its arguments
 *            then follow in one piece), so a call that turns out malformed
 *            never has to be taken back.
 *
 * Formats (see pg_tc_detect for how each is recognised):
 *   HERMES      <tool_call>{"name":..,"arguments":{..}}</tool_call> (several);
 *               Hermes 2/3, Qwen 2.5/3 (Qwen 3 adds <think>)
 *   LLAMA3      the whole answer is {"name":..,"parameters":{..}} (several
 *               separated by ';'), or <|python_tag|> then such JSON, a
 *               built-in `tool.call(k="v")` or code (-> python {"code"})
 *   MISTRAL     [TOOL_CALLS][{"name":..,"arguments":{..}},..]
 *   FUNCTIONARY31  <function=NAME>{..}</function> (several); <|python_tag|>code
 *   FUNCTIONARY32  >>>NAME\n{..} segments; NAME "all" is text (the first
 *               segment may lack ">>>": the prompt ends with it)
 *   FIREFUNCTION2  text then " functools[{"name":..,"arguments":{..}},..]"
 *   COMMAND_R7B <|START_THINKING|>..<|END_THINKING|> reasoning,
 *               <|START_ACTION|>[{"tool_name":..,"parameters":{..}},..]<|END_ACTION|>,
 *               <|START_RESPONSE|>text<|END_RESPONSE|>
 *   DEEPSEEK_R1 <think>..</think> reasoning (the prompt opens it), then
 *               <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
 *               \n```json\n{..}\n```<｜tool▁call▁end｜>..<｜tool▁calls▁end｜>
 *   GENERIC     the whole answer is {"tool_calls":[{"name","arguments"},..]}
 *               or {"response":"text"} (what the grammar asks for)
 *
 * Malformed calls (bad JSON, no name, arguments not an object, a marker
 * never closed with more text after it) are left in content verbatim.
 * Content that ends in calls loses its trailing white space; content after
 * a reasoning block loses its leading white space.
 *
 * Ownership: results and streams own their strings (malloc); events point
 * into the stream and stay valid until the next feed. */
#ifndef PG_SERVER_TOOLCALL_H
#define PG_SERVER_TOOLCALL_H

#include <stddef.h>
#include <stdint.h>

typedef enum pg_tc_format {
    PG_TC_GENERIC = 0,
    PG_TC_HERMES,
    PG_TC_LLAMA3,
    PG_TC_MISTRAL,
    PG_TC_FUNCTIONARY31,
    PG_TC_FUNCTIONARY32,
    PG_TC_FIREFUNCTION2,
    PG_TC_COMMAND_R7B,
    PG_TC_DEEPSEEK_R1,
    PG_TC_NONE,         /* no call syntax: only reasoning is parsed (tool_choice "none") */
    PG_TC_N_FORMATS
} pg_tc_format;

/* How reasoning is marked. */
enum {
    PG_TC_THINK_NONE = 0,
    PG_TC_THINK_OPTIONAL, /* open marker at the start of the answer opens it */
    PG_TC_THINK_FORCED    /* the prompt opened it: the answer starts inside */
};

typedef struct pg_tc_style {
    pg_tc_format format;
    int think;               /* PG_TC_THINK_* */
    const char *think_open;  /* static strings, NULL when think is NONE */
    const char *think_close;
} pg_tc_style;

/* The style of a chat template's text (NULL or no markers: GENERIC, no
 * reasoning). Never fails. */
void pg_tc_detect(const char *tpl, size_t len, pg_tc_style *out);
/* A style by format (reasoning as that format's models use it). */
void pg_tc_style_of(pg_tc_format f, pg_tc_style *out);
const char *pg_tc_format_name(pg_tc_format f); /* "hermes", "llama3", ... */
int pg_tc_format_from_name(const char *name);  /* -1 if unknown */

/* Flags of a parse. */
#define PG_TC_REASONING_INLINE 1u /* reasoning_format "none": thinking stays in content */

typedef struct pg_tc_call {
    char *name;
    char *arguments; /* compact JSON object text */
} pg_tc_call;

typedef struct pg_tc_result {
    char *content;   /* NUL-terminated, never NULL after a successful parse */
    size_t content_len;
    char *reasoning; /* NUL-terminated, never NULL ("" when none) */
    size_t reasoning_len;
    int has_reasoning; /* a reasoning block was present */
    pg_tc_call *calls;
    size_t n_calls;
} pg_tc_result;

/* 0, or PG_ENOMEM (out then holds nothing to free). */
int pg_tc_parse(const pg_tc_style *st, const char *text, size_t len, unsigned flags, pg_tc_result *out);
void pg_tc_result_free(pg_tc_result *r);

/* ---- incremental ---- */
typedef enum pg_tc_ev_kind {
    PG_TC_EV_CONTENT = 1,
    PG_TC_EV_REASONING,
    PG_TC_EV_CALL_START, /* index, name */
    PG_TC_EV_CALL_ARGS   /* index, text: a piece of the arguments */
} pg_tc_ev_kind;

typedef struct pg_tc_event {
    pg_tc_ev_kind kind;
    int32_t index;     /* calls: 0, 1, ... in order */
    const char *text;  /* content / reasoning / arguments piece, or the name */
    size_t len;
} pg_tc_event;

typedef struct pg_tc_stream pg_tc_stream;
pg_tc_stream *pg_tc_stream_create(const pg_tc_style *st, unsigned flags); /* NULL: out of memory */
void pg_tc_stream_destroy(pg_tc_stream *s);
/* Feeds text[0..n); last = 1 at the end of the output (n may be 0). Sets
 * *ev / *n_ev to the new events (valid until the next call). 0 or
 * PG_ENOMEM. Feeding after last is an error (PG_EINVAL). */
int pg_tc_stream_feed(pg_tc_stream *s, const char *text, size_t n, int last, const pg_tc_event **ev, size_t *n_ev);
/* Calls announced so far. */
size_t pg_tc_stream_n_calls(const pg_tc_stream *s);

/* ---- grammars for constrained calls (toolcall_gbnf.c) ----
 * GBNF text (grammar.h syntax, start rule root) for calls written in the
 * format's own syntax, the arguments constrained by each tool's parameters
 * schema (jsonschema.h, compact JSON). required = 1 (tool_choice required,
 * or a named function: pass only that tool): the whole answer is calls
 * (formats whose reasoning the prompt opens may think first). required =
 * 0 (auto): a lazy grammar with triggers (the call's start markers): the
 * answer is free until a trigger appears, then the text from the trigger
 * on must be calls; GENERIC (no markers) instead constrains the whole
 * answer to {"tool_calls":[...]} or {"response":"..."}. parallel = 0: one
 * call. PG_TC_NONE: no grammar (gbnf NULL). */
#define PG_TC_MAX_TRIGGERS 16

typedef struct pg_tc_tool {
    const char *name;   /* [A-Za-z0-9_-]+ */
    const char *schema; /* JSON Schema text of its arguments */
} pg_tc_tool;

typedef struct pg_tc_grammar {
    char *gbnf;                             /* malloc'd, NULL: no grammar */
    char *triggers[PG_TC_MAX_TRIGGERS];     /* malloc'd; n_triggers > 0: lazy */
    int n_triggers;
} pg_tc_grammar;

/* 0, or a negative code with err naming the tool whose schema failed. */
int pg_tc_grammar_build(const pg_tc_style *st, const pg_tc_tool *tools, size_t n, int required, int parallel,
                        pg_tc_grammar *out, char *err, size_t errlen);
void pg_tc_grammar_free(pg_tc_grammar *g);

#endif
