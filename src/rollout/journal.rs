//! The append-only journal: one JSON line per event, each written to the file as it
//! happens (one `write` of a whole line, so a failure is seen, not lost in a background
//! writer), each line carrying both bundle ids so on-call can diff "what shipped"
//! across the mesh in one query. A restarted meshroll reads it back to continue where
//! it stopped: a write that fails stops the rollout (see `runner::Runner`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use super::machine::{Failure, Phase, Record};
use crate::inventory::{Fleet, Node, NodeId};
use crate::observe::Millis;

/// The longest string kept in a journal record, in characters.
pub const JOURNAL_STRING_CAP: usize = 4096;

pub struct Journal {
    out: Box<dyn Write + Send>,
    pub rollout_id: String,
    skills_sha: String,
    manifest_sha256: String,
    fleet: Fleet,
}

impl Journal {
    /// Open (append) the journal at `path`.
    pub fn open(
        path: &Path,
        rollout_id: String,
        skills_sha: String,
        manifest_sha256: String,
        fleet: Fleet,
    ) -> std::io::Result<Journal> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        if path.file_name().is_none() {
            return Err(std::io::Error::other(format!(
                "journal path {} has no file name",
                path.display()
            )));
        }
        // The journal is the operator's alone: created (or tightened to) 0600; a regular
        // file only (a FIFO would hang the rollout, a device swallow its records).
        let mut f = crate::bounded_file::open_append(path)?;
        end_torn_line(&mut f)?;
        Ok(Journal::to_writer(
            Box::new(f),
            rollout_id,
            skills_sha,
            manifest_sha256,
            fleet,
        ))
    }

    /// A journal written to `out` (opened for appending).
    pub fn to_writer(
        out: Box<dyn Write + Send>,
        rollout_id: String,
        skills_sha: String,
        manifest_sha256: String,
        fleet: Fleet,
    ) -> Journal {
        Journal {
            out,
            rollout_id,
            skills_sha,
            manifest_sha256,
            fleet,
        }
    }

    /// Append one record at `now`: the whole line in one write. `Err`: the line is not
    /// (or not wholly) in the journal.
    pub fn write(&mut self, rec: &Record, now: Millis) -> std::io::Result<()> {
        let node = rec
            .node()
            .and_then(|id| self.fleet.get(id).map(|n| (id, n)));
        let line = Line {
            event: Event::Record(rec.clone()),
            node_name: node.map(|(_, n)| n.name.clone()),
            identity: node.map(|(id, n)| NodeIdentity::of(id, n)),
            action: match rec {
                Record::Operator { command } => {
                    Some(command.describe(|n| self.fleet.name(n).to_string()))
                }
                _ => None,
            },
            ts_ms: now,
            rollout: Some(self.rollout_id.clone()),
            skills_sha: Some(self.skills_sha.clone()),
            manifest_sha256: Some(self.manifest_sha256.clone()),
        };
        let mut text = line.to_json().into_string();
        text.push('\n');
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

/// A crash mid-write leaves a torn last line; end it, so the next record starts on a
/// line of its own instead of being glued to the fragment (and lost with it).
fn end_torn_line(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// What an earlier run of the same bundle left behind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The unfinished rollout to continue (its id owns the node locks).
    pub rollout_id: Option<String>,
    /// Per node position in the run's inventory: the last phase that completed, and
    /// who the journal says the node is. [`Resume::for_fleet`] matches it to the
    /// inventory of this run.
    pub nodes: BTreeMap<usize, ResumeNode>,
    /// Lines skipped because they could not be read (torn, not UTF-8, not JSON).
    pub bad_lines: Vec<BadLine>,
}

/// What the journal says of one node, for resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeNode {
    /// The last phase that completed.
    pub last_done: Phase,
    /// Who the node was, from the last line that said so (`None`: a journal written
    /// before lines carried the node's identity).
    pub identity: Option<NodeIdentity>,
    /// The journal's (cleaned) name of the node, for messages.
    pub shown: String,
    /// The journal line that put the node here (1-based).
    pub line: usize,
}

/// Why a journal's entries cannot be matched to this run's inventory: resume never
/// guesses which node an entry was about. Its `Display` is the words the operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The entry does not carry the node's identity (a journal from an older meshroll).
    #[error(
        "the entry on line {line} for node {shown} does not say which inventory node it is \
         (a journal from an older meshroll): refusing to guess; finish it with that meshroll \
         or start over with another --journal"
    )]
    NoIdentity { line: usize, shown: String },
    /// The entry names another node than the inventory has at its position.
    #[error(
        "the entry on line {line} for node {shown} is {}, but {here}: refusing to guess which \
         node it is; restore the inventory it ran with, or start over with another --journal",
        .journal.describe()
    )]
    OtherNode {
        line: usize,
        shown: String,
        /// Who the journal says the node is.
        journal: Box<NodeIdentity>,
        /// What this run's inventory has at that position.
        here: InInventory,
    },
}

/// What this run's inventory has at a journal entry's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InInventory {
    /// No node (the inventory is shorter); `position` is 1-based.
    Nothing {
        position: usize,
    },
    Node(Box<NodeIdentity>),
}

impl std::fmt::Display for InInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InInventory::Nothing { position } => {
                write!(f, "the inventory has no node at position {position}")
            }
            InInventory::Node(h) => write!(f, "the inventory has {}", h.describe()),
        }
    }
}

impl Resume {
    /// The last phase done per node of `fleet`, each journal entry matched to the
    /// inventory node at the same position with the same raw name and destination.
    /// `Err` names the first entry that does not match: resume never guesses which node
    /// an entry was about.
    pub fn for_fleet(&self, fleet: &Fleet) -> Result<BTreeMap<NodeId, Phase>, ResumeError> {
        let mut out = BTreeMap::new();
        for (&i, n) in &self.nodes {
            let id = NodeId::new(i);
            let Some(ident) = &n.identity else {
                return Err(ResumeError::NoIdentity {
                    line: n.line,
                    shown: n.shown.clone(),
                });
            };
            let here = fleet.get(id).map(|node| NodeIdentity::of(id, node));
            if here.as_ref() != Some(ident) {
                return Err(ResumeError::OtherNode {
                    line: n.line,
                    shown: n.shown.clone(),
                    journal: Box::new(ident.clone()),
                    here: here.map_or(InInventory::Nothing { position: i + 1 }, |h| {
                        InInventory::Node(Box::new(h))
                    }),
                });
            }
            out.insert(id, n.last_done);
        }
        Ok(out)
    }
}

/// Who a journal line is about: the node's position in the run's inventory, its raw
/// inventory name and its destination. Written escaped (see [`escape`]), so the journal
/// keeps the raw text (not the sanitised one) and resume can match it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub index: usize,
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
}

impl NodeIdentity {
    pub fn of(id: NodeId, n: &Node) -> NodeIdentity {
        NodeIdentity {
            index: id.index(),
            name: n.name.clone(),
            host: n.host.clone(),
            port: n.port,
            user: n.user.clone(),
        }
    }

    /// `node "mac-w01" (position 3, admin@10.0.0.21:22)`, cleaned.
    pub fn describe(&self) -> String {
        let mut at = String::new();
        if let Some(u) = &self.user {
            at.push_str(u);
            at.push('@');
        }
        at.push_str(&self.host);
        if let Some(p) = self.port {
            at.push_str(&format!(":{p}"));
        }
        crate::safe_text::clean(&format!(
            "node {:?} (position {}, {at})",
            self.name,
            self.index + 1
        ))
    }
}

/// Escape text losslessly into printable ASCII the sanitiser keeps as it is: `%`, and
/// every byte that is not printable ASCII, as `%XX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text [`escape`] escaped; `None` when it is not such an escape.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if b[i].is_ascii_graphic() {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// A journal line that could not be read, and why (the line itself is not kept: it
/// may hold node text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What one journal line records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Record(Record),
    /// An event this meshroll does not know (a newer journal): kept, not interpreted.
    Unknown {
        event: String,
        node: Option<u64>,
    },
}

/// One journal line, typed: a machine [`Record`] and what the journal adds to it (the
/// node's name, the time and both bundle ids). Fields missing from a line read as
/// `None` or 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub event: Event,
    pub node_name: Option<String>,
    /// Who the node is (`node_key`, `node_host`, `node_port`, `node_user` and the
    /// record's `node`), when the line is about a node and says so.
    pub identity: Option<NodeIdentity>,
    /// An operator's action in words, nodes by name (`retry mac-w03 now`): `action`.
    pub action: Option<String>,
    pub ts_ms: Millis,
    pub rollout: Option<String>,
    pub skills_sha: Option<String>,
    pub manifest_sha256: Option<String>,
}

/// The fields every journal line shares.
#[derive(Deserialize)]
struct Envelope {
    event: Option<Value>,
    #[serde(default)]
    node: Option<Value>,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    node_key: Option<String>,
    #[serde(default)]
    node_host: Option<String>,
    #[serde(default)]
    node_port: Option<u16>,
    #[serde(default)]
    node_user: Option<String>,
    #[serde(default)]
    ts_ms: Millis,
    #[serde(default)]
    rollout: Option<String>,
    #[serde(default)]
    skills_sha: Option<String>,
    #[serde(default)]
    manifest_sha256: Option<String>,
}

/// Why a journal object is not a journal line; the text (cleaned) is what replay and
/// resume report of the skipped line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Its common fields (`event`, `node`, `ts_ms`, the node's identity) do not read.
    #[error("{0}")]
    Envelope(String),
    /// It names no event.
    #[error("no \"event\" field")]
    NoEvent,
    /// A known event whose fields do not fit it. `event` is one of [`Record::EVENTS`].
    #[error("a bad {event} record: {why}")]
    BadRecord { event: String, why: String },
}

impl Line {
    /// Read one journal object. `Err(why)`, already cleaned, when it is not a journal
    /// record: no event name, or a known event whose fields do not fit it.
    pub fn from_value(v: &Value) -> Result<Line, LineError> {
        let why = |e: serde_json::Error| crate::safe_text::clean(&e.to_string());
        let env = Envelope::deserialize(v).map_err(|e| LineError::Envelope(why(e)))?;
        let Some(Value::String(name)) = &env.event else {
            return Err(LineError::NoEvent);
        };
        let event = if Record::EVENTS.contains(&name.as_str()) {
            let rec = Record::deserialize(v).map_err(|e| LineError::BadRecord {
                event: name.clone(),
                why: why(e),
            })?;
            Event::Record(rec)
        } else {
            Event::Unknown {
                event: name.clone(),
                node: env.node.as_ref().and_then(Value::as_u64),
            }
        };
        let index = match &event {
            Event::Record(r) => r.node().map(NodeId::index),
            Event::Unknown { node, .. } => node.and_then(|n| usize::try_from(n).ok()),
        };
        // An identity that does not unescape is no identity: resume then refuses.
        let identity = (|| {
            Some(NodeIdentity {
                index: index?,
                name: unescape(env.node_key.as_deref()?)?,
                host: unescape(env.node_host.as_deref()?)?,
                port: env.node_port,
                user: match env.node_user.as_deref() {
                    Some(u) => Some(unescape(u)?),
                    None => None,
                },
            })
        })();
        Ok(Line {
            event,
            node_name: env.node_name,
            identity,
            action: env.action,
            ts_ms: env.ts_ms,
            rollout: env.rollout,
            skills_sha: env.skills_sha,
            manifest_sha256: env.manifest_sha256,
        })
    }

    /// The journal's JSON for this line, in the journal's key order (sorted), with node
    /// text redacted and sanitised (the output boundary).
    pub fn to_json(&self) -> crate::safe_text::Shown {
        let mut v = match &self.event {
            Event::Record(rec) => serde_json::to_value(rec).unwrap_or(Value::Null),
            Event::Unknown { event, node } => {
                let mut m = serde_json::Map::new();
                m.insert("event".into(), json!(event));
                if let Some(n) = node {
                    m.insert("node".into(), json!(n));
                }
                Value::Object(m)
            }
        };
        if let Value::Object(m) = &mut v {
            if let Some(name) = &self.node_name {
                m.insert("node_name".into(), json!(name));
            }
            if let Some(a) = &self.action {
                m.insert("action".into(), json!(a));
            }
            if let Some(id) = &self.identity {
                m.insert("node_key".into(), json!(escape(&id.name)));
                m.insert("node_host".into(), json!(escape(&id.host)));
                if let Some(p) = id.port {
                    m.insert("node_port".into(), json!(p));
                }
                if let Some(u) = &id.user {
                    m.insert("node_user".into(), json!(escape(u)));
                }
            }
            m.insert("ts_ms".into(), json!(self.ts_ms));
            for (k, val) in [
                ("rollout", &self.rollout),
                ("skills_sha", &self.skills_sha),
                ("manifest_sha256", &self.manifest_sha256),
            ] {
                if let Some(val) = val {
                    m.insert(k.into(), json!(val));
                }
            }
        }
        crate::safe_text::Shown::json(v, JOURNAL_STRING_CAP)
    }

    /// The node's index in the run's inventory, when the line is about a node.
    pub fn node(&self) -> Option<u64> {
        match &self.event {
            Event::Record(r) => r.node().map(|n| n.index() as u64),
            Event::Unknown { node, .. } => *node,
        }
    }
}

/// Every journal line that reads as a [`Line`], with its number, and the lines skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Records {
    pub lines: Vec<(usize, Line)>,
    pub bad: Vec<BadLine>,
}

/// Read a journal into typed lines: the one reader behind resume and replay. Lines that
/// cannot be read (see [`read_lines`]) or are not journal records are skipped and
/// reported with their number, in line order.
pub fn read_records(path: &Path) -> std::io::Result<Records> {
    let raw = read_lines(path)?;
    let mut out = Records {
        lines: Vec::with_capacity(raw.entries.len()),
        bad: raw.bad,
    };
    for (n, v) in &raw.entries {
        match Line::from_value(v) {
            Ok(l) => out.lines.push((*n, l)),
            Err(why) => out.bad.push(BadLine {
                line: *n,
                reason: why.to_string(),
            }),
        }
    }
    out.bad.sort_by_key(|b| b.line);
    Ok(out)
}

/// Every readable line of a journal, with its line number, and the lines skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JournalLines {
    pub entries: Vec<(usize, Value)>,
    pub bad: Vec<BadLine>,
}

/// A longer line is not a journal line (one record is well under 64 KiB).
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// Read a journal line by line: a torn, non-UTF-8, non-JSON or overlong line is
/// skipped and reported with its number; every good line around it is kept.
pub fn read_lines(path: &Path) -> std::io::Result<JournalLines> {
    read_lines_from(crate::bounded_file::open(
        path,
        crate::bounded_file::Kind::Journal,
    )?)
}

/// [`read_lines`] on any reader.
pub fn read_lines_from(mut r: impl std::io::BufRead) -> std::io::Result<JournalLines> {
    use std::io::{BufRead, Read};
    let mut out = JournalLines::default();
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        let got = (&mut r)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if got == 0 {
            break;
        }
        n += 1;
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE_BYTES {
            // Skip the rest of the overlong line without holding it.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let more = (&mut r).take(1 << 16).read_until(b'\n', &mut sink)?;
                if more == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
            out.bad.push(BadLine {
                line: n,
                reason: format!("longer than {} MiB", MAX_LINE_BYTES >> 20),
            });
            continue;
        }
        let torn = buf.last() != Some(&b'\n');
        let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            out.bad.push(BadLine {
                line: n,
                reason: "not UTF-8".into(),
            });
            continue;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(v) if v.is_object() => out.entries.push((n, v)),
            Ok(_) => out.bad.push(BadLine {
                line: n,
                reason: "not a JSON object".into(),
            }),
            Err(e) => out.bad.push(BadLine {
                line: n,
                reason: if torn {
                    format!("torn (no newline at the end): {e}")
                } else {
                    format!("not JSON: {e}")
                },
            }),
        }
    }
    Ok(out)
}

/// Read the journal for `skills_sha`. A missing journal is an empty resume; lines that
/// cannot be read are skipped and listed in [`Resume::bad_lines`].
pub fn read_resume(path: &Path, skills_sha: &str) -> Resume {
    let records = match read_records(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Resume::default(),
        Err(e) => {
            return Resume {
                bad_lines: vec![BadLine {
                    line: 0,
                    reason: format!("cannot read the journal: {e}"),
                }],
                ..Resume::default()
            };
        }
    };
    let mut r = Resume {
        bad_lines: records.bad,
        ..Resume::default()
    };
    for (no, line) in records.lines {
        if line.skills_sha.as_deref() != Some(skills_sha) {
            continue;
        }
        if r.rollout_id != line.rollout {
            // A new rollout of the same bundle starts over from what the nodes have.
            r.rollout_id = line.rollout;
        }
        let Event::Record(rec) = line.event else {
            continue;
        };
        let node = rec.node().map(|id| {
            let shown = line
                .node_name
                .as_deref()
                .map_or_else(|| format!("#{}", id.index() + 1), crate::safe_text::clean);
            (id.index(), shown)
        });
        let done = match &rec {
            Record::PhaseDone { phase, .. } => Some(*phase),
            Record::NodeLanded { .. } => Some(Phase::Undrain),
            // A copy that failed verification is synced again before it is verified
            // again (rsync --checksum repairs it), as a retry by the operator does.
            Record::PhaseFailed {
                failure: Failure::Mismatch(_),
                ..
            } => Some(Phase::Drain),
            _ => None,
        };
        match (rec, node, done) {
            (_, Some((i, shown)), Some(last_done)) => {
                r.nodes.insert(
                    i,
                    ResumeNode {
                        last_done,
                        identity: line.identity,
                        shown,
                        line: no,
                    },
                );
            }
            // Put back by a rollback, a skip or a stop (undrained, or left drained with
            // its lock released): a new run takes it from the start.
            (Record::RolledBack { .. } | Record::NodeStopped { .. }, Some((i, _)), _) => {
                r.nodes.remove(&i);
            }
            (Record::Finished { .. }, _, _) => {
                // A finished rollout is not resumed; landed nodes stay landed.
                r.rollout_id = None;
                r.nodes.retain(|_, n| n.last_done == Phase::Undrain);
            }
            _ => {}
        }
    }
    r
}

/// Test set-up shared by the journal's, the replay's and the rollout machine's tests:
/// a journal written from records at their times, and the record most of them write.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use super::Journal;
    use crate::inventory::{Fleet, NodeId};
    use crate::observe::Millis;
    use crate::rollout::machine::{Phase, Record};

    /// The node at position `node` finished `phase` at its first attempt, with no note.
    pub(crate) fn phase_done(node: usize, phase: Phase) -> Record {
        Record::PhaseDone {
            node: NodeId::new(node),
            phase,
            attempt: 1,
            note: String::new(),
        }
    }

    /// Append `records`, each at its time, to the journal at `path` of rollout `r1`
    /// for the bundle `skills_sha` (manifest `m`) rolled out to `fleet`.
    pub(crate) fn write_journal(
        path: &Path,
        skills_sha: &str,
        fleet: Fleet,
        records: impl IntoIterator<Item = (Record, Millis)>,
    ) {
        let mut j =
            Journal::open(path, "r1".into(), skills_sha.into(), "m".into(), fleet).expect("open");
        for (rec, at) in records {
            j.write(&rec, at).expect("journal write");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::{phase_done, write_journal};

    /// The last phase done of the node the journal names `name`.
    fn done(r: &Resume, name: &str) -> Option<Phase> {
        r.nodes
            .values()
            .find(|n| n.shown == name)
            .map(|n| n.last_done)
    }

    #[test]
    fn node_identity_is_the_raw_name_escaped_its_position_and_destination() {
        // Names no inventory accepts any more still round-trip exactly: the journal
        // keeps the raw text, escaped, not the sanitised one.
        let long = "w".repeat(300);
        let names = [
            "mac-\u{202E}10w".to_string(),
            "mac-\\u{202e}10w".to_string(),
            "50% off\n".to_string(),
            format!("{long}a"),
            format!("{long}b"),
            "mac-ü01".to_string(),
        ];
        for raw in &names {
            let e = escape(raw);
            assert!(e.bytes().all(|b| b.is_ascii_graphic()), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(raw.as_str()));
        }
        assert_eq!(unescape("%ZZ"), None);
        assert_eq!(unescape("%E2%80"), None, "not UTF-8");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let mut nodes: Vec<Node> = names
            .iter()
            .map(|n| Node::new(n.clone(), "worker"))
            .collect();
        nodes[1].host = "10.0.0.9".into();
        nodes[1].port = Some(2222);
        nodes[1].user = Some("ad min%".into());
        let fleet = Fleet::from(nodes.clone());
        write_journal(
            &path,
            "s",
            fleet.clone(),
            (0..names.len()).map(|i| (phase_done(i, Phase::Verify), 1)),
        );
        let read = read_records(&path).expect("read");
        for (i, (_, l)) in read.lines.iter().enumerate() {
            let want = NodeIdentity::of(NodeId::new(i), &nodes[i]);
            assert_eq!(l.identity.as_ref(), Some(&want), "line {i}");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let second: Value = serde_json::from_str(text.lines().nth(1).expect("line")).expect("json");
        assert_eq!(second["node_key"], "mac-\\u{202e}10w");
        assert_eq!(second["node_host"], "10.0.0.9");
        assert_eq!(second["node_port"], 2222);
        assert_eq!(second["node_user"], "ad%20min%25");
        // The two long names clean to the same text, yet stay two nodes.
        let r = read_resume(&path, "s");
        let by_index = r.for_fleet(&fleet).expect("the same fleet resumes");
        assert_eq!(by_index.len(), names.len());
        assert!(by_index.values().all(|p| *p == Phase::Verify));
    }

    #[test]
    fn resume_refuses_an_entry_whose_node_moved_renamed_or_points_elsewhere() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let fleet = Fleet::named(["mac-a", "mac-b"]);
        write_journal(
            &path,
            "s",
            fleet.clone(),
            [(phase_done(1, Phase::Verify), 1)],
        );
        let r = read_resume(&path, "s");
        assert_eq!(
            r.for_fleet(&fleet).expect("same fleet"),
            BTreeMap::from([(NodeId::new(1), Phase::Verify)])
        );
        let mut elsewhere: Vec<Node> = fleet.to_vec();
        elsewhere[1].host = "10.9.9.9".into();
        let mut port: Vec<Node> = fleet.to_vec();
        port[1].port = Some(2200);
        let mut user: Vec<Node> = fleet.to_vec();
        user[1].user = Some("ops".into());
        for (changed, now) in [
            (
                Fleet::named(["mac-b", "mac-a"]),
                "node \"mac-a\" (position 2, mac-a)",
            ),
            (
                Fleet::named(["mac-a", "mac-c"]),
                "node \"mac-c\" (position 2, mac-c)",
            ),
            (
                Fleet::from(elsewhere),
                "node \"mac-b\" (position 2, 10.9.9.9)",
            ),
            (Fleet::from(port), "node \"mac-b\" (position 2, mac-b:2200)"),
            (Fleet::from(user), "node \"mac-b\" (position 2, ops@mac-b)"),
            (Fleet::named(["mac-a"]), "no node at position 2"),
        ] {
            let err = r.for_fleet(&changed).expect_err("must refuse");
            assert!(matches!(err, ResumeError::OtherNode { .. }), "{err:?}");
            let err = err.to_string();
            assert!(
                err.starts_with(
                    "the entry on line 1 for node mac-b is node \"mac-b\" (position 2, mac-b), but the inventory has "
                ),
                "{err}"
            );
            assert!(err.contains(now), "{err}");
            assert!(err.contains("refusing to guess"), "{err}");
            // Word for word what the operator read when this was a string.
            assert_eq!(
                err,
                format!(
                    "the entry on line 1 for node mac-b is node \"mac-b\" (position 2, mac-b), \
                     but the inventory has {now}: refusing to guess which node it is; restore the \
                     inventory it ran with, or start over with another --journal"
                )
            );
        }
        // A line without an identity (an older journal) is not guessed at either.
        std::fs::write(
            &path,
            "{\"event\":\"phase_done\",\"node\":0,\"node_name\":\"mac-a\",\"phase\":\"verify\",\"skills_sha\":\"s\",\"rollout\":\"r0\"}\n",
        )
        .expect("write");
        let err = read_resume(&path, "s")
            .for_fleet(&fleet)
            .expect_err("must refuse");
        assert!(matches!(err, ResumeError::NoIdentity { .. }), "{err:?}");
        let err = err.to_string();
        assert!(
            err.contains("line 1 for node mac-a does not say which inventory node"),
            "{err}"
        );
        assert_eq!(
            err,
            "the entry on line 1 for node mac-a does not say which inventory node it is (a journal \
             from an older meshroll): refusing to guess; finish it with that meshroll or start \
             over with another --journal"
        );
    }

    /// A node the rollout put back (undrained and unlocked, or left drained with its
    /// lock released) is taken from the start by the next run, not resumed mid-way.
    #[test]
    fn a_node_put_back_starts_over_on_resume() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let stopped = Record::NodeStopped {
            node: NodeId::new(0),
            left: crate::rollout::Left::Restored,
        };
        write_journal(
            &path,
            "sha1",
            Fleet::named(["a", "b"]),
            [
                (phase_done(0, Phase::Sync), 5),
                (phase_done(0, Phase::Undrain), 5),
                (phase_done(1, Phase::Sync), 5),
                (stopped, 6),
            ],
        );
        let r = read_resume(&path, "sha1");
        assert_eq!(r.rollout_id.as_deref(), Some("r1"));
        assert_eq!(done(&r, "a"), None, "undrain here was the wind-down's");
        assert_eq!(done(&r, "b"), Some(Phase::Sync));
    }

    #[test]
    fn journal_lines_carry_both_ids_and_resume_reads_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let verified = Record::PhaseDone {
            node: NodeId::new(0),
            phase: Phase::Verify,
            attempt: 1,
            note: "ok".into(),
        };
        let landed = Record::NodeLanded {
            node: NodeId::new(1),
        };
        write_journal(
            &path,
            "sha1",
            Fleet::named(["a", "b"]),
            [(verified, 5), (landed, 6)],
        );
        let text = std::fs::read_to_string(&path).expect("read");
        let first: Value = serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(first["event"], "phase_done");
        assert_eq!(first["node_name"], "a");
        assert_eq!(first["skills_sha"], "sha1");
        assert_eq!(first["manifest_sha256"], "m");
        assert_eq!(first["rollout"], "r1");
        let r = read_resume(&path, "sha1");
        assert_eq!(r.rollout_id.as_deref(), Some("r1"));
        assert_eq!(done(&r, "a"), Some(Phase::Verify));
        assert_eq!(done(&r, "b"), Some(Phase::Undrain));
        assert_eq!(read_resume(&path, "other"), Resume::default());
        // Appending keeps what was there.
        let finished = Record::Finished {
            landed: 2,
            failed: 0,
            skipped: 0,
        };
        write_journal(&path, "sha1", Fleet::named(["a"]), [(finished, 7)]);
        let r = read_resume(&path, "sha1");
        assert_eq!(r.rollout_id, None);
        assert_eq!(
            done(&r, "a"),
            None,
            "only landed nodes survive a finished rollout"
        );
        assert_eq!(done(&r, "b"), Some(Phase::Undrain));
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count(),
            3
        );
    }

    #[test]
    fn a_mismatched_copy_is_synced_again_on_resume() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let synced = Record::PhaseDone {
            node: NodeId::new(0),
            phase: Phase::Sync,
            attempt: 1,
            note: "ok".into(),
        };
        let mismatch = Record::PhaseFailed {
            node: NodeId::new(0),
            phase: Phase::Verify,
            attempt: 1,
            failure: super::super::Failure::Mismatch("x differs".into()),
        };
        write_journal(
            &path,
            "s",
            Fleet::named(["a"]),
            [(synced, 1), (mismatch, 2)],
        );
        let r = read_resume(&path, "s");
        assert_eq!(done(&r, "a"), Some(Phase::Drain), "sync runs again");
    }
    fn journal_with_bad_lines(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("j.jsonl");
        let good = |ev: &str, node: &str, phase: &str| {
            let i = node.bytes().next().map_or(0, |b| b - b'a');
            format!(
                r#"{{"event":"{ev}","node":{i},"node_name":"{node}","phase":"{phase}","rollout":"r1","skills_sha":"s","ts_ms":1}}"#
            )
        };
        let mut bytes = Vec::new();
        bytes.extend(good("phase_done", "a", "sync").as_bytes());
        bytes.push(b'\n');
        // A line with bytes that are not UTF-8 (a node's output cut mid-character).
        bytes.extend(b"{\"event\":\"phase_done\",\"note\":\"\xff\xfe\"}\n");
        bytes.extend(good("phase_done", "a", "verify").as_bytes());
        bytes.push(b'\n');
        bytes.extend(b"not json at all\n");
        bytes.extend(good("node_landed", "b", "").as_bytes());
        bytes.push(b'\n');
        // A torn last line (a crash mid-write).
        bytes.extend(br#"{"event":"phase_done","node_name":"c","pha"#);
        std::fs::write(&path, &bytes).expect("write");
        path
    }

    #[test]
    fn a_non_utf8_or_torn_line_does_not_drop_resume() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = journal_with_bad_lines(dir.path());
        let r = read_resume(&path, "s");
        assert_eq!(r.rollout_id.as_deref(), Some("r1"));
        assert_eq!(done(&r, "a"), Some(Phase::Verify));
        assert_eq!(done(&r, "b"), Some(Phase::Undrain));
        assert_eq!(done(&r, "c"), None);
    }

    #[test]
    fn bad_lines_are_skipped_and_reported_by_number() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = journal_with_bad_lines(dir.path());
        let r = read_resume(&path, "s");
        let bad: Vec<(usize, &str)> = r
            .bad_lines
            .iter()
            .map(|b| (b.line, b.reason.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(
            bad,
            vec![
                (2, "not UTF-8"),
                (4, "not JSON"),
                (6, "torn (no newline at the end)")
            ]
        );
        let lines = read_lines(&path).expect("read");
        assert_eq!(
            lines.entries.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![1, 3, 5]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_without_losing_the_next() {
        let mut bytes = vec![b'x'; MAX_LINE_BYTES + 10];
        bytes.extend(b"\n{\"event\":\"finished\"}\n");
        let l = read_lines_from(std::io::Cursor::new(bytes)).expect("read");
        assert_eq!(l.bad.len(), 1);
        assert_eq!(l.bad[0].line, 1);
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].0, 2);
    }

    #[test]
    fn appending_after_a_torn_line_loses_no_record() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, br#"{"event":"phase_done","node_name":"a","pha"#).expect("write");
        let landed = Record::NodeLanded {
            node: NodeId::new(0),
        };
        write_journal(&path, "s", Fleet::named(["b"]), [(landed, 1)]);
        let r = read_resume(&path, "s");
        assert_eq!(done(&r, "b"), Some(Phase::Undrain), "{r:?}");
        assert_eq!(r.bad_lines.len(), 1);
        assert_eq!(r.bad_lines[0].line, 1);
    }
    /// Lines as a real run writes them (a headless rollout of the simulated gateways),
    /// and the records they hold.
    fn written_lines() -> Vec<(&'static str, Record)> {
        use super::super::Command;
        vec![
            (
                r#"{"class":"gateway","event":"stage_started","manifest_sha256":"c9eb","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","stage":0,"ts_ms":1796211601995}"#,
                Record::StageStarted {
                    class: "gateway".into(),
                    stage: 0,
                },
            ),
            (
                r#"{"attempt":1,"event":"phase_started","manifest_sha256":"c9eb","node":0,"node_name":"mac-g01","phase":"baseline","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211601995}"#,
                Record::PhaseStarted {
                    node: NodeId::new(0),
                    phase: Phase::Baseline,
                    attempt: 1,
                },
            ),
            (
                r#"{"attempt":1,"event":"phase_done","manifest_sha256":"c9eb","node":0,"node_name":"mac-g01","note":"gateway ready; status archived","phase":"baseline","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211602413}"#,
                Record::PhaseDone {
                    node: NodeId::new(0),
                    phase: Phase::Baseline,
                    attempt: 1,
                    note: "gateway ready; status archived".into(),
                },
            ),
            (
                r#"{"attempt":1,"event":"phase_failed","failure":{"kind":"transient","message":"rsync exit 12: connection unexpectedly closed (simulated)"},"manifest_sha256":"c9eb","node":0,"node_name":"mac-g01","phase":"sync","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211603249}"#,
                Record::PhaseFailed {
                    node: NodeId::new(0),
                    phase: Phase::Sync,
                    attempt: 1,
                    failure: Failure::Transient(
                        "rsync exit 12: connection unexpectedly closed (simulated)".into(),
                    ),
                },
            ),
            (
                r#"{"attempt":2,"delay_ms":6429,"event":"retry_scheduled","manifest_sha256":"c9eb","node":0,"node_name":"mac-g01","phase":"sync","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211603249}"#,
                Record::RetryScheduled {
                    node: NodeId::new(0),
                    phase: Phase::Sync,
                    attempt: 2,
                    delay_ms: 6429,
                },
            ),
            (
                r#"{"event":"node_landed","manifest_sha256":"c9eb","node":0,"node_name":"mac-g01","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211613968}"#,
                Record::NodeLanded {
                    node: NodeId::new(0),
                },
            ),
            (
                r#"{"error":"gateway not ready at baseline","event":"node_failed","manifest_sha256":"c9eb","node":3,"node_name":"mac-g04","phase":"baseline","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211619896}"#,
                Record::NodeFailed {
                    node: NodeId::new(3),
                    phase: Phase::Baseline,
                    error: "gateway not ready at baseline".into(),
                },
            ),
            (
                r#"{"event":"halted","manifest_sha256":"c9eb","reason":"class gateway: 1 failed node(s), over its failure budget of 0","rollout":"r1a2368df22e-31805","skills_sha":"7d1e0c55","ts_ms":1796211625554}"#,
                Record::Halted {
                    reason: "class gateway: 1 failed node(s), over its failure budget of 0".into(),
                },
            ),
            (
                r#"{"command":{"nodes":[1,3],"op":"rollback"},"event":"operator","manifest_sha256":"c9eb","rollout":"r1","skills_sha":"7d1e0c55","ts_ms":5}"#,
                Record::Operator {
                    command: Command::Rollback(vec![NodeId::new(1), NodeId::new(3)]),
                },
            ),
            (
                r#"{"command":{"op":"pause"},"event":"operator","manifest_sha256":"c9eb","rollout":"r1","skills_sha":"7d1e0c55","ts_ms":5}"#,
                Record::Operator {
                    command: Command::Pause,
                },
            ),
            (
                r#"{"event":"rolled_back","manifest_sha256":"c9eb","node":1,"node_name":"mac-g02","result":{"Err":"no previous bundle"},"rollout":"r1","skills_sha":"7d1e0c55","ts_ms":6}"#,
                Record::RolledBack {
                    node: NodeId::new(1),
                    result: Err("no previous bundle".into()),
                },
            ),
            (
                r#"{"event":"node_skipped","manifest_sha256":"c9eb","node":2,"node_name":"mac-g03","rollout":"r1","skills_sha":"7d1e0c55","ts_ms":7}"#,
                Record::NodeSkipped {
                    node: NodeId::new(2),
                },
            ),
            (
                r#"{"event":"node_stopped","left":"restored","manifest_sha256":"c9eb","node":2,"node_name":"mac-g03","rollout":"r1","skills_sha":"7d1e0c55","ts_ms":7}"#,
                Record::NodeStopped {
                    node: NodeId::new(2),
                    left: crate::rollout::Left::Restored,
                },
            ),
            (
                r#"{"event":"node_stopped","left":"drained","manifest_sha256":"c9eb","node":3,"node_name":"mac-g04","rollout":"r1","skills_sha":"7d1e0c55","ts_ms":7,"why":"probe failed: current is x, not the bundle"}"#,
                Record::NodeStopped {
                    node: NodeId::new(3),
                    left: crate::rollout::Left::Drained(
                        "probe failed: current is x, not the bundle".into(),
                    ),
                },
            ),
            (
                r#"{"event":"finished","failed":1,"landed":4,"manifest_sha256":"c9eb","rollout":"r1","skills_sha":"7d1e0c55","skipped":0,"ts_ms":8}"#,
                Record::Finished {
                    landed: 4,
                    failed: 1,
                    skipped: 0,
                },
            ),
        ]
    }

    #[test]
    fn written_lines_read_into_typed_records_and_write_back_byte_for_byte() {
        for (text, want) in written_lines() {
            let v: Value = serde_json::from_str(text).expect("json");
            let line = Line::from_value(&v).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(line.event, Event::Record(want), "{text}");
            assert_eq!(line.rollout.is_some(), text.contains("\"rollout\""));
            assert_eq!(line.to_json(), text);
        }
        // Every record the machine writes is one the reader knows by its event name.
        for (_, rec) in written_lines() {
            let v = serde_json::to_value(&rec).expect("json");
            let name = v["event"].as_str().expect("event");
            assert!(Record::EVENTS.contains(&name), "{name}");
        }
    }

    #[test]
    fn the_writer_writes_what_the_reader_reads() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        let recs: Vec<Record> = written_lines().into_iter().map(|(_, r)| r).collect();
        let names = Fleet::named((1..=4).map(|i| format!("mac-g0{i}")));
        write_journal(&path, "sha", names, recs.iter().cloned().zip(0..));
        let read = read_records(&path).expect("read");
        assert_eq!(read.bad, vec![]);
        let got: Vec<Record> = read
            .lines
            .iter()
            .map(|(_, l)| match &l.event {
                Event::Record(r) => r.clone(),
                Event::Unknown { event, .. } => panic!("unknown {event}"),
            })
            .collect();
        assert_eq!(got, recs);
        let (_, landed) = &read.lines[5];
        assert_eq!(landed.node_name.as_deref(), Some("mac-g01"));
        assert_eq!(landed.ts_ms, 5);
        assert_eq!(landed.skills_sha.as_deref(), Some("sha"));
    }

    #[test]
    fn records_that_do_not_fit_are_bad_lines_and_unknown_events_are_kept() {
        let text = concat!(
            "{\"event\":\"phase_done\",\"node_name\":\"a\",\"phase\":\"teleport\",\"skills_sha\":\"s\"}\n",
            "{\"node_name\":\"a\"}\n",
            "{\"event\":\"gateway_rebooted\",\"node\":4,\"node_name\":\"a\",\"ts_ms\":9}\n",
            "{\"event\":\"halted\",\"reason\":\"x\",\"ts_ms\":\"soon\"}\n",
        );
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, text).expect("write");
        let read = read_records(&path).expect("read");
        let bad: Vec<(usize, &str)> = read
            .bad
            .iter()
            .map(|b| (b.line, b.reason.as_str()))
            .collect();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(bad[0].0, 1);
        assert!(
            bad[0]
                .1
                .starts_with("a bad phase_done record: unknown variant `teleport`"),
            "{bad:?}"
        );
        assert_eq!(bad[1], (2, "no \"event\" field"));
        assert_eq!(bad[2].0, 4);
        assert!(bad[2].1.contains("invalid type"), "{bad:?}");
        assert_eq!(read.lines.len(), 1);
        let (n, l) = &read.lines[0];
        assert_eq!(*n, 3);
        assert_eq!(
            l.event,
            Event::Unknown {
                event: "gateway_rebooted".into(),
                node: Some(4)
            }
        );
        assert_eq!(l.node(), Some(4));
        assert_eq!(read_resume(&path, "s").bad_lines, read.bad);
    }

    #[test]
    fn a_line_that_is_no_record_says_why_as_a_kind_and_in_the_same_words() {
        assert_eq!(
            Line::from_value(&json!({"node": 1})),
            Err(LineError::NoEvent)
        );
        assert_eq!(LineError::NoEvent.to_string(), "no \"event\" field");
        let bad = Line::from_value(&json!({"event": "phase_done", "node": "x"}));
        let Err(LineError::BadRecord { event, why }) = &bad else {
            panic!("{bad:?}");
        };
        assert_eq!(event, "phase_done");
        let said = bad.as_ref().map_err(|e| e.to_string()).expect_err("bad");
        assert_eq!(said, format!("a bad phase_done record: {why}"));
        assert!(matches!(
            Line::from_value(&json!({"event": 7})),
            Err(LineError::NoEvent)
        ));
        assert!(matches!(
            Line::from_value(&json!({"event": "x", "ts_ms": "soon"})),
            Err(LineError::Envelope(_))
        ));
    }
}
