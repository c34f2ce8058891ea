//! Every list is paginated the same way: `limit` (1 to 200, default 50) and
//! an opaque `cursor`; the answer carries `nextCursor` until the last page.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer};

const CLARIFY: &str = include_str!("../../../../examples/clarify-request.bpmn");
const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");

/// Reads `path` page by page with `limit`; returns each page's ids.
async fn pages(server: &TestServer, path: &str, limit: u32) -> Vec<Vec<String>> {
    pages_by(server, path, limit, |item| {
        item["id"].as_str().expect("id").to_owned()
    })
    .await
}

/// Reads `path` page by page with `limit`; returns each page's items as
/// `key` names them.
async fn pages_by(
    server: &TestServer,
    path: &str,
    limit: u32,
    key: impl Fn(&Value) -> String,
) -> Vec<Vec<String>> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = server.get(&url, &server.admin()).await;
        let ids: Vec<String> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(&key)
            .collect();
        assert!(ids.len() <= limit as usize, "{url}: {page}");
        pages.push(ids);
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() <= 10, "{path} does not end");
    }
}

async fn refuses_bad_paging(server: &TestServer, path: &str) {
    for query in ["limit=0", "limit=201", "limit=abc"] {
        let (status, body) = server
            .call(
                Method::GET,
                &format!("{path}?{query}"),
                Some(&server.admin()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {body}");
        assert_eq!(
            body["code"], "request.invalid_query",
            "{path}?{query}: {body}"
        );
    }
    for cursor in ["zz", "72313a", "c1abc", "C10000000000000000"] {
        let (status, body) = server
            .call(
                Method::GET,
                &format!("{path}?cursor={cursor}"),
                Some(&server.admin()),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path} cursor {cursor}: {body}"
        );
        assert_eq!(body["code"], "request.invalid_cursor", "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_come_in_pages_oldest_first() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let mut expected = Vec::new();
    for n in 0..5 {
        let run_id = server
            .start_run("hello-sdlc", json!({"title": format!("t{n}")}))
            .await;
        let run = server.wait_status(&run_id, "awaiting_approval").await;
        expected.push(
            run["pendingApprovals"][0]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let pages = pages(&server, "/api/approvals?status=pending", 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(
        pages.concat(),
        expected,
        "every approval once, oldest first"
    );

    // Without `limit` a page holds at most 50; all five fit, so no cursor.
    let all = server.get("/api/approvals", &server.admin()).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(all["nextCursor"], Value::Null);
    refuses_bad_paging(&server, "/api/approvals").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_come_in_pages_oldest_first() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("clarify-request", CLARIFY).await;
    let mut expected = Vec::new();
    for n in 0..3 {
        let run_id = server
            .start_run("clarify-request", json!({"title": format!("t{n}")}))
            .await;
        let run = server.wait_status(&run_id, "waiting_user").await;
        expected.push(
            run["pendingQuestions"][0]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let pages = pages(&server, "/api/questions?status=open", 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(pages.concat(), expected);
    refuses_bad_paging(&server, "/api/questions").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_and_policy_sets_come_in_pages() {
    let server = TestServer::start().await;
    for id in ["wf-c", "wf-a", "wf-b"] {
        server.publish(id, HELLO_SDLC).await;
    }
    let ids = |page: &Value, key: &str| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|w| w[key].to_string())
            .collect()
    };
    let first = server.get("/api/workflows?limit=2", &server.admin()).await;
    assert_eq!(ids(&first, "id"), ["\"wf-a\"", "\"wf-b\""], "{first}");
    let cursor = first["nextCursor"].as_str().expect("a cursor");
    let second = server
        .get(
            &format!("/api/workflows?limit=2&cursor={cursor}"),
            &server.admin(),
        )
        .await;
    assert_eq!(ids(&second, "id"), ["\"wf-c\""], "{second}");
    assert_eq!(second["nextCursor"], Value::Null);

    let text = server.get("/api/policies/schema", &server.admin()).await["defaultPolicies"]
        .as_str()
        .expect("default policies")
        .to_owned();
    for n in 0..3 {
        server
            .post(
                "/api/policies",
                &server.admin(),
                json!({"text": text, "note": format!("draft {n}")}),
            )
            .await;
    }
    let all = server.get("/api/policies?limit=200", &server.admin()).await;
    let everything = ids(&all, "version");
    assert!(everything.len() >= 3, "{all}");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/policies?limit=2&cursor={c}"),
            None => "/api/policies?limit=2".to_owned(),
        };
        let page = server.get(&path, &server.admin()).await;
        assert!(page["items"].as_array().map(Vec::len) <= Some(2), "{page}");
        assert!(page["inForce"].is_object(), "{page}");
        paged.extend(ids(&page, "version"));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, everything, "newest first, each once");
    refuses_bad_paging(&server, "/api/workflows").await;
    refuses_bad_paging(&server, "/api/policies").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_audit_log_versions_and_halts_come_in_pages() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        server.publish("hello-sdlc", HELLO_SDLC).await;
    }
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "paged"}))
        .await;
    server.wait_status(&run_id, "awaiting_approval").await;

    let seq = |record: &Value| record["seq"].to_string();
    let path = format!("/api/runs/{run_id}/audit");
    let whole = server
        .get(&format!("{path}?limit=200"), &server.admin())
        .await;
    let everything: Vec<String> = whole["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(seq)
        .collect();
    assert!(everything.len() >= 3, "{whole}");
    let paged = pages_by(&server, &path, 2, seq).await;
    assert!(paged.len() >= 2, "more than one page: {paged:?}");
    assert_eq!(
        paged.concat(),
        everything,
        "every record once, oldest first"
    );
    refuses_bad_paging(&server, &path).await;

    let version = |v: &Value| v["version"].to_string();
    let versions = pages_by(&server, "/api/workflows/hello-sdlc/versions", 2, version).await;
    assert_eq!(versions, [vec!["3", "2"], vec!["1"]], "newest first");
    refuses_bad_paging(&server, "/api/workflows/hello-sdlc/versions").await;

    for (scope, target) in [
        ("agent", "writer"),
        ("workflow", "billing"),
        ("agent", "reader"),
    ] {
        server
            .post(
                "/api/gateway/halt",
                &server.admin(),
                json!({"scope": scope, "target": target, "reason": "drill"}),
            )
            .await;
    }
    let halt = |h: &Value| {
        format!(
            "{}:{}",
            h["scope"].as_str().unwrap_or(""),
            h["target"].as_str().unwrap_or("")
        )
    };
    let halts = pages_by(&server, "/api/gateway/halts", 2, halt).await;
    assert_eq!(halts.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    let mut seen = halts.concat();
    seen.sort();
    assert_eq!(seen, ["agent:reader", "agent:writer", "workflow:billing"]);
    refuses_bad_paging(&server, "/api/gateway/halts").await;
    server.stop().await;
}
