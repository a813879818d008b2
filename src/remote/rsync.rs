//! rsync: how the staged bundle is copied to a real node over its ssh master, and what
//! its exit codes and `--stats` mean.

use crate::remote::script::shell_quote as q;

/// rsync's `-e`: ssh over the node's master, with the same host-key policy as the
/// masters (strict unless the user opted out with `--accept-new-host-keys`), in case
/// it has to connect by itself. rsync splits it on spaces and honours quotes.
pub fn rsync_ssh_command(
    control_socket: &std::path::Path,
    ssh_config: Option<&std::path::Path>,
    port: Option<u16>,
    accept_new_host_keys: bool,
) -> String {
    let mut ssh = format!(
        "ssh -o ControlMaster=no -o ControlPath={} -o BatchMode=yes -o StrictHostKeyChecking={}",
        q(&control_socket.display().to_string()),
        if accept_new_host_keys {
            "accept-new"
        } else {
            "yes"
        }
    );
    if let Some(cfg) = ssh_config {
        ssh.push_str(&format!(" -F {}", q(&cfg.display().to_string())));
    }
    if let Some(p) = port {
        ssh.push_str(&format!(" -p {p}"));
    }
    ssh
}

/// rsync's destination `[user@]host:path`, with an IPv6 literal in brackets
/// (`[::1]:path`: `::1:path` would be read as host `:` and path `:1:path`).
pub fn rsync_dest(user: Option<&str>, host: &str, path: &str) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match user {
        Some(u) => format!("{u}@{host}:{path}"),
        None => format!("{host}:{path}"),
    }
}

/// rsync exit codes worth another attempt: socket/file I/O, protocol stream,
/// partial transfer, vanished files, timeouts, and ssh's own 255.
pub fn rsync_transient(code: i32) -> bool {
    matches!(code, 5 | 10 | 11 | 12 | 14 | 20 | 23 | 24 | 30 | 35 | 255)
}

/// `rsync --stats` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RsyncStats {
    pub files_transferred: u64,
    pub bytes_sent: u64,
}

pub fn parse_rsync_stats(out: &str) -> RsyncStats {
    let num = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .map(|v| v.replace(',', ""))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    RsyncStats {
        files_transferred: num("Number of regular files transferred:"),
        bytes_sent: num("Total bytes sent:"),
    }
}

/// Run rsync of `tree` into node `idx`'s `tree.dest` over the node's ssh master, as the
/// node's configured user: rsync's output (code, `--stats`, stderr) as it ended.
pub async fn run(
    pool: &super::ssh::SshPool,
    idx: usize,
    node: &crate::inventory::Node,
    tree: super::executor::SyncTree<'_>,
    timeout: std::time::Duration,
) -> Result<super::RemoteOutput, super::executor::SyncError> {
    use super::executor::SyncError;
    let sock = pool.control_socket(idx).await.map_err(SyncError::Remote)?;
    let opts = pool.options();
    let ssh = rsync_ssh_command(
        &sock,
        opts.ssh_config.as_deref(),
        node.port,
        opts.accept_new_host_keys,
    );
    let rsync_path = super::as_user(node, &[node.layout.rsync_path.as_str()])
        .iter()
        .map(|w| q(w))
        .collect::<Vec<_>>()
        .join(" ");
    let dest = rsync_dest(node.user.as_deref(), &node.host, tree.dest);
    let mut cmd = tokio::process::Command::new("rsync");
    cmd.args([
        "-a",
        "--delete",
        "--checksum",
        "--omit-dir-times",
        "--stats",
        "--secluded-args",
    ])
    .arg("-e")
    .arg(&ssh)
    .arg("--rsync-path")
    .arg(&rsync_path)
    .arg(format!("{}/", tree.staged.display()))
    .arg(&dest)
    .stdin(std::process::Stdio::null())
    // The token travels only inside scripts on stdin, never in a child's environment.
    .env_remove("OPENCLAW_GATEWAY_TOKEN")
    .kill_on_drop(true);
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => Err(SyncError::TimedOut(timeout)),
        Ok(Err(e)) => Err(SyncError::CannotStart(e.to_string())),
        Ok(Ok(o)) => Ok(super::RemoteOutput {
            code: o.status.code(),
            stdout: o.stdout,
            stderr: o.stderr,
        }),
    }
}
