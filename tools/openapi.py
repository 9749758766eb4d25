import json
P = lambda ref: {"$ref": "#/components/schemas/" + ref}
def prob(*codes):
    return {"description": "Problem: " + ", ".join(codes), "content": {"application/problem+json": {"schema": P("Problem")}}}
def ok(desc, schema, status="200"):
    return {status: {"description": desc, "content": {"application/json": {"schema": schema}}}}
def body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}
admin_err = {"401": prob("UNAUTHORIZED"), "403": prob("FORBIDDEN")}
sec = [{"bearer": []}]
paths = {}
def op(path, method, opid, summary, responses, tags, request=None, security=None, params=None):
    o = {"operationId": opid, "summary": summary, "tags": tags, "responses": responses}
    if request: o["requestBody"] = request
    if security is not None: o["security"] = security
    if params: o["parameters"] = params
    paths.setdefault(path, {})[method] = o

op("/healthz", "get", "healthz", "Liveness: the process is up", ok("OK", {"type": "object"}), ["operations"], security=[])
op("/readyz", "get", "readyz", "Readiness: the database answers", {**ok("Ready", {"type": "object"}), "503": prob("STORE_UNAVAILABLE")}, ["operations"], security=[])
op("/metrics", "get", "metrics", "Prometheus metrics", {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}, ["operations"], security=[])
op("/v1/openapi.json", "get", "openapi", "This document", ok("OpenAPI 3.1", {"type": "object"}), ["operations"], security=[])
op("/v1/signing-keys", "get", "signingKeys", "The root key clients trust and every signing key (certified by the root)", {**ok("Keys", P("SigningKeys")), "429": prob("RATE_LIMITED")}, ["client"], security=[])

op("/v1/products/{id}", "get", "productInfo", "Public product information: what a client needs to hash its hardware", {**ok("Product", P("ProductInfo")), "404": prob("PRODUCT_NOT_FOUND"), "429": prob("RATE_LIMITED")}, ["client"], security=[], params=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])
client_errs = {"400": prob("INVALID_REQUEST", "HARDWARE_PROFILE_INVALID"), "429": prob("RATE_LIMITED"), "503": prob("STORE_UNAVAILABLE")}
op("/v1/activations", "post", "activate", "Activate this device with a product key, or (without key) find its digital license", {**ok("Already activated, or digital license found", P("ActivateResponse")), **ok("Activated", P("ActivateResponse"), "201"), "403": prob("KEY_BLOCKED"), "404": prob("NO_DIGITAL_LICENSE", "PRODUCT_NOT_FOUND"), "409": prob("KEY_IN_USE_ELSEWHERE", "ACTIVATION_LIMIT_REACHED"), "422": prob("KEY_INVALID", "KEY_TYPO", "SKU_MISMATCH"), **client_errs}, ["client"], body(P("ActivateRequest")), [], [{"name": "Echt-Nonce", "in": "header", "schema": {"type": "string"}, "description": "The request nonce again; error responses carry Echt-Signature over it"}])
op("/v1/activations/deactivate", "post", "deactivate", "Release this device's activation where the channel allows it (retail yes, OEM never)", {**ok("Deactivated", P("DeactivateResponse")), "404": prob("ACTIVATION_NOT_FOUND"), "409": prob("DEACTIVATION_NOT_ALLOWED", "HARDWARE_CHANGED"), "422": prob("LICENSE_TAMPERED"), **client_errs}, ["client"], body(P("DeactivateRequest")), [])
op("/v1/keys/check", "post", "checkKey", "Public check: is this key genuine, and is it unused? Reveals nothing about its owner; strictly rate limited", {**ok("Verdict", P("KeyCheckResponse")), "429": prob("RATE_LIMITED")}, ["client"], body({"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}), [])

op("/v1/validations", "post", "validate", "Online validation: a signed verdict (GENUINE, NOT_GENUINE, NOT_ACTIVATED) with reason, remedy and, when genuine, a short-lived genuine ticket", {**ok("Verdict", P("ValidateResponse")), **client_errs}, ["client"], body(P("ValidateRequest")), [])
html = lambda d: {"200": {"description": d, "content": {"text/html": {"schema": {"type": "string"}}}}}
op("/help/", "get", "helpIndex", "Index of every reason and error code (HTML; ?lang= or Accept-Language)", html("HTML page"), ["pages"], security=[])
codep = [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}, {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["en", "nl"]}}]
op("/help/reasons/{code}", "get", "helpReason", "Help page of a reason code: what it means, likely causes, how to fix it (HTML)", {**html("HTML page"), "404": {"description": "Unknown code (HTML)"}}, ["pages"], security=[], params=codep)
op("/help/errors/{code}", "get", "helpError", "Help page of an error code (HTML)", {**html("HTML page"), "404": {"description": "Unknown code (HTML)"}}, ["pages"], security=[], params=codep)
op("/help/feedback", "post", "helpFeedback", "Answer 'Was this helpful?' for a help page; redirects back", {"303": {"description": "Back to the page"}, "400": prob("INVALID_REQUEST"), "429": prob("RATE_LIMITED")}, ["pages"], {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"page": {"type": "string"}, "helpful": {"type": "string", "enum": ["yes", "no"]}, "lang": {"type": "string"}}}}}}, [])
op("/genuine/{id}", "get", "results", "Results page of a verdict: why a copy is (not) genuine and how to fix it (HTML)", {**html("HTML page"), "404": {"description": "Unknown verdict (HTML)"}}, ["pages"], security=[], params=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])
op("/v1/bench/trivial", "get", "benchTrivial", "Baseline for echt bench: a trivial JSON handler", {**ok("OK", {"type": "object"}), "429": prob("RATE_LIMITED")}, ["operations"], security=[])
op("/v1/bench/sign", "post", "benchSign", "Baseline for echt bench: signs one Ed25519 message", {**ok("Signature", {"type": "object", "properties": {"signature": {"type": "string"}}}), "429": prob("RATE_LIMITED")}, ["operations"], body({"type": "object", "properties": {"message": {"type": "string"}}}), [])

op("/v1/admin/products", "post", "createProduct", "Create a product", {**ok("Created", P("Product"), "201"), "400": prob("INVALID_REQUEST"), "409": prob("PRODUCT_EXISTS"), **admin_err}, ["admin"], body({"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"}, "name": {"type": "string"}}}), sec)
op("/v1/admin/products", "get", "listProducts", "List products", {**ok("Products", {"type": "array", "items": P("Product")}), **admin_err}, ["admin"], security=sec)
idp = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
op("/v1/admin/products/{id}", "get", "getProduct", "Get a product", {**ok("Product", P("Product")), "404": prob("PRODUCT_NOT_FOUND"), **admin_err}, ["admin"], security=sec, params=idp)
op("/v1/admin/skus", "post", "createSKU", "Create a SKU; zero policy values take the channel's defaults", {**ok("Created", P("SKU"), "201"), "400": prob("INVALID_REQUEST"), "404": prob("PRODUCT_NOT_FOUND"), "409": prob("SKU_EXISTS"), "422": prob("INVALID_POLICY"), **admin_err}, ["admin"], body(P("SKURequest")), sec)
op("/v1/admin/skus", "get", "listSKUs", "List SKUs", {**ok("SKUs", {"type": "array", "items": P("SKU")}), **admin_err}, ["admin"], security=sec, params=[{"name": "product", "in": "query", "schema": {"type": "string"}}])
op("/v1/admin/skus/{id}", "get", "getSKU", "Get a SKU", {**ok("SKU", P("SKU")), "404": prob("SKU_NOT_FOUND"), **admin_err}, ["admin"], security=sec, params=idp)
op("/v1/admin/skus/{id}/keys", "post", "generateKeys", "Issue a durable batch of up to 50,000 product keys (shown only in this response)", {**ok("Keys", P("KeyBatch"), "201"), "404": prob("SKU_NOT_FOUND"), "409": prob("KEYSPACE_EXHAUSTED"), **admin_err}, ["admin"], body({"type": "object", "required": ["count"], "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 50000}}}), sec, idp)
keyreq = body({"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "description": "A product key; case, spaces and dashes do not matter"}, "reason": {"type": "string", "enum": ["counterfeit", "leaked", "refunded", "other"]}}})
keyerrs = {"422": prob("KEY_TYPO", "KEY_INVALID")}
op("/v1/admin/keys/lookup", "post", "lookupKey", "Look up a key (POST keeps keys out of URLs and logs)", {**ok("Key", P("KeyInfo")), **keyerrs, **admin_err}, ["admin"], keyreq, sec)
op("/v1/admin/keys/block", "post", "blockKey", "Block a key with a reason", {**ok("Key", P("KeyInfo")), **keyerrs, "400": prob("INVALID_REQUEST"), **admin_err}, ["admin"], keyreq, sec)
op("/v1/admin/keys/unblock", "post", "unblockKey", "Unblock a key", {**ok("Key", P("KeyInfo")), **keyerrs, **admin_err}, ["admin"], keyreq, sec)
op("/v1/admin/tokens", "post", "createToken", "Create an API token (the token is returned once)", {**ok("Token", P("Token"), "201"), "400": prob("INVALID_REQUEST"), **admin_err}, ["admin"], body({"type": "object", "required": ["role"], "properties": {"role": {"type": "string", "enum": ["admin", "support", "investigator", "auditor"]}, "description": {"type": "string"}}}), sec)
op("/v1/admin/tokens", "get", "listTokens", "List tokens (never their secrets)", {**ok("Tokens", {"type": "array", "items": P("Token")}), **admin_err}, ["admin"], security=sec)
op("/v1/admin/tokens/{id}/revoke", "post", "revokeToken", "Revoke a token", {**ok("Token", P("Token")), "404": prob("TOKEN_NOT_FOUND"), **admin_err}, ["admin"], security=sec, params=idp)
op("/v1/admin/audit", "get", "listAudit", "Read the append-only audit log", {**ok("Entries", {"type": "array", "items": P("AuditEntry")}), **admin_err}, ["admin"], security=sec, params=[{"name": "after", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "action", "in": "query", "schema": {"type": "string"}}])
actv = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string", "enum": ["active", "deactivated", "revoked"]}, "product": {"type": "string"}, "sku": {"type": "string"}, "partial_key": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "not_after": {"type": "string", "format": "date-time"}, "ended_at": {"type": "string", "format": "date-time"}, "end_reason": {"type": "string"}, "prior_activation_id": {"type": "string"}}}
op("/v1/admin/activations/{id}", "get", "getActivation", "Get an activation", {**ok("Activation", actv), "404": prob("ACTIVATION_NOT_FOUND"), **admin_err}, ["admin"], security=sec, params=idp)
op("/v1/admin/activations/{id}/revoke", "post", "revokeActivation", "Revoke an activation (refund, abuse); the device learns at its next validation", {**ok("Activation", actv), "404": prob("ACTIVATION_NOT_FOUND"), "400": prob("INVALID_REQUEST"), **admin_err}, ["admin"], body({"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}), sec, idp)
op("/v1/admin/feedback", "get", "feedbackReport", "Answers to 'Was this helpful?' per help page and language", {**ok("Counts", {"type": "array", "items": {"type": "object", "properties": {"page": {"type": "string"}, "lang": {"type": "string"}, "yes": {"type": "integer"}, "no": {"type": "integer"}}}}), **admin_err}, ["admin"], security=sec)
op("/v1/admin/keyring/rotate", "post", "rotateKeyring", "Make a new signing key; the old one is retired but what it signed still verifies", {**ok("New key", P("PublicKey")), **admin_err}, ["admin"], security=sec)

policy = {"type": "object", "properties": {k: {"type": "integer", "minimum": 0} for k in ["max_devices", "valid_days", "grace_days", "tolerance", "revalidate_hours", "reminder_minutes", "escalate_days"]}}
hw = {"type": "object", "description": "Hashed hardware profile: lower-case hex of 16-byte salted SHA-256 hashes (docs/hardware.md)", "properties": {k: {"type": "string", "pattern": "^[0-9a-f]{32}$"} for k in ["system_uuid", "board_serial", "cpu", "memory", "os_install_id"]}}
hw["properties"]["disks"] = {"type": "array", "maxItems": 8, "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
hw["properties"]["macs"] = {"type": "array", "maxItems": 8, "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
envelope = {"type": "object", "description": "Signed envelope (docs/licenses.md)", "required": ["type", "kid", "payload", "sig"], "properties": {"type": {"type": "string"}, "kid": {"type": "string"}, "payload": {"type": "string", "contentEncoding": "base64"}, "sig": {"type": "string", "contentEncoding": "base64"}, "cert": {"type": "object"}}}
schemas = {
 "Hardware": hw,
 "Envelope": envelope,
 "ProductInfo": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "hardware_salt": {"type": "string", "contentEncoding": "base64"}}},
 "ActivateRequest": {"type": "object", "required": ["hardware", "nonce"], "properties": {"key": {"type": "string"}, "product": {"type": "string"}, "hardware": P("Hardware"), "nonce": {"type": "string", "maxLength": 128}}},
 "ActivateResponse": {"type": "object", "properties": {"activation_id": {"type": "string"}, "reason": {"type": "string", "enum": ["ACTIVATED", "ALREADY_ACTIVATED", "DIGITAL_LICENSE"]}, "license": P("Envelope"), "product": {"type": "string"}, "edition": {"type": "string"}, "sku": {"type": "string"}, "channel": {"type": "string"}, "partial_key": {"type": "string"}, "not_after": {"type": "string", "format": "date-time"}}},
 "DeactivateRequest": {"type": "object", "required": ["license", "hardware"], "properties": {"license": P("Envelope"), "hardware": P("Hardware"), "nonce": {"type": "string"}}},
 "DeactivateResponse": {"type": "object", "properties": {"activation_id": {"type": "string"}, "status": {"type": "string"}, "nonce": {"type": "string"}}},
 "ValidateRequest": {"type": "object", "required": ["license", "hardware", "nonce"], "properties": {"license": P("Envelope"), "hardware": P("Hardware"), "nonce": {"type": "string", "maxLength": 128}, "lang": {"type": "string"}}},
 "ValidateResponse": {"type": "object", "properties": {"verdict": P("Envelope"), "status": {"type": "string", "enum": ["GENUINE", "NOT_GENUINE", "NOT_ACTIVATED", "GRACE"]}, "reason": {"type": "string"}, "remedy": {"type": "object", "properties": {"id": {"type": "string"}, "text": {"type": "string"}}}, "checked_at": {"type": "string", "format": "date-time"}, "next_check": {"type": "string", "format": "date-time"}, "results_url": {"type": "string"}}},
 "KeyCheckResponse": {"type": "object", "properties": {"genuine": {"type": "boolean"}, "status": {"type": "string", "enum": ["unused", "activated", "blocked", "invalid", "typo"]}, "reason": {"type": "string"}, "product": {"type": "string"}, "product_name": {"type": "string"}, "edition": {"type": "string"}, "channel": {"type": "string"}}},
 "Problem": {"type": "object", "description": "RFC 9457 problem details with echt's stable code", "required": ["type", "title", "status", "code"], "properties": {"type": {"type": "string", "description": "URI reference of the help page of the code"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}, "code": {"type": "string", "description": "Stable code; see docs/reasons.md"}, "request_id": {"type": "string"}}, "additionalProperties": True},
 "Product": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "hardware_salt": {"type": "string", "contentEncoding": "base64"}, "created_at": {"type": "string", "format": "date-time"}}},
 "Policy": policy,
 "SKURequest": {"type": "object", "required": ["id", "product", "edition", "channel"], "properties": {"id": {"type": "string"}, "product": {"type": "string"}, "edition": {"type": "string"}, "channel": {"type": "string", "enum": ["retail", "oem", "volume-mak", "volume-host", "subscription", "trial"]}, "policy": P("Policy"), "entitlements": {"type": "array", "items": {"type": "string"}}}},
 "SKU": {"type": "object", "properties": {"id": {"type": "string"}, "product": {"type": "string"}, "edition": {"type": "string"}, "channel": {"type": "string"}, "policy": P("Policy"), "entitlements": {"type": "array", "items": {"type": "string"}}, "key_group": {"type": "integer"}, "keys_issued": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}}},
 "KeyBatch": {"type": "object", "properties": {"sku": {"type": "string"}, "first_serial": {"type": "integer"}, "count": {"type": "integer"}, "keys": {"type": "array", "items": {"type": "string", "example": "BCDFG-HJKMP-QRTVW-XY234-6789B"}}}},
 "KeyInfo": {"type": "object", "properties": {"partial_key": {"type": "string", "example": "XXXXX-XXXXX-XXXXX-XXXXX-7FQ2K"}, "status": {"type": "string", "enum": ["active", "blocked"]}, "block_reason": {"type": "string"}, "blocked_at": {"type": "string", "format": "date-time"}, "sku": {"type": "string"}, "product": {"type": "string"}, "edition": {"type": "string"}, "channel": {"type": "string"}, "max_devices": {"type": "integer"}, "active_activations": {"type": "integer"}, "activations_total": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}, "activations": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}, "created_at": {"type": "string"}, "ended_at": {"type": "string"}, "end_reason": {"type": "string"}, "not_after": {"type": "string"}}}}}},
 "Token": {"type": "object", "properties": {"id": {"type": "string"}, "token": {"type": "string", "description": "Only in the creation response"}, "role": {"type": "string"}, "description": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "revoked_at": {"type": "string", "format": "date-time"}}},
 "AuditEntry": {"type": "object", "properties": {"seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"}, "action": {"type": "string"}, "target": {"type": "string"}, "detail": {"type": "object"}, "request_id": {"type": "string"}}},
 "PublicKey": {"type": "object", "properties": {"kid": {"type": "string"}, "role": {"type": "string", "enum": ["root", "signing"]}, "public_key": {"type": "string", "contentEncoding": "base64"}, "certificate": {"type": "string", "contentEncoding": "base64", "description": "JSON signed envelope of type signing-key, signed by the root"}, "created_at": {"type": "string", "format": "date-time"}, "retired_at": {"type": "string", "format": "date-time"}}},
 "SigningKeys": {"type": "object", "properties": {"root": {"type": "object", "properties": {"kid": {"type": "string"}, "public_key": {"type": "string"}}}, "current": {"type": "string"}, "keys": {"type": "array", "items": P("PublicKey")}}},
}
doc = {"openapi": "3.1.0", "info": {"title": "echt API", "version": "1", "description": "Product activation and genuine validation. Errors are RFC 9457 problem+json documents with a stable `code` (docs/reasons.md). Admin endpoints need `Authorization: Bearer <token>`. Client endpoints are rate limited per address (429 with Retry-After)."},
 "servers": [{"url": "http://127.0.0.1:8080"}], "security": [], "tags": [{"name": "client"}, {"name": "admin"}, {"name": "pages"}, {"name": "operations"}],
 "paths": paths, "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An echt API token (echt_...)"}}}}
import sys
json.dump(doc, open(sys.argv[1], "w"), indent=1)
