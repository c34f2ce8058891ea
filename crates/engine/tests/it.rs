//! The engine's one integration test binary.

#[path = "it/codes.rs"]
mod codes;
#[path = "it/conformance.rs"]
mod conformance;
#[path = "it/definition.rs"]
mod definition;
#[path = "it/nodes.rs"]
mod nodes;
#[path = "it/props.rs"]
mod props;
#[path = "it/semantics.rs"]
mod semantics;
#[path = "it/support.rs"]
mod support;
#[path = "it/wire.rs"]
mod wire;
