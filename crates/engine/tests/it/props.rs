//! Random workflows driven by random events.
//!
//! Workflows are generated block-structured (sequences, gateways, subprocesses,
//! tasks with boundaries), plus "mismatched" blocks (exclusive split, parallel
//! join) that can deadlock, so the fail-closed paths get exercised too.

use std::collections::BTreeMap;

use agentwerke_bpmn::timer::TimerKind;
use agentwerke_engine::{
    ApprovalDecision, Effect, Event, RunState, StepStatus, TaskError, TimerId, WorkId, apply_mut,
};
use agentwerke_types::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::support::{B, Run};

#[derive(Debug, Clone)]
enum Blk {
    Agent {
        retries: u32,
        backoff: bool,
        timeout: bool,
        error_boundary: Option<bool>,
        timer_boundary: Option<bool>,
    },
    Approval {
        modelled: bool,
    },
    Msg {
        keyed: bool,
    },
    Timer,
    ErrorEnd,
    Terminate,
    Seq(Vec<Blk>),
    Xor(Vec<Blk>, bool),
    And(Vec<Blk>),
    Or(Vec<Blk>, bool),
    Sub(Box<Blk>, bool),
    Mismatch(Vec<Blk>),
}

fn blk() -> impl Strategy<Value = Blk> {
    let agent = (
        0u32..3,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(retries, backoff, timeout, error_boundary, timer_boundary)| Blk::Agent {
                retries,
                backoff,
                timeout,
                error_boundary,
                timer_boundary,
            },
        );
    let leaf = prop_oneof![
        6 => agent,
        3 => any::<bool>().prop_map(|modelled| Blk::Approval { modelled }),
        2 => any::<bool>().prop_map(|keyed| Blk::Msg { keyed }),
        2 => Just(Blk::Timer),
        1 => Just(Blk::ErrorEnd),
        1 => Just(Blk::Terminate),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        let branches = prop::collection::vec(inner.clone(), 2..4);
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 1..4).prop_map(Blk::Seq),
            3 => (branches.clone(), any::<bool>()).prop_map(|(v, d)| Blk::Xor(v, d)),
            3 => branches.clone().prop_map(Blk::And),
            3 => (branches, any::<bool>()).prop_map(|(v, d)| Blk::Or(v, d)),
            3 => (inner.clone(), any::<bool>()).prop_map(|(b, e)| Blk::Sub(Box::new(b), e)),
            1 => prop::collection::vec(inner, 2..3).prop_map(Blk::Mismatch),
        ]
    })
}

/// Builds blocks into a model and remembers, for every parallel join, the
/// markers its branches pass and the marker after it.
struct Gen {
    b: B,
    n: usize,
    joins: Vec<(Vec<String>, String)>,
}

impl Gen {
    fn name(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}{}", self.n)
    }

    /// Returns (entry, exit); exit is `None` when the block ends the path.
    fn build(&mut self, blk: &Blk) -> (usize, Option<usize>) {
        match blk {
            Blk::Agent {
                retries,
                backoff,
                timeout,
                error_boundary,
                timer_boundary,
            } => {
                let id = self.name("Agent");
                let a = self.b.agent_with(&id, |s| {
                    s.max_retries = *retries;
                    s.retry_backoff_seconds = if *backoff { 3 } else { 0 };
                    s.timeout_seconds = timeout.then_some(60);
                });
                if let Some(specific) = error_boundary {
                    let bid = self.name("OnErr");
                    let be = self.b.boundary_error(&bid, a, specific.then_some("E1"));
                    let end = self.name("ErrEnd");
                    let e = self.b.end(&end);
                    self.b.flow(be, e);
                }
                if let Some(interrupting) = timer_boundary {
                    let bid = self.name("Sla");
                    let kind = if *interrupting {
                        TimerKind::Duration
                    } else {
                        TimerKind::Cycle
                    };
                    let expr = if *interrupting { "PT1H" } else { "R2/PT1H" };
                    let bt = self.b.boundary_timer(&bid, a, kind, expr, *interrupting);
                    let end = self.name("SlaEnd");
                    let e = self.b.end(&end);
                    self.b.flow(bt, e);
                }
                (a, Some(a))
            }
            Blk::Approval { modelled } => {
                let id = self.name("Approval");
                let a = self.b.approval(&id);
                if !modelled {
                    return (a, Some(a));
                }
                let g = {
                    let id = self.name("Decide");
                    self.b.xor(&id)
                };
                let join = {
                    let id = self.name("Decided");
                    self.b.xor(&id)
                };
                let rejected = {
                    let id = self.name("Rejected");
                    self.b.throw(&id)
                };
                self.b.flow(a, g);
                self.b
                    .flow_if(g, join, &format!(r#"approval.{id}.decision == "approve""#));
                let d = self.b.flow(g, rejected);
                self.b.set_default(g, d);
                self.b.flow(rejected, join);
                (a, Some(join))
            }
            Blk::Msg { keyed } => {
                let id = self.name("Msg");
                let key = keyed.then_some("{{run_id}}");
                let m = if self.n.is_multiple_of(2) {
                    self.b.receive(&id, &format!("m{}", self.n % 3), key)
                } else {
                    self.b.message_catch(&id, &format!("m{}", self.n % 3), key)
                };
                (m, Some(m))
            }
            Blk::Timer => {
                let id = self.name("Timer");
                let t = self.b.timer_catch(&id, TimerKind::Duration, "PT5M");
                (t, Some(t))
            }
            Blk::ErrorEnd => {
                let id = self.name("Throw");
                let e = self.b.error_end(&id, Some("E1"));
                (e, None)
            }
            Blk::Terminate => {
                let id = self.name("Terminate");
                let e = self.b.terminate(&id);
                (e, None)
            }
            Blk::Seq(items) => {
                let id = self.name("Seq");
                let entry = self.b.throw(&id);
                let mut exit = entry;
                for item in items {
                    let (e, x) = self.build(item);
                    self.b.flow(exit, e);
                    match x {
                        Some(x) => exit = x,
                        None => return (entry, None),
                    }
                }
                (entry, Some(exit))
            }
            Blk::Xor(branches, default) => self.gateway("X", branches, GwKind::Xor(*default)),
            Blk::And(branches) => self.gateway("P", branches, GwKind::And),
            Blk::Or(branches, default) => self.gateway("O", branches, GwKind::Or(*default)),
            Blk::Mismatch(branches) => self.gateway("M", branches, GwKind::Mismatch),
            Blk::Sub(inner, catch) => {
                let id = self.name("Sub");
                let sub = self.b.sub(&id);
                let saved = self.b.set_parent(Some(sub));
                let s = {
                    let id = self.name("SubStart");
                    self.b.start(&id)
                };
                let (e, x) = self.build(inner);
                self.b.flow(s, e);
                if let Some(x) = x {
                    let end = {
                        let id = self.name("SubEnd");
                        self.b.end(&id)
                    };
                    self.b.flow(x, end);
                }
                self.b.set_parent(saved);
                if *catch {
                    let be = {
                        let id = self.name("SubErr");
                        self.b.boundary_error(&id, sub, None)
                    };
                    let e = {
                        let id = self.name("SubErrEnd");
                        self.b.end(&id)
                    };
                    self.b.flow(be, e);
                }
                (sub, Some(sub))
            }
        }
    }

    fn gateway(&mut self, prefix: &str, branches: &[Blk], kind: GwKind) -> (usize, Option<usize>) {
        let split_id = self.name(&format!("{prefix}Split"));
        let join_id = self.name(&format!("{prefix}Join"));
        let (split, join) = match kind {
            GwKind::Xor(_) => (self.b.xor(&split_id), self.b.xor(&join_id)),
            GwKind::And => (self.b.and(&split_id), self.b.and(&join_id)),
            GwKind::Or(_) => (self.b.or(&split_id), self.b.or(&join_id)),
            GwKind::Mismatch => (self.b.xor(&split_id), self.b.and(&join_id)),
        };
        let mut markers = vec![];
        for (i, branch) in branches.iter().enumerate() {
            let (e, x) = self.build(branch);
            let cond = format!("input.c{}", (self.n + i) % 8);
            let is_default =
                matches!(kind, GwKind::Xor(true) | GwKind::Or(true)) && i == branches.len() - 1;
            let f = match kind {
                GwKind::And => self.b.flow(split, e),
                _ if is_default => self.b.flow(split, e),
                _ => self.b.flow_if(split, e, &cond),
            };
            if is_default {
                self.b.set_default(split, f);
            }
            if let Some(x) = x {
                let marker = self.name("BranchEnd");
                let m = self.b.throw(&marker);
                self.b.flow(x, m);
                self.b.flow(m, join);
                markers.push(marker);
            }
        }
        let after = self.name("After");
        let a = self.b.throw(&after);
        self.b.flow(join, a);
        if matches!(kind, GwKind::And | GwKind::Mismatch) && markers.len() > 1 {
            self.joins.push((markers, after));
        }
        (split, Some(a))
    }
}

#[derive(Clone, Copy)]
enum GwKind {
    Xor(bool),
    And,
    Or(bool),
    Mismatch,
}

fn generate(blk: &Blk) -> (Run, Vec<(Vec<String>, String)>) {
    let mut g = Gen {
        b: B::new(),
        n: 0,
        joins: vec![],
    };
    let s = g.b.start("Start");
    let (e, x) = g.build(blk);
    g.b.flow(s, e);
    if let Some(x) = x {
        let end = g.b.end("End");
        g.b.flow(x, end);
    }
    (Run::new(g.b.build()), g.joins)
}

/// Picks the next event from what is open, by `choice`.
fn next_event(
    r: &mut Run,
    messages: &BTreeMap<WorkId, (String, Option<String>)>,
    choice: (u8, u8),
) -> Event {
    let at = r.at();
    let (kind, pick) = choice;
    let state = &r.state;
    if let Some(err) = state.error()
        && let Some(work_id) = err.work_id
        && kind % 2 == 0
    {
        return Event::RetryStep { work_id, at };
    }
    if kind == 255 {
        return Event::Cancel {
            reason: "random".into(),
            at,
        };
    }
    if kind >= 240 {
        // A random, possibly stale or unknown work id.
        let work_id = WorkId(u64::from(pick % 40) + 1);
        return Event::TaskCompleted {
            work_id,
            output: json!(pick),
            at,
        };
    }
    let open: Vec<_> = state
        .open_work()
        .map(|s| (s.work_id, s.node_type.clone()))
        .collect();
    let timers: Vec<(TimerId, Timestamp)> = state.pending_timers().collect();
    if (kind % 5 == 4 || open.is_empty()) && !timers.is_empty() {
        let (timer_id, due) = timers[pick as usize % timers.len()];
        r.now = r.now.max(due.0);
        return Event::TimerFired {
            timer_id,
            at: Timestamp(r.now),
        };
    }
    if open.is_empty() {
        return Event::Cancel {
            reason: "nothing open".into(),
            at,
        };
    }
    let (work_id, node_type) = open[pick as usize % open.len()].clone();
    match node_type.as_str() {
        "agentTask" if kind % 3 == 0 => {
            let code = ["E1", "E2", "timeout"][pick as usize % 3].to_owned();
            Event::TaskFailed {
                work_id,
                error: TaskError {
                    code,
                    message: "m".into(),
                },
                at,
            }
        }
        // The kill switch holds and releases attempts at random, releases
        // included when nothing is held.
        "agentTask" if kind % 7 == 1 => Event::TaskHeld { work_id, at },
        "agentTask" if kind % 7 == 2 => Event::TaskReleased { work_id, at },
        "agentTask" => Event::TaskCompleted {
            work_id,
            output: json!({"n": pick}),
            at,
        },
        "approvalTask" => {
            let decision = match kind % 6 {
                0 => ApprovalDecision::Reject,
                1 => ApprovalDecision::RequestChanges,
                _ => ApprovalDecision::Approve,
            };
            Event::ApprovalDecided {
                work_id,
                decision,
                comment: Some("c".into()),
                decided_by: "p".into(),
                at,
            }
        }
        "receiveTask" | "messageCatch" => {
            let (name, key) = messages.get(&work_id).cloned().unwrap_or_default();
            let key = if kind % 7 == 0 {
                "wrong".to_owned()
            } else {
                key.unwrap_or_else(|| "any".into())
            };
            Event::MessageReceived {
                message_name: name,
                correlation_key: key,
                payload: json!(pick),
                at,
            }
        }
        _ => {
            // timerCatch: fire its timer (the earliest pending one will do).
            let (timer_id, due) = timers
                .first()
                .copied()
                .unwrap_or((TimerId(1), Timestamp(0)));
            r.now = r.now.max(due.0);
            Event::TimerFired {
                timer_id,
                at: Timestamp(r.now),
            }
        }
    }
}

fn input(bits: u8) -> Value {
    let mut map = serde_json::Map::new();
    for i in 0..8 {
        map.insert(format!("c{i}"), Value::Bool(bits & (1 << i) != 0));
    }
    Value::Object(map)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_walks_keep_the_invariants(
        blk in blk(),
        bits in any::<u8>(),
        choices in prop::collection::vec((any::<u8>(), any::<u8>()), 1..60),
    ) {
        walk(&blk, bits, choices)?;
    }
}

/// The generator is only useful if walks reach every outcome; this keeps it
/// honest (deterministic seed).
#[test]
fn random_walks_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (
        blk(),
        any::<u8>(),
        prop::collection::vec((any::<u8>(), any::<u8>()), 1..60),
    );
    let mut outcomes = BTreeMap::new();
    let mut releases = 0;
    for _ in 0..600 {
        let (blk, bits, choices) = strategy.new_tree(&mut runner).unwrap().current();
        let (status, released) = walk(&blk, bits, choices).unwrap();
        *outcomes.entry(status).or_insert(0) += 1;
        releases += released;
    }
    for status in [
        "completed",
        "failed:engine.task_failed",
        "failed:engine.deadlock",
        "failed:engine.no_matching_flow",
        "failed:engine.unhandled_error",
        "rejected",
        "cancelled",
        "awaiting_approval",
    ] {
        assert!(
            outcomes.contains_key(status),
            "{status} never reached: {outcomes:?}"
        );
    }
    eprintln!("{outcomes:?} {releases}");
    assert!(releases > 50, "parallel joins rarely released: {releases}");
}

/// Drives one generated workflow; returns its final status and how many
/// times a tracked parallel join released.
fn walk(blk: &Blk, bits: u8, choices: Vec<(u8, u8)>) -> Result<(String, usize), TestCaseError> {
    let (mut r, joins) = generate(blk);
    r.start(input(bits));
    let mut messages = BTreeMap::new();
    let mut visits: BTreeMap<String, usize> = BTreeMap::new();
    for v in &r.visited {
        *visits.entry(v.clone()).or_default() += 1;
    }
    let mut seen = r.visited.len();
    for choice in choices {
        for e in &r.effects {
            if let Effect::AwaitMessage {
                work_id,
                message_name,
                correlation_key,
                ..
            } = e
            {
                messages.insert(*work_id, (message_name.clone(), correlation_key.clone()));
            }
        }
        let event = next_event(&mut r, &messages, choice);
        // Refused events leave the state untouched.
        let mut copy = r.state.clone();
        if apply_mut(&r.def, &mut copy, event.clone()).is_err() {
            prop_assert_eq!(&copy, &r.state);
            continue;
        }
        r.ok(event);
        for v in &r.visited[seen..] {
            *visits.entry(v.clone()).or_default() += 1;
        }
        seen = r.visited.len();
        check_state(&r.state)?;
        // A parallel join never lets more tokens out than full sets came in.
        for (markers, after) in &joins {
            let full = markers
                .iter()
                .map(|m| visits.get(m).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            let out = visits.get(after).copied().unwrap_or(0);
            prop_assert!(
                out <= full,
                "join released early: {} > {} at {}",
                out,
                full,
                after
            );
        }
        if r.state.status().is_terminal() && r.state.error().and_then(|e| e.work_id).is_none() {
            break;
        }
    }
    // Replay gives the same bytes.
    let replayed = r.replay();
    prop_assert_eq!(
        serde_json::to_vec(&replayed).unwrap(),
        serde_json::to_vec(&r.state).unwrap()
    );
    let released = joins
        .iter()
        .map(|(_, after)| visits.get(after).copied().unwrap_or(0))
        .sum();
    let status = match r.state.error() {
        Some(e) => format!("failed:{}", e.code),
        None => r.state.status().as_str().to_owned(),
    };
    Ok((status, released))
}

fn check_state(state: &RunState) -> Result<(), TestCaseError> {
    let open = state.open_work().count();
    let timers = state.pending_timers().count();
    if state.status().is_terminal() {
        prop_assert_eq!(open, 0, "terminal run with open work");
        prop_assert_eq!(timers, 0, "terminal run with timers");
        prop_assert!(state.ended_at().is_some());
    } else {
        prop_assert!(
            open + timers > 0,
            "live run {:?} with nothing open",
            state.status()
        );
    }
    for step in state.open_work() {
        prop_assert!(matches!(
            step.status,
            StepStatus::Active | StepStatus::WaitingRetry
        ));
    }
    Ok(())
}
