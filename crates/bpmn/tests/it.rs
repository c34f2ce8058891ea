//! Integration tests for `agentwerke-bpmn`, one module per area.

mod it {
    pub(crate) mod common;
    mod fuzz;
    mod good;
    mod hostile;
    mod miwg;
    mod validation;
}
