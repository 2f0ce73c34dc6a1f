#!/bin/sh
# tools.test.sh - tool calling (issue 22) end to end:
#  - `pagoda parse-output` over the real templates of ../shared/templates
#    (format detected from the template text) and by --format name;
#  - the OpenAI Node SDK against `pagoda serve` with stories260K under the
#    Qwen 2.5 template (tests/node/tools.test.mjs): forced calls validated
#    with python3-jsonschema, none/auto, tool results, 400s, an agent loop.
# Skips (77) without node, the SDK, python3-jsonschema or the test data.
. "$(dirname "$0")/server_lib.sh"
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
TPL="$DATA/templates"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# parse-output: template -> format -> parse
po() { # po TEMPLATE_OR_--format... TEXT EXPECTED_JSON
    printf '%s' "$2" >"$TMP/out.txt"
    case "$1" in --format=*) got=$("$BIN" parse-output --format "${1#--format=}" --text-file "$TMP/out.txt") ;;
    *) got=$("$BIN" parse-output --template "$TPL/$1" --text-file "$TMP/out.txt") ;; esac
    [ "$got" = "$3" ] || bad "parse-output $1: got $got want $3"
}
po Qwen-Qwen2.5-7B-Instruct.jinja 'Sure.
<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris"}}
</tool_call>' '{"content":"Sure.","reasoning_content":null,"tool_calls":[{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}]}'
po NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja 'plain' '{"content":"plain","reasoning_content":null,"tool_calls":[]}'
po meta-llama-Llama-3.1-8B-Instruct.jinja '{"name": "f", "parameters": {"x": 1}}' '{"content":"","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{\"x\":1}"}]}'
po mistralai-Mistral-Nemo-Instruct-2407.jinja '[TOOL_CALLS][{"name": "f", "arguments": {}}]' '{"content":"","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{}"}]}'
po meetkai-functionary-medium-v3.1.jinja '<function=f>{"a": [1]}</function>' '{"content":"","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{\"a\":[1]}"}]}'
po fireworks-ai-llama-3-firefunction-v2.jinja 'ok functools[{"name": "f", "arguments": {"q": "x"}}]' '{"content":"ok","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{\"q\":\"x\"}"}]}'
po deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja 'Hmm.</think>

Four.' '{"content":"Four.","reasoning_content":"Hmm.","tool_calls":[]}'
po google-gemma-2-2b-it.jinja '{"tool_calls": [{"name": "f", "arguments": {"b": true}}]}' '{"content":"","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{\"b\":true}"}]}'
po --format=command-r7b '<|START_THINKING|>t<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "f", "parameters": {}}]<|END_ACTION|>' '{"content":"","reasoning_content":"t","tool_calls":[{"name":"f","arguments":"{}"}]}'
po --format=functionary-v3.2 'all
Hi>>>f
{"k": 2}' '{"content":"Hi","reasoning_content":null,"tool_calls":[{"name":"f","arguments":"{\"k\":2}"}]}'
po Qwen-Qwen2.5-7B-Instruct.jinja '<tool_call>{"name": "f", "arguments": {oops}}</tool_call>' '{"content":"<tool_call>{\"name\": \"f\", \"arguments\": {oops}}</tool_call>","reasoning_content":null,"tool_calls":[]}'
"$BIN" parse-output --format nope --text-file "$TMP/out.txt" 2>/dev/null; [ $? -eq 2 ] || bad "unknown --format: exit 2"
"$BIN" parse-output --text-file "$TMP/out.txt" 2>/dev/null; [ $? -eq 2 ] || bad "no format source: exit 2"
"$BIN" parse-output --format hermes --text-file "$TMP/missing.txt" 2>/dev/null; [ $? -eq 1 ] || bad "missing text file: exit 1"

start_server "$TMP/tools.log" -m "$MODEL" --model-alias stories260K --chat-template "$TPL/Qwen-Qwen2.5-7B-Instruct.jinja" \
    --threads 2 || exit 1
grep -q 'tool calls: hermes format' "$TMP/tools.log" || bad "the server did not detect the Hermes format"
PAGODA_URL=$URL PAGODA_MODEL=stories260K node --test --test-concurrency=1 tests/node/tools.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 30 "$TMP/tools.log"; fi
[ $fail -eq 0 ] && echo "tool tests passed"
exit $fail
