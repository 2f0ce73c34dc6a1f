/* log.h - leveled logging to stderr, as text or one JSON object per line.
 * Thread-safe (one fprintf per line under a mutex). Never log secrets. */
#ifndef PG_BASE_LOG_H
#define PG_BASE_LOG_H

enum { PG_LOG_DEBUG = 0, PG_LOG_INFO = 1, PG_LOG_WARN = 2, PG_LOG_ERROR = 3, PG_LOG_OFF = 4 };
enum { PG_LOG_TEXT = 0, PG_LOG_JSON = 1 };

void pg_log_set_level(int level);
int pg_log_get_level(void);
void pg_log_set_format(int format);
int pg_log_get_format(void);
/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int pg_log_level_parse(const char *s);

void pg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Emit a pre-built JSON object body (without braces' surrounding metadata):
 * in JSON mode prints {"ts":..,"level":..,<fields>}; in text mode prints
 * "<ts> LEVEL <fields>". fields must be valid JSON object members. */
void pg_log_json_fields(int level, const char *fields);

#define PG_DEBUG(...) pg_log(PG_LOG_DEBUG, __VA_ARGS__)
#define PG_INFO(...) pg_log(PG_LOG_INFO, __VA_ARGS__)
#define PG_WARN(...) pg_log(PG_LOG_WARN, __VA_ARGS__)
#define PG_ERROR(...) pg_log(PG_LOG_ERROR, __VA_ARGS__)

#endif
