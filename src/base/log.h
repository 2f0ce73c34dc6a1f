/* log.h - leveled logging to stderr, as text or one JSON object per line.
 * Thread-safe (one fprintf per line under a mutex). Never log secrets.
 *
 * Text format: "<ts> <level> " then either the message as written
 * (pg_log) or key=value pairs (pg_log_json_fields, pg_log_msg): string
 * values bare when they hold no space, '=', quote or backslash, otherwise
 * in double quotes with JSON escapes; numbers, booleans and null as they
 * are; nested objects and arrays as compact JSON. JSON format: one object
 * {"ts","level",...} per line. */
#ifndef PG_BASE_LOG_H
#define PG_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum { PG_LOG_DEBUG = 0, PG_LOG_INFO = 1, PG_LOG_WARN = 2, PG_LOG_ERROR = 3, PG_LOG_OFF = 4 };
enum { PG_LOG_TEXT = 0, PG_LOG_JSON = 1 };

void pg_log_set_level(int level);
int pg_log_get_level(void);
void pg_log_set_format(int format);
int pg_log_get_format(void);
/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int pg_log_level_parse(const char *s);

void pg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Emit a pre-built JSON object body (members without braces): in JSON mode
 * prints {"ts":..,"level":..,<fields>}; in text mode "<ts> LEVEL k=v k=v"
 * (see above). fields must be valid JSON object members; if they do not
 * parse, text mode prints them whole as fields="...". */
void pg_log_json_fields(int level, const char *fields);
/* A message from a component that is not pagoda's own code (e.g. the HTTP
 * library's error callback): {"ts","level","component","msg"} in JSON,
 * "<ts> LEVEL component=NAME msg="TEXT"" in text. Trailing newlines of text
 * are dropped; text may be any bytes (escaped). */
void pg_log_msg(int level, const char *component, const char *text);
void pg_log_vmsg(int level, const char *component, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* Text form of JSON members (for tests): writes "k=v k=v" into out (always
 * NUL-terminated); returns 0, or -1 if fields do not parse. */
int pg_log_fields_text(const char *fields, char *out, size_t n);

#define PG_DEBUG(...) pg_log(PG_LOG_DEBUG, __VA_ARGS__)
#define PG_INFO(...) pg_log(PG_LOG_INFO, __VA_ARGS__)
#define PG_WARN(...) pg_log(PG_LOG_WARN, __VA_ARGS__)
#define PG_ERROR(...) pg_log(PG_LOG_ERROR, __VA_ARGS__)

#endif
