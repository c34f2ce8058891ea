//! Integration tests of `agentwerke-evidence`: one binary, a module per area.

#[path = "it/fixture.rs"]
mod fixture;
#[path = "it/schema.rs"]
mod schema;
#[path = "it/tamper.rs"]
mod tamper;
#[path = "it/verify.rs"]
mod verify;
