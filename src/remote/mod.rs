//! The one place that talks to nodes, through one interface ([`Nodes`]): real ones
//! over SSH and rsync ([`ssh`], [`ssh_exec`], [`rsync`]), simulated ones for the demo
//! ([`sim`], [`sim_ops`]); the poll script ([`script`]) and the operations ([`ops`])
//! both answer to.

pub mod interactive;
pub mod ops;
mod pgroup;
#[cfg(test)]
mod portability;
pub mod rsync;
pub mod script;
pub mod sim;
pub mod sim_ops;
pub mod ssh;
pub mod ssh_exec;
pub mod transport;

use std::fmt;

use crate::inventory::Node;
use crate::signals::SignalError;
pub use ops::NodeOp;
pub use script::PollRequest;
pub use transport::{Nodes, RunLimits, SyncError, SyncTree, Transport};

/// What a remote command gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A round trip that did not come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// The node's host key is not the one in known_hosts (or unknown, in strict mode).
    HostKey(String),
    /// The host name does not resolve.
    UnknownHost(String),
    /// The node refused our ssh credentials.
    AuthFailed(String),
    /// Could not connect, or the connection dropped.
    Connect(String),
    /// No answer within `--timeout` seconds.
    Timeout(u64),
    /// The node sent more than we accept.
    OutputTooLarge(usize),
    /// The command could not run.
    Exec(String),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::HostKey(m) => write!(f, "host key mismatch, refused ({m})"),
            RemoteError::UnknownHost(m) => write!(f, "unknown host ({m})"),
            RemoteError::AuthFailed(m) => write!(f, "ssh authentication failed ({m})"),
            RemoteError::Connect(m) => write!(f, "{m}"),
            RemoteError::Timeout(s) => write!(f, "timed out after {s}s"),
            RemoteError::OutputTooLarge(c) => f.write_str(&output_over(*c)),
            RemoteError::Exec(m) => write!(f, "{m}"),
        }
    }
}

/// What a cut at `cap` bytes is reported as, everywhere: `output over 4 MiB`.
pub fn output_over(cap: usize) -> String {
    format!("output over {}", human_bytes(cap))
}

/// A size as the cap messages word it: `2 MiB`, `64 KiB`, `100 bytes`.
pub fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Why a poll gave no readable signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollFailure {
    /// The round trip failed: the host counts as unreachable.
    Remote(RemoteError),
    /// The node answered with something unreadable.
    Signal(SignalError),
}

impl fmt::Display for PollFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollFailure::Remote(e) => e.fmt(f),
            PollFailure::Signal(e) => e.fmt(f),
        }
    }
}

/// The words that start a remote command as the node's configured user.
pub fn as_user(node: &Node, argv: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    if !node.layout.run_as.is_empty() {
        v.extend(["sudo", "-n", "-u", node.layout.run_as.as_str()].map(String::from));
    }
    v.extend(argv.iter().map(|s| s.to_string()));
    v
}
