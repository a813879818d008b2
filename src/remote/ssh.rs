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

use super::ssh_backoff::{Backoff, OpenFailure, Reply};
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
    /// How long a connect holds its `--connect-concurrency` slot: one whose handshake
    /// has not completed by then gives the slot back and goes on without one, so a host
    /// that accepts TCP and never speaks holds up no other node's connect. Default
    /// [`CONNECT_SLOT_HOLD`]; `MESHROLL_CONNECT_SLOT_HOLD_MS` sets another (a site
    /// whose handshakes go through one bastion's `MaxStartups`, and the tests).
    pub connect_slot_hold: Duration,
    /// After a node's connect failed twice in a row, its polls do not connect again for
    /// this long (doubled after each further failure, up to [`CONNECT_RETRY_MAX`]);
    /// `r` in the dashboard tries at once ([`SshPool::connect_now`]).
    pub connect_retry: Duration,
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
            connect_slot_hold: std::env::var("MESHROLL_CONNECT_SLOT_HOLD_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(CONNECT_SLOT_HOLD, Duration::from_millis),
            connect_retry: Duration::from_secs(5),
        }
    }
}

/// What a poll channel's open may take on top of the request limit: the node's login
/// shell and its rc files run before the channel's script starts.
pub const LOGIN_ALLOWANCE: Duration = Duration::from_secs(30);
/// The longest wait before a poll channel that keeps failing to open is tried again.
pub const CHANNEL_RETRY_MAX: Duration = Duration::from_secs(600);
/// How long a connect holds its slot by default ([`SshOptions::connect_slot_hold`]): a
/// handshake with a live host on a LAN takes tens of milliseconds.
pub const CONNECT_SLOT_HOLD: Duration = Duration::from_millis(250);
/// The longest wait before the polls of a node that keeps failing to connect connect
/// again.
pub const CONNECT_RETRY_MAX: Duration = Duration::from_secs(300);
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
    /// Poll channels started on this node (each one runs the account's login shell,
    /// unless `login_path` is known).
    channel_opens: AtomicU64,
    /// The node's login-shell PATH, once a rollout of this process learned it.
    login_path: std::sync::Mutex<Option<super::login_path::LoginPath>>,
    /// Answers to another request seen on this node's poll channel (each closed it).
    out_of_step: AtomicU64,
    /// When this node's polls may connect again, and why the last connect failed.
    connect: std::sync::Mutex<ConnectState>,
}

/// A node's connect backoff ([`SshOptions::connect_retry`]).
struct ConnectState {
    backoff: Backoff,
    last: Option<RemoteError>,
}

/// A node's poll channel, or when it may be tried again after it failed to open.
struct PollSlot {
    channel: Option<PollChannel>,
    /// Until it ends polls run one-shot commands rather than open the channel again.
    backoff: Backoff,
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
    /// The request sent and not yet answered: a poll dropped while it waited (its
    /// future cancelled) leaves it set, and the channel is not used again.
    pending: Option<u64>,
}

/// Why a poll channel gave no answer.
#[derive(Debug)]
pub enum ChannelError {
    /// Use a one-shot command instead: another poll of this node holds the channel, the
    /// node's shell ended before it said hello (sudo refused, no `sh`...), which the
    /// one-shot command's stderr explains, or the channel failed to open recently and
    /// is not tried again before its backoff ends ([`SshOptions::channel_retry`]).
    Busy,
    /// The channel answered another request than this one's (`got`, not `wanted`): it
    /// was closed (the next poll opens a new one) and this poll runs a one-shot command.
    OutOfStep {
        wanted: u64,
        got: u64,
    },
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
                poll: Mutex::new(PollSlot {
                    channel: None,
                    backoff: Backoff::new(opts.channel_retry, CHANNEL_RETRY_MAX),
                }),
                channel_opens: AtomicU64::new(0),
                login_path: std::sync::Mutex::new(None),
                out_of_step: AtomicU64::new(0),
                connect: std::sync::Mutex::new(ConnectState {
                    backoff: Backoff::new(opts.connect_retry, CONNECT_RETRY_MAX).after_free(1),
                    last: None,
                }),
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

    /// Keep node `idx`'s login-shell PATH for the poll channels opened from now on.
    pub fn set_login_path(&self, idx: usize, path: &super::login_path::LoginPath) {
        if let Some(mut slot) = self.conns.get(idx).and_then(|c| c.login_path.lock().ok()) {
            *slot = Some(path.clone());
        }
    }

    /// Node `idx`'s login-shell PATH as a rollout learned it.
    pub fn login_path(&self, idx: usize) -> Option<super::login_path::LoginPath> {
        self.conns
            .get(idx)
            .and_then(|c| c.login_path.lock().ok().and_then(|p| p.clone()))
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
        let permit = match &self.connecting {
            Some(sem) => Some(
                sem.acquire()
                    .await
                    .map_err(|_| RemoteError::Exec("pool closed".into()))?,
            ),
            None => None,
        };
        tracing::debug!(node = %safe_text::clean(&node.name), "ssh connect starts");
        let builder = self.builder(node);
        let connect = builder.connect_mux(&node.host);
        tokio::pin!(connect);
        let deadline = Instant::now() + self.opts.timeout + Duration::from_secs(2);
        // A handshake not done within the slot's hold gives the slot back and goes on
        // without it (a host that accepts TCP and never speaks).
        let done = match permit {
            None => None,
            Some(permit) => {
                let hold = tokio::time::sleep(self.opts.connect_slot_hold);
                let done = tokio::select! {
                    r = &mut connect => Some(r),
                    _ = hold => None,
                };
                drop(permit);
                done
            }
        };
        let done = match done {
            Some(r) => Ok(r),
            None => tokio::time::timeout_at(deadline, &mut connect).await,
        };
        let result = match done {
            Err(_) => Err(RemoteError::Timeout(self.opts.timeout.as_secs())),
            Ok(Err(e)) => Err(classify_connect(&e)),
            Ok(Ok(s)) => Ok(Arc::new(s)),
        };
        let mut c = self.conns[idx]
            .connect
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                tracing::debug!(node = %safe_text::clean(&node.name), "ssh connected");
                c.backoff.succeeded();
                c.last = None;
            }
            Err(e) => {
                let wait = c.backoff.failed(Instant::now());
                c.last = Some(e.clone());
                tracing::info!(
                    node = %safe_text::clean(&node.name),
                    reason = %safe_text::clean(&e.to_string()),
                    failures = c.backoff.failures(),
                    retry_in_s = wait.as_secs(),
                    "ssh connect failed; polls wait before connecting again"
                );
            }
        }
        drop(c);
        let s = result?;
        *slot = Some(s.clone());
        Ok(s)
    }

    /// [`SshPool::session`] for a poll: a node in its connect backoff is not connected
    /// again before it ends, and a connect error says when the next try goes
    /// ([`RemoteError::Unreachable`]).
    async fn poll_session(&self, idx: usize) -> Result<Arc<Session>, RemoteError> {
        let held = {
            let c = self.conns[idx]
                .connect
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let wait = c.backoff.wait(Instant::now());
            (!wait.is_zero()).then(|| (c.last.clone(), wait))
        };
        if let Some((last, retry_in)) = held {
            let cause = last.unwrap_or_else(|| RemoteError::Connect("not connected".into()));
            return Err(RemoteError::Unreachable {
                cause: Box::new(cause),
                retry_in,
            });
        }
        self.session(idx).await.map_err(|e| {
            let retry_in = self.conns[idx]
                .connect
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .backoff
                .wait(Instant::now());
            RemoteError::Unreachable {
                cause: Box::new(e),
                retry_in,
            }
        })
    }

    /// The operator asked to poll node `idx` now (`r`): its next poll connects at once,
    /// whatever its connect backoff says.
    pub fn connect_now(&self, idx: usize) {
        if let Some(c) = self.conns.get(idx) {
            c.connect
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .backoff
                .try_now();
        }
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
    /// most `cap` bytes, starting `{"v":1,"id":<id>,`) within `timeout`. The channel is
    /// opened on first use ([`SshPool::open_slot`]) and reopened after a failure. Only
    /// the answer with this request's id is taken: lines without an id (an rc file's
    /// late `You have new mail.`) are skipped, up to `cap` bytes of them; an answer to
    /// another request closes the channel ([`ChannelError::OutOfStep`]), as does a
    /// timeout, a line over `cap` or a channel closed mid-answer (and the node's master
    /// on a timeout, since the node may be wedged). A poll dropped while it waits leaves
    /// its request pending, and the next poll opens a new channel rather than read the
    /// late answer.
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
        if let Some(id) = slot.channel.as_ref().and_then(|c| c.pending) {
            slot.channel = None;
            tracing::info!(
                node = %self.name(idx),
                pending = id,
                "poll channel closed: a poll dropped while it waited left an answer due; opening a new one"
            );
        }
        if slot.channel.is_none() {
            self.open_slot(idx, &mut slot, argv, script, cap, timeout)
                .await?;
        }
        self.ask(idx, &mut slot, request, cap, timeout).await
    }

    /// The node's name as logs show it.
    fn name(&self, idx: usize) -> String {
        safe_text::clean(&(*self.nodes)[idx].name)
    }

    /// Open node `idx`'s poll channel into `slot` unless its backoff holds it (then
    /// [`ChannelError::Busy`]: a one-shot poll). The master's connect has its own limit;
    /// opening the channel waits for the node's login shell within
    /// [`SshOptions::channel_open_timeout`] (whatever its rc files print before the hello
    /// is skipped). What a failure means is [`OpenFailure`]'s to say.
    async fn open_slot(
        &self,
        idx: usize,
        slot: &mut PollSlot,
        argv: &[String],
        script: &(dyn Fn() -> String + Send + Sync),
        cap: usize,
        timeout: Duration,
    ) -> Result<(), ChannelError> {
        if !slot.backoff.ready(Instant::now()) {
            tracing::debug!(node = %self.name(idx), "poll channel backing off: one-shot poll");
            return Err(ChannelError::Busy);
        }
        let session = match self.poll_session(idx).await {
            Ok(s) => s,
            // The node cannot be reached: the master's failure, not the channel's (the
            // master has its own backoff).
            Err(e) => {
                if matches!(e.cause(), RemoteError::Connect(_) | RemoteError::Timeout(_)) {
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
        let e = match opened {
            Ok((ch, noise)) => {
                tracing::info!(
                    node = %self.name(idx),
                    opens = self.channel_opens(idx),
                    took_ms = started.elapsed().as_millis() as u64,
                    skipped_bytes = noise.len(),
                    skipped = %safe_text::clean_capped(&String::from_utf8_lossy(&noise), 120),
                    "poll channel open"
                );
                slot.channel = Some(ch);
                slot.backoff.succeeded();
                return Ok(());
            }
            Err(e) => e,
        };
        let why = OpenFailure::of(&e);
        if why.backs_off() {
            let wait = slot.backoff.failed(Instant::now());
            tracing::info!(
                node = %self.name(idx),
                reason = %safe_text::clean(&e.to_string()),
                took_ms = started.elapsed().as_millis() as u64,
                failures = slot.backoff.failures(),
                retry_in_s = wait.as_secs(),
                "poll channel did not open; one-shot polls until it is tried again"
            );
        } else {
            tracing::info!(
                node = %self.name(idx),
                reason = %safe_text::clean(&e.to_string()),
                "poll channel did not open; the next poll reconnects"
            );
        }
        if why == OpenFailure::ClosedByNode {
            return Err(ChannelError::Busy);
        }
        if matches!(e, RemoteError::Connect(_) | RemoteError::Timeout(_)) {
            self.drop_session(idx).await;
        }
        Err(ChannelError::Remote(e))
    }

    /// Send one request on the open channel in `slot` and wait for its answer; on any
    /// failure the channel is closed (see [`SshPool::poll_channel`]).
    async fn ask(
        &self,
        idx: usize,
        slot: &mut PollSlot,
        request: &(dyn Fn(u64) -> String + Send + Sync),
        cap: usize,
        timeout: Duration,
    ) -> Result<(u64, Vec<u8>), ChannelError> {
        let fut = async {
            let ch = slot
                .channel
                .as_mut()
                .ok_or_else(|| RemoteError::Exec("poll channel missing".into()))?;
            ch.next_id += 1;
            let id = ch.next_id;
            ch.pending = Some(id);
            send(&mut ch.stdin, request(id).as_bytes()).await?;
            let heard = read_reply(ch, id, cap).await?;
            if matches!(heard, Heard::Answer(_)) {
                ch.pending = None;
            }
            Ok::<_, RemoteError>((id, heard))
        };
        let e = match tokio::time::timeout(timeout, fut).await {
            Ok(Ok((id, Heard::Answer(line)))) => return Ok((id, line)),
            Ok(Ok((wanted, Heard::OtherId(got)))) => {
                slot.channel = None;
                let n = self.conns[idx].out_of_step.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(
                    node = %self.name(idx),
                    wanted,
                    got,
                    out_of_step = n,
                    "poll channel closed: an answer to another request; the next poll opens a new one"
                );
                return Err(ChannelError::OutOfStep { wanted, got });
            }
            Ok(Err(e)) => e,
            Err(_) => RemoteError::Timeout(timeout.as_secs()),
        };
        slot.channel = None;
        tracing::info!(
            node = %self.name(idx),
            reason = %safe_text::clean(&e.to_string()),
            "poll channel closed; the next poll opens a new one"
        );
        if matches!(e, RemoteError::Connect(_) | RemoteError::Timeout(_)) {
            self.drop_session(idx).await;
        }
        Err(ChannelError::Remote(e))
    }

    /// Answers to another request seen on node `idx`'s poll channels so far (each one
    /// closed its channel).
    pub fn out_of_step(&self, idx: usize) -> u64 {
        self.conns
            .get(idx)
            .map_or(0, |c| c.out_of_step.load(Ordering::Relaxed))
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
            pending: None,
        };
        // The login shell's rc files may print before the script starts, with or
        // without a final newline: skip up to HELLO_NOISE_CAP bytes until a line that
        // ends with the hello.
        let hello = super::script::HELLO.as_bytes();
        let mut noise = Vec::new();
        loop {
            let line = match read_line(&mut ch, cap.max(HELLO_NOISE_CAP)).await {
                Ok(line) => line,
                // The node's shell ended before its hello (sudo refused, no `sh`, a
                // node that prints something and exits): the one-shot command that
                // follows gets its output and says why.
                Err(LineError::Closed { .. }) => return Err(RemoteError::ChannelClosed),
                Err(e) => return Err(e.into()),
            };
            if let Some(before) = line.strip_suffix(hello) {
                noise.extend_from_slice(before);
                return Ok((ch, noise));
            }
            // An envelope before the hello (the script's own fatal error): the one-shot
            // command prints it again, where the envelope parser names it.
            if line.starts_with(b"{\"v\":") {
                return Err(RemoteError::ChannelClosed);
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

/// Write `bytes` to a poll channel's stdin and flush them to the node.
async fn send(stdin: &mut openssh::ChildStdin, bytes: &[u8]) -> Result<(), RemoteError> {
    let writing = |e: std::io::Error| RemoteError::Connect(format!("poll channel: writing: {e}"));
    stdin.write_all(bytes).await.map_err(writing)?;
    stdin.flush().await.map_err(writing)
}

/// What a poll waiting on its request heard.
enum Heard {
    /// The answer, from its `{"v":1,"id":` on.
    Answer(Vec<u8>),
    /// An answer to request `0`.
    OtherId(u64),
}

/// Read lines from a poll channel until the answer to request `wanted` or one to
/// another request ([`Reply`]); lines without an id are skipped, up to `cap` bytes.
async fn read_reply(ch: &mut PollChannel, wanted: u64, cap: usize) -> Result<Heard, RemoteError> {
    let mut skipped = 0usize;
    loop {
        let line = read_line(ch, cap).await?;
        match Reply::of(&line, wanted) {
            Reply::Answer(at) => return Ok(Heard::Answer(line[at..].to_vec())),
            Reply::OtherId(got) => return Ok(Heard::OtherId(got)),
            Reply::Noise => {
                skipped += line.len() + 1;
                tracing::debug!(
                    bytes = line.len(),
                    line = %safe_text::clean_capped(&String::from_utf8_lossy(&line), 120),
                    "poll channel: a line without an id skipped"
                );
                if skipped > cap {
                    return Err(RemoteError::OutputTooLarge(cap));
                }
            }
        }
    }
}

/// Why no line came.
enum LineError {
    /// The node ended the channel, `after` bytes into a line.
    Closed {
        after: usize,
    },
    Remote(RemoteError),
}

impl From<LineError> for RemoteError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Closed { after: 0 } => RemoteError::ChannelClosed,
            LineError::Closed { after } => RemoteError::Connect(format!(
                "poll channel closed mid-answer (after {after} bytes)"
            )),
            LineError::Remote(e) => e,
        }
    }
}

/// Read one line (without its newline) of at most `cap` bytes from a poll channel.
async fn read_line(ch: &mut PollChannel, cap: usize) -> Result<Vec<u8>, LineError> {
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
            return Err(LineError::Remote(RemoteError::OutputTooLarge(cap)));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = ch.stdout.read(&mut chunk).await.map_err(|e| {
            LineError::Remote(RemoteError::Connect(format!("poll channel: reading: {e}")))
        })?;
        if n == 0 {
            return Err(LineError::Closed {
                after: ch.buf.len(),
            });
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
