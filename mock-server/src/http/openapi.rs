//! `GET /openapi.json`: the Unit21 routes as the fake serves them, the S3 form POST, and the
//! control API, as OpenAPI 3.0.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::support::public_url;
use crate::engine::Settings;
use crate::model::Status;

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

pub(crate) async fn document(
    State(settings): State<Arc<Settings>>,
    headers: HeaderMap,
) -> Json<Value> {
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let statuses = json!(statuses);
    let auth_errors = |mut responses: Value| {
        let map = responses.as_object_mut().expect("object");
        map.insert("401".into(), error("Missing or unknown u21-key"));
        map.insert("403".into(), error("The key lacks the permission"));
        map.insert("429".into(), error("Over the rate limit"));
        responses
    };
    let mut paths = json!({
        "/v1/imports/pre-signed-url/create": {"post": {
            "summary": "Create a pre-signed S3 form for one file",
            "security": [{"u21Key": []}],
            "requestBody": json_body(json!({"type": "object", "required": ["stream_name", "file_name"], "properties": {
                "stream_name": {"type": "string", "minLength": 1},
                "file_name": {"type": "string", "minLength": 1},
                "md5_hash": {"type": "string", "format": "uuid"}}})),
            "responses": auth_errors(json!({
                "200": ok("The form to upload with", "PresignedForm"),
                "400": error("A missing, empty or wrongly typed field, malformed JSON, or a body that is not JSON"),
                "409": error("The file name is already used in the stream"),
                "413": error("The body is over 1 MiB")}))}},
        "/v1/imports/{file_id}": {"get": {
            "summary": "The status of one file",
            "security": [{"u21Key": []}],
            "parameters": [{"name": "file_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
            "responses": auth_errors(json!({
                "200": ok("The file", "Datafile"),
                "404": error("No such file in the key's organisation")}))}},
        "/v1/imports/list": {"post": {
            "summary": "Files of the key's organisation, newest first, filtered and paged",
            "security": [{"u21Key": []}],
            "requestBody": json_body(json!({"type": "object", "properties": {
                "created_after": {"type": "integer", "description": "Unix seconds, inclusive"},
                "created_before": {"type": "integer", "description": "Unix seconds, exclusive"},
                "statuses": {"type": "array", "items": {"type": "string", "enum": statuses}},
                "stream_names": {"type": "array", "items": {"type": "string"}},
                "offset": {"type": "integer", "minimum": 1, "default": 1, "description": "1-based page of `limit` files"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000}}})),
            "responses": auth_errors(json!({
                "200": ok("One page", "DatafileList"),
                "400": error("A wrong type, an unknown status, or offset/limit out of range"),
                "413": error("The body is over 1 MiB")}))}},
        "/{bucket}/": {"post": {
            "summary": "S3 browser-based upload (form POST with a SigV2 or SigV4 POST policy)",
            "parameters": [{"name": "bucket", "in": "path", "required": true, "schema": {"type": "string", "enum": [settings.config().bucket]}}],
            "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "description": "The form fields from the create call, then `file` last", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {
                "204": {"description": "Stored; ETag and Location headers"},
                "201": {"description": "Stored, with success_action_status=201: PostResponse XML"},
                "303": {"description": "Stored, with success_action_redirect"},
                "400": {"description": "S3 XML error (InvalidArgument, EntityTooLarge, InvalidPolicyDocument, …)", "content": {"application/xml": {}}},
                "403": {"description": "S3 XML error (AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId)", "content": {"application/xml": {}}},
                "412": {"description": "S3 XML PreconditionFailed: the body is not multipart/form-data", "content": {"application/xml": {}}}}}},
        "/_mock/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
    });
    if settings.config().control.enabled {
        let control = |summary: &str| json!({"summary": summary, "tags": ["control"], "security": [{"controlToken": []}], "responses": {"200": {"description": "ok"}, "204": {"description": "done"}, "400": error("Invalid body"), "401": error("Token missing or wrong")}});
        let paths = paths.as_object_mut().expect("object");
        for (path, methods) in [
            (
                "/_mock/reset",
                json!({"post": control("Forget every file, object, journal entry and fault; with {\"settings\": true} also put the timing, streams and clock back as the fake started")}),
            ),
            (
                "/_mock/seed",
                json!({"post": control("Reset and freeze the clock at an instant derived from {\"seed\": n}")}),
            ),
            (
                "/_mock/clock",
                json!({"get": control("The clock and timing profile")}),
            ),
            (
                "/_mock/clock/advance",
                json!({"post": control("Move the clock forward by {\"ms\": n} and/or {\"seconds\": n}")}),
            ),
            (
                "/_mock/clock/set",
                json!({"post": control("Freeze the clock at {\"epoch_ms\": n}")}),
            ),
            (
                "/_mock/timing",
                json!({"post": control("Switch the timing profile: {\"timing\": \"instant\"|\"fast\"|\"realistic\"|\"manual\"}")}),
            ),
            (
                "/_mock/files",
                json!({"post": control("Add a file as ADDED (a manual UI upload): {stream_name, file_name, content | content_base64, org?, process?}")}),
            ),
            (
                "/_mock/files/{id}",
                json!({"get": control("A file in any organisation, with its key and stream")}),
            ),
            (
                "/_mock/files/{id}/transition",
                json!({"post": control("Force {\"status\": PROCESSING|FINISHED|FAILED|DELETED, successful_count?, failure_count?, failure_code?}")}),
            ),
            (
                "/_mock/files/{id}/process",
                json!({"post": control("ADDED → QUEUED")}),
            ),
            (
                "/_mock/process-queued",
                json!({"post": control("Under manual timing, process every QUEUED file now")}),
            ),
            (
                "/_mock/streams",
                json!({"get": control("Stream configurations"), "put": control("Replace every stream configuration")}),
            ),
            (
                "/",
                json!({"get": {"summary": "The dashboard (HTML); it loads its data from /_mock/dashboard/*", "tags": ["dashboard"], "responses": {"200": {"description": "the page"}}}}),
            ),
            (
                "/_mock/dashboard/imports",
                json!({"get": control("Dashboard fragment (HTML): an organisation's files, ?org=&status=&stream=, or by the u21-key header")}),
            ),
            (
                "/_mock/dashboard/files/{id}",
                json!({"get": control("Dashboard fragment (HTML): one file and its status history")}),
            ),
            (
                "/_mock/dashboard/upload",
                json!({"post": control("Upload by hand: multipart `stream`, then `file`; ?org=. Creates an ADDED file (201, the file as JSON)")}),
            ),
            (
                "/_mock/dashboard/journal",
                json!({"get": control("Dashboard fragment (HTML): the newest journal entries")}),
            ),
            (
                "/_mock/dashboard/clock",
                json!({"get": control("Dashboard fragment (HTML): the clock and timing profile")}),
            ),
            (
                "/_mock/dashboard/orgs",
                json!({"get": control("Dashboard fragment (HTML): an <option> per organisation")}),
            ),
            (
                "/_mock/faults",
                json!({"get": control("Active faults"), "post": control("Add a fault: {method?, path, action: {kind, …}, times?, probability?, seed?}"), "delete": control("Remove every fault")}),
            ),
            (
                "/_mock/faults/{id}",
                json!({"delete": control("Remove one fault")}),
            ),
            (
                "/_mock/requests",
                json!({"get": control("The request journal; query: method, path, status, after, limit"), "delete": control("Clear the journal")}),
            ),
            (
                "/_mock/state",
                json!({"get": control("Export the whole state, objects inline"), "put": control("Replace the whole state with an export")}),
            ),
        ] {
            paths.insert(path.into(), methods);
        }
    }
    let datafile = json!({"type": "object", "required": ["file_id", "file_name", "file_type", "date_created", "process_start_time", "process_end_time", "successful_count", "failure_count", "status", "failure_code"], "properties": {
        "file_id": {"type": "string", "pattern": "^[0-9]+$"},
        "file_name": {"type": "string"},
        "file_type": {"type": "string", "example": "CSV"},
        "date_created": {"type": "integer", "description": "Unix seconds"},
        "process_start_time": {"type": "integer", "nullable": true},
        "process_end_time": {"type": "integer", "nullable": true},
        "successful_count": {"type": "integer"},
        "failure_count": {"type": "integer"},
        "status": {"type": "string", "enum": statuses},
        "failure_code": {"type": "string", "nullable": true, "enum": ["unparseable_file", "invalid_schema", "stream_not_configured", "unknown", null]}}});
    Json(json!({
        "openapi": "3.0.3",
        "info": {"title": "Unit21 imports API (u21-mock)", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The file imports API as the u21-mock fake serves it. Undocumented behaviours are listed in FIDELITY.md."},
        "servers": [{"url": public_url(&settings, &headers)}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "u21Key": {"type": "apiKey", "in": "header", "name": "u21-key"},
                "controlToken": {"type": "apiKey", "in": "header", "name": "x-u21-mock-token"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error_code"], "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}}},
                "Datafile": datafile,
                "DatafileList": {"type": "object", "required": ["datafiles", "response_count", "total_count"], "properties": {
                    "datafiles": {"type": "array", "items": {"$ref": "#/components/schemas/Datafile"}},
                    "response_count": {"type": "integer"}, "total_count": {"type": "integer"}}},
                "PresignedForm": {"type": "object", "required": ["file_id", "form_fields", "url"], "properties": {
                    "file_id": {"type": "string"},
                    "form_fields": {"type": "object", "required": ["AWSAccessKeyId", "key", "policy", "signature"], "properties": {
                        "AWSAccessKeyId": {"type": "string"}, "key": {"type": "string"}, "policy": {"type": "string"}, "signature": {"type": "string"}}},
                    "url": {"type": "string", "format": "uri"}}}}}
    }))
}
