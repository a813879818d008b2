//! Process-tree helpers (Linux `/proc`), used to take a lab node's sshd down with every
//! connection it has open, as a powered-off host would. Only pids that descend from an
//! sshd the lab started are ever signalled.

use std::collections::HashMap;
use std::fs;
use std::process::{Command, Stdio};

/// Parent pid of every live process.
fn parents() -> HashMap<u32, u32> {
    let mut out = HashMap::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces and ')', so split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            out.insert(pid, ppid);
        }
    }
    out
}

/// All descendants of `root` (not including it), parents before children.
pub fn descendants(root: u32) -> Vec<u32> {
    let pp = parents();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (&c, &pa) in &pp {
            if pa == p && c != root && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// Send `sig` (e.g. "KILL", "STOP", "CONT") to `pids`, ignoring ones that are gone.
pub fn signal(pids: &[u32], sig: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The command line of `pid`, NUL-separated args joined with spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}
