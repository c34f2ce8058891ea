//! Integration tests of `agentwerke-gateway`: one binary, a module per area.

#[path = "it/decision_table.rs"]
mod decision_table;
#[path = "it/execute.rs"]
mod execute;
#[path = "it/http.rs"]
mod http;
#[path = "it/offered.rs"]
mod offered;
#[path = "it/secret_refs.rs"]
mod secret_refs;
#[path = "it/secrets.rs"]
mod secrets;
#[path = "it/support.rs"]
mod support;
#[path = "it/surface_prop.rs"]
mod surface_prop;
