/* endpoints.h - the small JSON endpoints that do not generate: GET
 * /v1/models, POST /tokenize, POST /detokenize (vLLM's extensions). Each
 * returns the HTTP status and a malloc'd JSON body in *out. */
#ifndef PG_SERVER_ENDPOINTS_H
#define PG_SERVER_ENDPOINTS_H

#include "server/adapter.h"

#include <stddef.h>

int srv_ep_models(const srv_ctx *c, const char *body, size_t len, char **out);
/* GET /v1/models/{id}: the model object, or 404 model_not_found for any
 * other id (id: the URL's last segment, already percent-decoded by MHD). */
int srv_ep_model(const srv_ctx *c, const char *id, char **out);
int srv_ep_tokenize(const srv_ctx *c, const char *body, size_t len, char **out);
int srv_ep_detokenize(const srv_ctx *c, const char *body, size_t len, char **out);

#endif
