//! Token movement: what each node does on arrival, how tokens leave, and
//! the three gateways.
//!
//! Fail-closed rules live here: a condition that cannot be evaluated is never
//! `false`, and a split that selects no flow (no true condition, no default)
//! fails the run instead of picking one.

use agentwerke_bpmn::condition::ConditionError;
use agentwerke_types::NodeState;

use super::Machine;
use crate::definition::{Exec, bit};
use crate::error::Fault;
use crate::ids::ScopeId;
use crate::state::Arrival;

impl Machine<'_, '_> {
    /// A token reaches a node.
    pub(super) fn arrive(&mut self, Arrival { node, scope, slot }: Arrival) {
        self.visit(node);
        let plan = &self.def.nodes[node as usize];
        match &plan.exec {
            Exec::Start | Exec::Pass | Exec::BoundaryTimer { .. } | Exec::BoundaryError { .. } => {
                self.leave(node, scope)
            }
            Exec::End => {
                self.mark_left(node, NodeState::Done);
                self.consume(scope)
            }
            Exec::Terminate => {
                self.mark_left(node, NodeState::Done);
                self.terminate(scope)
            }
            Exec::ErrorEnd { code } => {
                self.mark_left(node, NodeState::Done);
                self.throw_from_end(scope, node, code.as_deref())
            }
            Exec::Agent { .. } => self.open_agent(node, scope, 1, None, None),
            Exec::Approval { .. } => self.open_approval(node, scope),
            Exec::Message { .. } => self.open_message(node, scope),
            Exec::TimerCatch { schedule } => self.open_timer_catch(node, scope, schedule),
            Exec::Exclusive { default } => self.exclusive(node, scope, *default),
            Exec::Parallel if plan.incoming > 1 => self.parallel_join(node, scope, slot),
            Exec::Parallel => self.fork_all(node, scope),
            Exec::Inclusive {
                upstream: Some(_), ..
            } => self.record_join_arrival(node, scope, slot),
            Exec::Inclusive { default, .. } => self.inclusive_fork(node, scope, *default),
            Exec::SubProcess { start } => self.enter_subprocess(node, scope, *start),
        }
    }

    /// A token leaves a non-gateway node: along every outgoing flow whose
    /// condition holds (flows without one always do). No outgoing flow at all
    /// is an implicit end.
    pub(super) fn leave(&mut self, node: u32, scope: ScopeId) {
        self.mark_left(node, NodeState::Done);
        let def = self.def;
        let outgoing = &def.nodes[node as usize].outgoing;
        if let [only] = outgoing.as_slice()
            && def.flows[*only as usize].condition.is_none()
        {
            self.take(*only, scope);
            return;
        }
        if outgoing.is_empty() {
            self.consume(scope);
            return;
        }
        let mut taken = 0;
        for flow in outgoing {
            match self.enabled(*flow) {
                Ok(true) => {
                    self.take(*flow, scope);
                    taken += 1;
                }
                Ok(false) => {}
                Err(e) => return self.condition_failed(node, *flow, &e),
            }
        }
        if taken == 0 {
            return self.no_match(node);
        }
        self.add_tokens(scope, taken - 1);
    }

    /// Parallel split (and the exit of a parallel join): every outgoing flow,
    /// conditions ignored as BPMN prescribes.
    fn fork_all(&mut self, node: u32, scope: ScopeId) {
        self.mark_left(node, NodeState::Done);
        let def = self.def;
        let outgoing = &def.nodes[node as usize].outgoing;
        if outgoing.is_empty() {
            return self.consume(scope);
        }
        for flow in outgoing {
            self.take(*flow, scope);
        }
        self.add_tokens(scope, outgoing.len() as u32 - 1);
    }

    /// Exclusive gateway: the first non-default flow (document order) whose
    /// condition holds, else the default, else the run fails closed.
    fn exclusive(&mut self, node: u32, scope: ScopeId, default: Option<u32>) {
        self.mark_left(node, NodeState::Done);
        let def = self.def;
        let outgoing = &def.nodes[node as usize].outgoing;
        if outgoing.is_empty() {
            return self.consume(scope);
        }
        for flow in outgoing.iter().filter(|f| Some(**f) != default) {
            match self.enabled(*flow) {
                Ok(true) => return self.take(*flow, scope),
                Ok(false) => {}
                Err(e) => return self.condition_failed(node, *flow, &e),
            }
        }
        match default {
            Some(flow) => self.take(flow, scope),
            None => self.no_match(node),
        }
    }

    /// Inclusive split: every non-default flow whose condition holds, else
    /// the default, else the run fails closed.
    fn inclusive_fork(&mut self, node: u32, scope: ScopeId, default: Option<u32>) {
        self.mark_left(node, NodeState::Done);
        let def = self.def;
        let outgoing = &def.nodes[node as usize].outgoing;
        if outgoing.is_empty() {
            return self.consume(scope);
        }
        let mut taken = 0;
        for flow in outgoing.iter().filter(|f| Some(**f) != default) {
            match self.enabled(*flow) {
                Ok(true) => {
                    self.take(*flow, scope);
                    taken += 1;
                }
                Ok(false) => {}
                Err(e) => return self.condition_failed(node, *flow, &e),
            }
        }
        if taken == 0 {
            match default {
                Some(flow) => return self.take(flow, scope),
                None => return self.no_match(node),
            }
        }
        self.add_tokens(scope, taken - 1);
    }

    /// Parallel join: counts the arrival per incoming flow; when every flow
    /// has a token, one of each is merged and leaves. Extra tokens on a flow
    /// wait for the next full set.
    fn parallel_join(&mut self, node: u32, scope: ScopeId, slot: u32) {
        let width = self.def.nodes[node as usize].incoming;
        let Some(sc) = self.st.scopes.get_mut(&scope) else {
            return;
        };
        let counts = sc
            .joins
            .entry(node)
            .or_insert_with(|| vec![0; width as usize]);
        counts[slot as usize] += 1;
        if counts.contains(&0) {
            return;
        }
        counts.iter_mut().for_each(|c| *c -= 1);
        if counts.iter().all(|c| *c == 0) {
            sc.joins.remove(&node);
        }
        sc.tokens = sc.tokens.saturating_sub(width - 1);
        self.fork_all(node, scope);
    }

    /// Inclusive join: the arrival waits; [`Self::fire_ready_inclusive_join`]
    /// decides once the queue is empty.
    fn record_join_arrival(&mut self, node: u32, scope: ScopeId, slot: u32) {
        let width = self.def.nodes[node as usize].incoming;
        if let Some(sc) = self.st.scopes.get_mut(&scope) {
            sc.joins
                .entry(node)
                .or_insert_with(|| vec![0; width as usize])[slot as usize] += 1;
        }
    }

    /// Fires one inclusive join that has tokens and that no other live token
    /// of its scope can still reach. Returns whether one fired.
    pub(super) fn fire_ready_inclusive_join(&mut self) -> bool {
        let def = self.def;
        let ready = self.st.scopes.iter().find_map(|(scope, sc)| {
            sc.joins
                .keys()
                .find_map(|node| match &def.nodes[*node as usize].exec {
                    Exec::Inclusive {
                        upstream: Some(bits),
                        default,
                    } if self.nothing_upstream(*scope, *node, bits) => {
                        Some((*scope, *node, *default))
                    }
                    _ => None,
                })
        });
        let Some((scope, node, default)) = ready else {
            return false;
        };
        if let Some(sc) = self.st.scopes.get_mut(&scope)
            && let Some(counts) = sc.joins.get_mut(&node)
        {
            let merged = counts.iter().filter(|c| **c > 0).count() as u32;
            counts.iter_mut().for_each(|c| *c = c.saturating_sub(1));
            if counts.iter().all(|c| *c == 0) {
                sc.joins.remove(&node);
            }
            sc.tokens = sc.tokens.saturating_sub(merged.saturating_sub(1));
        }
        self.inclusive_fork(node, scope, default);
        true
    }

    /// True when no token of `scope` (at work, at a child subprocess, or
    /// waiting at another join) sits on a node that can reach `join`.
    fn nothing_upstream(&self, scope: ScopeId, join: u32, bits: &[u64]) -> bool {
        let st = &*self.st;
        let work = st
            .open
            .values()
            .any(|w| w.scope == scope && bit(bits, w.node));
        let children = st
            .scopes
            .values()
            .any(|s| s.parent == Some(scope) && s.node.is_some_and(|n| bit(bits, n)));
        let joins = st.scopes.get(&scope).is_some_and(|s| {
            s.joins
                .iter()
                .any(|(n, counts)| *n != join && bit(bits, *n) && counts.iter().any(|c| *c > 0))
        });
        !(work || children || joins)
    }

    /// Moves a token along a flow.
    fn take(&mut self, flow: u32, scope: ScopeId) {
        let plan = &self.def.flows[flow as usize];
        self.push(plan.target, scope, plan.slot);
    }

    fn enabled(&self, flow: u32) -> Result<bool, ConditionError> {
        match &self.def.flows[flow as usize].condition {
            None => Ok(true),
            Some(condition) => condition.evaluate(&self.st.context),
        }
    }

    /// A token ends.
    pub(super) fn consume(&mut self, scope: ScopeId) {
        let Some(sc) = self.st.scopes.get_mut(&scope) else {
            return;
        };
        sc.tokens = sc.tokens.saturating_sub(1);
        if sc.tokens == 0 {
            self.scope_done(scope);
        }
    }

    pub(super) fn add_tokens(&mut self, scope: ScopeId, count: u32) {
        if let Some(sc) = self.st.scopes.get_mut(&scope) {
            sc.tokens += count;
        }
    }

    fn no_match(&mut self, node: u32) {
        let message = format!(
            "no outgoing flow of `{}` has a true condition and there is no default flow",
            self.def.id(node)
        );
        self.fault(Fault::NoMatchingFlow, Some(node), message);
    }

    fn condition_failed(&mut self, node: u32, flow: u32, error: &ConditionError) {
        let flow_id = &self.def.process.flows[flow as usize].id;
        let message = format!("condition on `{flow_id}` failed: {error}");
        self.fault(Fault::ConditionFailed, Some(node), message);
    }
}
