//! The operator's files are the operator's alone: the log directory meshroll creates is
//! 0700, log files and the rollout journal are 0600 (an existing 0644 one is tightened).
//! On the simulated mesh, no sshd needed.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn log_and_journal_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("state/meshroll");
    let journal = tmp.path().join("journal.jsonl");
    // A journal left by an older version, world-readable.
    fs::write(&journal, "").unwrap();
    fs::set_permissions(&journal, fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .arg("--log-dir")
        .arg(&logs)
        .args(["rollout", "--sim", "--yes", "--journal"])
        .arg(&journal)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // The demo mesh has a node that fails verification: exit 1, but it ran.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("recap:"),
        "{out:?}"
    );
    assert_eq!(mode(&logs), 0o700, "log directory");
    let files: Vec<_> = fs::read_dir(&logs).unwrap().flatten().collect();
    assert!(!files.is_empty(), "a log file was written");
    for f in files {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
    assert!(fs::metadata(&journal).unwrap().len() > 0, "journal written");
    assert_eq!(mode(&journal), 0o600, "journal");
}
