use serde_json::json;

use super::*;

fn derive(args: Value) -> Facts {
    Facts::derive(&args, Some("staging"), "/workspace", &Redactor::default()).0
}

#[test]
fn url_yields_host_target_and_method() {
    let facts = derive(json!({"url": "https://API.Example.com./v1/x", "method": "delete"}));
    assert_eq!(facts.host.as_deref(), Some("api.example.com"));
    assert_eq!(facts.method.as_deref(), Some("DELETE"));
    assert_eq!(facts.target.kind, TargetKind::Host);
    assert_eq!(facts.target.id, "api.example.com");
    assert_eq!(facts.destructive, ["DELETE"]);
    assert!(!facts.secret_material);
}

#[test]
fn non_http_urls_name_no_host() {
    let facts = derive(json!({"url": "file:///etc/passwd"}));
    assert_eq!(facts.host, None);
    assert_eq!(facts.target.kind, TargetKind::Environment);
}

#[test]
fn paths_resolve_against_the_workspace_lexically() {
    let cases = [
        ("reports/a.md", "/workspace/reports/a.md", true),
        ("./a/../b.txt", "/workspace/b.txt", true),
        ("../../etc/passwd", "/etc/passwd", false),
        ("/workspace/x", "/workspace/x", true),
        ("/workspace-other/x", "/workspace-other/x", false),
        ("/etc/shadow", "/etc/shadow", false),
        ("~/.ssh/id_rsa", "~/.ssh/id_rsa", false),
    ];
    for (raw, path, inside) in cases {
        let facts = derive(json!({"path": raw}));
        assert_eq!(facts.path.as_deref(), Some(path), "{raw}");
        assert_eq!(facts.path_in_workspace, inside, "{raw}");
        assert_eq!(facts.target.kind, TargetKind::Path);
    }
}

#[test]
fn destructive_commands_are_recognised_at_word_starts() {
    let destructive = [
        json!({"command": "cd /tmp &&  RM   -RF /"}),
        json!({"sql": "DROP TABLE users;"}),
        json!({"argv": ["git", "push", "--force", "origin", "main"]}),
        json!({"cmd": "terraform destroy -auto-approve"}),
        json!({"script": "git push origin +main --force-with-lease"}),
        json!({"force": true}),
        json!({"program": "rm", "args": ["-rf", "build"]}),
        json!({"program": "git", "args": ["reset", "--hard"]}),
    ];
    for args in destructive {
        assert!(derive(args.clone()).is_destructive(), "{args}");
    }
    let harmless = [
        json!({"command": "ls -la"}),
        json!({"command": "perform -rx"}),
        json!({"query": "how do I drop table rows safely"}),
        json!({"content": "rm -rf is dangerous"}),
        json!({"method": "GET"}),
        json!({"force": false}),
        json!({"program": "ls", "args": ["-rf"]}),
    ];
    for args in harmless {
        assert!(!derive(args.clone()).is_destructive(), "{args}");
    }
}

#[test]
fn production_is_recognised_from_environment_host_path_and_repo() {
    let prod = Facts::derive(&json!({}), Some("Production"), "/w", &Redactor::default()).0;
    assert_eq!(prod.production.as_deref(), Some("environment Production"));
    for args in [
        json!({"url": "https://db.prod.example.com/"}),
        json!({"path": "deploy/prd/values.yaml"}),
        json!({"repo": "acme/payments-production"}),
        json!({"environment": "prod"}),
    ] {
        let facts = Facts::derive(&args, None, "/w", &Redactor::default()).0;
        assert!(facts.is_production(), "{args}");
    }
    // Whole words only: `products` is not production, `production_notes` is.
    for (args, production) in [
        (json!({"url": "https://products.example.com/"}), false),
        (json!({"path": "src/production_notes.md"}), true),
    ] {
        let facts = Facts::derive(&args, None, "/w", &Redactor::default()).0;
        assert_eq!(facts.is_production(), production, "{args}");
    }
}

#[test]
fn secret_material_is_detected_and_redacted() {
    let args =
        json!({"url": "https://x.example/", "headers": {"Authorization": "Bearer abcdefghijkl"}});
    let (facts, redacted) = Facts::derive(&args, None, "/w", &Redactor::default());
    assert!(facts.secret_material);
    assert_eq!(redacted["headers"]["Authorization"], "[REDACTED]");

    let (facts, _) = Facts::derive(
        &json!({"url": "https://u:pw@x.example/"}),
        None,
        "/w",
        &Redactor::default(),
    );
    assert!(facts.secret_material);

    let (facts, redacted) = Facts::derive(
        &json!({"note": "key is hunter22"}),
        None,
        "/w",
        &Redactor::new(["hunter22"]),
    );
    assert!(facts.secret_material);
    assert_eq!(redacted["note"], "key is [REDACTED]");

    let (facts, _) = Facts::derive(
        &json!({"query": "tokens"}),
        None,
        "/w",
        &Redactor::default(),
    );
    assert!(!facts.secret_material);
}

#[test]
fn affected_systems_list_every_named_system() {
    let facts = derive(json!({"url": "https://a.example/", "path": "x", "repo": "acme/app"}));
    assert_eq!(
        facts.affected_systems(),
        [
            "host:a.example",
            "path:/workspace/x",
            "repo:acme/app",
            "environment:staging"
        ]
    );
}

/// A secret reference names a secret the gateway resolves; it is not one.
/// `secret:NAME` (or `Bearer secret:NAME`, as a header carries it) is not
/// secret material, while a value next to it, or a reference inside a
/// longer text, still is.
#[test]
fn secret_references_are_not_secret_material() {
    for args in [
        json!({"secret_files": ["secret:deploy_key"]}),
        json!({"secret_headers": {"Authorization": "Bearer secret:github_token"}}),
    ] {
        assert!(!derive(args.clone()).secret_material, "{args}");
    }
    for args in [
        json!({"secret_headers": {"Authorization": "Bearer ghp_abcdefghijklmnopqrstuvwxyz0123"}}),
        json!({"password": "hunter2-hunter2"}),
        json!({"secrets": ["secret:deploy_key"]}),
        json!({"command": "echo secret:abc token=abcdef123456"}),
    ] {
        assert!(derive(args.clone()).secret_material, "{args}");
    }
}
