//! A shell (or one command) on a node, in the operator's terminal: `ssh` over the node's
//! own master (its control socket), with the same ssh config and host-key policy as
//! every other connection. The dashboard leaves its screen for it; `meshroll ssh NODE`
//! runs it directly.

use super::script::shell_quote;
use super::ssh::SshPool;
use super::{RemoteError, Transport};
use crate::inventory::Node;

/// Why no shell could be opened on a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// The nodes are simulated: there is no sshd to open a shell on.
    #[error("the simulated mesh has no shell to open")]
    Simulated,
    /// The node's master could not be opened (what the node said, cleaned).
    #[error("{}", crate::safe_text::clean(&.0.to_string()))]
    Master(RemoteError),
}

/// The `ssh` command line for node `idx`: a login shell, or `remote` (each word quoted
/// for the node's shell, never spliced). Opens the node's master first if it is not up.
pub async fn ssh_argv(
    transport: &Transport,
    idx: usize,
    node: &Node,
    remote: &[String],
) -> Result<Vec<String>, ShellError> {
    let pool = transport
        .as_any()
        .downcast_ref::<SshPool>()
        .ok_or(ShellError::Simulated)?;
    let socket = pool.control_socket(idx).await.map_err(ShellError::Master)?;
    let opts = pool.options();
    let mut argv: Vec<String> = vec!["ssh".into(), "-S".into(), socket.display().to_string()];
    argv.extend(["-o".into(), "ControlMaster=no".into()]);
    if let Some(cfg) = &opts.ssh_config {
        argv.extend(["-F".into(), cfg.display().to_string()]);
    }
    let policy = if opts.accept_new_host_keys {
        "StrictHostKeyChecking=accept-new"
    } else {
        "StrictHostKeyChecking=yes"
    };
    argv.extend(["-o".into(), policy.into()]);
    if let Some(p) = node.port {
        argv.extend(["-p".into(), p.to_string()]);
    }
    if let Some(u) = &node.user {
        argv.extend(["-l".into(), u.clone()]);
    }
    if remote.is_empty() {
        argv.push("-t".into());
    }
    argv.push("--".into());
    argv.push(node.host.clone());
    if !remote.is_empty() {
        let words: Vec<String> = remote.iter().map(|w| shell_quote(w)).collect();
        argv.push(words.join(" "));
    }
    Ok(argv)
}

/// Run `argv` in this terminal (stdin, stdout and stderr inherited) until it exits: its
/// exit code (`None` when killed by a signal).
pub async fn run_in_terminal(argv: &[String]) -> std::io::Result<Option<i32>> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let status = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .status()
        .await?;
    Ok(status.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::NodeId;
    use crate::remote::sim::SimMesh;

    #[tokio::test]
    async fn the_simulated_mesh_has_no_shell_to_open() {
        let (inv, mesh) = SimMesh::demo();
        let transport = Transport::sim(mesh);
        let got = ssh_argv(&transport, 0, &inv.nodes[NodeId::new(0)], &[]).await;
        assert_eq!(got, Err(ShellError::Simulated));
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err("the simulated mesh has no shell to open".to_string())
        );
    }
}
