//! Journal replay: a past rollout read back from its journal, in time order. The same
//! journal lines a headless run or the dashboard writes; a line that cannot be read is
//! skipped and reported, never fatal. Journal text came from nodes and files: every
//! string is cleaned (`crate::safe_text::clean`) as it is read.
//!
//! [`Replay`] is the parsed journal, [`Replay::state_at`] folds it up to a point, and
//! [`Replay::summary`] prints the incident-review timeline. [`player::Player`] is the
//! interactive replay the dashboard draws.

pub mod player;
pub mod recap;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use crate::inventory::NodeId;
use crate::observe::Millis;
use crate::rollout::journal::{self, BadLine, Event, Line};
use crate::rollout::machine::{Attempt, Command, NodeRun, Phase, Record};
use crate::rollout::track::{self, NodeTrack};
use crate::rollout::words::{self, Names};
use crate::safe_text::clean;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the journal.
    pub line: usize,
    pub ts: Millis,
    pub rollout: String,
    pub skills_sha: String,
    pub manifest_sha256: String,
    pub node: Option<String>,
    /// The node's index in the run's inventory, for a stable order.
    pub node_idx: Option<u64>,
    /// What happened: the machine's record as the journal has it, every text in it
    /// cleaned (an event this meshroll does not know is shown, not interpreted).
    pub event: Event,
    /// An operator's action in words, nodes by name, as the journal wrote it (cleaned).
    pub action: Option<String>,
    /// Which run of meshroll wrote it, 1-based in time order (a crash and its resume
    /// are two runs); set by [`Replay::from_entries`].
    pub run: usize,
}

/// A line's names: its own node's, and its operator action as the journal worded it.
struct LineNames<'a>(&'a Entry);

impl Names for LineNames<'_> {
    fn node(&self, id: NodeId) -> String {
        match &self.0.node {
            Some(n) if self.0.node_idx == Some(id.index() as u64) => n.clone(),
            _ => format!("node #{id}"),
        }
    }
    fn command(&self, c: &Command) -> String {
        match &self.0.action {
            Some(a) => a.clone(),
            // An older journal: the nodes by position.
            None => clean(&c.describe(|n| format!("node #{n}"))),
        }
    }
}

impl Entry {
    /// The record, when this meshroll knows the event.
    pub fn record(&self) -> Option<&Record> {
        match &self.event {
            Event::Record(r) => Some(r),
            Event::Unknown { .. } => None,
        }
    }

    /// A failure worth jumping to: a failed attempt, a failed node, a halt, a failed
    /// rollback, a failed bake poll.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.record(),
            Some(
                Record::PhaseFailed { .. }
                    | Record::NodeFailed { .. }
                    | Record::Halted { .. }
                    | Record::RolledBack { result: Err(_), .. }
                    | Record::BakePolled { ok: false, .. }
            )
        )
    }

    /// One readable line, without the time: the live rollout's words
    /// ([`crate::rollout::words::words`]).
    pub fn describe(&self) -> String {
        match &self.event {
            Event::Record(r) => words::words(r, &LineNames(self)).text,
            Event::Unknown { event, .. } => {
                format!("{} {event}", self.node.as_deref().unwrap_or("?"))
            }
        }
    }
}

/// One typed journal line -> an entry, every string cleaned.
pub fn entry(line: usize, l: &Line) -> Entry {
    let event = match &l.event {
        Event::Unknown { event, node } => Event::Unknown {
            event: clean(event),
            node: *node,
        },
        Event::Record(rec) => Event::Record(rec.clone().map_text(clean)),
    };
    let node = l
        .node_name
        .as_deref()
        .map(clean)
        .or_else(|| l.node().map(|i| format!("node #{i}")));
    let text = |s: &Option<String>| s.as_deref().map(clean).unwrap_or_default();
    Entry {
        line,
        ts: l.ts_ms,
        rollout: text(&l.rollout),
        skills_sha: text(&l.skills_sha),
        manifest_sha256: text(&l.manifest_sha256),
        node,
        node_idx: l.node(),
        event,
        action: l.action.as_deref().map(clean),
        run: 1,
    }
}

/// Text shown on one line: runs of white space (and escaped line breaks) become one
/// space, and text longer than `max` characters is cut, its size said: a gateway status
/// archived at baseline reads as one line, not a screenful.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = s.replace("\\n", " ").replace("\\r", " ");
    let flat: String = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let head: String = flat.chars().take(max.saturating_sub(1)).collect();
    format!("{head}… ({} bytes)", s.len())
}

/// Where a run stopped and the next one started, in a journal with several runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The last event of the run that stopped.
    pub stopped_at: Millis,
    /// The first event of the next run.
    pub resumed_at: Millis,
    /// How the run that stopped ended, in words.
    pub how: String,
    /// The run the next one is (2 for the first resume).
    pub run: usize,
}

/// A journal read for replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The journal's path, cleaned, for titles.
    pub source: String,
    /// Every event, in time order (ties keep the journal's order).
    pub entries: Vec<Entry>,
    /// Lines skipped (torn, not UTF-8, not JSON, no event).
    pub bad: Vec<BadLine>,
    /// Node names in the run's inventory order.
    pub nodes: Vec<String>,
    /// Where a run stopped and a later one took over, in time order.
    pub breaks: Vec<Break>,
    /// The position in `nodes` of each node index the journal's lines name (an
    /// operator's retry names its node by index).
    pub by_index: BTreeMap<u64, usize>,
}

/// Number the runs that wrote `entries` (in time order) and say where each stopped. A
/// run starts at a `run_started` line, or, in journals written before those lines, at a
/// canary or wave started again in the same rollout.
fn number_runs(entries: &mut [Entry]) -> Vec<Break> {
    let mut breaks = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut run = 1;
    let mut after_run_start = false;
    let mut run_from = 0;
    for i in 0..entries.len() {
        let e = &entries[i];
        let starts = match e.record() {
            Some(Record::RunStarted { .. }) => i > 0,
            Some(Record::StageStarted { class, stage }) => {
                let again = !seen.insert((e.rollout.clone(), class.clone(), *stage));
                again && !after_run_start
            }
            _ => false,
        };
        if starts {
            let prev = &entries[run_from..i];
            let how = if prev
                .iter()
                .any(|x| matches!(x.record(), Some(Record::Finished { .. })))
            {
                "it finished"
            } else if prev
                .iter()
                .any(|x| matches!(x.record(), Some(Record::Halted { .. })))
            {
                "it halted and recorded no finish"
            } else {
                "it recorded no finish (killed or crashed)"
            };
            run += 1;
            breaks.push(Break {
                stopped_at: entries[i - 1].ts,
                resumed_at: entries[i].ts,
                how: how.into(),
                run,
            });
            run_from = i;
        }
        after_run_start = matches!(entries[i].record(), Some(Record::RunStarted { .. }));
        entries[i].run = run;
    }
    breaks
}

impl Replay {
    /// Read a journal. Only an unreadable file is an error; bad lines are skipped.
    pub fn load(path: &Path) -> anyhow::Result<Replay> {
        let records = journal::read_records(path)
            .map_err(|e| anyhow::anyhow!("journal {}: {e}", clean(&path.display().to_string())))?;
        let entries = records.lines.iter().map(|(n, l)| entry(*n, l)).collect();
        Ok(Replay::from_entries(
            clean(&path.display().to_string()),
            entries,
            records.bad,
        ))
    }

    pub fn from_entries(source: String, mut entries: Vec<Entry>, bad: Vec<BadLine>) -> Replay {
        entries.sort_by_key(|e| (e.ts, e.line));
        let breaks = number_runs(&mut entries);
        let mut order: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        for (k, e) in entries.iter().enumerate() {
            if let Some(n) = &e.node {
                let key = (e.node_idx.unwrap_or(u64::MAX), k);
                order
                    .entry(n.clone())
                    .and_modify(|o| *o = (*o).min(key))
                    .or_insert(key);
            }
        }
        let mut nodes: Vec<(String, (u64, usize))> = order.into_iter().collect();
        nodes.sort_by_key(|(_, k)| *k);
        let nodes: Vec<String> = nodes.into_iter().map(|(n, _)| n).collect();
        let position: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut by_index = BTreeMap::new();
        for e in &entries {
            if let (Some(n), Some(i)) = (&e.node, e.node_idx)
                && let Some(&at) = position.get(n.as_str())
            {
                by_index.entry(i).or_insert(at);
            }
        }
        Replay {
            source,
            entries,
            bad,
            nodes,
            breaks,
            by_index,
        }
    }

    pub fn start(&self) -> Millis {
        self.entries.first().map_or(0, |e| e.ts)
    }

    pub fn end(&self) -> Millis {
        self.entries.last().map_or(0, |e| e.ts)
    }

    /// Everything known after the first `upto` entries.
    pub fn state_at(&self, upto: usize) -> At {
        let mut at = At {
            nodes: self.nodes.iter().map(|n| NodeAt::new(n.clone())).collect(),
            ..At::default()
        };
        self.apply_range(&mut at, 0, upto);
        at
    }

    /// Fold entries `from..to` into `at` (which holds the first `from`): playing forward
    /// costs only the new entries.
    pub fn apply_range(&self, at: &mut At, from: usize, to: usize) {
        let index: BTreeMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        for e in self.entries.iter().take(to).skip(from) {
            let slot = match &e.node {
                Some(n) => index.get(n.as_str()).copied(),
                // A line about a node by index only (an operator's retry).
                None => e
                    .record()
                    .and_then(track::subject)
                    .and_then(|id| self.by_index.get(&(id.index() as u64)).copied()),
            };
            at.apply(e, slot);
        }
    }

    /// The incident-review timeline: rollouts, what happened in time order, then every
    /// node's attempts with their errors and waits, and how it ended.
    pub fn summary(&self) -> String {
        self.summary_with(&[])
    }

    /// [`Replay::summary`] with the node actions of the audit log
    /// ([`crate::actions::audit`]) in the timeline, in time order with the rollouts.
    pub fn summary_with(&self, actions: &[crate::actions::audit::Record]) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "journal {}: {} event(s), {} line(s) skipped",
            self.source,
            self.entries.len(),
            self.bad.len()
        );
        for b in &self.bad {
            let _ = writeln!(o, "  skipped {b}");
        }
        if self.entries.is_empty() {
            if actions.is_empty() {
                let _ = writeln!(o, "nothing to replay");
            } else {
                let _ = writeln!(o, "\ntimeline:");
                let t0 = actions.iter().map(|a| a.ts).min().unwrap_or(0);
                for a in actions {
                    let _ = writeln!(o, "{}", timeline_line(t0, a.ts, &a.describe()));
                }
            }
            return o;
        }
        let t0 = self
            .start()
            .min(actions.iter().map(|a| a.ts).min().unwrap_or(u64::MAX));
        for r in rollouts(&self.entries) {
            let _ = writeln!(
                o,
                "rollout {}  bundle {}  manifest {}  {} for {}",
                r.first.rollout,
                crate::skew::short(&r.first.skills_sha),
                crate::skew::short(&r.first.manifest_sha256),
                utc(r.first.ts),
                secs(r.last_ts.saturating_sub(r.first.ts))
            );
        }
        let _ = writeln!(o, "\ntimeline:");
        // The journal's events (with a mark where a run stopped and where the next one
        // resumed) and the audit log's actions, merged in time order (a stable sort:
        // lines of one instant keep their order).
        let mut timeline: Vec<(Millis, String)> = Vec::new();
        let mut breaks = self.breaks.iter().peekable();
        for e in &self.entries {
            if let Some(b) = breaks.next_if(|b| b.run == e.run) {
                timeline.push((
                    b.stopped_at,
                    format!("── the run stopped here: {} ──", b.how),
                ));
                timeline.push((
                    b.resumed_at,
                    format!(
                        "── run {} resumed after {} without a run ──",
                        b.run,
                        secs(b.resumed_at.saturating_sub(b.stopped_at))
                    ),
                ));
            }
            let keep = matches!(
                e.record(),
                Some(r) if !matches!(
                    r,
                    Record::PhaseStarted { .. }
                        | Record::PhaseDone { .. }
                        | Record::RunStarted { .. }
                )
            );
            if keep {
                timeline.push((e.ts, e.describe()));
            }
        }
        timeline.extend(actions.iter().map(|a| (a.ts, a.describe())));
        timeline.sort_by_key(|(ts, _)| *ts);
        for (ts, what) in &timeline {
            let _ = writeln!(o, "{}", timeline_line(t0, *ts, what));
        }
        let end = self.state_at(self.entries.len());
        let gaps = Gaps::of(&self.breaks);
        let _ = writeln!(o, "\nnodes:");
        let several_runs = !self.breaks.is_empty();
        for n in &end.nodes {
            // Time in service: from its first phase to its end, less the time no run
            // was going.
            let took = match (n.track.started, n.track.ended) {
                (Some(s), Some(e)) if n.gap_ms > 0 => format!(
                    " in {} in service (+{} between runs)",
                    secs(e.saturating_sub(s).saturating_sub(n.gap_ms)),
                    secs(n.gap_ms)
                ),
                (Some(s), Some(e)) => format!(" in {}", secs(e.saturating_sub(s))),
                _ => String::new(),
            };
            let retries = n.track.retries_used();
            let retries = match retries {
                0 => String::new(),
                1 => ", 1 retry".into(),
                r => format!(", {r} retries"),
            };
            let (word, why) = match n.status {
                Status::Failed => (
                    format!("FAILED at {}", n.phase_name()),
                    format!(": {}", n.last_error.as_deref().unwrap_or("?")),
                ),
                _ => (n.outcome(), String::new()),
            };
            let _ = writeln!(
                o,
                "  {}  {word}{took}, {} attempt(s){retries}{why}",
                n.name,
                n.track.history.len()
            );
            let mut run = n.marks.first().map_or(1, |m| m.run);
            for AttemptAt { attempt: a, mark } in n.attempts() {
                if mark.run != run {
                    let gap = gaps.between(run, mark.run);
                    let _ = writeln!(
                        o,
                        "      ── the run stopped; run {} went on {} later ──",
                        mark.run,
                        secs(gap)
                    );
                    run = mark.run;
                }
                let took = a.ended.map_or("unfinished".to_string(), |e| {
                    secs(e.saturating_sub(a.started))
                });
                let what = match &a.outcome {
                    None if mark.cut => "no outcome: the run stopped mid-attempt".to_string(),
                    None => "no outcome in the journal".to_string(),
                    Some(Ok(note)) => format!("ok: {}", one_line(note, NOTE_CHARS)),
                    Some(Err(f)) => format!(
                        "failed ({}): {}",
                        f.kind(),
                        one_line(f.message(), NOTE_CHARS)
                    ),
                };
                let wait = match mark.wait_ms {
                    Some(w) if mark.cut => {
                        format!("; its retry in {} never ran: the run stopped", secs(w))
                    }
                    Some(w) => format!("; waited {}", secs(w)),
                    None => String::new(),
                };
                let which = if several_runs {
                    format!("#{} (run {})", a.attempt, mark.run)
                } else {
                    format!("#{}", a.attempt)
                };
                let _ = writeln!(
                    o,
                    "      {:<9} {which} {:>7}  {what}{wait}",
                    a.phase.name(),
                    took
                );
            }
        }
        o
    }
}

/// One rollout of a journal: its first entry and the time of its last.
#[derive(Debug, Clone, Copy)]
pub struct RolloutSpan<'a> {
    pub first: &'a Entry,
    pub last_ts: Millis,
}

/// The rollouts of `entries` (in time order), in the order each first appears: one
/// pass over the entries, each rollout id found in a map (a journal may hold any
/// number of rollouts; a scan per id made the summary quadratic).
pub fn rollouts<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<RolloutSpan<'a>> {
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    let mut out: Vec<RolloutSpan<'a>> = Vec::new();
    for e in entries {
        match index.get(e.rollout.as_str()) {
            Some(&i) => out[i].last_ts = out[i].last_ts.max(e.ts),
            None => {
                index.insert(&e.rollout, out.len());
                out.push(RolloutSpan {
                    first: e,
                    last_ts: e.ts,
                });
            }
        }
    }
    out
}

/// The time no run was going, summed over the breaks up to each run: the gap between
/// two runs is a difference of two sums, not a walk over every break.
struct Gaps {
    /// `upto[r - 1]`: the time no run was going before run `r`.
    upto: Vec<u64>,
}

impl Gaps {
    fn of(breaks: &[Break]) -> Gaps {
        let mut upto = vec![0u64];
        for b in breaks {
            // One break per run after the first, in run order.
            while upto.len() < b.run {
                let last = upto.last().copied().unwrap_or(0);
                upto.push(last);
            }
            if let Some(l) = upto.last_mut() {
                *l += b.resumed_at.saturating_sub(b.stopped_at);
            }
        }
        Gaps { upto }
    }

    fn at(&self, run: usize) -> u64 {
        let last = self.upto.len().saturating_sub(1);
        self.upto
            .get(run.saturating_sub(1).min(last))
            .copied()
            .unwrap_or(0)
    }

    /// The time no run was going after run `from` and up to run `to`.
    fn between(&self, from: usize, to: usize) -> u64 {
        self.at(to).saturating_sub(self.at(from))
    }
}

/// A note or an error in the summary and the replay's node panel (unless expanded):
/// at most this many characters, on one line.
pub const NOTE_CHARS: usize = 100;

/// Where a node is at a point of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Waiting,
    Active,
    Retrying,
    /// Its run stopped (killed, crashed) mid-phase or while a retry waited; a later run
    /// may go on with it.
    Interrupted,
    /// Between phases (a phase done, the next not started: paused or stepping).
    Between,
    Landed,
    Failed,
    Skipped,
    /// The rollout stopped before it landed.
    Stopped,
    RolledBack,
}

/// What the replay adds to one attempt of the node's history (`NodeTrack::history`,
/// same index): which run it belongs to, the wait before the next, whether the run
/// stopped during it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptMark {
    /// The run (1-based) the attempt belongs to.
    pub run: usize,
    /// The wait before the next attempt, when one was scheduled.
    pub wait_ms: Option<u64>,
    /// The run stopped during the attempt, or while its retry waited (the retry never
    /// ran).
    pub cut: bool,
}

/// One attempt of one phase, as the replay shows it: the track's attempt and the
/// replay's marks on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptAt<'a> {
    pub attempt: &'a Attempt,
    pub mark: AttemptMark,
}

/// A node at a point of the replay: the node the records made it ([`NodeTrack`], the
/// machine's own interpreter of the journal), what the replay adds (a run that
/// stopped under it, the time between runs, its attempts' runs and waits), and what
/// a table reads of it, kept up to date after each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAt {
    pub name: String,
    pub track: NodeTrack,
    /// Where it is, for a table (kept up to date from the track).
    pub status: Status,
    /// The attempt of its phase, or of its last attempt (0: none yet).
    pub attempt: u64,
    /// When the scheduled retry starts (journal time).
    pub retry_at: Option<Millis>,
    /// The last error any record reported of it.
    pub last_error: Option<String>,
    /// Its run stopped (killed, crashed) mid-phase or while a retry waited.
    pub interrupted: bool,
    /// One per attempt of `track.history`.
    pub marks: Vec<AttemptMark>,
    /// Time between its start and its end when no run was going (a crash and its
    /// resume): not time in service.
    pub gap_ms: u64,
}

impl NodeAt {
    fn new(name: String) -> Self {
        NodeAt {
            name,
            track: NodeTrack::new(),
            status: Status::Waiting,
            attempt: 0,
            retry_at: None,
            last_error: None,
            interrupted: false,
            marks: Vec::new(),
            gap_ms: 0,
        }
    }

    /// The table's fields again, from the track.
    fn refresh(&mut self) {
        let t = &self.track;
        self.status = if self.interrupted {
            Status::Interrupted
        } else {
            match t.run {
                NodeRun::Pending => Status::Waiting,
                NodeRun::Ready { .. } => Status::Between,
                NodeRun::Active { .. } => Status::Active,
                NodeRun::Retrying { .. } => Status::Retrying,
                NodeRun::Landed => Status::Landed,
                NodeRun::Failed { .. } => Status::Failed,
                NodeRun::Skipped => Status::Skipped,
                NodeRun::Stopped => Status::Stopped,
                NodeRun::RolledBack => Status::RolledBack,
            }
        };
        self.attempt = u64::from(
            t.attempt_in_progress()
                .or_else(|| t.history.last().map(|a| a.attempt))
                .unwrap_or(0),
        );
        self.retry_at = match t.run {
            NodeRun::Retrying { at, .. } if !self.interrupted => Some(at),
            _ => None,
        };
        if self.last_error != t.error {
            self.last_error.clone_from(&t.error);
        }
    }

    /// Its phase: running, waiting to retry, failed in, or (between phases) the one
    /// done; else the phase of its last attempt.
    pub fn phase(&self) -> Option<Phase> {
        let t = &self.track;
        match &t.run {
            NodeRun::Active { phase, .. }
            | NodeRun::Retrying { phase, .. }
            | NodeRun::Failed { phase, .. } => Some(*phase),
            NodeRun::Ready { .. } => t.done.or_else(|| t.history.last().map(|a| a.phase)),
            _ => t.history.last().map(|a| a.phase),
        }
    }

    fn phase_name(&self) -> &'static str {
        self.phase().map_or("?", Phase::name)
    }

    /// Every attempt, in the order they started, with the replay's marks.
    pub fn attempts(&self) -> impl DoubleEndedIterator<Item = AttemptAt<'_>> + ExactSizeIterator {
        self.track
            .history
            .iter()
            .zip(&self.marks)
            .map(|(attempt, mark)| AttemptAt {
                attempt,
                mark: *mark,
            })
    }

    /// What a table shows.
    pub fn label(&self) -> String {
        let p = self.phase_name();
        match self.status {
            Status::Waiting => "waiting".into(),
            Status::Active => p.to_string(),
            Status::Retrying => format!("{p} (retry)"),
            Status::Between if self.track.done.is_none() => self.track.run.label(),
            Status::Between => format!("{p} done"),
            Status::Interrupted => format!("{p} (run stopped)"),
            Status::Landed => "landed".into(),
            Status::Failed => format!("failed at {p}"),
            Status::Skipped => "skipped".into(),
            Status::Stopped => "stopped".into(),
            Status::RolledBack => "rolled back".into(),
        }
    }

    /// How it ended, for the summary.
    pub fn outcome(&self) -> String {
        match self.status {
            Status::Landed => "LANDED".into(),
            Status::Failed => format!(
                "FAILED at {}: {}",
                self.phase_name(),
                self.last_error.as_deref().unwrap_or("?")
            ),
            Status::Waiting => "not started".into(),
            Status::Skipped | Status::Stopped => {
                let what = if self.status == Status::Skipped {
                    "skipped"
                } else {
                    "stopped"
                };
                match &self.track.left {
                    Some(l) => format!("{what}, {}", l.describe()),
                    None => what.into(),
                }
            }
            Status::RolledBack => "rolled back".into(),
            Status::Active | Status::Retrying | Status::Between | Status::Interrupted => {
                format!("unfinished ({}) when the journal ends", self.phase_name())
            }
        }
    }
}

/// The replayed rollout at one point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct At {
    pub nodes: Vec<NodeAt>,
    pub stage: Option<String>,
    pub halted: Option<String>,
    pub finished: Option<String>,
    pub rollout: Option<String>,
    pub skills_sha: Option<String>,
    /// The run of the last entry applied (0: none yet), and that entry's time.
    pub run: usize,
    pub last_ts: Millis,
}

impl At {
    /// A new run took over at `now`: what the last one left in flight stopped with
    /// it (no retry countdown goes on), and the time between the two runs is no
    /// node's time in service.
    fn new_run(&mut self, now: Millis) {
        let gap = now.saturating_sub(self.last_ts);
        for n in &mut self.nodes {
            if n.track.started.is_some() && n.track.ended.is_none() {
                n.gap_ms += gap;
            }
            n.track.new_run();
            if !n.interrupted && matches!(n.status, Status::Active | Status::Retrying) {
                n.interrupted = true;
                if let (Some(a), Some(m)) = (n.track.history.last(), n.marks.last_mut()) {
                    m.cut = a.ended.is_none() || m.wait_ms.is_some();
                }
                n.refresh();
            }
        }
    }

    fn apply(&mut self, e: &Entry, slot: Option<usize>) {
        if e.run != self.run {
            if self.run != 0 {
                self.new_run(e.ts);
            }
            self.run = e.run;
        }
        self.last_ts = e.ts;
        self.rollout = Some(e.rollout.clone());
        self.skills_sha = Some(e.skills_sha.clone());
        let Some(rec) = e.record() else {
            return;
        };
        match rec {
            Record::StageStarted { .. } => {
                self.stage = Some(e.describe());
                self.finished = None;
            }
            Record::Halted { reason } => self.halted = Some(reason.clone()),
            Record::Finished { .. } => self.finished = Some(e.describe()),
            _ => {}
        }
        let Some(n) = slot.and_then(|i| self.nodes.get_mut(i)) else {
            return;
        };
        // The transition is the track's (the machine's own).
        n.track.apply(rec, e.ts, between);
        n.interrupted = false;
        match rec {
            Record::PhaseStarted { .. } => n.marks.push(AttemptMark {
                run: e.run,
                wait_ms: None,
                cut: false,
            }),
            Record::RetryScheduled {
                phase,
                attempt,
                delay_ms,
                ..
            } => {
                // The failed attempt before this one waited `delay_ms`.
                let before = attempt.saturating_sub(1);
                if let Some(i) = n
                    .track
                    .history
                    .iter()
                    .rposition(|a| a.phase == *phase && a.attempt == before)
                    && let Some(m) = n.marks.get_mut(i)
                {
                    m.wait_ms = Some(*delay_ms);
                }
            }
            _ => {}
        }
        n.refresh();
    }

    /// (landed, failed, in flight, waiting).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for n in &self.nodes {
            match n.status {
                Status::Landed => c.0 += 1,
                Status::Failed => c.1 += 1,
                Status::Active | Status::Retrying | Status::Between | Status::Interrupted => {
                    c.2 += 1
                }
                Status::Waiting | Status::Skipped | Status::Stopped | Status::RolledBack => {
                    c.3 += 1
                }
            }
        }
        c
    }
}

/// The replay knows no plan: a passed phase leaves a node between phases, shown as the
/// phase done (which phase is next, the next record says).
fn between(done: Phase) -> Option<Phase> {
    Some(done.next().unwrap_or(done))
}

/// One line of the timeline: `  +12.0s  10:00:12  what`.
fn timeline_line(t0: Millis, ts: Millis, what: &str) -> String {
    format!(
        "  {:>8}  {}  {what}",
        format!("+{}", secs(ts.saturating_sub(t0))),
        clock(ts)
    )
}

/// Seconds with one decimal, minutes and hours past a minute.
pub fn secs(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60)
    }
}

/// `HH:MM:SS` UTC.
pub fn clock(ms: Millis) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

/// `YYYY-MM-DD HH:MM:SSZ`.
pub fn utc(ms: Millis) -> String {
    let (y, m, d) = crate::observe::civil_from_days((ms / 86_400_000) as i64);
    format!("{y:04}-{m:02}-{d:02} {}Z", clock(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn landed(line: usize, rollout: &str, run: usize) -> Entry {
        Entry {
            line,
            ts: 1_800_000_000_000 + line as u64,
            rollout: rollout.into(),
            skills_sha: "abc".into(),
            manifest_sha256: "def".into(),
            node: Some("mac-a".into()),
            node_idx: Some(0),
            event: Event::Record(Record::NodeLanded {
                node: NodeId::new(0),
            }),
            action: None,
            run,
        }
    }

    /// The rollouts of a journal come from one pass over its entries, whatever the
    /// number of rollout ids (a scan per id was quadratic: 42 s for 100k lines).
    #[test]
    fn rollouts_are_grouped_in_one_pass() {
        const N: usize = 100_000;
        let entries: Vec<Entry> = (0..N)
            .map(|i| landed(i + 1, &format!("r{}", i % (N / 2)), 1))
            .collect();
        let visits = std::cell::Cell::new(0usize);
        let spans = rollouts(entries.iter().inspect(|_| visits.set(visits.get() + 1)));
        assert_eq!(visits.get(), N, "each entry is read once");
        assert_eq!(spans.len(), N / 2);
        assert_eq!(spans[0].first.rollout, "r0");
        assert_eq!(spans[0].last_ts, entries[N / 2].ts, "the last entry of r0");
        assert_eq!(spans[N / 2 - 1].first.rollout, format!("r{}", N / 2 - 1));
    }

    /// The summary of a 100k-line journal of 100k rollouts, and of one rollout resumed
    /// 50k times, is built in-process: with a scan per rollout id or per break it did
    /// not end in minutes.
    #[test]
    fn the_summary_of_a_100k_line_journal_is_linear() {
        const N: usize = 100_000;
        let entries: Vec<Entry> = (0..N).map(|i| landed(i + 1, &format!("r{i}"), 1)).collect();
        let r = Replay::from_entries("j".into(), entries, Vec::new());
        let s = r.summary();
        assert_eq!(s.matches("\nrollout r").count(), N, "{}", &s[..200]);
        let mut entries = Vec::new();
        for i in 0..N / 2 {
            let mut run = landed(2 * i + 1, "r1", 1);
            run.event = Event::Record(Record::RunStarted { resumed: i > 0 });
            let mut phase = landed(2 * i + 2, "r1", 1);
            phase.event = Event::Record(Record::PhaseStarted {
                node: NodeId::new(0),
                phase: crate::rollout::Phase::Sync,
                attempt: 1,
            });
            entries.extend([run, phase]);
        }
        let r = Replay::from_entries("j".into(), entries, Vec::new());
        assert_eq!(r.breaks.len(), N / 2 - 1);
        let s = r.summary();
        assert_eq!(
            s.matches("went on 0.0s later").count(),
            N / 2 - 1,
            "every run change is marked"
        );
    }

    /// The replay says of each record what the live rollout said of it: one wording
    /// (a transient failure and its retry, a node failed, a halt, an operator's step).
    #[test]
    fn the_replay_words_each_record_as_the_live_rollout_did() {
        use crate::inventory::{Inventory, Node};
        use crate::rollout::journal::test_support::write_journal;
        use crate::rollout::plan::{self, PlanOptions};
        use crate::rollout::state::RolloutState;
        use crate::rollout::{Command, Effect, Failure, Input, Machine, Mode, Phase};

        let nodes: Vec<Node> = ["g1", "g2"]
            .iter()
            .map(|n| Node::new(*n, "gateway"))
            .collect();
        let inv = Inventory::from_nodes(Path::new("t"), nodes).expect("inventory");
        let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
        let m = Machine::new(p, 2, 7, Mode::Paused);
        let bundle = crate::remote::sim::demo_bundle();
        let mut s = RolloutState::new(m, inv.nodes.clone(), "r1".into(), &bundle, 0);
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let g1 = NodeId::new(0);
        let mut live = Vec::new();
        let inputs = [
            Input::Tick,
            Input::Op(Command::StepPhase),
            Input::PhaseFailed {
                node: g1,
                phase: Phase::Baseline,
                failure: Failure::Transient("ssh: connection reset".into()),
            },
            Input::Op(Command::RetryNow(g1)),
            Input::PhaseFailed {
                node: g1,
                phase: Phase::Baseline,
                failure: Failure::Fatal("gateway not ready".into()),
            },
            Input::Op(Command::Skip(NodeId::new(1))),
        ];
        let mut records = Vec::new();
        for (t, input) in inputs.into_iter().enumerate() {
            let now = 1_000 * t as u64;
            let (effects, _) = s.input(input, now);
            for e in effects {
                if let Effect::Journal(rec) = e {
                    records.push((rec, now));
                }
            }
        }
        write_journal(&path, "sha", inv.nodes.clone(), records);
        for p in &s.log {
            // `[   2.0s] text`: the time is the live line's own.
            let text = p.text.split_once("] ").map_or("", |(_, t)| t);
            live.push(text.to_string());
        }
        let r = Replay::load(&path).expect("load");
        let replayed: Vec<String> = r
            .entries
            .iter()
            .filter(|e| e.record().is_some_and(crate::rollout::words::shown_live))
            .map(Entry::describe)
            .collect();
        assert!(live.len() >= 6, "{live:?}");
        assert_eq!(replayed, live);
        assert!(
            live.iter()
                .any(|l| l.starts_with("g1 baseline retry 2/5 in")),
            "{live:?}"
        );
        assert!(
            live.contains(&"operator: retry g1 now".to_string()),
            "{live:?}"
        );
    }

    /// A node that failed in a run that then crashed, resumed by the next run and put
    /// back by its stop, ends as that run's machine left it (stopped), not as the
    /// failure of the run before.
    #[test]
    fn a_node_failed_in_a_crashed_run_and_stopped_by_the_next_is_stopped() {
        use crate::inventory::{Inventory, Node};
        use crate::rollout::journal::test_support::write_journal;
        use crate::rollout::plan::{self, PlanOptions};
        use crate::rollout::{Effect, Failure, Input, Machine, Mode};

        let inv = Inventory::from_nodes(Path::new("t"), vec![Node::new("a", "gateway")])
            .expect("inventory");
        let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let a = NodeId::new(0);
        let mut records = Vec::new();
        let mut feed = |m: &mut Machine, input: Input, now: Millis| {
            for e in m.handle(input, now) {
                if let Effect::Journal(rec) = e {
                    records.push((rec, now));
                }
            }
        };
        // Run 1: drained, its sync fails for good; the run crashes.
        let mut m1 = Machine::new(p.clone(), 1, 7, Mode::Run);
        let done = |phase| Input::PhaseDone {
            node: a,
            phase,
            note: String::new(),
        };
        feed(&mut m1, Input::Tick, 1_000);
        feed(&mut m1, done(Phase::Baseline), 2_000);
        feed(&mut m1, done(Phase::Drain), 2_000);
        let failure = Failure::Fatal("disk full".into());
        feed(
            &mut m1,
            Input::PhaseFailed {
                node: a,
                phase: Phase::Sync,
                failure,
            },
            3_000,
        );
        assert!(matches!(m1.nodes[a].run, NodeRun::Failed { .. }));
        // Run 2 resumes it after its drain, and is stopped mid-sync.
        let mut m2 = Machine::new(p, 1, 7, Mode::Run);
        m2.restore(a, Phase::Drain);
        feed(&mut m2, Input::Tick, 60_000);
        feed(&mut m2, Input::Op(Command::Abort), 61_000);
        feed(&mut m2, done(Phase::Sync), 62_000);
        feed(&mut m2, done(Phase::Undrain), 63_000);
        assert_eq!(m2.nodes[a].run, NodeRun::Stopped);
        write_journal(&path, "s", inv.nodes.clone(), records);
        let r = Replay::load(&path).expect("load");
        assert_eq!(r.breaks.len(), 1, "two runs");
        let end = r.state_at(r.entries.len());
        assert_eq!(end.nodes[0].status, Status::Stopped);
        assert_eq!(
            end.nodes[0].outcome(),
            "stopped, undrained and unlocked, serving its old bundle"
        );
    }

    #[test]
    fn gaps_between_runs_are_sums_of_their_breaks() {
        let b = |run, stopped_at, resumed_at| Break {
            stopped_at,
            resumed_at,
            how: String::new(),
            run,
        };
        let g = Gaps::of(&[b(2, 10, 15), b(3, 20, 30), b(4, 40, 100)]);
        assert_eq!(g.between(1, 2), 5);
        assert_eq!(g.between(1, 4), 75);
        assert_eq!(g.between(2, 4), 70);
        assert_eq!(g.between(3, 3), 0);
        assert_eq!(g.between(4, 9), 0);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        // 2026-12-02 00:40:05 UTC
        assert_eq!(utc(1_796_172_005_000), "2026-12-02 00:40:05Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
