//! The global audit stream: read page by page and exported signed.

use agentwerke_auth::Role;
use agentwerke_evidence::chain::{AuditRecord, verify_chain};
use agentwerke_evidence::keys::decode_public_key;
use agentwerke_evidence::verify_export;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer};

/// A workflow import and publication, a policy draft and publication, and
/// a halt and its resume, each through the API as an Admin.
async fn change_everything(server: &TestServer) {
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let admin = server.admin();
    let schema = server.get("/api/policies/schema", &admin).await;
    let (status, draft) = server
        .call(
            Method::POST,
            "/api/policies",
            Some(&admin),
            Some(json!({"text": schema["defaultPolicies"], "note": "baseline"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &format!("/api/policies/{version}/publish"),
            &admin,
            json!({}),
        )
        .await;
    server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "global", "reason": "incident 42"}),
        )
        .await;
    server
        .post("/api/gateway/resume", &admin, json!({"scope": "global"}))
        .await;
}

/// Every page of `/api/audit` with `limit`, read as `token`.
async fn read_all(server: &TestServer, token: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut path = format!("/api/audit?limit={limit}");
    loop {
        let page = server.get(&path, token).await;
        pages += 1;
        let batch = page["items"].as_array().expect("items");
        assert!(batch.len() <= limit as usize, "{page}");
        items.extend(batch.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/audit?limit={limit}&cursor={cursor}"),
            None => return (items, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_stream_is_read_oldest_first_in_pages_by_a_viewer() {
    let server = TestServer::start().await;
    change_everything(&server).await;
    let viewer = server.token("auditor", &[Role::Viewer]);

    let (items, pages) = read_all(&server, &viewer, 2).await;
    assert_eq!(pages, 3, "six records, two a page, no empty last page");
    let kinds: Vec<&str> = items.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "workflow.version_imported",
            "workflow.version_published",
            "policy.drafted",
            "policy.published",
            "gateway.halted",
            "gateway.resumed",
        ]
    );
    for record in &items {
        let mut keys: Vec<&str> = record
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "actor", "at", "data", "hash", "kind", "prevHash", "runId", "seq"
            ]
        );
    }
    assert_eq!(items[4]["actor"], "user:admin");
    assert_eq!(items[4]["data"]["reason"], "incident 42");
    let records: Vec<AuditRecord> =
        serde_json::from_value(Value::Array(items)).expect("audit records");
    let head = verify_chain(&records).expect("the pages form one chain");
    assert_eq!(head.seq, 6);

    let (status, problem) = server
        .call(Method::GET, "/api/audit?cursor=abc", Some(&viewer), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "request.invalid_cursor");
    let (status, _) = server.call(Method::GET, "/api/audit", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_is_signed_by_the_evidence_key_and_verifies_offline() {
    let server = TestServer::start().await;
    change_everything(&server).await;
    let viewer = server.token("auditor", &[Role::Viewer]);
    let key = server.get("/api/evidence/public-key", &viewer).await;
    let trusted = decode_public_key(key["publicKey"].as_str().expect("key")).expect("key");

    let response = server
        .http
        .get(format!("{}/api/audit/export", server.url))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"audit-export.json\""
    );
    let bytes = response.bytes().await.expect("body");
    let report = verify_export(&bytes, Some(&trusted));
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.chain_length, 6);
    assert_eq!(report.key_id.as_deref(), key["keyId"].as_str());

    let export: Value = serde_json::from_slice(&bytes).expect("json");
    let (listed, _) = read_all(&server, &viewer, 200).await;
    assert_eq!(export["auditLog"], Value::Array(listed.clone()));
    assert_eq!(export["integrity"]["chainHead"]["hash"], listed[5]["hash"]);

    // The API description names the record's and the export's fields as
    // the server writes them.
    let doc = server.get("/openapi.json", &viewer).await;
    assert!(doc["paths"]["/api/audit"]["get"].is_object());
    assert!(doc["paths"]["/api/audit/export"]["get"].is_object());
    let properties = |schema: &str| -> Vec<String> {
        let mut names: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {schema}"))
            .keys()
            .cloned()
            .collect();
        names.sort_unstable();
        names
    };
    let keys = |value: &Value| -> Vec<String> {
        let mut names: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        names.sort_unstable();
        names
    };
    assert_eq!(properties("AuditRecord"), keys(&listed[0]));
    assert_eq!(properties("AuditExport"), keys(&export));
    assert_eq!(
        properties("AuditExportIntegrity"),
        keys(&export["integrity"])
    );
    server.stop().await;
}
