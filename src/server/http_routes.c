/* http_routes.c - the routing table of the HTTP front (http.c).
 *
 * One row per path and method: a probe, /metrics, a simple JSON endpoint
 * (endpoints.h and the protocols' own), a protocol adapter (adapter.h) or
 * the embedding queue (embed_api.h). A new protocol is an adapter plus
 * rows here; the protocol column labels its request series (metrics.h).
 * The README's endpoint list is checked against this table by
 * tests/server_misc.test.sh. Rows are matched in order by http.c's
 * first_call (http_impl.h: exact path, or prefix + one id segment). */
#include "server/anthropic_format.h"
#include "server/endpoints.h"
#include "server/http_impl.h"
#include "server/ollama.h"
#include "server/openai_format.h"
#include "server/responses.h"

const route srv_routes[] = {
    {"/health", "GET", 0, RT_HEALTH, NULL, NULL, SRV_PROTO_OPENAI},
    {"/ready", "GET", 0, RT_READY, NULL, NULL, SRV_PROTO_OPENAI},
    {"/metrics", "GET", 0, RT_METRICS, NULL, NULL, SRV_PROTO_OPENAI},
    {"/v1/models", "GET", 0, RT_SIMPLE, srv_ep_models, NULL, SRV_PROTO_OPENAI},
    {"/v1/models/", "GET", 1, RT_MODEL, NULL, NULL, SRV_PROTO_OPENAI},
    {"/v1/completions", "POST", 0, RT_GENERATE, NULL, &srv_oai_completions, SRV_PROTO_OPENAI},
    {"/v1/chat/completions", "POST", 0, RT_GENERATE, NULL, &srv_oai_chat, SRV_PROTO_OPENAI},
    /* anthropic_*.h; count_tokens answers itself and borrows the adapter's error shape */
    {"/v1/messages", "POST", 0, RT_GENERATE, NULL, &srv_anth_messages, SRV_PROTO_ANTHROPIC},
    {"/v1/messages/count_tokens", "POST", 0, RT_SIMPLE, anth_count_tokens, &srv_anth_messages, SRV_PROTO_ANTHROPIC},
    {"/v1/responses", "POST", 0, RT_GENERATE, NULL, &srv_resp_adapter, SRV_PROTO_RESPONSES}, /* responses.h */
    {"/v1/responses/", "GET", 1, RT_RESPONSE, NULL, NULL, SRV_PROTO_RESPONSES}, /* stored (resp_store.h) */
    {"/v1/responses/", "DELETE", 1, RT_RESPONSE, NULL, NULL, SRV_PROTO_RESPONSES},
    {"/tokenize", "POST", 0, RT_SIMPLE, srv_ep_tokenize, NULL, SRV_PROTO_OPENAI},
    {"/detokenize", "POST", 0, RT_SIMPLE, srv_ep_detokenize, NULL, SRV_PROTO_OPENAI},
    {"/v1/stats", "GET", 0, RT_STATS, NULL, NULL, SRV_PROTO_OPENAI}, /* stats.h; the metrics key like /metrics */
    {"/v1/usage", "GET", 0, RT_USAGE, NULL, NULL, SRV_PROTO_OPENAI}, /* usage.h; the admin key (--admin-key) */
    {"/v1/embeddings", "POST", 0, RT_EMBED, NULL, NULL, SRV_PROTO_OPENAI}, /* embed_api.h */
    {"/embeddings", "POST", 0, RT_EMBED, NULL, NULL, SRV_PROTO_OPENAI},
    {"/v1/rerank", "POST", 0, RT_RERANK, NULL, NULL, SRV_PROTO_OPENAI},
    {"/rerank", "POST", 0, RT_RERANK, NULL, NULL, SRV_PROTO_OPENAI},
    {"/api/tags", "GET", 0, RT_SIMPLE, srv_oll_tags, &srv_oll_api, SRV_PROTO_OLLAMA}, /* ollama.h: Ollama's API */
    {"/api/ps", "GET", 0, RT_SIMPLE, srv_oll_ps, &srv_oll_api, SRV_PROTO_OLLAMA},
    {"/api/version", "GET", 0, RT_SIMPLE, srv_oll_version, &srv_oll_api, SRV_PROTO_OLLAMA},
    {"/api/show", "POST", 0, RT_SIMPLE, srv_oll_show, &srv_oll_api, SRV_PROTO_OLLAMA},
    {"/api/chat", "POST", 0, RT_GENERATE, NULL, &srv_oll_chat, SRV_PROTO_OLLAMA},
    {"/api/generate", "POST", 0, RT_GENERATE, NULL, &srv_oll_generate, SRV_PROTO_OLLAMA},
    {"/api/embed", "POST", 0, RT_EMBED, NULL, &srv_oll_embed, SRV_PROTO_OLLAMA},
    {"/api/embeddings", "POST", 0, RT_EMBED, NULL, &srv_oll_embeddings, SRV_PROTO_OLLAMA},
};
/* the embedded web UI (webui.h): /, /dashboard, /webui/...; no key */
const route srv_webui_route = {"/", "GET", 0, RT_WEBUI, NULL, NULL, SRV_PROTO_OPENAI};
const size_t srv_n_routes = sizeof srv_routes / sizeof srv_routes[0];
