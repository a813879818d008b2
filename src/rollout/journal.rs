//! The append-only journal: one JSON line per event, written through tracing-appender's
//! non-blocking file writer, each line carrying both bundle ids so on-call can diff
//! "what shipped" across the mesh in one query. A restarted meshroll reads it back to
//! continue where it stopped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

use super::machine::{Phase, Record};
use crate::observe::Millis;

/// The longest string kept in a journal record, in characters.
pub const JOURNAL_STRING_CAP: usize = 4096;

pub struct Journal {
    writer: NonBlocking,
    _guard: WorkerGuard,
    pub rollout_id: String,
    skills_sha: String,
    manifest_sha256: String,
    names: Vec<String>,
}

impl Journal {
    /// Open (append) the journal at `path`.
    pub fn open(
        path: &Path,
        rollout_id: String,
        skills_sha: String,
        manifest_sha256: String,
        names: Vec<String>,
    ) -> std::io::Result<Journal> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let file = path.file_name().ok_or_else(|| {
            std::io::Error::other(format!("journal path {} has no file name", path.display()))
        })?;
        // Fail here, not in the background writer, if the file cannot be written; the
        // journal is the operator's alone: created (or tightened to) 0600.
        let mut f = crate::logging::open_private_append(path)?;
        end_torn_line(path, &mut f)?;
        let appender = tracing_appender::rolling::never(dir, file);
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(appender);
        Ok(Journal {
            writer,
            _guard: guard,
            rollout_id,
            skills_sha,
            manifest_sha256,
            names,
        })
    }

    /// Append one record at `now`.
    pub fn write(&mut self, rec: &Record, now: Millis) {
        let mut v = serde_json::to_value(rec).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            if let Some(n) = m.get("node").and_then(Value::as_u64)
                && let Some(name) = self.names.get(n as usize)
            {
                m.insert("node_name".into(), json!(name));
            }
            m.insert("ts_ms".into(), json!(now));
            m.insert("rollout".into(), json!(self.rollout_id));
            m.insert("skills_sha".into(), json!(self.skills_sha));
            m.insert("manifest_sha256".into(), json!(self.manifest_sha256));
        }
        // The output boundary: node text in a record is redacted and sanitised.
        crate::safe_text::clean_json(&mut v, JOURNAL_STRING_CAP);
        let mut line = v.to_string();
        line.push('\n');
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
            tracing::error!(error = %e, "journal write failed");
        }
    }
}

/// A crash mid-write leaves a torn last line; end it, so the next record starts on a
/// line of its own instead of being glued to the fragment (and lost with it).
fn end_torn_line(path: &Path, f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut r = std::fs::File::open(path)?;
    if r.seek(SeekFrom::End(0))? == 0 {
        return Ok(());
    }
    r.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    r.read_exact(&mut last)?;
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
    /// Per node name: the last phase that completed.
    pub last_done: BTreeMap<String, Phase>,
    /// Lines skipped because they could not be read (torn, not UTF-8, not JSON).
    pub bad_lines: Vec<BadLine>,
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
    let f = std::fs::File::open(path)?;
    read_lines_from(std::io::BufReader::new(f))
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
    let lines = match read_lines(path) {
        Ok(l) => l,
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
        bad_lines: lines.bad,
        ..Resume::default()
    };
    for (_, v) in lines.entries {
        if v["skills_sha"] != skills_sha {
            continue;
        }
        let rollout = v["rollout"].as_str().map(str::to_string);
        if r.rollout_id != rollout {
            // A new rollout of the same bundle starts over from what the nodes have.
            r.rollout_id = rollout;
        }
        let node = v["node_name"].as_str().map(str::to_string);
        match (v["event"].as_str(), node) {
            (Some("phase_done"), Some(n)) => {
                if let Some(p) = v["phase"].as_str().and_then(Phase::parse) {
                    r.last_done.insert(n, p);
                }
            }
            (Some("node_landed"), Some(n)) => {
                r.last_done.insert(n, Phase::Undrain);
            }
            // A copy that failed verification is synced again before it is verified
            // again (rsync --checksum repairs it), as a retry by the operator does.
            (Some("phase_failed"), Some(n)) if v["failure"]["kind"] == "mismatch" => {
                r.last_done.insert(n, Phase::Drain);
            }
            (Some("rolled_back"), Some(n)) => {
                r.last_done.remove(&n);
            }
            (Some("finished"), _) => {
                // A finished rollout is not resumed; landed nodes stay landed.
                r.rollout_id = None;
                r.last_done.retain(|_, p| *p == Phase::Undrain);
            }
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_carry_both_ids_and_resume_reads_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.jsonl");
        {
            let mut j = Journal::open(
                &path,
                "r1".into(),
                "sha1".into(),
                "m1".into(),
                vec!["a".into(), "b".into()],
            )
            .expect("open");
            j.write(
                &Record::PhaseDone {
                    node: 0,
                    phase: Phase::Verify,
                    attempt: 1,
                    note: "ok".into(),
                },
                5,
            );
            j.write(&Record::NodeLanded { node: 1 }, 6);
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let first: Value = serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(first["event"], "phase_done");
        assert_eq!(first["node_name"], "a");
        assert_eq!(first["skills_sha"], "sha1");
        assert_eq!(first["manifest_sha256"], "m1");
        assert_eq!(first["rollout"], "r1");
        let r = read_resume(&path, "sha1");
        assert_eq!(r.rollout_id.as_deref(), Some("r1"));
        assert_eq!(r.last_done.get("a"), Some(&Phase::Verify));
        assert_eq!(r.last_done.get("b"), Some(&Phase::Undrain));
        assert_eq!(read_resume(&path, "other"), Resume::default());
        // Appending keeps what was there.
        {
            let mut j = Journal::open(
                &path,
                "r1".into(),
                "sha1".into(),
                "m1".into(),
                vec!["a".into()],
            )
            .expect("open");
            j.write(
                &Record::Finished {
                    landed: 2,
                    failed: 0,
                    skipped: 0,
                },
                7,
            );
        }
        let r = read_resume(&path, "sha1");
        assert_eq!(r.rollout_id, None);
        assert_eq!(
            r.last_done.get("a"),
            None,
            "only landed nodes survive a finished rollout"
        );
        assert_eq!(r.last_done.get("b"), Some(&Phase::Undrain));
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
        {
            let mut j = Journal::open(&path, "r1".into(), "s".into(), "m".into(), vec!["a".into()])
                .expect("open");
            j.write(
                &Record::PhaseDone {
                    node: 0,
                    phase: Phase::Sync,
                    attempt: 1,
                    note: "ok".into(),
                },
                1,
            );
            j.write(
                &Record::PhaseFailed {
                    node: 0,
                    phase: Phase::Verify,
                    attempt: 1,
                    failure: super::super::Failure::Mismatch("x differs".into()),
                },
                2,
            );
        }
        let r = read_resume(&path, "s");
        assert_eq!(r.last_done.get("a"), Some(&Phase::Drain), "sync runs again");
    }
    fn journal_with_bad_lines(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("j.jsonl");
        let good = |ev: &str, node: &str, phase: &str| {
            format!(
                r#"{{"event":"{ev}","node_name":"{node}","phase":"{phase}","rollout":"r1","skills_sha":"s","ts_ms":1}}"#
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
        assert_eq!(r.last_done.get("a"), Some(&Phase::Verify));
        assert_eq!(r.last_done.get("b"), Some(&Phase::Undrain));
        assert_eq!(r.last_done.get("c"), None);
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
        {
            let mut j = Journal::open(&path, "r1".into(), "s".into(), "m".into(), vec!["b".into()])
                .expect("open");
            j.write(&Record::NodeLanded { node: 0 }, 1);
        }
        let r = read_resume(&path, "s");
        assert_eq!(r.last_done.get("b"), Some(&Phase::Undrain), "{r:?}");
        assert_eq!(r.bad_lines.len(), 1);
        assert_eq!(r.bad_lines[0].line, 1);
    }
}
