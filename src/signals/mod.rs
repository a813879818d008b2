//! What a node printed, turned into typed signals.
//!
//! [`parse_poll`] reads the envelope the poll script prints ([`crate::remote::script`]);
//! [`gateway`], [`doctor`] and [`disk`] parse the payloads inside it. Nothing here does
//! I/O and nothing here panics on what a node sends: every failure is a
//! [`SignalError`] that names the signal.

pub mod disk;
pub mod doctor;
pub mod gateway;

use serde::{Deserialize, Serialize};

pub use disk::Disk;
pub use doctor::{DoctorReport, Finding, Severity};
pub use gateway::{GatewayState, GatewayStatus};

/// Largest poll output we accept from a node, in bytes.
pub const POLL_OUTPUT_CAP: usize = 2 * 1024 * 1024;

/// A signal that could not be read, naming the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{signal}: {message}")]
pub struct SignalError {
    pub signal: &'static str,
    pub message: String,
}

impl SignalError {
    pub fn new(signal: &'static str, message: impl Into<String>) -> Self {
        SignalError {
            signal,
            message: message.into(),
        }
    }
}

/// One CLI run on the node, as the poll script reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CliRun {
    pub rc: i32,
    pub timed_out: bool,
    /// Bytes the CLI wrote to stdout (may exceed what was sent back).
    pub bytes: u64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl CliRun {
    /// Whether the CLI wrote more than the node sent back.
    pub fn truncated(&self) -> bool {
        self.bytes > self.stdout.len() as u64
    }
}

/// The lock file of the active bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockSeen {
    /// sha256 of the lock file's bytes (`SKILLS_MANIFEST_SHA256`); empty if unknown.
    pub sha256: String,
    /// The `skills_sha` the lock file claims; empty when it names none.
    pub claim: String,
}

/// Everything one poll of a node returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPoll {
    /// The node's clock, epoch seconds.
    pub node_now: i64,
    pub gateway: Option<CliRun>,
    pub doctor: Option<CliRun>,
    /// Target of `<root>/current`, `None` when there is no symlink.
    pub current: Option<String>,
    /// `current` exists but is not a symlink (a hand-made directory).
    pub current_not_link: bool,
    pub bundle_dir: bool,
    pub lock: Option<LockSeen>,
    /// mtime of `skill-cache-ready`, epoch seconds; `None` when missing.
    pub cache_mtime: Option<i64>,
    pub drain: bool,
    /// curl's exit code and the HTTP status of the liveness URL.
    pub live_rc: i32,
    pub live_code: Option<u16>,
    /// The gateway's readiness URL (`GET /readyz`), when the layout names one.
    pub ready: Option<ReadyRaw>,
    pub disk: Result<Disk, SignalError>,
    /// The node lock a rollout holds (`<state_dir>/meshroll.lock`), when there is one.
    pub node_lock: Option<NodeLockRaw>,
    /// Which CLI the poll channel runs (read once when it opens); `None` from a one-shot
    /// poll, which does not read the login shell's PATH.
    pub cli: Option<CliIdentity>,
}

/// The node lock as the poll reports it: the owner line (at most
/// [`crate::node_lock::OWNER_CAP`] bytes; `None` when it was not read again because it
/// did not change, or is missing) and the owner and heartbeat files' modification
/// times on the node's clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeLockRaw {
    pub owner: Option<Vec<u8>>,
    pub owner_mtime: Option<i64>,
    pub heartbeat_mtime: Option<i64>,
}

/// Which `openclaw` ran on a node, as its poll channel found it on the login shell's
/// PATH: its path (empty when none was found) and the first line of its `--version`.
/// Node text, decoded but not cleaned: it is cleaned where it leaves meshroll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliIdentity {
    pub path: String,
    pub version: String,
    /// Found by a PATH lookup (`meshroll_openclaw` a bare name), not set as a path.
    pub on_path: bool,
}

/// curl's exit code and the HTTP status of the gateway's readiness URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyRaw {
    /// curl's exit code for this request; `None` when curl could not say (old curl).
    pub rc: Option<i32>,
    /// The HTTP status; `None` when nothing answered.
    pub code: Option<u16>,
}

#[derive(Deserialize)]
struct Envelope {
    v: u32,
    now: Option<i64>,
    fatal: Option<String>,
    gw: Option<CliEnv>,
    doc: Option<CliEnv>,
    current: Option<String>,
    /// The target as plain text, when it holds only safe characters.
    current_raw: Option<String>,
    #[serde(default)]
    current_not_link: bool,
    #[serde(default)]
    bundle_dir: bool,
    lock: Option<LockEnv>,
    cache_mtime: Option<i64>,
    #[serde(default)]
    drain: bool,
    live: Option<LiveEnv>,
    /// The gateway's readiness URL; absent when disabled.
    ready: Option<ReadyEnv>,
    /// The numeric columns of `df -Pk` and `df -Pi` (last line).
    #[serde(default)]
    dfk: Vec<String>,
    #[serde(default)]
    dfi: Vec<String>,
    /// The node lock: `{"ox": hex owner line, "om": owner mtime, "hbm": heartbeat mtime}`.
    nlock: Option<NodeLockEnv>,
    /// Which CLI the channel runs, hex (see [`CliIdentity`]).
    cli: Option<CliIdEnv>,
}

#[derive(Deserialize)]
struct NodeLockEnv {
    /// The owner line, hex; absent when unchanged since the last answer.
    ox: Option<String>,
    om: Option<i64>,
    hbm: Option<i64>,
}

#[derive(Deserialize)]
struct CliIdEnv {
    path: String,
    version: String,
    #[serde(default)]
    on_path: bool,
}

/// Bytes of a CLI path or version line kept (the script cuts `--version` at 512).
const CLI_ID_CAP: usize = 4096;

fn cli_identity(e: CliIdEnv) -> Result<CliIdentity, SignalError> {
    let text = |h: &str| -> Result<String, SignalError> {
        let mut b = unhex_field("cli", h)?;
        b.truncate(CLI_ID_CAP);
        Ok(String::from_utf8_lossy(&b).trim().to_string())
    };
    Ok(CliIdentity {
        path: text(&e.path)?,
        version: text(&e.version)?,
        on_path: e.on_path,
    })
}

#[derive(Deserialize)]
struct CliEnv {
    rc: i32,
    timed_out: bool,
    bytes: Option<u64>,
    out: String,
    err: String,
}

#[derive(Deserialize)]
struct LockEnv {
    sha256: String,
    claim: String,
}

#[derive(Deserialize)]
struct LiveEnv {
    rc: Option<i32>,
    code: Option<u32>,
}

#[derive(Deserialize)]
struct ReadyEnv {
    rc: Option<i32>,
    code: Option<u32>,
}

/// An HTTP status as curl prints it: `000` (nothing answered) and out-of-range values
/// are `None`.
fn http_code(c: Option<u32>) -> Option<u16> {
    c.and_then(|c| u16::try_from(c).ok()).filter(|c| *c != 0)
}

/// Decode lowercase/uppercase hex as `od -tx1` prints it.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

fn unhex_field(signal: &'static str, s: &str) -> Result<Vec<u8>, SignalError> {
    unhex(s).ok_or_else(|| SignalError::new(signal, "garbled hex from the poll script"))
}

fn cli(signal: &'static str, e: CliEnv) -> Result<CliRun, SignalError> {
    let stdout = unhex_field(signal, &e.out)?;
    Ok(CliRun {
        rc: e.rc,
        timed_out: e.timed_out,
        bytes: e.bytes.unwrap_or(stdout.len() as u64),
        stdout,
        stderr: unhex_field(signal, &e.err)?,
    })
}

/// Parse the poll script's output. An error here means the whole poll is unreadable
/// (signal `poll`); problems inside one payload are left for that signal's parser.
pub fn parse_poll(bytes: &[u8]) -> Result<RawPoll, SignalError> {
    if bytes.len() > POLL_OUTPUT_CAP {
        return Err(SignalError::new(
            "poll",
            format!(
                "output too large ({} bytes, cap {POLL_OUTPUT_CAP})",
                bytes.len()
            ),
        ));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| SignalError::new("poll", "output is not UTF-8"))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| {
            SignalError::new(
                "poll",
                format!("no JSON object in output: {}", excerpt(text.as_bytes())),
            )
        })?;
    let env: Envelope = serde_json::from_str(line)
        .map_err(|e| SignalError::new("poll", format!("unparseable poll output ({e})")))?;
    if let Some(f) = env.fatal {
        return Err(SignalError::new("poll", format!("poll script failed: {f}")));
    }
    if env.v != 1 {
        return Err(SignalError::new(
            "poll",
            format!("unknown poll version {}", env.v),
        ));
    }
    let current = match (env.current, env.current_raw) {
        (Some(h), _) => Some(
            String::from_utf8(unhex_field("manifest", &h)?)
                .map_err(|_| SignalError::new("manifest", "current target is not UTF-8"))?,
        ),
        (None, raw) => raw,
    };
    Ok(RawPoll {
        node_now: env.now.unwrap_or(0),
        gateway: env.gw.map(|g| cli("gateway", g)).transpose()?,
        doctor: env.doc.map(|d| cli("doctor", d)).transpose()?,
        current,
        current_not_link: env.current_not_link,
        bundle_dir: env.bundle_dir,
        lock: env.lock.map(|l| LockSeen {
            sha256: l.sha256,
            claim: l.claim,
        }),
        cache_mtime: env.cache_mtime,
        drain: env.drain,
        live_rc: env.live.as_ref().and_then(|l| l.rc).unwrap_or(-1),
        live_code: http_code(env.live.and_then(|l| l.code)),
        ready: env.ready.map(|r| ReadyRaw {
            rc: r.rc,
            code: http_code(r.code),
        }),
        disk: disk::parse_columns(&env.dfk, &env.dfi),
        node_lock: env
            .nlock
            .map(|l| {
                Ok::<_, SignalError>(NodeLockRaw {
                    owner: l
                        .ox
                        .map(|h| unhex_field("lock", &h))
                        .transpose()?
                        .map(|mut o| {
                            o.truncate(crate::node_lock::OWNER_CAP);
                            o
                        }),
                    owner_mtime: l.om,
                    heartbeat_mtime: l.hbm,
                })
            })
            .transpose()?,
        cli: env.cli.map(cli_identity).transpose()?,
    })
}

/// Bytes of an excerpt, counted after the redactor ran.
pub const EXCERPT_BYTES: usize = 120;

/// A short, printable excerpt of untrusted bytes for an error message: the whole text
/// redacted, then cut to [`EXCERPT_BYTES`], then escaped ([`Shown::excerpt`]).
///
/// [`Shown::excerpt`]: crate::safe_text::Shown::excerpt
pub fn excerpt(bytes: &[u8]) -> crate::safe_text::Shown {
    crate::safe_text::Shown::excerpt(bytes, EXCERPT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_error_names_the_signal() {
        let e = SignalError::new("disk", "no df line");
        assert_eq!(e.to_string(), "disk: no df line");
    }

    #[test]
    fn unhex_roundtrip_and_rejects_garbage() {
        assert_eq!(unhex("00ff41"), Some(vec![0, 255, b'A']));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(""), Some(vec![]));
    }

    #[test]
    fn envelope_with_every_field() {
        let out = br#"{"v":1,"now":1000,"gw":{"rc":0,"timed_out":false,"bytes":2,"out":"7b7d","err":""},"current":"616263","bundle_dir":true,"lock":{"sha256":"ab","claim":"abc"},"cache_mtime":900,"drain":true,"live":{"rc":0,"code":200},"dfk":[],"dfi":[]}
"#;
        let p = parse_poll(out).expect("parses");
        assert_eq!(p.node_now, 1000);
        assert_eq!(
            p.gateway.as_ref().map(|g| g.stdout.clone()),
            Some(b"{}".to_vec())
        );
        assert_eq!(p.current.as_deref(), Some("abc"));
        assert_eq!(p.cache_mtime, Some(900));
        assert!(p.drain);
        assert_eq!(p.live_code, Some(200));
        assert_eq!(p.ready, None, "no readiness URL, no readyz signal");
        assert!(p.disk.is_err());
    }

    #[test]
    fn envelope_with_readyz() {
        let p = parse_poll(
            br#"{"v":1,"now":5,"live":{"rc":0,"code":200},"ready":{"rc":7,"code":0},"dfk":[],"dfi":[]}"#,
        )
        .expect("parses");
        assert_eq!(
            p.ready,
            Some(ReadyRaw {
                rc: Some(7),
                code: None
            })
        );
        let p = parse_poll(
            br#"{"v":1,"now":5,"live":{"rc":null,"code":200},"ready":{"rc":0,"code":503},"dfk":[],"dfi":[]}"#,
        )
        .expect("parses");
        assert_eq!(p.live_rc, -1);
        assert_eq!(p.ready.and_then(|r| r.code), Some(503));
    }

    #[test]
    fn bad_envelopes_name_the_poll_signal() {
        for (bytes, want) in [
            (&b"\xff\xfe"[..], "not UTF-8"),
            (&b"bash: sh: not found"[..], "no JSON object"),
            (&b"{\"v\":1,\"now\":"[..], "unparseable"),
            (
                &b"{\"v\":1,\"fatal\":\"mktemp failed\"}"[..],
                "mktemp failed",
            ),
        ] {
            let e = parse_poll(bytes).expect_err("must fail");
            assert_eq!(e.signal, "poll");
            assert!(e.message.contains(want), "{e}");
        }
        let huge = vec![b'x'; POLL_OUTPUT_CAP + 1];
        assert!(
            parse_poll(&huge)
                .expect_err("too large")
                .message
                .contains("too large")
        );
    }
}
