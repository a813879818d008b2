//! Real nodes over OpenSSH: one multiplexed master per node (the `openssh` crate with
//! `native-mux`), host keys checked strictly unless the user opts out by name, a
//! timeout on every command, reconnect when a master dies, masters closed on exit and
//! `ControlPersist` idle so a crash leaves none behind for long.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::{RemoteError, RemoteOutput};
use crate::inventory::{Fleet, Node};
use crate::safe_text;

/// How to reach nodes.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Passed to ssh as `-F`.
    pub ssh_config: Option<PathBuf>,
    /// Limit for one remote command (and for connecting).
    pub timeout: Duration,
    /// Where control sockets live; must be short (socket paths fit in ~108 bytes).
    pub control_dir: PathBuf,
    /// Accept unknown host keys on first contact (`--accept-new-host-keys`). A key that
    /// *changed* is refused either way.
    pub accept_new_host_keys: bool,
    /// Channels at once per node; sshd's `MaxSessions` defaults to 10.
    pub per_node_channels: usize,
    /// Seconds an idle master lingers if meshroll dies without closing it.
    pub control_persist_s: usize,
    /// Poll over one long-lived channel per node (the default); `false` runs one
    /// command per poll (one login shell per poll; kept for comparison in the bench).
    pub poll_channel: bool,
    /// Limit for opening a poll channel: the node's login shell runs first, and an
    /// account's rc file can take seconds (`pyenv rehash` waits up to 60 s on a lock).
    /// Longer than `timeout`, which limits each request once the channel is open.
    pub channel_open_timeout: Duration,
    /// After a poll channel failed to open, polls of that node run one-shot commands
    /// for this long before the channel is tried again (doubled after each further
    /// failure, up to [`CHANNEL_RETRY_MAX`]), instead of a new login shell every poll.
    pub channel_retry: Duration,
    /// Masters being set up at once across the pool (`--connect-concurrency`; sshd
    /// refuses bursts past its `MaxStartups`); 0 = no limit.
    pub connect_concurrency: usize,
}

impl SshOptions {
    pub fn new(ssh_config: Option<PathBuf>, timeout: Duration) -> Self {
        SshOptions {
            ssh_config,
            timeout,
            control_dir: default_control_dir(),
            accept_new_host_keys: false,
            per_node_channels: 4,
            control_persist_s: 60,
            poll_channel: std::env::var_os("MESHROLL_POLL_CHANNEL").is_none_or(|v| v != "0"),
            channel_open_timeout: timeout + LOGIN_ALLOWANCE,
            channel_retry: Duration::from_secs(30),
            connect_concurrency: 10,
        }
    }
}

/// What a poll channel's open may take on top of the request limit: the node's login
/// shell and its rc files run before the channel's script starts.
pub const LOGIN_ALLOWANCE: Duration = Duration::from_secs(30);
/// The longest wait before a poll channel that keeps failing to open is tried again.
pub const CHANNEL_RETRY_MAX: Duration = Duration::from_secs(600);
/// Bytes a login shell may print before the channel's hello (an rc file's banner,
/// `pyenv` messages); past this the channel is given up.
const HELLO_NOISE_CAP: usize = 64 * 1024;

/// A short per-user directory for control sockets: `$XDG_RUNTIME_DIR/meshroll` when the
/// session has one (a private, per-user directory), else `/tmp/meshroll-<uid>`.
pub fn default_control_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        let x = PathBuf::from(x);
        // Socket paths must stay short (~108 bytes with openssh's own part).
        if x.is_absolute() && x.as_os_str().len() <= 48 {
            return x.join("meshroll");
        }
    }
    match current_uid() {
        Some(uid) => PathBuf::from(format!("/tmp/meshroll-{uid}")),
        // No uid: a directory of our own that nobody can have planted.
        None => std::env::temp_dir().join(format!("meshroll-pid{}", std::process::id())),
    }
}

/// Our effective uid.
#[cfg(unix)]
pub fn current_uid() -> Option<u32> {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    Some(unsafe { libc::geteuid() })
}

#[cfg(not(unix))]
pub fn current_uid() -> Option<u32> {
    None
}

/// Create the control-socket directory (mode 0700) or check the one that is there: a
/// real directory (never a symlink, which is not followed), owned by us, mode 0700.
/// Anything else is refused with the reason: another user could read or plant sockets.
#[cfg(unix)]
pub fn prepare_control_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let refuse = |why: String| {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("control directory {}: {why}, refused", dir.display()),
        ))
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Created by someone else in between: checked below like any other.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            std::fs::symlink_metadata(dir)?
        }
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symlink".into());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    let me = current_uid()
        .ok_or_else(|| Error::other("cannot tell our own uid to check the control directory"))?;
    if meta.uid() != me {
        return refuse(format!(
            "is owned by uid {}, not by us (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o700 {
        return refuse(format!("has mode {mode:04o}, not 0700"));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn prepare_control_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

struct Conn {
    session: Mutex<Option<Arc<Session>>>,
    channels: Semaphore,
    /// The node's long-lived poll channel, opened on first use and reopened when it dies.
    poll: Mutex<PollSlot>,
    /// Poll channels started on this node (each one runs the account's login shell).
    channel_opens: AtomicU64,
}

/// A node's poll channel, or when it may be tried again after it failed to open.
#[derive(Default)]
struct PollSlot {
    channel: Option<PollChannel>,
    /// Opens that failed in a row (reset by one that succeeds).
    failures: u32,
    /// Until then polls run one-shot commands rather than open the channel again.
    retry_at: Option<Instant>,
}

/// One long-lived `sh` on the node that answers poll requests, one JSON line each.
struct PollChannel {
    // Dropping the child ends the local side of the channel.
    _child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: openssh::ChildStdout,
    /// Bytes read past the last answer's newline.
    buf: Vec<u8>,
    next_id: u64,
}

/// Why a poll channel gave no answer.
#[derive(Debug)]
pub enum ChannelError {
    /// Use a one-shot command instead: another poll of this node holds the channel, the
    /// node's shell ended before it said hello (sudo refused, no `sh`...), which the
    /// one-shot command's stderr explains, or the channel failed to open recently and
    /// is not tried again before its backoff ends ([`SshOptions::channel_retry`]).
    Busy,
    Remote(RemoteError),
}

/// One master per node, opened on first use and reopened when it dies.
pub struct SshPool {
    opts: SshOptions,
    /// The fleet's one node list, shared (indexed here by position).
    nodes: Fleet,
    conns: Vec<Conn>,
    /// Caps concurrent master setup; `None` = no cap.
    connecting: Option<Semaphore>,
}

impl SshPool {
    pub fn new(nodes: impl Into<Fleet>, opts: SshOptions) -> std::io::Result<Self> {
        let nodes = nodes.into();
        prepare_control_dir(&opts.control_dir)?;
        let conns = nodes
            .iter()
            .map(|_| Conn {
                session: Mutex::new(None),
                channels: Semaphore::new(opts.per_node_channels.max(1)),
                poll: Mutex::new(PollSlot::default()),
                channel_opens: AtomicU64::new(0),
            })
            .collect();
        let connecting =
            (opts.connect_concurrency > 0).then(|| Semaphore::new(opts.connect_concurrency));
        Ok(SshPool {
            opts,
            nodes,
            conns,
            connecting,
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.opts
    }

    fn builder(&self, node: &Node) -> SessionBuilder {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if self.opts.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .control_directory(&self.opts.control_dir)
        .connect_timeout(self.opts.timeout)
        .server_alive_interval(Duration::from_secs(15))
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(self.opts.control_persist_s.max(1)).unwrap_or(NonZeroUsize::MIN),
        ));
        if let Some(cfg) = &self.opts.ssh_config {
            b.config_file(cfg);
        }
        if let Some(p) = node.port {
            b.port(p);
        }
        if let Some(u) = &node.user {
            b.user(u.clone());
        }
        b
    }

    async fn session(&self, idx: usize) -> Result<Arc<Session>, RemoteError> {
        let node = &(*self.nodes)[idx];
        let mut slot = self.conns[idx].session.lock().await;
        if let Some(s) = slot.as_ref() {
            if s.check().await.is_ok() {
                return Ok(s.clone());
            }
            tracing::info!(node = %node.name, "ssh master gone, reconnecting");
            *slot = None;
        }
        // Wait for a connect slot (not counted in the connect timeout): a burst of
        // connects past sshd's MaxStartups is refused.
        let _slot = match &self.connecting {
            Some(sem) => Some(
                sem.acquire()
                    .await
                    .map_err(|_| RemoteError::Exec("pool closed".into()))?,
            ),
            None => None,
        };
        let builder = self.builder(node);
        let connect = builder.connect_mux(&node.host);
        let s =
            match tokio::time::timeout(self.opts.timeout + Duration::from_secs(2), connect).await {
                Err(_) => return Err(RemoteError::Timeout(self.opts.timeout.as_secs())),
                Ok(Err(e)) => return Err(classify_connect(&e)),
                Ok(Ok(s)) => Arc::new(s),
            };
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Forget a node's master (after a failure that may have killed it).
    async fn drop_session(&self, idx: usize) {
        let mut slot = self.conns[idx].session.lock().await;
        if let Some(s) = slot.take()
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = s.close().await;
        }
    }

    /// Run `argv` (each word quoted for the remote shell) on node `idx`, feed it
    /// `stdin`, and collect at most `cap` bytes of stdout.
    pub async fn run(
        &self,
        idx: usize,
        argv: &[String],
        stdin: &[u8],
        cap: usize,
    ) -> Result<RemoteOutput, RemoteError> {
        self.run_for(idx, argv, stdin, cap, self.opts.timeout, None)
            .await
    }

    /// [`SshPool::run`] with its own time limit, handing each stdout line to `on_line`
    /// as it arrives (prewarm output streamed into the node view).
    pub async fn run_for(
        &self,
        idx: usize,
        argv: &[String],
        stdin: &[u8],
        cap: usize,
        timeout: Duration,
        on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<RemoteOutput, RemoteError> {
        let _permit = self.conns[idx]
            .channels
            .acquire()
            .await
            .map_err(|_| RemoteError::Exec("pool closed".into()))?;
        let session = self.session(idx).await?;
        let fut = exec(session, argv, stdin, cap, on_line);
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => {
                // The channel may be wedged; a fresh master next time is cheap.
                self.drop_session(idx).await;
                Err(RemoteError::Timeout(timeout.as_secs()))
            }
            Ok(Err(e)) => {
                if matches!(e, RemoteError::Connect(_)) {
                    self.drop_session(idx).await;
                }
                Err(e)
            }
            Ok(Ok(out)) => Ok(out),
        }
    }

    /// One poll over node `idx`'s long-lived poll channel: `argv` starts the channel's
    /// shell (`sh -s`), `script` is what it reads first (it prints [`super::script::HELLO`]
    /// once it has read it all), `request` makes it print one line (the answer, of at
    /// most `cap` bytes) within `timeout`. The channel is opened on first use (within
    /// [`SshOptions::channel_open_timeout`]: the node's login shell runs first, and
    /// whatever its rc files print before the hello is skipped) and reopened after a
    /// failure; a timeout, a line over `cap` or a channel closed mid-answer closes it
    /// (and the node's master on a timeout, since the node may be wedged). A channel
    /// that failed to open is not tried again before its backoff
    /// ([`SshOptions::channel_retry`]) ends: until then [`ChannelError::Busy`], as when
    /// another poll of this node holds the channel.
    pub async fn poll_channel(
        &self,
        idx: usize,
        argv: &[String],
        script: &(dyn Fn() -> String + Send + Sync),
        request: &(dyn Fn(u64) -> String + Send + Sync),
        cap: usize,
        timeout: Duration,
    ) -> Result<(u64, Vec<u8>), ChannelError> {
        let Ok(mut slot) = self.conns[idx].poll.try_lock() else {
            return Err(ChannelError::Busy);
        };
        let name = || safe_text::clean(&(*self.nodes)[idx].name);
        if slot.channel.is_none() {
            if slot.retry_at.is_some_and(|at| Instant::now() < at) {
                tracing::debug!(node = %name(), "poll channel backing off: one-shot poll");
                return Err(ChannelError::Busy);
            }
            // Connecting has its own limit; opening the channel waits for the node's
            // login shell, which is not counted against the request's time limit.
            let session = match self.session(idx).await {
                Ok(s) => s,
                // The node cannot be reached: the master's failure, not the channel's
                // (no backoff; the next poll connects again).
                Err(e) => {
                    drop(slot);
                    if matches!(e, RemoteError::Connect(_) | RemoteError::Timeout(_)) {
                        self.drop_session(idx).await;
                    }
                    return Err(ChannelError::Remote(e));
                }
            };
            let started = Instant::now();
            let limit = self.opts.channel_open_timeout.max(timeout);
            let open = self.open_poll_channel(idx, session, argv, script, cap);
            let opened = tokio::time::timeout(limit, open)
                .await
                .map_err(|_| RemoteError::Timeout(limit.as_secs()))
                .and_then(|r| r);
            match opened {
                Ok((ch, noise)) => {
                    tracing::info!(
                        node = %name(),
                        opens = self.channel_opens(idx),
                        took_ms = started.elapsed().as_millis() as u64,
                        skipped_bytes = noise.len(),
                        skipped = %safe_text::clean_capped(&String::from_utf8_lossy(&noise), 120),
                        "poll channel open"
                    );
                    slot.channel = Some(ch);
                    slot.failures = 0;
                    slot.retry_at = None;
                }
                Err(e) => {
                    let closed_by_node =
                        matches!(&e, RemoteError::Connect(m) if m == CLOSED_BY_NODE);
                    // The channel itself failed (no hello in time, the shell ended, too
                    // much noise): one-shot polls until its backoff ends. A lost master
                    // (any other connect error) is reconnected by the next poll.
                    let channel_failed = closed_by_node || !matches!(e, RemoteError::Connect(_));
                    if channel_failed {
                        slot.failures = slot.failures.saturating_add(1);
                        let wait = backoff(self.opts.channel_retry, slot.failures);
                        slot.retry_at = Some(Instant::now() + wait);
                        tracing::info!(
                            node = %name(),
                            reason = %safe_text::clean(&e.to_string()),
                            took_ms = started.elapsed().as_millis() as u64,
                            failures = slot.failures,
                            retry_in_s = wait.as_secs(),
                            "poll channel did not open; one-shot polls until it is tried again"
                        );
                    } else {
                        tracing::info!(
                            node = %name(),
                            reason = %safe_text::clean(&e.to_string()),
                            "poll channel did not open; the next poll reconnects"
                        );
                    }
                    drop(slot);
                    if closed_by_node {
                        return Err(ChannelError::Busy);
                    }
                    if matches!(e, RemoteError::Connect(_) | RemoteError::Timeout(_)) {
                        self.drop_session(idx).await;
                    }
                    return Err(ChannelError::Remote(e));
                }
            }
        }
        let fut = async {
            let ch = slot
                .channel
                .as_mut()
                .ok_or_else(|| RemoteError::Exec("poll channel missing".into()))?;
            ch.next_id += 1;
            let id = ch.next_id;
            send(&mut ch.stdin, request(id).as_bytes()).await?;
            let line = read_answer(ch, cap).await?;
            Ok::<_, RemoteError>((id, line))
        };
        let e = match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => RemoteError::Timeout(timeout.as_secs()),
        };
        slot.channel = None;
        drop(slot);
        tracing::info!(
            node = %name(),
            reason = %safe_text::clean(&e.to_string()),
            "poll channel closed; the next poll opens a new one"
        );
        if matches!(e, RemoteError::Connect(_) | RemoteError::Timeout(_)) {
            self.drop_session(idx).await;
        }
        Err(ChannelError::Remote(e))
    }

    /// Poll channels started on node `idx` so far (each one a login shell on the node).
    pub fn channel_opens(&self, idx: usize) -> u64 {
        self.conns
            .get(idx)
            .map_or(0, |c| c.channel_opens.load(Ordering::Relaxed))
    }

    /// Start a poll channel and wait for its hello; also returns what the node printed
    /// before the hello (an rc file's banner), which is skipped.
    async fn open_poll_channel(
        &self,
        idx: usize,
        session: Arc<Session>,
        argv: &[String],
        script: &(dyn Fn() -> String + Send + Sync),
        cap: usize,
    ) -> Result<(PollChannel, Vec<u8>), RemoteError> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Exec("empty command".into()))?;
        let mut cmd = session.arc_command(prog.as_str());
        cmd.args(args.iter().map(String::as_str))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        self.conns[idx]
            .channel_opens
            .fetch_add(1, Ordering::Relaxed);
        let mut child = cmd.spawn().await.map_err(|e| classify_exec(&e))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
            return Err(RemoteError::Exec("poll channel without stdio".into()));
        };
        send(&mut stdin, script().as_bytes()).await?;
        let mut ch = PollChannel {
            _child: child,
            stdin,
            stdout,
            buf: Vec::new(),
            next_id: 0,
        };
        // The login shell's rc files may print before the script starts, with or
        // without a final newline: skip up to HELLO_NOISE_CAP bytes until a line that
        // ends with the hello.
        let hello = super::script::HELLO.as_bytes();
        let mut noise = Vec::new();
        loop {
            let line = match read_answer(&mut ch, cap.max(HELLO_NOISE_CAP)).await {
                Ok(line) => line,
                // The node's shell ended before its hello (sudo refused, no `sh`, a
                // node that prints something and exits): the one-shot command that
                // follows gets its output and says why.
                Err(RemoteError::Connect(m)) if m.starts_with("poll channel closed") => {
                    return Err(RemoteError::Connect(CLOSED_BY_NODE.into()));
                }
                Err(e) => return Err(e),
            };
            if let Some(before) = line.strip_suffix(hello) {
                noise.extend_from_slice(before);
                return Ok((ch, noise));
            }
            // An envelope before the hello (the script's own fatal error): the one-shot
            // command prints it again, where the envelope parser names it.
            if line.starts_with(b"{\"v\":") {
                return Err(RemoteError::Connect(CLOSED_BY_NODE.into()));
            }
            noise.extend_from_slice(&line);
            noise.push(b'\n');
            if noise.len() > HELLO_NOISE_CAP {
                return Err(RemoteError::Exec(format!(
                    "poll channel did not start: over {HELLO_NOISE_CAP} bytes from the node and no hello"
                )));
            }
        }
    }

    /// The control socket of a node's live master, for tools such as rsync that can
    /// ride on it (`ssh -S <socket>`).
    pub async fn control_socket(&self, idx: usize) -> Result<PathBuf, RemoteError> {
        Ok(self.session(idx).await?.control_socket().to_path_buf())
    }

    /// Close every poll channel and every master (removing its control socket).
    pub async fn close_all(&self) {
        for idx in 0..self.conns.len() {
            self.conns[idx].poll.lock().await.channel = None;
            self.drop_session(idx).await;
        }
    }
}

async fn exec(
    session: Arc<Session>,
    argv: &[String],
    stdin: &[u8],
    cap: usize,
    on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
) -> Result<RemoteOutput, RemoteError> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| RemoteError::Exec("empty command".into()))?;
    let mut cmd = session.arc_command(prog.as_str());
    cmd.args(args.iter().map(String::as_str))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().await.map_err(|e| classify_exec(&e))?;
    if let Some(mut w) = child.stdin().take() {
        w.write_all(stdin)
            .await
            .map_err(|e| RemoteError::Connect(format!("writing to the node: {e}")))?;
        w.shutdown().await.ok();
        drop(w);
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut so = child.stdout().take();
    let mut se = child.stderr().take();
    // Past `cap` bytes of stdout we stop reading at once (the node may write forever) and
    // close the channel; stderr past its own cap is read and dropped, so a chatty stderr
    // never blocks the node's writes.
    let read_out = async {
        if let Some(so) = so.as_mut() {
            let mut buf = [0u8; 8192];
            let mut emitted = 0;
            loop {
                let n = so.read(&mut buf).await.map_err(Stop::Io)?;
                if n == 0 {
                    break;
                }
                if out.len() + n > cap {
                    return Err(Stop::TooLarge);
                }
                out.extend_from_slice(&buf[..n]);
                if let Some(f) = on_line {
                    while let Some(nl) = out[emitted..].iter().position(|&b| b == b'\n') {
                        f(String::from_utf8_lossy(&out[emitted..emitted + nl]).trim_end());
                        emitted += nl + 1;
                    }
                }
            }
            if let Some(f) = on_line
                && emitted < out.len()
            {
                f(String::from_utf8_lossy(&out[emitted..]).trim_end());
            }
        }
        Ok::<_, Stop>(())
    };
    let read_err = async {
        if let Some(se) = se.as_mut() {
            let mut buf = [0u8; 8192];
            loop {
                let n = se.read(&mut buf).await.map_err(Stop::Io)?;
                if n == 0 {
                    break;
                }
                let room = STDERR_CAP.saturating_sub(err.len());
                err.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        Ok::<_, Stop>(())
    };
    match tokio::try_join!(read_out, read_err) {
        Ok(_) => {}
        Err(Stop::TooLarge) => {
            drop(so);
            drop(se);
            let _ = tokio::time::timeout(Duration::from_secs(2), child.disconnect()).await;
            return Err(RemoteError::OutputTooLarge(cap));
        }
        Err(Stop::Io(e)) => {
            return Err(RemoteError::Connect(format!("reading from the node: {e}")));
        }
    }
    drop(so);
    drop(se);
    let status = child.wait().await.map_err(|e| classify_exec(&e))?;
    Ok(RemoteOutput {
        code: status.code(),
        stdout: out,
        stderr: err,
    })
}

/// Bytes of a command's stderr that are kept.
const STDERR_CAP: usize = 64 * 1024;

enum Stop {
    TooLarge,
    Io(std::io::Error),
}

/// How long polls of a node wait before its poll channel is tried again, after
/// `failures` failed opens in a row: `base`, doubled each time, at most
/// [`CHANNEL_RETRY_MAX`] (or `base` when that is longer).
fn backoff(base: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings)
        .min(CHANNEL_RETRY_MAX.max(base))
}

/// A poll channel that ended without a byte of its answer.
const CLOSED_BY_NODE: &str = "poll channel closed by the node";

/// Read one line (without its newline) of at most `cap` bytes from a poll channel.
/// Write `bytes` to a poll channel's stdin and flush them to the node.
async fn send(stdin: &mut openssh::ChildStdin, bytes: &[u8]) -> Result<(), RemoteError> {
    let writing = |e: std::io::Error| RemoteError::Connect(format!("poll channel: writing: {e}"));
    stdin.write_all(bytes).await.map_err(writing)?;
    stdin.flush().await.map_err(writing)
}

async fn read_answer(ch: &mut PollChannel, cap: usize) -> Result<Vec<u8>, RemoteError> {
    let mut scanned = 0;
    loop {
        if let Some(nl) = ch.buf[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + nl;
            let line = ch.buf[..end].to_vec();
            ch.buf.drain(..=end);
            return Ok(line);
        }
        scanned = ch.buf.len();
        if ch.buf.len() > cap {
            return Err(RemoteError::OutputTooLarge(cap));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = ch
            .stdout
            .read(&mut chunk)
            .await
            .map_err(|e| RemoteError::Connect(format!("poll channel: reading: {e}")))?;
        if n == 0 {
            return Err(RemoteError::Connect(if ch.buf.is_empty() {
                "poll channel closed by the node".into()
            } else {
                format!(
                    "poll channel closed mid-answer (after {} bytes)",
                    ch.buf.len()
                )
            }));
        }
        ch.buf.extend_from_slice(&chunk[..n]);
    }
}

fn classify_connect(e: &openssh::Error) -> RemoteError {
    let text = error_chain(e);
    let l = text.to_ascii_lowercase();
    if l.contains("host key verification failed")
        || l.contains("remote host identification has changed")
        || l.contains("no matching host key")
        || l.contains("host key for")
    {
        RemoteError::HostKey(text)
    } else if l.contains("could not resolve hostname") {
        RemoteError::UnknownHost(text)
    } else if l.contains("permission denied") {
        RemoteError::AuthFailed(text)
    } else {
        RemoteError::Connect(text)
    }
}

fn classify_exec(e: &openssh::Error) -> RemoteError {
    match e {
        openssh::Error::Disconnected | openssh::Error::RemoteProcessTerminated => {
            RemoteError::Connect(format!("connection lost ({})", error_chain(e)))
        }
        _ => RemoteError::Connect(error_chain(e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn control_dir_is_created_private() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("cm");
        prepare_control_dir(&d).expect("created");
        let m = std::fs::symlink_metadata(&d).expect("stat");
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        // A second time: the same directory is accepted as it is.
        prepare_control_dir(&d).expect("accepted");
    }

    #[test]
    fn control_dir_symlink_is_refused_and_its_target_left_alone() {
        let t = tempfile::tempdir().expect("tempdir");
        let target = t.path().join("victim");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let d = t.path().join("cm");
        std::os::unix::fs::symlink(&target, &d).expect("symlink");
        let e = prepare_control_dir(&d).expect_err("a symlink is refused");
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let mode = std::fs::metadata(&target)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o755, "the symlink's target is not chmodded");
        // Also a symlink to a 0700 directory of our own: never followed.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert!(prepare_control_dir(&d).is_err());
    }

    #[test]
    fn control_dir_with_loose_mode_or_foreign_owner_is_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("cm");
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = prepare_control_dir(&d).expect_err("0777 is refused");
        assert!(e.to_string().contains("mode 0777"), "{e}");
        let f = t.path().join("file");
        std::fs::write(&f, b"").expect("write");
        assert!(prepare_control_dir(&f).is_err(), "a file is refused");
        // Another owner: only root can make one here.
        if current_uid() == Some(0) {
            let o = t.path().join("theirs");
            std::fs::create_dir(&o).expect("mkdir");
            std::fs::set_permissions(&o, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            std::os::unix::fs::chown(&o, Some(65534), None).expect("chown");
            let e = prepare_control_dir(&o).expect_err("foreign owner refused");
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
    }

    #[test]
    fn a_channel_that_keeps_failing_waits_longer_each_time_up_to_the_cap() {
        let base = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=7).map(|f| backoff(base, f).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(backoff(base, u32::MAX), CHANNEL_RETRY_MAX);
        // A base over the cap is kept as it is (a test or user asked for it).
        assert_eq!(backoff(Duration::from_secs(3600), 3).as_secs(), 3600);
    }

    #[test]
    fn default_open_limit_leaves_room_for_a_slow_login() {
        let o = SshOptions::new(None, Duration::from_secs(10));
        assert_eq!(
            o.channel_open_timeout,
            Duration::from_secs(10) + LOGIN_ALLOWANCE
        );
        assert!(o.channel_open_timeout > o.timeout);
    }

    #[test]
    fn default_control_dir_is_per_user_and_ignores_user() {
        let d = default_control_dir();
        assert!(d.is_absolute());
        let s = d.display().to_string();
        let uid = current_uid().expect("uid");
        assert!(
            s.ends_with(&format!("meshroll-{uid}")) || s.ends_with("/meshroll"),
            "{s}"
        );
    }
}
