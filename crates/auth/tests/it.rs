//! Integration tests for `agentwerke-auth`: one binary, a module per area.

#[path = "it/dev.rs"]
mod dev;
#[path = "it/key_file.rs"]
mod key_file;
#[path = "it/oidc.rs"]
mod oidc;
#[path = "it/sign_in.rs"]
mod sign_in;
#[path = "it/support.rs"]
mod support;
