//! Reusing recorded calls: `--resume-from`, `--reuse content` and
//! `odw replay --check`.
//!
//! A run's guest is a pure function of its activation and of the ordered
//! completions it receives. So a later run of the same (or an edited) script
//! can be fed the recorded completions instead of calling agents again, as
//! long as it asks for the same calls:
//!
//! - **prefix rule** (default): call `i` is served from the journal when its
//!   key — `blake3(i ‖ prompt ‖ effective opts)` — equals the recorded key at
//!   `i` and no earlier call diverged. The first changed call and every call
//!   after it run live. A call that was recorded but never completed (the run
//!   was killed, or the agent failed) runs live without ending the prefix.
//! - **content rule** (`--reuse content`): after the divergence, a call whose
//!   prompt and effective opts equal a recorded, not yet used completion is
//!   still served (first in, first out among identical calls), so an edit in
//!   one pipeline branch does not re-run its unchanged siblings.
//! - **check** (`odw replay --check`): every call must be served; the first
//!   that cannot is a divergence, reported like Temporal's non-determinism
//!   error.
//!
//! Served completions are delivered in the **recorded completion order**
//! ([`Sequencer`]), so a `parallel` or `pipeline` reproduces the same call
//! indices however the live run's timing went.

use std::collections::{HashMap, HashSet, VecDeque};

use odw_journal::{CallOutcome, Completed, Issued, Journal, JournalError};

/// How calls after the first divergence are treated (`--reuse`); also the
/// rule that served a reused call, as its events record it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReuseRule {
    #[default]
    Prefix,
    Content,
}

/// What the run does with recorded calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Resume(ReuseRule),
    Check,
    /// `odw import claude`: calls are served from another engine's record
    /// ([`Plan::foreign`]), matched by prompt alone, since that record does
    /// not carry odw's keys; a call it cannot serve fails (it never runs).
    Import,
}

/// A call another engine (Claude Code) finished: the prompt the script
/// passed to `agent()` and what the call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignCall {
    pub prompt: String,
    pub value: serde_json::Value,
}

/// The message of the error an import serves for a call the other engine
/// had not finished; the script sees it as an `AgentError`, and the importer
/// drops those calls' completions, so a resume runs them live.
pub const NOT_FINISHED: &str = "this call had not finished in the imported run";

/// The verdict on one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Serve this recorded completion (recorded at `from_index`).
    Reuse { completed: Completed, from_index: u32, rule: ReuseRule },
    /// Run the agent.
    Live,
    /// `odw replay --check` only: the script asked for a call the journal
    /// does not have.
    Diverged(Divergence),
}

/// What a resumed run took from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseSummary {
    pub by_prefix: u32,
    pub by_content: u32,
    /// The first call that ran live: index and label.
    pub first_live: Option<(u32, String)>,
}

/// The first call of a check that the journal cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub index: u32,
    pub expected: Option<Issued>,
    pub actual_label: String,
    pub actual_prompt_head: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "non-deterministic workflow: call #{} differs from the journal\n  expected: ", self.index)?;
        match &self.expected {
            Some(e) => write!(f, "{} {:?}", e.label, e.prompt_head)?,
            None => write!(f, "no call (the recorded run made only {} calls)", self.index)?,
        }
        write!(f, "\n  actual:   {} {:?}", self.actual_label, self.actual_prompt_head)
    }
}

/// The recorded calls of an earlier run and what has been used of them.
#[derive(Debug)]
pub struct Plan {
    mode: Mode,
    issued: HashMap<u32, Issued>,
    completed: HashMap<u32, Completed>,
    /// Recorded indices in completion order.
    order: Vec<u32>,
    /// `--reuse content`: recorded indices by content key, oldest first.
    by_content: HashMap<String, VecDeque<u32>>,
    diverged_at: Option<u32>,
    /// For the summary: how many calls were reused, by which rule.
    pub reused_prefix: u32,
    pub reused_content: u32,
    pub first_live: Option<(u32, String)>,
    /// [`Mode::Import`]: the other engine's finished calls, oldest first,
    /// each served once.
    foreign: VecDeque<Option<ForeignCall>>,
    /// [`Mode::Import`]: the clock the served completions carry.
    foreign_clock: f64,
}

impl Plan {
    /// A plan that serves another engine's finished `calls` (in the order
    /// they finished there) to the calls whose prompt equals theirs, first
    /// in, first out; any other call gets an `AgentError` ([`NOT_FINISHED`]).
    /// Used by `odw import claude` to learn odw's keys for those calls by
    /// running the script.
    pub fn foreign(calls: Vec<ForeignCall>, clock: f64) -> Plan {
        Plan {
            mode: Mode::Import,
            issued: HashMap::new(),
            completed: HashMap::new(),
            order: Vec::new(),
            by_content: HashMap::new(),
            diverged_at: None,
            reused_prefix: 0,
            reused_content: 0,
            first_live: None,
            foreign: calls.into_iter().map(Some).collect(),
            foreign_clock: clock,
        }
    }

    /// [`Mode::Import`]'s decision: the oldest unserved foreign call with
    /// this prompt, else the not-finished error.
    fn serve_foreign(&mut self, index: u32, key: &str, prompt: &str) -> Decision {
        let found = self.foreign.iter_mut().find(|c| c.as_ref().is_some_and(|c| c.prompt == prompt));
        let outcome = match found.and_then(Option::take) {
            Some(call) => {
                self.reused_prefix += 1;
                CallOutcome::Ok { value: call.value }
            }
            None => CallOutcome::Err { name: "AgentError".into(), message: NOT_FINISHED.into() },
        };
        let completed = Completed {
            index,
            key: key.to_string(),
            outcome,
            attempts: 1,
            usage: odw_journal::Usage::default(),
            clock: self.foreign_clock,
            ms: 0,
        };
        Decision::Reuse { completed, from_index: index, rule: ReuseRule::Prefix }
    }

    /// Reads the recorded calls of `journal`.
    pub fn load(journal: &Journal, mode: Mode) -> Result<Plan, JournalError> {
        let calls = journal.calls()?;
        let issued: HashMap<u32, Issued> = calls.issued.into_iter().map(|i| (i.index, i)).collect();
        // Sized once: grown call by call, the map moved every completion
        // it held at each growth (a resume of 1000 calls: ~80 page faults).
        let mut completed = HashMap::with_capacity(calls.completions.len());
        let mut order = Vec::with_capacity(calls.completions.len());
        for (_seq, c) in calls.completions {
            // A failed call is re-run on resume (its cause may be fixed); a
            // check must reproduce it.
            let usable = mode == Mode::Check || matches!(c.outcome, CallOutcome::Ok { .. });
            if usable {
                order.push(c.index);
                completed.insert(c.index, c);
            }
        }
        // Only the content rule looks calls up by content; a thousand keys
        // copied for nothing were a resume's cost too.
        let mut by_content: HashMap<String, VecDeque<u32>> = HashMap::new();
        if mode == Mode::Resume(ReuseRule::Content) {
            for &index in &order {
                if let Some(i) = issued.get(&index) {
                    by_content.entry(i.content_key.clone()).or_default().push_back(index);
                }
            }
        }
        Ok(Plan {
            mode,
            issued,
            completed,
            order,
            by_content,
            diverged_at: None,
            reused_prefix: 0,
            reused_content: 0,
            first_live: None,
            foreign: VecDeque::new(),
            foreign_clock: 0.0,
        })
    }

    pub fn summary(&self) -> ReuseSummary {
        ReuseSummary {
            by_prefix: self.reused_prefix,
            by_content: self.reused_content,
            first_live: self.first_live.clone(),
        }
    }

    /// Whether a call has differed from the journal yet.
    pub fn diverged(&self) -> bool {
        self.diverged_at.is_some()
    }

    /// Recorded indices in completion order (for the [`Sequencer`]).
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Decides about call `index` with `key` and `content_key`.
    pub fn decide(
        &mut self,
        index: u32,
        key: &str,
        content_key: &str,
        label: &str,
        prompt: &str,
    ) -> Decision {
        if self.mode == Mode::Import {
            return self.serve_foreign(index, key, prompt);
        }
        let recorded = self.issued.get(&index);
        let same_call = recorded.is_some_and(|r| r.key == key);
        if self.diverged_at.is_none() && same_call {
            // Taken out of the plan, not copied (a reply can be large): a
            // recorded call serves one call at most, and its absence keeps
            // the content rule from serving it again.
            if let Some(c) = self.completed.remove(&index) {
                self.reused_prefix += 1;
                return Decision::Reuse { completed: c, from_index: index, rule: ReuseRule::Prefix };
            }
            // Recorded but never completed: run it, the prefix goes on.
        } else if self.diverged_at.is_none() {
            self.diverged_at = Some(index);
        }
        if self.mode == Mode::Check {
            return Decision::Diverged(Divergence {
                index,
                expected: recorded.cloned(),
                actual_label: label.to_string(),
                actual_prompt_head: odw_journal::prompt_head(prompt),
            });
        }
        if self.diverged_at.is_some() && self.mode == Mode::Resume(ReuseRule::Content) {
            while let Some(from) = self.by_content.get_mut(content_key).and_then(VecDeque::pop_front) {
                // A call served already (by either rule) is gone from `completed`.
                if let Some(c) = self.completed.remove(&from) {
                    self.reused_content += 1;
                    return Decision::Reuse { completed: c, from_index: from, rule: ReuseRule::Content };
                }
            }
        }
        if self.first_live.is_none() {
            self.first_live = Some((index, label.to_string()));
        }
        Decision::Live
    }
}

/// Holds served completions until it is their turn in the recorded order.
///
/// `T` is whatever the scheduler delivers; each item is keyed by the index
/// it was recorded at.
#[derive(Debug)]
pub struct Sequencer<T> {
    order: Vec<u32>,
    /// Where each index is in `order`: whether an offered completion must
    /// wait was a scan of the rest of the order, which made serving a
    /// journal quadratic in its calls (a tenth of a 10 000-call resume).
    position: HashMap<u32, usize>,
    next: usize,
    /// The completions waiting for their turn, at their place in `order`.
    /// Boxed, in a vector grown as far as needed: they were kept by index
    /// in a map, whose every growth moved each waiting completion (a few
    /// hundred bytes) into a new table, and a resume of 1000 calls touched
    /// ~250 KB of fresh memory for it (60 page faults).
    waiting: Vec<Option<Box<T>>>,
    /// How many of `waiting` hold one.
    held: usize,
    skipped: HashSet<u32>,
    /// Once the order cannot be kept (the script asked for something else),
    /// everything is delivered as soon as it is ready.
    free: bool,
}

impl<T> Sequencer<T> {
    pub fn new(order: Vec<u32>) -> Self {
        let position = order.iter().enumerate().map(|(at, index)| (*index, at)).collect();
        Sequencer {
            order,
            position,
            next: 0,
            waiting: Vec::new(),
            held: 0,
            skipped: HashSet::new(),
            free: false,
        }
    }

    /// A served completion recorded at `index`; returns what may go now.
    pub fn offer(&mut self, index: u32, item: T) -> Vec<T> {
        let at = match self.position.get(&index) {
            Some(&at) if !self.free && at >= self.next => at,
            _ => return vec![item],
        };
        if at >= self.waiting.len() {
            self.waiting.resize_with(at + 1, || None);
        }
        if self.waiting[at].replace(Box::new(item)).is_none() {
            self.held += 1;
        }
        self.release()
    }

    /// The completion recorded at `index` will not be served (it runs live).
    pub fn skip(&mut self, index: u32) -> Vec<T> {
        self.skipped.insert(index);
        self.release()
    }

    /// The guest is blocked waiting for a completion: keeping the order
    /// would wait forever, so let everything go.
    pub fn idle(&mut self) -> Vec<T> {
        if self.held == 0 {
            return Vec::new();
        }
        self.release_all()
    }

    /// Gives up the recorded order: everything waiting goes now, in order,
    /// and later offers go at once.
    pub fn release_all(&mut self) -> Vec<T> {
        self.free = true;
        self.held = 0;
        std::mem::take(&mut self.waiting).into_iter().flatten().map(|item| *item).collect()
    }

    fn release(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(&index) = self.order.get(self.next) {
            if let Some(item) = self.waiting.get_mut(self.next).and_then(Option::take) {
                self.held -= 1;
                out.push(*item);
            } else if !self.skipped.contains(&index) {
                break;
            }
            self.next += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_journal::{Started, Usage, call_key, content_key, prompt_head};
    use serde_json::json;

    /// A recorded call: its prompt, and whether it completed (and how).
    #[derive(Clone, Copy)]
    enum Recorded {
        Ok(&'static str),
        Failed(&'static str),
        Incomplete(&'static str),
    }

    fn prompt_of(r: Recorded) -> &'static str {
        match r {
            Recorded::Ok(p) | Recorded::Failed(p) | Recorded::Incomplete(p) => p,
        }
    }

    fn opts() -> serde_json::Value {
        json!({"adapter": "echo"})
    }

    /// A journal with `calls` recorded at indices 0.., completed in
    /// `order` (indices of completed calls).
    fn journal(dir: &std::path::Path, calls: &[Recorded], order: &[u32]) -> Journal {
        let started = Started {
            version: odw_journal::FORMAT_VERSION,
            seed: [1, 2],
            clock: 0.0,
            script_hash: "s".into(),
            args_hash: "a".into(),
            resumed_from: None,
            odw_version: "test".into(),
            context: serde_json::Value::Null,
        };
        let journal = Journal::create(&dir.join("journal"), started).unwrap();
        for (i, call) in calls.iter().enumerate() {
            let prompt = prompt_of(*call);
            journal
                .issue(&Issued {
                    index: i as u32,
                    key: call_key(i as u32, prompt, &opts()),
                    content_key: content_key(prompt, &opts()),
                    label: format!("c{i}"),
                    phase: None,
                    prompt_head: prompt_head(prompt),
                })
                .unwrap();
        }
        for &i in order {
            let outcome = match calls[i as usize] {
                Recorded::Ok(p) => CallOutcome::Ok { value: json!(format!("answer to {p}")) },
                Recorded::Failed(_) => CallOutcome::Err { name: "AgentError".into(), message: "no".into() },
                Recorded::Incomplete(_) => continue,
            };
            let key = call_key(i, prompt_of(calls[i as usize]), &opts());
            let completed =
                Completed { index: i, key, outcome, attempts: 1, usage: Usage::default(), clock: 0.0, ms: 1 };
            journal.complete(&completed).unwrap();
        }
        journal
    }

    /// What `decide` said, in short: `P<from>` reused by prefix, `C<from>`
    /// by content, `L` live, `D` diverged.
    fn verdicts(mode: Mode, calls: &[Recorded], order: &[u32], asked: &[&str]) -> (Vec<String>, Plan) {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::load(&journal(dir.path(), calls, order), mode).unwrap();
        let said = asked
            .iter()
            .enumerate()
            .map(|(i, prompt)| {
                let key = call_key(i as u32, prompt, &opts());
                match plan.decide(i as u32, &key, &content_key(prompt, &opts()), "l", prompt) {
                    Decision::Reuse { from_index, rule: ReuseRule::Prefix, .. } => format!("P{from_index}"),
                    Decision::Reuse { from_index, rule: ReuseRule::Content, .. } => format!("C{from_index}"),
                    Decision::Live => "L".into(),
                    Decision::Diverged(_) => "D".into(),
                }
            })
            .collect();
        (said, plan)
    }

    #[test]
    fn a_foreign_plan_serves_by_prompt_once_and_fails_the_rest() {
        let calls = vec![
            ForeignCall { prompt: "b".into(), value: json!("B") },
            ForeignCall { prompt: "a".into(), value: json!("A1") },
            ForeignCall { prompt: "a".into(), value: json!("A2") },
        ];
        let mut plan = Plan::foreign(calls, 5.0);
        let mut served = |i: u32, prompt: &str| match plan.decide(i, &format!("k{i}"), "c", "l", prompt) {
            Decision::Reuse { completed, from_index, .. } => {
                assert_eq!((completed.index, completed.key.as_str(), from_index), (i, &*format!("k{i}"), i));
                completed.outcome
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(served(0, "a"), CallOutcome::Ok { value: json!("A1") });
        assert_eq!(served(1, "a"), CallOutcome::Ok { value: json!("A2") });
        let not_finished = CallOutcome::Err { name: "AgentError".into(), message: NOT_FINISHED.into() };
        assert_eq!(served(2, "a"), not_finished);
        assert_eq!(served(3, "c"), not_finished);
        assert_eq!(served(4, "b"), CallOutcome::Ok { value: json!("B") });
        assert_eq!(plan.reused_prefix, 3);
    }

    #[test]
    fn decide_applies_the_reuse_rules() {
        use Recorded::*;
        let prefix = Mode::Resume(ReuseRule::Prefix);
        let content = Mode::Resume(ReuseRule::Content);
        let abc = [Ok("a"), Ok("b"), Ok("c")];
        #[rustfmt::skip]
        type Case<'a> = (&'a str, Mode, &'a [Recorded], &'a [u32], &'a [&'a str], &'a [&'a str]);
        let table: [Case; 9] = [
            ("unchanged: all reused", prefix, &abc, &[0, 1, 2], &["a", "b", "c"], &["P0", "P1", "P2"]),
            ("a change ends the prefix", prefix, &abc, &[0, 1, 2], &["a", "X", "c"], &["P0", "L", "L"]),
            (
                "content reuses after the change",
                content,
                &abc,
                &[0, 1, 2],
                &["a", "X", "c"],
                &["P0", "L", "C2"],
            ),
            (
                "content serves a moved call once",
                content,
                &abc,
                &[0, 1, 2],
                &["X", "b", "b"],
                &["L", "C1", "L"],
            ),
            (
                "a failed call runs again, the prefix goes on",
                prefix,
                &[Ok("a"), Failed("b"), Ok("c")],
                &[0, 1, 2],
                &["a", "b", "c"],
                &["P0", "L", "P2"],
            ),
            (
                "an incomplete call runs, the prefix goes on",
                prefix,
                &[Ok("a"), Incomplete("b"), Ok("c")],
                &[0, 2],
                &["a", "b", "c"],
                &["P0", "L", "P2"],
            ),
            (
                "more calls than recorded run live",
                prefix,
                &abc,
                &[0, 1, 2],
                &["a", "b", "c", "d"],
                &["P0", "P1", "P2", "L"],
            ),
            (
                "check serves everything recorded",
                Mode::Check,
                &[Ok("a"), Failed("b")],
                &[1, 0],
                &["a", "b"],
                &["P0", "P1"],
            ),
            ("check refuses the first difference", Mode::Check, &abc, &[0, 1, 2], &["a", "X"], &["P0", "D"]),
        ];
        for (case, mode, calls, order, asked, expected) in table {
            let (said, _) = verdicts(mode, calls, order, asked);
            assert_eq!(said, expected, "{case}");
        }
    }

    #[test]
    fn the_plan_keeps_the_recorded_order_and_sums_up() {
        use Recorded::*;
        let (_, plan) = verdicts(
            Mode::Resume(ReuseRule::Content),
            &[Ok("a"), Ok("b"), Ok("c")],
            &[2, 0, 1],
            &["a", "X", "c"],
        );
        assert_eq!(plan.order(), [2, 0, 1]);
        assert!(plan.diverged());
        let summary = plan.summary();
        assert_eq!((summary.by_prefix, summary.by_content), (1, 1));
        assert_eq!(summary.first_live, Some((1, "l".into())));
    }

    #[test]
    fn sequencer_delivers_in_recorded_order() {
        let mut s = Sequencer::new(vec![2, 0, 1]);
        assert!(s.offer(0, "c0").is_empty());
        assert!(s.offer(1, "c1").is_empty());
        assert_eq!(s.offer(2, "c2"), ["c2", "c0", "c1"]);
    }

    #[test]
    fn sequencer_skips_calls_that_run_live_and_frees_on_idle() {
        let mut s = Sequencer::new(vec![3, 1, 2]);
        assert!(s.offer(2, "c2").is_empty());
        assert!(s.skip(3).is_empty());
        assert!(s.offer(1, "c1") == ["c1", "c2"]);

        let mut s = Sequencer::new(vec![5, 4]);
        assert!(s.offer(4, "c4").is_empty());
        assert_eq!(s.idle(), ["c4"]);
        assert_eq!(s.offer(5, "c5"), ["c5"]);
    }

    /// What waits is released in the recorded order, however it came; an
    /// index never recorded, or one whose turn has passed, goes at once;
    /// and with nothing waiting, idling releases nothing and keeps order.
    #[test]
    fn sequencer_releases_everything_waiting_in_recorded_order() {
        let order: Vec<u32> = (0..100).rev().collect();
        let mut s = Sequencer::new(order);
        assert!(s.idle().is_empty(), "nothing waits yet");
        for i in 0..99 {
            assert!(s.offer(i, i).is_empty(), "{i} waits for 99");
        }
        assert_eq!(s.offer(1000, 1000), [1000], "never recorded");
        assert_eq!(s.offer(99, 99), (0..100).rev().collect::<Vec<_>>());
        assert_eq!(s.offer(50, 50), [50], "its turn has passed");

        let mut s = Sequencer::new(vec![3, 2, 1, 0]);
        assert!(s.offer(0, 0).is_empty());
        assert!(s.offer(2, 2).is_empty());
        assert_eq!(s.idle(), [2, 0], "in recorded order");
        assert_eq!(s.offer(1, 1), [1], "free from then on");
    }
}
