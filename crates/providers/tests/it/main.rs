//! The providers against a fake provider server over real HTTP.

mod failures;
mod support;
mod wire;
