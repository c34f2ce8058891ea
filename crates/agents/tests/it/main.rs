//! Integration tests for `agentwerke-agents`: one binary, a module per area.

mod flow;
