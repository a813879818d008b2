//! The one place that talks to nodes: real ones over SSH ([`ssh`]), simulated ones for
//! the demo ([`sim`]), and the poll script both answer to ([`script`]).

pub mod script;
pub mod sim;
pub mod sim_rollout;
pub mod ssh;

use std::fmt;

use crate::inventory::Node;
use crate::signals::{self, RawPoll, SignalError};
pub use script::PollRequest;

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

/// Where polls go.
pub enum Transport {
    Ssh(ssh::SshPool),
    Sim(sim::SimMesh),
}

impl Transport {
    /// One poll of node `idx`: one round trip, every signal.
    pub async fn poll(
        &self,
        idx: usize,
        node: &Node,
        req: &PollRequest,
        token: Option<&str>,
    ) -> Result<RawPoll, PollFailure> {
        match self {
            Transport::Sim(sim) => sim.poll(idx, req).await,
            Transport::Ssh(pool) => {
                let argv = as_user(node, &["sh", "-s"]);
                // A poll carrying doctor waits for it (it has its own limit on the node).
                let mut timeout = pool.options().timeout;
                if req.doctor {
                    timeout = timeout.max(std::time::Duration::from_secs(req.doctor_timeout_s + 5));
                }
                let too_large = |e| match e {
                    RemoteError::OutputTooLarge(_) => {
                        PollFailure::Signal(SignalError::new("poll", e.to_string()))
                    }
                    e => PollFailure::Remote(e),
                };
                let layout = &node.layout;
                let channel = if pool.options().poll_channel {
                    pool.poll_channel(
                        idx,
                        &argv,
                        &|| script::poll_loop_script(layout, token),
                        &|id| script::poll_request_line(id, req),
                        signals::POLL_OUTPUT_CAP,
                        timeout,
                    )
                    .await
                } else {
                    Err(ssh::ChannelError::Busy)
                };
                let out = match channel {
                    Ok((id, line)) => {
                        let head = format!("{{\"v\":1,\"id\":{id},");
                        if line.starts_with(b"{\"v\":1,\"id\":")
                            && !line.starts_with(head.as_bytes())
                        {
                            return Err(PollFailure::Signal(SignalError::new(
                                "poll",
                                format!("answer to another request (wanted {id})"),
                            )));
                        }
                        RemoteOutput {
                            code: Some(0),
                            stdout: line,
                            stderr: Vec::new(),
                        }
                    }
                    Err(ssh::ChannelError::Remote(e)) => return Err(too_large(e)),
                    // Another poll of this node holds its channel (a rollout probe while
                    // the dashboard polls): one round trip of its own.
                    Err(ssh::ChannelError::Busy) => {
                        let script = script::poll_script(layout, req, token);
                        pool.run_for(
                            idx,
                            &argv,
                            script.as_bytes(),
                            signals::POLL_OUTPUT_CAP,
                            timeout,
                            None,
                        )
                        .await
                        .map_err(too_large)?
                    }
                };
                if out.stdout.iter().all(u8::is_ascii_whitespace) {
                    return Err(PollFailure::Signal(SignalError::new(
                        "poll",
                        format!(
                            "no output (exit {}), stderr {}",
                            out.code.map_or("signal".into(), |c| c.to_string()),
                            signals::excerpt(&out.stderr)
                        ),
                    )));
                }
                // What the node printed may carry the token we forwarded: it is removed
                // where it leaves meshroll (crate::safe_text), after decoding.
                signals::parse_poll(&out.stdout).map_err(PollFailure::Signal)
            }
        }
    }

    /// Close whatever connections are open.
    pub async fn close(&self) {
        if let Transport::Ssh(pool) = self {
            pool.close_all().await;
        }
    }
}
