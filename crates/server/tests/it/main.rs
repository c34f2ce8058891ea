//! End-to-end tests: the real server on a loopback socket, a real SQLite file,
//! the runtime's loops, and development tokens.

mod fake_idp;
mod harness;

mod approval_content;
mod approvals;
mod audit;
mod bad_input;
mod browser;
mod flows;
mod gateway;
mod journal;
mod leaks;
mod oidc_signin;
mod pagination;
mod problems;
mod profiles;
mod providers;
mod questions;
mod roles;
mod run_views;
mod secret_refs;
mod settings;
mod tools;
mod ui;
mod ui_admin;
mod ui_evidence;
