//! The providers against a fake provider server over real HTTP.

mod failures;
mod router;
mod support;
mod wire;
