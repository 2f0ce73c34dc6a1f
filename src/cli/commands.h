/* commands.h - subcommands of build/pagoda. Each returns a process exit code
 * (0 ok, 1 runtime error, 2 usage error); only main() calls exit(). Each
 * command's usage table (usage.h) lives beside its parser. */
#ifndef PG_CLI_COMMANDS_H
#define PG_CLI_COMMANDS_H

#include "cli/usage.h"

int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_chat_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_schema_test(int argc, char **argv);
int cmd_parse_output(int argc, char **argv);

extern const pg_cli_cmd pg_cli_run, pg_cli_logits, pg_cli_info, pg_cli_tokenize, pg_cli_chat_tpl, pg_cli_serve,
    pg_cli_quantize, pg_cli_bench_throughput, pg_cli_bench_serve, pg_cli_bench_tokenize, pg_cli_bench_kernels,
    pg_cli_schema_test, pg_cli_parse_output;
extern const pg_cli_cmd pg_cli_embed, pg_cli_rerank, pg_cli_bench_embed;
extern const pg_cli_cmd pg_cli_bench_attn;

#endif
