//! Real nodes over OpenSSH: one multiplexed master per node (the `openssh` crate with
//! `native-mux`), host keys checked strictly unless the user opts out by name, a
//! timeout on every command, reconnect when a master dies, masters closed on exit and
//! `ControlPersist` idle so a crash leaves none behind for long.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};

use super::{RemoteError, RemoteOutput};
use crate::inventory::Node;

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
            connect_concurrency: 10,
        }
    }
}

/// A short per-user directory for control sockets: `/tmp/meshroll-<uid>`.
pub fn default_control_dir() -> PathBuf {
    // SAFETY-free: getuid is not exposed by std; the user name keeps it per user.
    let user = std::env::var("USER").unwrap_or_else(|_| "u".into());
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    PathBuf::from(format!("/tmp/meshroll-{user}"))
}

struct Conn {
    session: Mutex<Option<Arc<Session>>>,
    channels: Semaphore,
}

/// One master per node, opened on first use and reopened when it dies.
pub struct SshPool {
    opts: SshOptions,
    nodes: Vec<Node>,
    conns: Vec<Conn>,
    /// Caps concurrent master setup; `None` = no cap.
    connecting: Option<Semaphore>,
}

impl SshPool {
    pub fn new(nodes: Vec<Node>, opts: SshOptions) -> std::io::Result<Self> {
        std::fs::create_dir_all(&opts.control_dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&opts.control_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let conns = nodes
            .iter()
            .map(|_| Conn {
                session: Mutex::new(None),
                channels: Semaphore::new(opts.per_node_channels.max(1)),
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
        let node = &self.nodes[idx];
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

    /// The control socket of a node's live master, for tools such as rsync that can
    /// ride on it (`ssh -S <socket>`).
    pub async fn control_socket(&self, idx: usize) -> Result<PathBuf, RemoteError> {
        Ok(self.session(idx).await?.control_socket().to_path_buf())
    }

    /// Close every master.
    pub async fn close_all(&self) {
        for idx in 0..self.conns.len() {
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
    let read_out = async {
        if let Some(so) = so.as_mut() {
            let mut limited = so.take(cap as u64 + 1);
            let mut buf = [0u8; 8192];
            let mut emitted = 0;
            loop {
                let n = limited.read(&mut buf).await?;
                if n == 0 {
                    break;
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
        Ok::<_, std::io::Error>(())
    };
    let read_err = async {
        if let Some(se) = se.as_mut() {
            let mut limited = se.take(64 * 1024);
            limited.read_to_end(&mut err).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let (a, b) = tokio::join!(read_out, read_err);
    a.map_err(|e| RemoteError::Connect(format!("reading from the node: {e}")))?;
    b.map_err(|e| RemoteError::Connect(format!("reading from the node: {e}")))?;
    if out.len() > cap {
        let _ = child.disconnect().await;
        return Err(RemoteError::OutputTooLarge(cap));
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
