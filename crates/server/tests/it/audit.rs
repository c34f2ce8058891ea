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
    // `redactedAfterChaining` is shown only on a record redacted after it
    // was chained (none here).
    let mut documented = properties("AuditRecord");
    documented.retain(|name| name != "redactedAfterChaining");
    assert_eq!(documented.len() + 1, properties("AuditRecord").len());
    assert_eq!(documented, keys(&listed[0]));
    assert_eq!(properties("AuditExport"), keys(&export));
    assert_eq!(
        properties("AuditExportIntegrity"),
        keys(&export["integrity"])
    );
    server.stop().await;
}

/// POSTs `body` to `path` as an Admin: the status and the problem or answer.
async fn admin_post(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    server
        .call(Method::POST, path, Some(&server.admin()), Some(body))
        .await
}

/// The kinds on the global stream, oldest first.
async fn global_kinds(server: &TestServer) -> Vec<String> {
    let page = server.get("/api/audit?limit=200", &server.admin()).await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["kind"].as_str().map(str::to_owned))
        .collect()
}

/// A refused change and a repeated one leave the global stream as it was,
/// and answer as they always have; a halt's answer names the record it
/// wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_repeats_write_nothing_to_the_global_stream() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let import = async || {
        let response = server
            .http
            .post(format!("{}/api/workflows?id=hello-sdlc", server.url))
            .bearer_auth(server.admin())
            .header("content-type", "application/xml")
            .body(HELLO_SDLC.to_owned())
            .send()
            .await
            .expect("import");
        let status = response.status();
        (status, response.json::<Value>().await.expect("json"))
    };
    // Version 1 is published, so the same document becomes draft 2, once.
    for _ in 0..2 {
        let (status, draft) = import().await;
        assert_eq!(status, StatusCode::CREATED, "{draft}");
        assert_eq!(
            (draft["version"].as_i64(), &draft["status"]),
            (Some(2), &json!("draft"))
        );
    }
    let (status, again) = admin_post(
        &server,
        "/api/workflows/hello-sdlc/versions/1/publish",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "published");
    let (status, problem) = admin_post(
        &server,
        "/api/workflows/hello-sdlc/versions/9/publish",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "api.not_found");
    assert_eq!(
        problem["detail"],
        "workflow version 'hello-sdlc@9' does not exist"
    );

    for (body, status, code, detail) in [
        (
            json!({"scope": "everything", "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.invalid_scope",
            "scope is global, agent or workflow, not 'everything'",
        ),
        (
            json!({"scope": "agent", "target": " ", "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.missing_target",
            "a agent halt names its target",
        ),
        (
            json!({"scope": "global", "reason": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.missing_reason",
            "say why the gateway is halted; operators and auditors see it",
        ),
    ] {
        let (answered, problem) = admin_post(&server, "/api/gateway/halt", body).await;
        assert_eq!(
            (answered, &problem["code"]),
            (status, &json!(code)),
            "{problem}"
        );
        assert_eq!(problem["detail"], detail);
    }
    for (body, detail) in [
        (json!({"scope": "global"}), "there is no global halt"),
        (
            json!({"scope": "agent", "target": "writer"}),
            "there is no agent halt for 'writer'",
        ),
    ] {
        let (status, problem) = admin_post(&server, "/api/gateway/resume", body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        assert_eq!(problem["code"], "gateway.not_halted");
        assert_eq!(problem["detail"], detail);
    }

    let (status, halted) = admin_post(
        &server,
        "/api/gateway/halt",
        json!({"scope": "agent", "target": "writer", "reason": "incident 7"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{halted}");
    assert_eq!(
        halted["covers"],
        "every step of agent 'writer', in every run"
    );
    assert_eq!(halted["audit"]["stream"], "global");
    assert_eq!(halted["audit"]["seq"], 4, "{halted}");
    let page = server.get("/api/audit?limit=200", &server.admin()).await;
    assert_eq!(page["items"][3]["hash"], halted["audit"]["hash"]);
    assert_eq!(page["items"][3]["kind"], "gateway.halted");

    let schema = server.get("/api/policies/schema", &server.admin()).await;
    let (status, draft) = admin_post(
        &server,
        "/api/policies",
        json!({"text": schema["defaultPolicies"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(draft["version"], 1);
    let (status, _) = admin_post(&server, "/api/policies/1/publish", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = admin_post(&server, "/api/policies/1/publish", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "api.conflict");
    assert_eq!(
        problem["detail"],
        "conflict: policy set 1 is already published"
    );

    assert_eq!(
        global_kinds(&server).await,
        [
            "workflow.version_imported",
            "workflow.version_published",
            "workflow.version_imported",
            "gateway.halted",
            "policy.drafted",
            "policy.published",
        ]
    );
    server.stop().await;
}
