//! Web UI sessions: kept by the hash of their id, live until they end,
//! gone at sign-out, and ended ones removed when another opens.

use agentwerke_store::Store;
use agentwerke_store::sessions::SessionRow;

use super::support::t;

fn session(id_hash: &str, ends: i64) -> SessionRow {
    SessionRow {
        id_hash: id_hash.to_owned(),
        principal: r#"{"subject":"ada"}"#.to_owned(),
        csrf: format!("csrf-{id_hash}"),
        expires_at: t(ends),
    }
}

pub(crate) async fn kept_until_they_end(store: &dyn Store) {
    store.open_session(session("h1", 100), t(0)).await.unwrap();
    store
        .open_session(session("h2", 1_000), t(0))
        .await
        .unwrap();
    assert_eq!(
        store.get_session("h1", t(99)).await.unwrap(),
        Some(session("h1", 100))
    );
    assert_eq!(
        store.get_session("h1", t(100)).await.unwrap(),
        None,
        "ended"
    );
    assert_eq!(store.get_session("h3", t(0)).await.unwrap(), None);

    // Opening another forgets the ended ones: h1 is gone even when asked
    // about a time it was live.
    store
        .open_session(session("h3", 1_000), t(200))
        .await
        .unwrap();
    assert_eq!(store.get_session("h1", t(50)).await.unwrap(), None);
    assert!(store.get_session("h2", t(200)).await.unwrap().is_some());

    store.close_session("h2").await.unwrap();
    assert_eq!(store.get_session("h2", t(200)).await.unwrap(), None);
    assert!(store.get_session("h3", t(200)).await.unwrap().is_some());
    store.close_session("never-opened").await.unwrap();
    assert!(
        !format!("{:?}", session("h4", 1)).contains("csrf-h4"),
        "a session's Debug leaves out its CSRF token"
    );
}
