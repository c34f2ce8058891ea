//! Builders for models and a driver that records what a run did.

use std::collections::BTreeMap;

use agentwerke_bpmn::condition::ConditionSource;
use agentwerke_bpmn::model::{
    AgentTaskSpec, ApprovalSpec, EventTrigger, ExecutionMode, ExternalEvent, FlowNode, NodeKind,
    PermissionLevel, Position, Process, SandboxProfile, SequenceFlow, ToolEscalation,
};
use agentwerke_bpmn::timer::{TimerKind, TimerSpec};
use agentwerke_engine::{
    ApprovalDecision, Definition, Effect, Error, Event, RunState, TaskError, TimerId, Transition,
    WorkId, apply,
};
use agentwerke_types::{NodeState, RunStatus, Timestamp};
use serde_json::Value;

/// An agent spec with every default.
pub(crate) fn spec(agent: &str) -> AgentTaskSpec {
    AgentTaskSpec {
        agent: agent.to_owned(),
        action: None,
        purpose_type: "test".to_owned(),
        policy_tag: None,
        environment: None,
        requires_evidence: false,
        execution_mode: ExecutionMode::Local,
        sandbox_profile: SandboxProfile::Offline,
        permission_level: PermissionLevel::ReadOnly,
        allowed_tools: vec![],
        denied_tools: vec![],
        tool_escalation: ToolEscalation::Reject,
        prompt: None,
        max_retries: 0,
        retry_backoff_seconds: 0,
        timeout_seconds: None,
        strict_variables: false,
        metadata: vec![],
        budgets: Default::default(),
        egress_hosts: vec![],
    }
}

/// Builds a `Process` node by node; nodes go into the current subprocess.
#[derive(Default)]
pub(crate) struct B {
    nodes: Vec<FlowNode>,
    flows: Vec<SequenceFlow>,
    parent: Option<usize>,
}

#[allow(dead_code)]
impl B {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, id: &str, kind: NodeKind) -> usize {
        self.nodes.push(FlowNode {
            id: id.to_owned(),
            name: Some(format!("{id} name")),
            kind,
            parent: self.parent,
            incoming: vec![],
            outgoing: vec![],
            boundary: vec![],
            position: Position::default(),
        });
        self.nodes.len() - 1
    }

    pub(crate) fn start(&mut self, id: &str) -> usize {
        self.add(
            id,
            NodeKind::StartEvent {
                trigger: EventTrigger::None,
            },
        )
    }
    pub(crate) fn end(&mut self, id: &str) -> usize {
        self.add(
            id,
            NodeKind::EndEvent {
                trigger: EventTrigger::None,
            },
        )
    }
    pub(crate) fn terminate(&mut self, id: &str) -> usize {
        self.add(
            id,
            NodeKind::EndEvent {
                trigger: EventTrigger::Terminate,
            },
        )
    }
    pub(crate) fn error_end(&mut self, id: &str, code: Option<&str>) -> usize {
        let trigger = EventTrigger::Error {
            error_code: code.map(str::to_owned),
        };
        self.add(id, NodeKind::EndEvent { trigger })
    }
    pub(crate) fn throw(&mut self, id: &str) -> usize {
        self.add(
            id,
            NodeKind::IntermediateThrowEvent {
                trigger: EventTrigger::None,
            },
        )
    }
    pub(crate) fn agent(&mut self, id: &str) -> usize {
        self.agent_with(id, |_| {})
    }
    pub(crate) fn agent_with(&mut self, id: &str, f: impl FnOnce(&mut AgentTaskSpec)) -> usize {
        let mut s = spec(&format!("{}-agent", id.to_lowercase()));
        f(&mut s);
        self.add(
            id,
            NodeKind::AgentTask {
                element: "serviceTask".to_owned(),
                spec: Some(s),
            },
        )
    }
    pub(crate) fn approval(&mut self, id: &str) -> usize {
        let approval = ApprovalSpec {
            purpose_type: "review".to_owned(),
            policy_tag: "test".to_owned(),
            approver_role: None,
            expiry: None,
        };
        self.add(
            id,
            NodeKind::UserTask {
                approval: Some(approval),
            },
        )
    }
    pub(crate) fn receive(&mut self, id: &str, message: &str, key: Option<&str>) -> usize {
        self.add(
            id,
            NodeKind::ReceiveTask {
                external_event: Some(ext(message, key)),
            },
        )
    }
    pub(crate) fn message_catch(&mut self, id: &str, message: &str, key: Option<&str>) -> usize {
        let trigger = EventTrigger::Message { message_ref: None };
        self.add(
            id,
            NodeKind::IntermediateCatchEvent {
                trigger,
                external_event: Some(ext(message, key)),
            },
        )
    }
    pub(crate) fn timer_catch(&mut self, id: &str, kind: TimerKind, expr: &str) -> usize {
        let trigger = EventTrigger::Timer(timer(kind, expr));
        self.add(
            id,
            NodeKind::IntermediateCatchEvent {
                trigger,
                external_event: None,
            },
        )
    }
    pub(crate) fn xor(&mut self, id: &str) -> usize {
        self.add(id, NodeKind::ExclusiveGateway { default: None })
    }
    pub(crate) fn and(&mut self, id: &str) -> usize {
        self.add(id, NodeKind::ParallelGateway)
    }
    pub(crate) fn or(&mut self, id: &str) -> usize {
        self.add(id, NodeKind::InclusiveGateway { default: None })
    }
    pub(crate) fn sub(&mut self, id: &str) -> usize {
        self.add(id, NodeKind::SubProcess)
    }
    /// Sets the subprocess new nodes go into; returns the previous one.
    pub(crate) fn set_parent(&mut self, parent: Option<usize>) -> Option<usize> {
        std::mem::replace(&mut self.parent, parent)
    }
    /// Adds nodes inside subprocess `sub`.
    pub(crate) fn inside(&mut self, sub: usize, f: impl FnOnce(&mut B)) {
        let saved = self.parent.replace(sub);
        f(self);
        self.parent = saved;
    }
    pub(crate) fn boundary_timer(
        &mut self,
        id: &str,
        host: usize,
        kind: TimerKind,
        expr: &str,
        interrupting: bool,
    ) -> usize {
        let parent = self.nodes[host].parent;
        let saved = std::mem::replace(&mut self.parent, parent);
        let b = self.add(
            id,
            NodeKind::BoundaryEvent {
                attached_to: Some(host),
                attached_to_ref: self.nodes[host].id.clone(),
                cancel_activity: interrupting,
                trigger: EventTrigger::Timer(timer(kind, expr)),
            },
        );
        self.parent = saved;
        self.nodes[host].boundary.push(b);
        b
    }
    pub(crate) fn boundary_error(&mut self, id: &str, host: usize, code: Option<&str>) -> usize {
        let parent = self.nodes[host].parent;
        let saved = std::mem::replace(&mut self.parent, parent);
        let b = self.add(
            id,
            NodeKind::BoundaryEvent {
                attached_to: Some(host),
                attached_to_ref: self.nodes[host].id.clone(),
                cancel_activity: true,
                trigger: EventTrigger::Error {
                    error_code: code.map(str::to_owned),
                },
            },
        );
        self.parent = saved;
        self.nodes[host].boundary.push(b);
        b
    }
    pub(crate) fn flow(&mut self, from: usize, to: usize) -> usize {
        self.flow_opt(from, to, None)
    }
    pub(crate) fn flow_if(&mut self, from: usize, to: usize, condition: &str) -> usize {
        self.flow_opt(from, to, Some(condition))
    }
    fn flow_opt(&mut self, from: usize, to: usize, condition: Option<&str>) -> usize {
        let index = self.flows.len();
        self.flows.push(SequenceFlow {
            id: format!("f{index}_{}_{}", self.nodes[from].id, self.nodes[to].id),
            name: None,
            source_ref: self.nodes[from].id.clone(),
            target_ref: self.nodes[to].id.clone(),
            source: Some(from),
            target: Some(to),
            condition: condition.map(|c| ConditionSource::new(c, Position::default())),
            parent: self.nodes[from].parent,
            position: Position::default(),
        });
        self.nodes[from].outgoing.push(index);
        self.nodes[to].incoming.push(index);
        index
    }
    /// Chains nodes with unconditional flows.
    pub(crate) fn chain(&mut self, nodes: &[usize]) {
        for pair in nodes.windows(2) {
            self.flow(pair[0], pair[1]);
        }
    }
    pub(crate) fn set_default(&mut self, gateway: usize, flow: usize) {
        match &mut self.nodes[gateway].kind {
            NodeKind::ExclusiveGateway { default } | NodeKind::InclusiveGateway { default } => {
                *default = Some(flow)
            }
            _ => panic!("not a gateway"),
        }
    }
    pub(crate) fn process(self) -> Process {
        Process {
            id: "p".to_owned(),
            name: None,
            is_executable: true,
            nodes: self.nodes,
            flows: self.flows,
            position: Position::default(),
            egress_hosts: vec![],
        }
    }
    pub(crate) fn build(self) -> Definition {
        Definition::new(&self.process()).expect("definition compiles")
    }
}

fn ext(message: &str, key: Option<&str>) -> ExternalEvent {
    ExternalEvent {
        message_name: message.to_owned(),
        correlation_key_template: key.map(str::to_owned),
    }
}

pub(crate) fn timer(kind: TimerKind, expr: &str) -> TimerSpec {
    TimerSpec {
        kind,
        expression: expr.to_owned(),
        position: Position::default(),
    }
}

/// Drives one run and records visits, effects and events.
pub(crate) struct Run {
    pub(crate) def: Definition,
    pub(crate) state: RunState,
    pub(crate) visited: Vec<String>,
    pub(crate) effects: Vec<Effect>,
    pub(crate) events: Vec<Event>,
    /// The effects of the last accepted event.
    pub(crate) last: Vec<Effect>,
    /// Each node's state and arrivals so far, from the `NodeChanged`
    /// effects (kept apart from `effects` and `last`, which hold what the
    /// shell must do).
    pub(crate) nodes: BTreeMap<String, (NodeState, u32)>,
    pub(crate) now: i64,
    timer_nodes: BTreeMap<TimerId, (String, Timestamp)>,
}

#[allow(dead_code)]
impl Run {
    pub(crate) fn new(def: Definition) -> Self {
        Self {
            def,
            state: RunState::new("run-1"),
            visited: vec![],
            effects: vec![],
            events: vec![],
            last: vec![],
            nodes: BTreeMap::new(),
            now: 1_000,
            timer_nodes: BTreeMap::new(),
        }
    }

    pub(crate) fn at(&mut self) -> Timestamp {
        self.now += 1;
        Timestamp(self.now)
    }

    pub(crate) fn send(&mut self, event: Event) -> Result<Transition, Error> {
        let t = apply(&self.def, &self.state, event.clone())?;
        for e in &t.effects {
            if let Effect::ScheduleTimer {
                timer_id,
                node_id,
                due_at,
            } = e
            {
                self.timer_nodes
                    .insert(*timer_id, (node_id.clone(), *due_at));
            }
        }
        self.state = t.state.clone();
        self.visited.extend(t.visited.iter().cloned());
        let (nodes, effects): (Vec<Effect>, Vec<Effect>) = t
            .effects
            .iter()
            .cloned()
            .partition(|e| matches!(e, Effect::NodeChanged { .. }));
        for change in nodes {
            if let Effect::NodeChanged {
                node_id,
                state,
                entered,
            } = change
            {
                let slot = self.nodes.entry(node_id).or_insert((state, 0));
                *slot = (state, slot.1 + entered);
            }
        }
        self.effects.extend(effects.iter().cloned());
        self.last = effects;
        self.events.push(event);
        Ok(t)
    }

    pub(crate) fn ok(&mut self, event: Event) -> &mut Self {
        self.send(event).expect("event accepted");
        self
    }

    pub(crate) fn start(&mut self, input: Value) -> &mut Self {
        let at = self.at();
        self.ok(Event::Start { input, at })
    }

    /// The open work item at `node`.
    pub(crate) fn work(&self, node: &str) -> WorkId {
        self.state
            .open_work()
            .find(|s| s.node_id == node)
            .unwrap_or_else(|| panic!("no open work at {node}; visited {:?}", self.visited))
            .work_id
    }

    pub(crate) fn has_work(&self, node: &str) -> bool {
        self.state.open_work().any(|s| s.node_id == node)
    }

    pub(crate) fn complete(&mut self, node: &str, output: Value) -> &mut Self {
        let (work_id, at) = (self.work(node), self.at());
        self.ok(Event::TaskCompleted {
            work_id,
            output,
            at,
        })
    }

    pub(crate) fn fail(&mut self, node: &str, code: &str) -> &mut Self {
        let (work_id, at) = (self.work(node), self.at());
        let error = TaskError {
            code: code.to_owned(),
            message: format!("{code} happened"),
        };
        self.ok(Event::TaskFailed { work_id, error, at })
    }

    pub(crate) fn decide(
        &mut self,
        node: &str,
        decision: ApprovalDecision,
        comment: &str,
    ) -> &mut Self {
        let (work_id, at) = (self.work(node), self.at());
        self.ok(Event::ApprovalDecided {
            work_id,
            decision,
            comment: Some(comment.to_owned()),
            decided_by: "arnold".to_owned(),
            at,
        })
    }

    pub(crate) fn message(&mut self, name: &str, key: &str, payload: Value) -> &mut Self {
        let at = self.at();
        self.ok(Event::MessageReceived {
            message_name: name.to_owned(),
            correlation_key: key.to_owned(),
            payload,
            at,
        })
    }

    /// The pending timer armed for `node` (the earliest one).
    pub(crate) fn timer(&self, node: &str) -> (TimerId, Timestamp) {
        self.state
            .pending_timers()
            .find(|(id, _)| self.timer_nodes.get(id).is_some_and(|(n, _)| n == node))
            .unwrap_or_else(|| panic!("no pending timer for {node}"))
    }

    /// Fires the pending timer of `node` at its due instant.
    pub(crate) fn fire(&mut self, node: &str) -> &mut Self {
        let (timer_id, due) = self.timer(node);
        self.now = self.now.max(due.0);
        let at = Timestamp(self.now);
        self.ok(Event::TimerFired { timer_id, at })
    }

    pub(crate) fn cancel(&mut self, reason: &str) -> &mut Self {
        let at = self.at();
        self.ok(Event::Cancel {
            reason: reason.to_owned(),
            at,
        })
    }

    pub(crate) fn status(&self) -> RunStatus {
        self.state.status()
    }

    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        self.effects.iter().map(Effect::kind).collect()
    }

    pub(crate) fn last_kinds(&self) -> Vec<&'static str> {
        self.last.iter().map(Effect::kind).collect()
    }

    /// Replays the recorded events on a fresh state.
    pub(crate) fn replay(&self) -> RunState {
        let mut state = RunState::new("run-1");
        for e in &self.events {
            agentwerke_engine::apply_mut(&self.def, &mut state, e.clone()).expect("replay");
        }
        state
    }
}
