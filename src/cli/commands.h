/* commands.h - subcommands of build/pagoda. Each returns a process exit code
 * (0 ok, 1 runtime error, 2 usage error); only main() calls exit(). */
#ifndef PG_CLI_COMMANDS_H
#define PG_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_chat_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_schema_test(int argc, char **argv);

#endif
