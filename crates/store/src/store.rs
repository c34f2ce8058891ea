//! The [`Store`] trait: the one seam between Agentwerke and its database.

use agentwerke_evidence::chain::AuditRecord;
use agentwerke_types::{Timestamp, ToolCallId};
use async_trait::async_trait;

use crate::calls::{Begun, ToolCallIntent, ToolCallOutcome, ToolCallRow};
use crate::change::{Change, Committed};
use crate::error::Result;
use crate::gateway::{ArtifactRow, HaltRow, PolicySetRow};
use crate::model::{
    ApprovalFilter, ApprovalRow, ClaimedRun, Commit, EvidenceRecord, Page, PageRequest,
    QuestionFilter, QuestionRow, RunFilter, RunRow, TimerRow, WorkItem, WorkflowSummary,
    WorkflowVersion,
};
use crate::secrets::{SealedSecretRow, SecretRow};

/// Durable state behind Agentwerke, used as `Arc<dyn Store>`.
///
/// Rules every implementation keeps (the contract suite in `tests/contract`
/// checks them):
///
/// - A method that changes state writes its audit records in the **same**
///   transaction, hash-chained per run with `agentwerke_evidence::chain::next`
///   on the run's last record read inside that transaction. Workflow-level
///   records go to the global stream [`GLOBAL_STREAM`](crate::GLOBAL_STREAM).
/// - An audit draft must name the run the call writes to; a draft for another
///   run is refused with `store.invalid_input`.
/// - Idempotency keys make retries after a crash harmless: a repeated
///   dedup key or delivery id is a no-op that reports itself, and a second
///   completion of the same work is refused (`store.work_closed`) with
///   nothing written.
#[async_trait]
pub trait Store: Send + Sync {
    // ------------------------------------------------------------ workflows

    /// Every workflow, by id.
    async fn list_workflows(&self) -> Result<Vec<WorkflowSummary>>;

    /// One page of workflows, by id; the limit is part of the query.
    async fn page_workflows(&self, page: PageRequest) -> Result<Page<WorkflowSummary>>;

    /// One workflow.
    async fn get_workflow(&self, id: &str) -> Result<Option<WorkflowSummary>>;

    /// One page of a workflow's versions, newest first; the limit is part
    /// of the query.
    async fn page_versions(&self, id: &str, page: PageRequest) -> Result<Page<WorkflowVersion>>;

    /// One version.
    async fn get_version(&self, id: &str, version: i64) -> Result<Option<WorkflowVersion>>;

    /// The newest published version.
    async fn latest_published(&self, id: &str) -> Result<Option<WorkflowVersion>>;

    // ----------------------------------------------------------------- runs

    // Creating a run is a command: `Row::CreateRun` in a [`Store::commit`].

    /// One run.
    async fn get_run(&self, id: &str) -> Result<Option<RunRow>>;

    /// One run with its approvals (oldest first), read at one moment, so a
    /// step that changed both is seen entirely or not at all.
    async fn get_run_with_approvals(&self, id: &str) -> Result<Option<(RunRow, Vec<ApprovalRow>)>>;

    /// Runs, newest first, paged by an opaque cursor.
    async fn list_runs(&self, filter: RunFilter) -> Result<Page<RunRow>>;

    /// Leases up to `limit` runs that have unprocessed events and no live
    /// lease of another owner, with their events.
    async fn claim_runs(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>>;

    /// Writes one engine step: state, processed events, ops and audit. Fails
    /// with `LeaseLost` when another owner holds the lease and `Conflict` when
    /// `expected_state_version` is stale. Releases the lease.
    async fn commit_run(&self, commit: Commit) -> Result<()>;

    /// Writes several engine steps, each exactly as [`Store::commit_run`]
    /// would (its own all-or-nothing unit, its own lease and version check),
    /// and returns their results in the same order. One step's failure does
    /// not undo the others. Implementations override it to share one
    /// durable commit among all of them; this default writes them one by one.
    async fn commit_runs(&self, commits: Vec<Commit>) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(commits.len());
        for commit in commits {
            results.push(self.commit_run(commit).await);
        }
        results
    }

    // ----------------------------------------------------------------- work

    /// Leases up to `limit` pending work items whose lease is free or expired.
    async fn claim_work(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>>;

    /// Extends `owner`'s lease on pending work to `now + lease_ms`, for the
    /// claim numbered `claim` (its `attempt_count`). Fails with `LeaseLost`
    /// when the work moved to another owner, was claimed again since (even by
    /// the same owner, after the lease lapsed), or is no longer pending.
    async fn extend_work_lease(
        &self,
        run_id: &str,
        work_id: &str,
        owner: &str,
        claim: i64,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<()>;

    /// A run's work that is still pending, oldest first.
    async fn pending_work_for_run(&self, run_id: &str) -> Result<Vec<WorkItem>>;

    // --------------------------------------------------------------- timers

    /// Up to `limit` scheduled timers due by `now`, in due order. Firing
    /// one is a command (`Row::FireTimer` in a [`Store::commit`]).
    async fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<TimerRow>>;

    /// When the next scheduled timer is due.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>>;

    /// A run's timers, by due time.
    async fn timers_for_run(&self, run_id: &str) -> Result<Vec<TimerRow>>;

    // ------------------------------------------------------------ approvals

    /// Approvals, oldest first. Unbounded: for one run's approvals; lists
    /// shown to users go through [`Store::page_approvals`].
    async fn list_approvals(&self, filter: ApprovalFilter) -> Result<Vec<ApprovalRow>>;

    /// One page of approvals, oldest first; the limit is part of the query.
    async fn page_approvals(
        &self,
        filter: ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRow>>;

    /// One approval.
    async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRow>>;

    /// Writes one command's [`Change`] in one transaction: each row's
    /// compare-and-set, the audit records chained on the run's head, the
    /// evidence records, and the run's event (stepped at once when the
    /// offered step still applies, else queued; see
    /// [`AppliedStep`](crate::AppliedStep)). A row no longer in the state
    /// the plan saw refuses the whole change and writes nothing: of
    /// concurrent decisions on one approval exactly one wins and the others
    /// get `AlreadyDecided`; a decision on an approval whose `expires_at`
    /// has passed gets `Expired`, whether or not it was marked expired yet;
    /// of concurrent answers one wins and the others get `AlreadyAnswered`.
    /// A global change writes halts, policy sets and workflow versions with
    /// their records on the global stream: of two concurrent drafts or
    /// imports that planned the same next version one wins and the other
    /// gets `Conflict`; lifting a halt frees the steps it held
    /// ([`Store::hold_work`]).
    async fn commit(&self, change: Change) -> Result<Committed>;

    /// A run's approvals, oldest first.
    async fn approvals_for_run(&self, run_id: &str) -> Result<Vec<ApprovalRow>>;

    // Delivering a message is a command: `Row::DeliverMessage` in a
    // [`Store::commit`].

    // ------------------------------------------------------------- evidence

    /// A run's audit records (or the global stream's), oldest first.
    async fn audit_log(&self, run_id: &str) -> Result<Vec<AuditRecord>>;

    /// One page of a stream's audit records, oldest first: those whose
    /// `seq` is greater than `after` (0 for the first page), at most `limit`
    /// of them (0 means 1, capped at [`MAX_PAGE`](crate::MAX_PAGE)).
    /// `next_cursor` is the `seq` of the page's last record when more
    /// follow, as decimal text.
    async fn audit_page(&self, stream: &str, after: u64, limit: u32) -> Result<Page<AuditRecord>>;

    /// A run's evidence records, in write order.
    async fn records(&self, run_id: &str) -> Result<Vec<EvidenceRecord>>;

    /// A cheap round trip to the database, for readiness probes.
    async fn health(&self) -> Result<()>;

    // -------------------------------------------------------------- gateway

    /// Every policy set, newest first.
    async fn list_policy_sets(&self) -> Result<Vec<PolicySetRow>>;

    /// One page of policy sets, newest first; the limit is part of the query.
    async fn page_policy_sets(&self, page: PageRequest) -> Result<Page<PolicySetRow>>;

    /// One policy set.
    async fn get_policy_set(&self, version: i64) -> Result<Option<PolicySetRow>>;

    /// The newest published policy set, if any.
    async fn active_policy_set(&self) -> Result<Option<PolicySetRow>>;

    /// The halts in force, oldest first: all of them, for the checks that
    /// must see every one.
    async fn halts(&self) -> Result<Vec<HaltRow>>;

    /// One page of the halts in force, oldest first; the limit is part of
    /// the query.
    async fn page_halts(&self, page: PageRequest) -> Result<Page<HaltRow>>;

    /// Stores the artifact `artifact.write` call `call_id` wrote, by content
    /// hash, and points its path at it, in one transaction; false, and
    /// nothing written, when that call's write was stored before. Keyed by
    /// the call, so a call run again after a crash repeats nothing (not even
    /// pointing its path back at its content when a later call moved it).
    async fn put_artifact(
        &self,
        meta: ArtifactRow,
        content: Vec<u8>,
        call_id: &ToolCallId,
        at: Timestamp,
    ) -> Result<bool>;

    /// A run artifact's bytes by hash.
    async fn get_artifact(&self, run_id: &str, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// What a run artifact path points at.
    async fn find_artifact(&self, run_id: &str, path: &str) -> Result<Option<ArtifactRow>>;

    // ----------------------------------------------------- tool-call journal

    /// Commits a tool call's intent before its tool runs (see
    /// [`crate::calls`]): a new call is inserted as `started`; a call still
    /// `started` (its outcome was lost) counts one more execution; a call
    /// with an outcome is handed back as [`Begun::Settled`] and nothing is
    /// written. A named approval is used up in the same transaction (it
    /// must be an approved, unused tool escalation of the run, else
    /// [`Begun::ApprovalUsed`] and nothing is written), so a crash between
    /// using an approval and recording the call it let run cannot happen.
    /// The same id begun for another tool or other arguments is a
    /// `Conflict`.
    async fn begin_tool_call(&self, intent: ToolCallIntent) -> Result<Begun>;

    /// Commits a started call's outcome right after its tool returned;
    /// false, and nothing written, when the call is not `started` (never
    /// begun, or settled already). An outcome of `started` is refused.
    async fn finish_tool_call(&self, outcome: ToolCallOutcome) -> Result<bool>;

    /// A run's tool-call journal, in the order the calls were first begun.
    async fn tool_calls_for_run(&self, run_id: &str) -> Result<Vec<ToolCallRow>>;

    /// Questions by status and run, oldest first. Unbounded: for one run's
    /// conversation; lists shown to users go through
    /// [`Store::page_questions`].
    async fn list_questions(&self, filter: QuestionFilter) -> Result<Vec<QuestionRow>>;

    /// One page of questions, oldest first; the limit is part of the query.
    async fn page_questions(
        &self,
        filter: QuestionFilter,
        page: PageRequest,
    ) -> Result<Page<QuestionRow>>;

    /// One question.
    async fn get_question(&self, id: &str) -> Result<Option<QuestionRow>>;

    /// Pending approvals whose `expires_at` has passed, at most 100, the
    /// longest overdue first; each is expired through [`Store::commit`].
    async fn due_expiries(&self, now: Timestamp) -> Result<Vec<ApprovalRow>>;

    /// One of a run's timers, by its id within the run: what firing it
    /// reads, without reading the run's other timers.
    async fn get_timer(&self, run_id: &str, timer_id: &str) -> Result<Option<TimerRow>>;

    /// The stored secrets, by name: name, fingerprint and who changed them
    /// when, never the sealed envelope.
    async fn secrets(&self) -> Result<Vec<SecretRow>>;

    /// One stored secret, described.
    async fn get_secret(&self, name: &str) -> Result<Option<SecretRow>>;

    /// Every stored secret's sealed envelope, by name: what the server
    /// opens at start and after a change, and nothing else reads.
    async fn sealed_secrets(&self) -> Result<Vec<SealedSecretRow>>;

    /// What a step's work and its run spent on model turns, summed over
    /// every turn kept ([`Row::RecordModelUsage`](crate::Row)), whichever
    /// claim or process made it: what budgets are checked against.
    async fn model_spend(&self, run_id: &str, work_id: &str) -> Result<crate::usage::SpendTotals>;

    /// Keeps a web UI session, and forgets every session ended at `now`.
    async fn open_session(
        &self,
        session: crate::sessions::SessionRow,
        now: Timestamp,
    ) -> Result<()>;

    /// The web UI session whose id hashes to `id_hash`, if live at `now`.
    async fn get_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<crate::sessions::SessionRow>>;

    /// Ends the web UI session whose id hashes to `id_hash`.
    async fn close_session(&self, id_hash: &str) -> Result<()>;

    /// Every BPMN node the run's tokens reached, events and gateways
    /// included ([`Op::TrackNode`](crate::Op::TrackNode)), in the order
    /// they were first reached.
    async fn run_nodes(&self, run_id: &str) -> Result<Vec<crate::model::NodeRow>>;

    /// The `seq` of the stream's newest audit record (0 when it has none):
    /// where a live follower that has seen everything so far starts.
    async fn audit_head(&self, stream: &str) -> Result<u64>;
}
