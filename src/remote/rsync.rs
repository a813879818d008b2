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

/// The copy's options: every one understood by rsync 2.6.9 and openrsync as well (the
/// node's end sees `-lOogDtprce.iLsfxCIvu --delete --stats`), plus `--secluded-args`
/// only when the node's rsync knows `-s`. Modes come from the staged copy (`-a`), the
/// checksum is verified by the node afterwards.
pub fn copy_args(secluded: bool) -> Vec<&'static str> {
    let mut a = vec![
        "-a",
        "--delete",
        "--checksum",
        "--omit-dir-times",
        "--stats",
    ];
    if secluded {
        a.push("--secluded-args");
    }
    a
}

/// Run rsync of `tree` into node `idx`'s `tree.dest` over the node's ssh master, as the
/// node's configured user: rsync's output (code, `--stats`, stderr) as it ended.
pub async fn run(
    pool: &super::ssh::SshPool,
    idx: usize,
    node: &crate::inventory::Node,
    tree: super::transport::SyncTree<'_>,
    timeout: std::time::Duration,
) -> Result<super::RemoteOutput, super::transport::SyncError> {
    use super::transport::SyncError;
    let sock = pool.control_socket(idx).await.map_err(SyncError::Remote)?;
    let opts = pool.options();
    let ssh = rsync_ssh_command(
        &sock,
        opts.ssh_config.as_deref(),
        node.port,
        opts.accept_new_host_keys,
    );
    let (path, secluded) = match tree.rsync {
        Some(r) => (r.path.as_str(), r.secluded_args),
        None => (node.layout.rsync_path.as_str(), true),
    };
    let rsync_path = super::as_user(node, &[path])
        .iter()
        .map(|w| q(w))
        .collect::<Vec<_>>()
        .join(" ");
    let dest = rsync_dest(node.user.as_deref(), &node.host, tree.dest);
    let mut cmd = tokio::process::Command::new("rsync");
    // Options every rsync from 2.6.9 and openrsync on understands (the server sees
    // `-lOogDtprce.iLsfxCIvu --delete --stats`); `-s` only where the node's knows it.
    cmd.args(copy_args(secluded))
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

// ---------------------------------------------------------------------------------------
// the node's rsync, learned once per run at baseline

/// `meshroll_rsync_path`'s default: when the layout keeps it, the usual Homebrew folders
/// are tried first (a stock Mac's own rsync is 2.6.9 or openrsync).
pub const DEFAULT_RSYNC_PATH: &str = "rsync";

/// Where to look for the node's rsync, in order of preference: the configured path
/// alone, or (when it is the default) Homebrew's folders, then `rsync` on the PATH.
pub fn candidates(rsync_path: &str) -> Vec<String> {
    if rsync_path == DEFAULT_RSYNC_PATH {
        ["/opt/homebrew/bin/rsync", "/usr/local/bin/rsync", "rsync"]
            .map(String::from)
            .to_vec()
    } else {
        vec![rsync_path.to_string()]
    }
}

/// The node-side probe: one `MESHROLL-RSYNC <index> <first two lines of --version>` line
/// per candidate (`-` when there is none there). POSIX sh, quoted candidates.
pub fn probe_script(candidates: &[String]) -> String {
    let list = candidates
        .iter()
        .map(|c| q(c))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"mr_i=0
for mr_r in {list}; do
  if command -v "$mr_r" >/dev/null 2>&1; then
    mr_v=$("$mr_r" --version 2>&1 </dev/null | head -n 2 | tr '\t\r\n' '   ')
    printf 'MESHROLL-RSYNC %s %s\n' "$mr_i" "$mr_v"
  else
    printf 'MESHROLL-RSYNC %s -\n' "$mr_i"
  fi
  mr_i=$((mr_i + 1))
done
"#
    )
}

/// Which rsync a `--version` output names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsyncKind {
    /// Samba rsync `major.minor.patch`.
    Samba(u32, u32, u32),
    /// openrsync (macOS 15.4 and later).
    Openrsync,
}

/// The node's rsync as the rollout will use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRsync {
    /// What `--rsync-path` names (one of [`candidates`]).
    pub path: String,
    pub kind: RsyncKind,
    pub protocol: Option<u32>,
    /// It understands `-s`/`--secluded-args` (rsync 3.0 and later): the arguments travel
    /// inside the protocol instead of on the remote command line.
    pub secluded_args: bool,
}

impl NodeRsync {
    /// `rsync 2.6.9 (protocol 29) at /usr/bin/rsync`, for notes and errors.
    pub fn describe(&self) -> String {
        let name = match &self.kind {
            RsyncKind::Samba(a, b, c) => format!("rsync {a}.{b}.{c}"),
            RsyncKind::Openrsync => "openrsync".to_string(),
        };
        let proto = self
            .protocol
            .map(|p| format!(" (protocol {p})"))
            .unwrap_or_default();
        crate::safe_text::clean(&format!("{name}{proto} at {}", self.path))
    }
}

/// The remedy named when the node's rsync will not do.
pub const RSYNC_REMEDY: &str =
    "install rsync 3 on the node (brew install rsync) or point meshroll_rsync_path at one";

/// What a `--version` output says: the kind and protocol, or `None` when it names no
/// rsync meshroll knows.
pub fn classify(version: &str) -> Option<(RsyncKind, Option<u32>)> {
    let words: Vec<&str> = version.split_whitespace().collect();
    let protocol = words
        .windows(3)
        .find(|w| w[0] == "protocol" && w[1] == "version")
        .and_then(|w| w[2].parse().ok());
    if version.contains("openrsync") {
        return Some((RsyncKind::Openrsync, protocol));
    }
    if words.first() != Some(&"rsync") {
        return None;
    }
    let v = words
        .windows(2)
        .find(|w| w[0] == "version")
        .map(|w| w[1].trim_start_matches('v'))?;
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let mut n = || it.next().and_then(|x| x.parse::<u32>().ok());
    let (a, b, c) = (n()?, n().unwrap_or(0), n().unwrap_or(0));
    Some((RsyncKind::Samba(a, b, c), protocol))
}

/// Read the probe's lines (`candidates` as given to [`probe_script`]): the first
/// candidate with `-s`, else the first usable one; `None` when the output has no probe
/// line at all (a node that answers without running the probe, like the simulated mesh);
/// `Some(Err)` naming what was found and the remedy when no candidate will do.
pub fn parse_probe(text: &str, candidates: &[String]) -> Option<Result<NodeRsync, String>> {
    let mut seen = false;
    let mut found: Vec<Option<NodeRsync>> = vec![None; candidates.len()];
    let mut notes: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_end().strip_prefix("MESHROLL-RSYNC ") else {
            continue;
        };
        seen = true;
        let (idx, ver) = rest.split_once(' ').unwrap_or((rest, ""));
        let Some(i) = idx.parse::<usize>().ok().filter(|i| *i < candidates.len()) else {
            continue;
        };
        let path = &candidates[i];
        let ver = ver.trim();
        if ver == "-" || ver.is_empty() {
            continue;
        }
        match classify(ver) {
            Some((kind, protocol)) => {
                let usable = match &kind {
                    RsyncKind::Samba(a, b, _) => (*a, *b) >= (2, 6),
                    RsyncKind::Openrsync => true,
                };
                let secluded_args = matches!(kind, RsyncKind::Samba(a, _, _) if a >= 3);
                let r = NodeRsync {
                    path: path.clone(),
                    kind,
                    protocol,
                    secluded_args,
                };
                if usable {
                    found[i] = Some(r);
                } else {
                    notes.push(format!("{} (too old)", r.describe()));
                }
            }
            None => {
                // Redacted whole, then cut: a token is never cut in two.
                let first = crate::safe_text::Shown::excerpt(ver.as_bytes(), 80);
                notes.push(crate::safe_text::clean(&format!(
                    "{path} answered --version with {first}"
                )));
            }
        }
    }
    if !seen {
        return None;
    }
    let best = found
        .iter()
        .flatten()
        .find(|r| r.secluded_args)
        .or_else(|| found.iter().flatten().next());
    Some(match best {
        Some(r) => Ok(r.clone()),
        None if notes.is_empty() => Err(format!(
            "no rsync on the node (looked for {}): {RSYNC_REMEDY}",
            crate::safe_text::clean(&candidates.join(", "))
        )),
        None => Err(format!(
            "no usable rsync on the node: found {}; {RSYNC_REMEDY}",
            notes.join("; ")
        )),
    })
}

/// Why a name cannot travel safely to a node whose rsync lacks `-s`, if it cannot.
/// `on_command_line`: the name rides on the remote command line (the destination
/// directory), where the node's login shell would split, glob or expand anything but
/// plain path characters; every name (bundle files too) must be free of control
/// characters, which an old rsync prints and logs raw (and 2.6.9 has no `--iconv`).
pub fn hazard_without_secluded_args(name: &str, on_command_line: bool) -> Option<&'static str> {
    if name.chars().any(|c| c.is_control()) {
        return Some("a control character in the name");
    }
    if on_command_line
        && !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-@,=%:".contains(c))
    {
        return Some(
            "a character the node's login shell would interpret (the destination rides on the remote command line without -s)",
        );
    }
    None
}

/// Whether a failed copy's stderr (both ends: the node's rsync writes through ssh into
/// ours) says another attempt cannot pass: an option the node's rsync does not know, a
/// protocol it does not speak, no rsync there at all.
pub fn permanent_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "unknown option",
        "illegal option",
        "unrecognized option",
        "unrecognised option",
        "protocol version mismatch",
        "protocol incompatibility",
        "is your shell clean",
        "command not found",
        "rsync: not found",
        ": not found",
        "remote command not found",
        "syntax or usage error",
    ]
    .iter()
    .any(|w| s.contains(w))
}

/// rsync's stderr (both ends) as one line for an attempt's error: every non-empty line,
/// cleaned, capped.
pub fn stderr_summary(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    crate::safe_text::clean_capped(&joined, 2048)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands() -> Vec<String> {
        candidates(DEFAULT_RSYNC_PATH)
    }

    #[test]
    fn version_outputs_are_classified() {
        assert_eq!(
            classify("rsync  version 2.6.9  protocol version 29 Copyright (C) 1996-2006"),
            Some((RsyncKind::Samba(2, 6, 9), Some(29)))
        );
        assert_eq!(
            classify("rsync  version v3.3.0  protocol version 31 Copyright"),
            Some((RsyncKind::Samba(3, 3, 0), Some(31)))
        );
        assert_eq!(
            classify("openrsync: protocol version 29 rsync version 2.6.9 compatible"),
            Some((RsyncKind::Openrsync, Some(29)))
        );
        assert_eq!(classify("zsh: command not found: rsync"), None);
    }

    /// A stock Mac: the rsync on the PATH is 2.6.9 (or openrsync), nothing in the Homebrew
    /// folders: used without -s. A Homebrew rsync 3 is preferred over it.
    #[test]
    fn the_probe_prefers_rsync_3_and_falls_back_to_the_stock_one() {
        let stock = "MESHROLL-RSYNC 0 -\nMESHROLL-RSYNC 1 -\nMESHROLL-RSYNC 2 rsync  version 2.6.9  protocol version 29 Copyright\n";
        let r = parse_probe(stock, &cands())
            .expect("probed")
            .expect("usable");
        assert_eq!(r.path, "rsync");
        assert!(!r.secluded_args);
        assert_eq!(r.describe(), "rsync 2.6.9 (protocol 29) at rsync");
        let open =
            "MESHROLL-RSYNC 2 openrsync: protocol version 29 rsync version 2.6.9 compatible\n";
        let r = parse_probe(open, &cands())
            .expect("probed")
            .expect("usable");
        assert_eq!((r.kind, r.secluded_args), (RsyncKind::Openrsync, false));
        let brew = "MESHROLL-RSYNC 0 rsync  version 3.4.1  protocol version 32\nMESHROLL-RSYNC 1 -\nMESHROLL-RSYNC 2 rsync  version 2.6.9  protocol version 29\n";
        let r = parse_probe(brew, &cands())
            .expect("probed")
            .expect("usable");
        assert_eq!(r.path, "/opt/homebrew/bin/rsync");
        assert!(r.secluded_args);
        // an explicit meshroll_rsync_path is the only candidate
        assert_eq!(candidates("/opt/x/rsync"), vec!["/opt/x/rsync".to_string()]);
    }

    #[test]
    fn no_usable_rsync_names_what_was_found_and_the_remedy() {
        let none = "MESHROLL-RSYNC 0 -\nMESHROLL-RSYNC 1 -\nMESHROLL-RSYNC 2 -\n";
        let e = parse_probe(none, &cands())
            .expect("probed")
            .expect_err("none");
        assert!(e.contains("no rsync on the node"), "{e}");
        assert!(
            e.contains("brew install rsync") && e.contains("meshroll_rsync_path"),
            "{e}"
        );
        let old = "MESHROLL-RSYNC 2 rsync  version 2.5.7  protocol version 26\n";
        let e = parse_probe(old, &cands())
            .expect("probed")
            .expect_err("old");
        assert!(
            e.contains("rsync 2.5.7 (protocol 26) at rsync (too old)"),
            "{e}"
        );
        assert!(e.contains("brew install rsync"), "{e}");
        let odd = "MESHROLL-RSYNC 2 \u{1b}[31mhello\n";
        let e = parse_probe(odd, &cands())
            .expect("probed")
            .expect_err("odd");
        assert!(!e.contains('\u{1b}'), "{e}");
        // no probe line at all: nothing learned (the simulated mesh)
        assert!(parse_probe("{\"gateway\":1}\n", &cands()).is_none());
    }

    /// The probe script itself, run by sh against a folder with a fake old rsync.
    #[test]
    fn the_probe_script_runs_in_sh() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let fake = d.path().join("rsync");
        std::fs::write(
            &fake,
            "#!/bin/sh\nprintf 'rsync  version 2.6.9  protocol version 29\\nCopyright\\n'\n",
        )
        .expect("w");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let c = vec![
            d.path().join("nothing").display().to_string(),
            fake.display().to_string(),
        ];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_script(&c))
            .output()
            .expect("sh");
        let text = String::from_utf8_lossy(&out.stdout);
        let r = parse_probe(&text, &c).expect("probed").expect("usable");
        assert_eq!(r.path, c[1]);
        assert_eq!(r.kind, RsyncKind::Samba(2, 6, 9));
    }

    #[test]
    fn secluded_args_only_where_the_node_knows_it() {
        assert!(copy_args(true).contains(&"--secluded-args"));
        let old = copy_args(false);
        assert!(!old.iter().any(|a| *a == "--secluded-args" || *a == "-s"));
        for keep in ["-a", "--checksum", "--delete"] {
            assert!(old.contains(&keep), "{keep}");
        }
    }

    #[test]
    fn refusals_of_an_old_rsync_are_permanent() {
        for (err, permanent) in [
            (
                "rsync: -slOogDtprce.iLsfxCIvu: unknown option\nrsync error: syntax or usage error (code 1) at main.c(1337) [server=2.6.9]\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12) at io.c(232) [sender=3.2.7]",
                true,
            ),
            (
                "rsync: illegal option -- s\nusage: rsync [-aBCcDgHhKkLlnOoPpqRrSxVvz]\nrsync: connection unexpectedly closed",
                true,
            ),
            ("protocol version mismatch -- is your shell clean?", true),
            (
                "zsh:1: command not found: rsync\nrsync: connection unexpectedly closed",
                true,
            ),
            (
                "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12)",
                false,
            ),
            ("client_loop: send disconnect: Broken pipe", false),
        ] {
            assert_eq!(permanent_failure(err), permanent, "{err}");
        }
        let s = stderr_summary(
            b"rsync: illegal option -- s\n\nrsync: connection unexpectedly closed\x1b[2J\n",
        );
        assert!(
            s.starts_with("rsync: illegal option -- s | rsync: connection unexpectedly closed"),
            "{s}"
        );
        assert!(!s.contains('\u{1b}'), "{s}");
    }

    #[test]
    fn names_an_old_rsync_cannot_carry() {
        assert!(hazard_without_secluded_args("skills/a b.md", false).is_none());
        assert!(hazard_without_secluded_args("a\nb.md", false).is_some());
        assert!(hazard_without_secluded_args("/etc/openclaw/skills/abc/", true).is_none());
        assert!(hazard_without_secluded_args("/srv/my skills/abc/", true).is_some());
        assert!(hazard_without_secluded_args("/srv/$(x)/abc/", true).is_some());
    }
}
