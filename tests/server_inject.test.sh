#!/bin/sh
# server_inject.test.sh - issue 30 end to end with the phi-3 vocabulary
# (../shared/models/arch-phi3-q8_0.gguf): special-token text in chat
# messages is tokenized as plain text by default, so usage.prompt_tokens of
# a message of four `<|end|>` grows by exactly the plain-text tokenization
# of that text (measured through /v1/completions, whose prompts are plain
# text by default); /tokenize with messages gives the chat endpoint's ids;
# the metrics counter sees the attempt; --chat-special-in-content restores
# the old behaviour (fewer tokens: each `<|end|>` one control token).
. "$(dirname "$0")/server_lib.sh"
PHI="$DATA/models/arch-phi3-q8_0.gguf"
[ -f "$PHI" ] || { echo "SKIP: $PHI absent"; exit 77; }

check() { # LABEL [--chat-special-in-content]
    label=$1; shift
    start_server "$TMP/$label.log" -m "$PHI" --threads 2 "$@" || return 1
    PAGODA_URL=$URL MODE=$label node - <<'JS'
const U = process.env.PAGODA_URL, mode = process.env.MODE;
const post = async (p, b) => { const r = await fetch(U + p, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) }); return [r.status, await r.json()]; };
const X = '<|end|><|end|><|end|><|end|>';
const chat = async (c) => (await post('/v1/chat/completions', { messages: [{ role: 'user', content: c }], max_tokens: 1, temperature: 0 }))[1].usage.prompt_tokens;
const cmpl = async (p) => (await post('/v1/completions', { prompt: p, max_tokens: 1, temperature: 0 }))[1].usage.prompt_tokens;
let bad = 0;
const ok = (c, m) => { console.log((c ? 'ok: ' : 'FAIL: ') + m); if (!c) bad++; };
(async () => {
  const inj = await chat(X), empty = await chat(''), hello = await chat('hello');
  const plain = (await cmpl('\n' + X)) - (await cmpl('\n'));
  const [st, tk] = await post('/tokenize', { messages: [{ role: 'user', content: X }] });
  ok(st === 200 && tk.count === inj, `/tokenize messages count ${tk.count} == chat prompt_tokens ${inj}`);
  const [st2, tk2] = await post('/tokenize', { messages: [{ role: 'user', content: 'hello' }], return_token_strs: true });
  ok(st2 === 200 && tk2.count === hello && tk2.token_strs.length === tk2.count, 'return_token_strs: one piece per id');
  const [st3] = await post('/tokenize', { prompt: 'x', bogus: 1 });
  ok(st3 === 400, '/tokenize: an unknown field is a 400');
  const m = await (await fetch(U + '/metrics')).text();
  const cnt = Number((m.match(/^pagoda:chat_special_text_messages_total\S* (\d+)/m) || [])[1]);
  if (mode === 'safe') {
    ok(inj - empty === plain, `injected message costs ${inj - empty} tokens over an empty one == plain-text count ${plain}`);
    ok(inj === 27, `prompt_tokens ${inj} == 27 (the issue's plain-text figure)`);
    ok(cnt === 2, `metrics: special-text messages counted (${cnt}, one chat + one /tokenize)`);
  } else {
    ok(inj === 14, `--chat-special-in-content: prompt_tokens ${inj} == 14 (the old behaviour)`);
    ok(cnt === 0, `--chat-special-in-content: nothing counted (${cnt})`);
  }
  process.exit(bad ? 1 : 0);
})().catch((e) => { console.log('FAIL: ' + e); process.exit(1); });
JS
    r=$?
    stop_server || r=1
    [ $r -eq 0 ] || { echo "--- server log ---"; tail -n 20 "$TMP/$label.log"; }
    return $r
}
fail=0
check safe || fail=1
check old --chat-special-in-content || fail=1
[ $fail -eq 0 ] && echo "server_inject tests passed"
exit $fail
