//! The one place that talks to nodes, through one interface ([`Nodes`]): real ones
//! over SSH and rsync ([`ssh`], [`ssh_exec`], [`rsync`]), simulated ones for the demo
//! ([`sim`], [`sim_ops`]); the poll script ([`script`]) and the operations ([`ops`])
//! both answer to.

pub mod interactive;
pub mod login_path;
pub mod ops;
mod pgroup;
#[cfg(test)]
mod portability;
pub mod rsync;
pub mod script;
pub mod sim;
pub mod sim_ops;
pub mod ssh;
pub mod ssh_backoff;
pub mod ssh_exec;
pub mod transport;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The node's host key is not the one in known_hosts (or unknown, in strict mode).
    #[error("host key mismatch, refused ({0})")]
    HostKey(String),
    /// The host name does not resolve.
    #[error("unknown host ({0})")]
    UnknownHost(String),
    /// The node refused our ssh credentials.
    #[error("ssh authentication failed ({0})")]
    AuthFailed(String),
    /// Could not connect, or the connection dropped.
    #[error("{0}")]
    Connect(String),
    /// The node ended its poll channel (its shell exited) before a byte of the next
    /// line: the end of its output, not a lost connection.
    #[error("poll channel closed by the node")]
    ChannelClosed,
    /// No answer within `--timeout` seconds.
    #[error("timed out after {0}s")]
    Timeout(u64),
    /// The node sent more than we accept.
    #[error("{}", output_over(*.0))]
    OutputTooLarge(usize),
    /// The command could not run.
    #[error("{0}")]
    Exec(String),
    /// The node could not be connected (`cause`, worded as it is), and its next
    /// connect is tried in `retry_in` (the node's connect backoff; `r` tries at once).
    #[error("{cause}")]
    Unreachable {
        cause: Box<RemoteError>,
        retry_in: std::time::Duration,
    },
}

impl RemoteError {
    /// The error itself, without the connect backoff around it.
    pub fn cause(&self) -> &RemoteError {
        match self {
            RemoteError::Unreachable { cause, .. } => cause.cause(),
            e => e,
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollFailure {
    /// The round trip failed: the host counts as unreachable.
    #[error(transparent)]
    Remote(RemoteError),
    /// The node answered with something unreadable.
    #[error(transparent)]
    Signal(SignalError),
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
