//! The audit trail: every node action, from the dashboard or headless, appended as one
//! JSON line to `meshroll-audit.jsonl` beside the rollout journal (same directory, mode
//! 0600): who, from which host, when, which node, the command, its exit status and how
//! long it took. `meshroll replay --summary` shows it in time order with the rollouts.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::observe::Millis;
use crate::safe_text::clean;

/// The audit log's file name.
pub const FILE: &str = "meshroll-audit.jsonl";

/// One action on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When it started (ms since the epoch).
    pub ts: Millis,
    /// `user@host/pidN`, as node locks name their owner.
    pub who: String,
    /// This machine's host name.
    pub host: String,
    pub action: String,
    pub node: String,
    /// What ran, in words (`'openclaw' gateway restart`).
    pub command: String,
    /// The exit status (`None`: it did not run to an exit, see `note`).
    pub exit: Option<i32>,
    pub ok: bool,
    pub duration_ms: u64,
    /// What it said or why it failed, cleaned.
    pub note: String,
}

impl Record {
    /// One line for a timeline: `drain mac-w01 by ops@h/pid1 on h: exit 0 in 0.4s (drain flag set)`.
    pub fn describe(&self) -> String {
        let exit = match (self.exit, self.ok) {
            (Some(c), _) => format!("exit {c}"),
            (None, true) => "done".to_string(),
            (None, false) => "failed".to_string(),
        };
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", clean(&self.note))
        };
        format!(
            "action {} on {} by {} from {}: {}, {exit} in {}{note}",
            clean(&self.action),
            clean(&self.node),
            clean(&self.who),
            clean(&self.host),
            clean(&self.command),
            crate::replay::secs(self.duration_ms),
        )
    }
}

/// The audit log beside `journal`.
pub fn beside(journal: &Path) -> PathBuf {
    match journal.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(FILE),
        _ => PathBuf::from(FILE),
    }
}

/// Append `rec` as one line to `path` (created 0600; a looser mode is tightened).
pub fn append(path: &Path, rec: &Record) -> std::io::Result<()> {
    let mut line = serde_json::to_string(rec).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = crate::bounded_file::open_append(path)?;
    // One write per line: lines of two meshrolls appending at once do not interleave.
    f.write_all(line.as_bytes())
}

/// The records of the audit log at `path` (none when it is missing), and how many lines
/// could not be read (torn, not JSON).
pub fn read(path: &Path) -> std::io::Result<(Vec<Record>, usize)> {
    let bytes = match crate::bounded_file::read(path, crate::bounded_file::Kind::Audit) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    out.sort_by_key(|r| r.ts);
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appended_records_read_back_in_time_order_private() {
        let d = tempfile::tempdir().unwrap();
        let p = beside(&d.path().join("j.jsonl"));
        assert_eq!(p, d.path().join(FILE));
        let rec = |ts, node: &str| Record {
            ts,
            who: "ops@h/pid1".into(),
            host: "h".into(),
            action: "drain".into(),
            node: node.into(),
            command: "touch /s/drain".into(),
            exit: Some(0),
            ok: true,
            duration_ms: 400,
            note: "drain flag set".into(),
        };
        append(&p, &rec(20, "b")).unwrap();
        append(&p, &rec(10, "a")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{torn\n")
            .unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (r, bad) = read(&p).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(
            r.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            r[0].describe(),
            "action drain on a by ops@h/pid1 from h: touch /s/drain, exit 0 in 0.4s (drain flag set)"
        );
    }
}
