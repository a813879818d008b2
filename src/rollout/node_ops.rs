//! What a node's answers mean: the pure functions that read the output of each
//! operation ([`crate::remote::ops`]), the same for a real node's script and the
//! simulated mesh.

use crate::manifest::{LOCK_NAME, Lock};
use crate::remote::RemoteOutput;
/// Where the copy's numbers are read ([`crate::remote::rsync`]).
pub use crate::remote::rsync::RsyncStats;
use crate::rollout::{Failure, NodeError};

/// A node lock as read from the node (kept in [`crate::node_lock`]).
pub use crate::node_lock::LockInfo;

/// Read [`crate::remote::ops::read_lock`]'s output: `Ok(None)` when the node holds no lock.
pub fn read_lock_result(stdout: &[u8]) -> Result<Option<LockInfo>, NodeError> {
    let text = String::from_utf8_lossy(stdout);
    if !text.lines().any(|l| l == "MESHROLL-END") {
        return Err(NodeError::Unreadable("no answer".into()));
    }
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "MESHROLL-LOCK")
        .skip(1)
        .take_while(|l| *l != "MESHROLL-END")
        .collect();
    let owner = body.iter().find_map(|l| l.strip_prefix("owner "));
    let hb = body
        .iter()
        .find_map(|l| l.strip_prefix("heartbeat "))
        .unwrap_or("");
    Ok(match (owner, body.is_empty()) {
        (_, true) => None,
        (Some(o), _) => Some(LockInfo::parse(o, hb)),
        (None, false) => Some(LockInfo::parse("", hb)),
    })
}

/// Read the baseline's output: the lock refusal, or the gateway status.
pub fn baseline_result(
    code: Option<i32>,
    stdout: &[u8],
    now_s: u64,
    node: &str,
) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(stdout);
    if let Some(rest) = text
        .lines()
        .find_map(|l| l.strip_prefix("MESHROLL-LOCKED "))
    {
        let hb = text
            .lines()
            .find_map(|l| l.strip_prefix("MESHROLL-HEARTBEAT"))
            .unwrap_or("");
        let info = LockInfo::parse(rest, hb);
        return Err(Failure::Fatal(format!(
            "node is locked by another rollout: {} (if that rollout is gone: meshroll unlock --node {})",
            info.describe(now_s),
            crate::safe_text::clean(node)
        )));
    }
    if let Some(e) = text.lines().find_map(|l| l.strip_prefix("MESHROLL-ERR ")) {
        return Err(Failure::Fatal(crate::safe_text::clean(e)));
    }
    if code != Some(0) {
        return Err(Failure::Transient(format!("baseline exited {code:?}")));
    }
    let g = crate::signals::gateway::parse_bytes(stdout, 0, b"");
    if !g.state.is_ready() {
        return Err(Failure::Fatal(format!(
            "gateway not ready at baseline: {}",
            crate::safe_text::clean(&g.state.label())
        )));
    }
    // Archive a compact copy in the journal.
    Ok(serde_json::from_slice::<serde_json::Value>(stdout)
        .map(|v| crate::safe_text::clean_capped(&v.to_string(), 64 * 1024))
        .unwrap_or_default())
}

/// Whether the baseline's output is the refusal of a lock held by another rollout.
pub fn locked_by_other(stdout: &[u8]) -> bool {
    String::from_utf8_lossy(stdout)
        .lines()
        .any(|l| l.starts_with("MESHROLL-LOCKED "))
}

/// The sha256 the node's listing of an exact copy has (see [`crate::remote::ops::verify`]):
/// hash lines `<sha256>  ./<path>` then mode lines `<mode> ./<path>` (octal, no leading
/// zeros), each group sorted bytewise, the lock file included, no odd entries.
pub fn expected_digest(lock: &Lock, lock_bytes_sha256: &str) -> String {
    use sha2::Digest;
    let mode = |m: &str| {
        let t = m.trim_start_matches('0');
        if t.is_empty() {
            "0".to_string()
        } else {
            t.to_string()
        }
    };
    let lock_mode = format!("{:o}", crate::manifest::FILE_MODE);
    let mut hashes: Vec<String> = vec![format!("{lock_bytes_sha256}  ./{LOCK_NAME}")];
    let mut modes: Vec<String> = vec![format!("{lock_mode} ./{LOCK_NAME}")];
    for f in &lock.files {
        hashes.push(format!("{}  ./{}", f.sha256, f.path));
        modes.push(format!("{} ./{}", mode(&f.mode), f.path));
    }
    // `LC_ALL=C sort` compares lines bytewise, without their newline.
    hashes.sort();
    modes.sort();
    let mut h = sha2::Sha256::new();
    for l in hashes.iter().chain(&modes) {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare what the node hashed with the lock. `Ok` is "checksum verified".
pub fn verify_result(
    lock: &Lock,
    lock_bytes_sha256: &str,
    stdout: &[u8],
) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(stdout);
    if text.lines().any(|l| l == "MESHROLL-MISSING") {
        return Err(Failure::Mismatch(
            "the bundle directory is missing on the node".into(),
        ));
    }
    if !text.lines().any(|l| l == "MESHROLL-END") {
        return Err(Failure::Transient("verify output ended early".into()));
    }
    // path -> (sha256, mode); a file the node could not hash has an empty sha256.
    let mut seen: std::collections::BTreeMap<String, (String, String)> = Default::default();
    let rel = |p: &str| p.strip_prefix("./").unwrap_or(p).to_string();
    let mut section = "";
    let mut odd: Vec<String> = Vec::new();
    for l in text.lines() {
        match l {
            "MESHROLL-ODD" | "MESHROLL-HASHES" | "MESHROLL-MODES" | "MESHROLL-END" => {
                section = l;
                continue;
            }
            _ => {}
        }
        match section {
            // not a regular file or a directory: a symlink, a fifo, a socket, a device
            "MESHROLL-ODD" => odd.push(rel(l)),
            // `<sha256>  ./path` (`*` instead of the second space in binary mode); a
            // name sha256sum had to escape starts with `\` and matches no lock entry.
            "MESHROLL-HASHES" => {
                if let Some((h, p)) = l.split_once(' ') {
                    let p = p.strip_prefix([' ', '*']).unwrap_or(p);
                    seen.entry(rel(p)).or_default().0 = h.to_string();
                }
            }
            "MESHROLL-MODES" => {
                if let Some((m, p)) = l.split_once(' ') {
                    seen.entry(rel(p)).or_default().1 = m.to_string();
                }
            }
            _ => {}
        }
    }
    let mut problems: Vec<String> = odd
        .iter()
        .map(|p| format!("{p} is not a regular file or a directory"))
        .collect();
    match seen.remove(LOCK_NAME) {
        Some((h, _)) if h == lock_bytes_sha256 => {}
        Some(_) => problems.push(format!("{LOCK_NAME} differs from the manifest")),
        None => problems.push(format!("{LOCK_NAME} missing")),
    }
    for f in &lock.files {
        match seen.remove(&f.path) {
            None => problems.push(format!("{} missing", f.path)),
            Some((h, _)) if h != f.sha256 => problems.push(format!("{} sha256 differs", f.path)),
            Some((_, m)) if format!("{:0>4}", m) != f.mode => {
                problems.push(format!("{} mode {m}, want {}", f.path, f.mode))
            }
            Some(_) => {}
        }
    }
    for extra in seen.keys() {
        problems.push(format!("{extra} is not in the lock"));
    }
    if problems.is_empty() {
        Ok(format!("checksum verified ({} files)", lock.files.len()))
    } else {
        let n = problems.len();
        problems.truncate(5);
        Err(Failure::Mismatch(crate::safe_text::clean(&format!(
            "{n} difference(s): {}",
            problems.join("; ")
        ))))
    }
}

/// Read [`crate::remote::ops::switch`]'s output: a mismatch found right before the rename is a
/// [`Failure::Mismatch`] with the differences.
pub fn switch_mismatch(lock: &Lock, lock_bytes_sha256: &str, stdout: &[u8]) -> Option<Failure> {
    let text = String::from_utf8_lossy(stdout);
    if !text.lines().any(|l| l == "MESHROLL-MISMATCH") {
        return None;
    }
    Some(match verify_result(lock, lock_bytes_sha256, stdout) {
        Err(Failure::Mismatch(m)) => Failure::Mismatch(format!("verify before the switch: {m}")),
        Err(f) => f,
        // The node's digest disagreed but its listing reads right: still no switch.
        Ok(_) => Failure::Mismatch(
            "verify before the switch: the node's listing digest differs from the lock's".into(),
        ),
    })
}

/// Why what a poll saw of `current` is not bundle `skills_sha` with its lock file hashing
/// to `manifest_sha256` (`None`: it is, or nothing was seen yet).
pub fn not_the_bundle(
    seen: Option<&crate::observe::ManifestSeen>,
    skills_sha: &str,
    manifest_sha256: &str,
) -> Option<Failure> {
    let m = seen?;
    let clean = crate::safe_text::clean;
    if m.sha() != Some(skills_sha) {
        let x = m.target.as_deref().map_or("missing".to_string(), clean);
        return Some(Failure::Fatal(format!("current is {x}, not the bundle")));
    }
    match &m.lock {
        Some(l) if l.sha256 == manifest_sha256 => None,
        Some(l) if l.sha256.is_empty() => Some(Failure::Fatal(
            "current is the bundle, but its lock file could not be hashed".into(),
        )),
        Some(l) => Some(Failure::Fatal(format!(
            "current is the bundle, but its lock file hashes to {}, not the bundle's manifest {}",
            clean(crate::skew::short(&l.sha256)),
            crate::skew::short(manifest_sha256)
        ))),
        None => Some(Failure::Fatal(
            "current is the bundle, but it has no lock file".into(),
        )),
    }
}

/// The two outputs of a [`crate::remote::NodeOp::Then`]: the first's (exit 0 when the
/// mark is there, the whole output's code otherwise), and the second's when it ran (its
/// exit code is the whole output's). The last mark counts: the second's own output
/// comes after it.
pub fn split_then(out: &RemoteOutput) -> (RemoteOutput, Option<RemoteOutput>) {
    let mark = format!("\n{}\n", crate::remote::ops::THEN_MARK);
    let at = out
        .stdout
        .windows(mark.len())
        .rposition(|w| w == mark.as_bytes());
    match at {
        Some(i) => (
            RemoteOutput {
                code: Some(0),
                stdout: out.stdout[..i].to_vec(),
                stderr: Vec::new(),
            },
            Some(RemoteOutput {
                code: out.code,
                stdout: out.stdout[i + mark.len()..].to_vec(),
                stderr: out.stderr.clone(),
            }),
        ),
        None => (out.clone(), None),
    }
}

/// Read the switch script's output as the two phases it does, verify then switch (the
/// script lists the tree, flips `current` only when the listing's digest is the lock's):
/// the verify's outcome, and the switch's when the copy was verified.
pub fn verify_switch_result(
    lock: &Lock,
    lock_bytes_sha256: &str,
    out: &RemoteOutput,
) -> (Result<String, Failure>, Option<Result<String, Failure>>) {
    let text = String::from_utf8_lossy(&out.stdout);
    if text.lines().any(|l| l == "MESHROLL-MISMATCH") {
        let f = match verify_result(lock, lock_bytes_sha256, &out.stdout) {
            Err(f) => f,
            Ok(_) => Failure::Mismatch("the node's listing digest differs from the lock's".into()),
        };
        return (Err(f), None);
    }
    if text
        .lines()
        .any(|l| l.starts_with("MESHROLL-ERR no bundle "))
    {
        return (
            Err(Failure::Mismatch(
                "the bundle directory is missing on the node".into(),
            )),
            None,
        );
    }
    let verified = Ok(format!("checksum verified ({} files)", lock.files.len()));
    match out.code {
        // Verified; the rename passed (0) or failed (5).
        Some(0) | Some(5) => (verified, Some(expect_switch(out))),
        Some(c) => (
            Err(Failure::Fatal(crate::safe_text::clean(&format!(
                "verify exited {c}: {}",
                crate::signals::excerpt(if out.stderr.is_empty() {
                    &out.stdout
                } else {
                    &out.stderr
                })
            )))),
            None,
        ),
        // Killed: whether it switched is unknown; verify and switch again (the switch
        // is idempotent: "already current").
        None => (Err(Failure::Transient("verify was killed".into())), None),
    }
}

pub(crate) fn expect_switch(out: &RemoteOutput) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(&out.stdout);
    match out.code {
        Some(0) => Ok(crate::safe_text::clean(
            text.lines().last().unwrap_or("switched").trim(),
        )),
        c => Err(Failure::Fatal(crate::safe_text::clean(&format!(
            "switch exited {}: {}",
            c.map_or("on a signal".to_string(), |c| c.to_string()),
            crate::signals::excerpt(if out.stderr.is_empty() {
                &out.stdout
            } else {
                &out.stderr
            })
        )))),
    }
}

/// Read [`crate::remote::ops::read_current`]'s output: `Ok(None)` when the node has no `current`.
pub fn read_current_result(stdout: &[u8]) -> Result<Option<String>, NodeError> {
    let text = String::from_utf8_lossy(stdout);
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "MESHROLL-CURRENT")
        .skip(1)
        .take_while(|l| *l != "MESHROLL-END")
        .collect();
    if !text.lines().any(|l| l == "MESHROLL-END") {
        return Err(NodeError::Unreadable("no answer".into()));
    }
    Ok(body
        .first()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty()))
}

/// The node's rsync as the baseline (or a later [`crate::remote::NodeOp::RsyncProbe`])
/// found it, held against what this node's copy needs: `Ok(None)` when the node ran no
/// probe (the simulated mesh), `Ok(Some)` the rsync to use, or a permanent failure naming
/// the version found (or that there is none) and the remedy, or the first name an rsync
/// without `-s` cannot carry safely (see [`unsafe_names`]).
pub fn rsync_at_baseline(
    probe_out: &[u8],
    layout: &crate::inventory::Layout,
    lock: &Lock,
    skills_sha: &str,
) -> Result<Option<crate::remote::rsync::NodeRsync>, Failure> {
    use crate::remote::rsync;
    let text = String::from_utf8_lossy(probe_out);
    let cands = rsync::candidates(&layout.rsync_path);
    match rsync::parse_probe(&text, &cands) {
        None => Ok(None),
        Some(Err(e)) => Err(Failure::Fatal(crate::safe_text::clean(&e))),
        Some(Ok(r)) if r.secluded_args => Ok(Some(r)),
        Some(Ok(r)) => match unsafe_names(layout, lock, skills_sha).into_iter().next() {
            Some(why) => Err(Failure::Fatal(crate::safe_text::clean(&format!(
                "refused: the node's {} has no -s, and {why}; {}",
                r.describe(),
                rsync::RSYNC_REMEDY
            )))),
            None => Ok(Some(r)),
        },
    }
}

/// The names an rsync without `-s` (a stock Mac's 2.6.9 or openrsync) cannot carry
/// safely to a node with this layout, each as `<name>: <why>`: the destination directory
/// (it rides on the remote command line) and the bundle's files. Shown by the plan
/// (`--check`, the plan view) and refused at such a node's baseline.
pub fn unsafe_names(
    layout: &crate::inventory::Layout,
    lock: &Lock,
    skills_sha: &str,
) -> Vec<String> {
    use crate::remote::rsync::hazard_without_secluded_args as why;
    let dest = format!("{}/{}/", layout.skills_root, skills_sha);
    let mut out = Vec::new();
    if let Some(w) = why(&dest, true) {
        out.push(format!("{dest:?} (the destination): {w}"));
    }
    for f in &lock.files {
        if let Some(w) = why(&f.path, false) {
            out.push(format!("{:?}: {w}", f.path));
        }
    }
    out
}

/// What [`crate::rollout::plan::Plan::old_rsync_refusals`] lists for `bundle` on the plan's nodes: a bundle
/// file once (every node gets the same files), a destination per node.
pub fn old_rsync_refusals(
    inv: &crate::inventory::Inventory,
    plan: &crate::rollout::plan::Plan,
    bundle: &crate::manifest::Bundle,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in plan.nodes() {
        let Some(n) = inv.nodes.get(id) else {
            continue;
        };
        for why in unsafe_names(&n.layout, &bundle.lock, &bundle.skills_sha) {
            let line = if why.contains("(the destination)") {
                format!("{}: {why}", n.name)
            } else {
                format!("every node: {why}")
            };
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Layout;
    use crate::manifest::LockEntry;
    use crate::remote::ops::*;
    use crate::remote::rsync::*;

    fn lock() -> Lock {
        Lock {
            files: vec![
                LockEntry {
                    mode: "0640".into(),
                    path: "a.md".into(),
                    sha256: "aa".into(),
                    size: 1,
                },
                LockEntry {
                    mode: "0440".into(),
                    path: "k/x.key".into(),
                    sha256: "bb".into(),
                    size: 1,
                },
            ],
            skills_sha: "s".into(),
            version: 1,
        }
    }

    /// What the verify script prints for these (sha256, mode, path) entries.
    fn listing(entries: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut s = String::from("motd\nMESHROLL-HASHES\n");
        for (h, _, p) in entries {
            s.push_str(&format!("{h}  ./{p}\n"));
        }
        s.push_str("MESHROLL-MODES\n");
        for (_, m, p) in entries {
            s.push_str(&format!("{m} ./{p}\n"));
        }
        s.push_str("MESHROLL-END\n");
        s.into_bytes()
    }

    #[test]
    fn verify_passes_only_on_an_exact_copy() {
        let good = [
            ("aa", "640", "a.md"),
            ("bb", "440", "k/x.key"),
            ("ll", "640", "skills.lock.json"),
        ];
        assert_eq!(
            verify_result(&lock(), "ll", &listing(&good)),
            Ok("checksum verified (2 files)".into())
        );
        let with = |i: usize, e: (&'static str, &'static str, &'static str)| {
            let mut v = good.to_vec();
            v[i] = e;
            v
        };
        let mut extra = good.to_vec();
        extra.push(("zz", "640", "evil.sh"));
        let spaced = [
            ("aa", "640", "a.md"),
            ("bb", "440", "k/x.key"),
            ("ll", "640", "skills.lock.json"),
            ("cc", "640", "a b.md"),
        ];
        for (bad, want) in [
            (listing(&with(0, ("ab", "640", "a.md"))), "a.md sha256 differs"),
            (listing(&with(0, ("aa", "644", "a.md"))), "a.md mode 644, want 0640"),
            (listing(&good[1..]), "a.md missing"),
            (listing(&extra), "evil.sh is not in the lock"),
            (listing(&spaced), "a b.md is not in the lock"),
            (
                listing(&with(2, ("xx", "640", "skills.lock.json"))),
                "skills.lock.json differs",
            ),
            (b"MESHROLL-MISSING\n".to_vec(), "directory is missing"),
            // hashed but no mode, or a mode but no hash (the node could not read it)
            (
                b"MESHROLL-HASHES\naa  ./a.md\nbb  ./k/x.key\nll  ./skills.lock.json\nMESHROLL-MODES\n440 ./k/x.key\n640 ./skills.lock.json\nMESHROLL-END\n".to_vec(),
                "a.md mode , want 0640",
            ),
            (
                b"MESHROLL-HASHES\nbb  ./k/x.key\nll  ./skills.lock.json\nMESHROLL-MODES\n640 ./a.md\n440 ./k/x.key\n640 ./skills.lock.json\nMESHROLL-END\n".to_vec(),
                "a.md sha256 differs",
            ),
        ] {
            match verify_result(&lock(), "ll", &bad) {
                Err(Failure::Mismatch(m)) => assert!(m.contains(want), "{want}: {m}"),
                other => panic!("{want}: {other:?}"),
            }
        }
        assert!(matches!(
            verify_result(&lock(), "ll", b"MESHROLL-HASHES\naa  ./a.md\n"),
            Err(Failure::Transient(_))
        ));
    }

    #[test]
    fn verify_script_lists_a_real_tree() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let b = d.path().join("sha1");
        std::fs::create_dir_all(b.join("k")).expect("mkdir");
        std::fs::write(b.join("a b.md"), "hello\n").expect("w");
        std::fs::write(b.join("k/x.key"), "k").expect("w");
        std::fs::set_permissions(b.join("k/x.key"), std::fs::Permissions::from_mode(0o440))
            .expect("chmod");
        let layout = Layout {
            skills_root: d.path().display().to_string(),
            ..Layout::default()
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(verify(&layout, "sha1"))
            .output()
            .expect("sh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("MESHROLL-END"), "{text}");
        assert!(
            text.contains(
                "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  ./a b.md"
            ),
            "{text}"
        );
        assert!(
            text.contains("640 ./a b.md") || text.contains("644 ./a b.md"),
            "{text}"
        );
        assert!(text.contains("440 ./k/x.key"), "{text}");
    }

    #[test]
    fn baseline_reads_lock_refusals_and_gateway_state() {
        let e = baseline_result(
            Some(4),
            b"MESHROLL-LOCKED r-1 alice@ops.example/pid42 1000\nMESHROLL-HEARTBEAT 1590\n",
            1600,
            "g01",
        )
        .expect_err("locked");
        assert_eq!(
            e,
            Failure::Fatal(
                "node is locked by another rollout: owner alice, host ops.example, pid 42, \
                 rollout r-1, taken 10m ago, heartbeat 10s ago (if that rollout is gone: \
                 meshroll unlock --node g01)"
                    .into()
            )
        );
        // an owner line from an old meshroll (no heartbeat), or hostile bytes
        let e = baseline_result(
            Some(4),
            b"MESHROLL-LOCKED r-1 \x1b]0;pwned\x07@h 1000\nMESHROLL-HEARTBEAT \n",
            1600,
            "g01",
        )
        .expect_err("locked");
        assert!(!e.message().contains('\x1b'), "{e:?}");
        assert!(e.message().contains("heartbeat unknown"), "{e:?}");
        let e = baseline_result(
            Some(0),
            br#"{"rpc":{"ok":false,"connectFailure":{"kind":"unreachable"}}}"#,
            0,
            "g01",
        )
        .expect_err("not ready");
        assert_eq!(
            e,
            Failure::Fatal("gateway not ready at baseline: unreachable".into())
        );
        let ok =
            baseline_result(Some(0), br#"{"rpc":{"ok":true}, "x": 1}"#, 0, "g01").expect("ready");
        assert_eq!(ok, r#"{"rpc":{"ok":true},"x":1}"#);
    }

    #[test]
    fn rsync_stats_and_codes() {
        let s =
            parse_rsync_stats("Number of regular files transferred: 3\nTotal bytes sent: 1,234\n");
        assert_eq!(
            s,
            RsyncStats {
                files_transferred: 3,
                bytes_sent: 1234
            }
        );
        assert!(
            rsync_transient(12)
                && rsync_transient(255)
                && !rsync_transient(1)
                && !rsync_transient(3)
        );
    }

    #[test]
    fn current_target_is_read_between_markers() {
        assert_eq!(
            read_current_result(b"motd\nMESHROLL-CURRENT\nabc123\nMESHROLL-END\n"),
            Ok(Some("abc123".into()))
        );
        assert_eq!(
            read_current_result(b"MESHROLL-CURRENT\nMESHROLL-END\n"),
            Ok(None)
        );
        assert!(read_current_result(b"MESHROLL-CURRENT\nabc").is_err());
        assert!(read_current(&Layout::default()).contains("readlink \"$R/current\""));
    }

    #[test]
    fn scripts_quote_every_value() {
        let l = Layout {
            skills_root: "/x/it's; rm -rf /".into(),
            ..Layout::default()
        };
        let s = switch(&l, "abc$(id)", "dd");
        assert!(s.contains("R='/x/it'\\''s; rm -rf /'"), "{s}");
        assert!(s.contains("T='abc$(id)'"), "{s}");
        let p = prewarm(
            &Layout {
                prewarm_cmd: Some("echo 'hi'".into()),
                ..Layout::default()
            },
            "s",
            1024,
            None,
        );
        assert!(p.contains("\nCMD='echo '\\''hi'\\'''\n"), "{p}");
    }

    #[test]
    fn phase_scripts_carry_the_token_inside_and_set_a_umask() {
        let l = Layout::default();
        for s in [
            baseline(&l, "r", "u@h/pid1", 5, Some("tok'en")),
            doctor(&l, Some("tok'en")),
            prewarm(&l, "s", 1024, Some("tok'en")),
        ] {
            assert!(
                s.contains("OPENCLAW_GATEWAY_TOKEN='tok'\\''en'\nexport OPENCLAW_GATEWAY_TOKEN\n"),
                "{s}"
            );
            assert!(s.contains("\numask 027\n"), "{s}");
        }
        for s in [
            baseline(&l, "r", "u@h/pid1", 5, None),
            doctor(&l, None),
            switch(&l, "s", "d"),
            rollback(&l, "r", "u@h/pid1", 5),
        ] {
            assert!(!s.contains("OPENCLAW_GATEWAY_TOKEN"), "{s}");
            assert!(s.contains("\numask 027\n"), "{s}");
        }
    }

    #[test]
    fn rsync_keeps_the_host_key_policy_and_brackets_ipv6() {
        let sock = std::path::Path::new("/tmp/cm/x y");
        let s = rsync_ssh_command(sock, None, Some(2222), false);
        assert!(s.contains(" -o StrictHostKeyChecking=yes"), "{s}");
        assert!(s.contains("ControlPath='/tmp/cm/x y'"), "{s}");
        assert!(s.ends_with(" -p 2222"), "{s}");
        let s = rsync_ssh_command(sock, Some(std::path::Path::new("/c")), None, true);
        assert!(
            s.contains(" -o StrictHostKeyChecking=accept-new -F '/c'"),
            "{s}"
        );
        assert_eq!(rsync_dest(None, "::1", "/r/s/"), "[::1]:/r/s/");
        assert_eq!(
            rsync_dest(Some("ops"), "fe80::1%en0", "/r/"),
            "ops@[fe80::1%en0]:/r/"
        );
        assert_eq!(rsync_dest(Some("ops"), "[::1]", "/r/"), "ops@[::1]:/r/");
        assert_eq!(rsync_dest(Some("ops"), "mac1", "/r/"), "ops@mac1:/r/");
        assert_eq!(rsync_dest(None, "10.0.0.1", "/r/"), "10.0.0.1:/r/");
    }

    /// A bundle tree `<root>/<sha>` and its lock, as `manifest` would make them.
    fn real_bundle(root: &std::path::Path, sha: &str) -> (Lock, String) {
        use std::os::unix::fs::PermissionsExt;
        let b = root.join(sha);
        std::fs::create_dir_all(b.join("k")).expect("mkdir");
        let files = [
            ("a b.md", "hello\n", 0o640),
            ("k/x.key", "k", 0o440),
            ("z.md", "z", 0o640),
        ];
        let mut entries = Vec::new();
        for (p, body, mode) in files {
            std::fs::write(b.join(p), body).expect("w");
            std::fs::set_permissions(b.join(p), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            entries.push(crate::manifest::LockEntry {
                mode: format!("{mode:04o}"),
                path: p.into(),
                sha256: crate::manifest::sha256_hex(body.as_bytes()),
                size: body.len() as u64,
            });
        }
        let lock_bytes = b"{\"lock\":1}\n";
        std::fs::write(b.join(LOCK_NAME), lock_bytes).expect("w");
        std::fs::set_permissions(b.join(LOCK_NAME), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        let lock = Lock {
            files: entries,
            skills_sha: sha.into(),
            version: 1,
        };
        (lock, crate::manifest::sha256_hex(lock_bytes))
    }

    fn run_sh(script: &str) -> (Option<i32>, Vec<u8>) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        (out.status.code(), out.stdout)
    }

    #[test]
    fn switch_verifies_right_before_the_rename() {
        let d = tempfile::tempdir().expect("tmp");
        let layout = Layout {
            skills_root: d.path().display().to_string(),
            state_dir: d.path().join("state").display().to_string(),
            ..Layout::default()
        };
        let (lock, lsha) = real_bundle(d.path(), "sha1");
        let want = expected_digest(&lock, &lsha);
        // the verify phase's listing agrees with the lock
        let (_, out) = run_sh(&verify(&layout, "sha1"));
        assert_eq!(
            verify_result(&lock, &lsha, &out),
            Ok("checksum verified (3 files)".into()),
            "{}",
            String::from_utf8_lossy(&out)
        );
        // a tree changed after verify: no switch, the difference named
        std::fs::write(d.path().join("sha1/z.md"), "tampered").expect("w");
        let (code, out) = run_sh(&switch(&layout, "sha1", &want));
        assert_eq!(code, Some(6), "{}", String::from_utf8_lossy(&out));
        match switch_mismatch(&lock, &lsha, &out) {
            Some(Failure::Mismatch(m)) => assert!(m.contains("z.md sha256 differs"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(std::fs::symlink_metadata(d.path().join("current")).is_err());
        // repaired: it switches (the digest of the node's listing is the lock's)
        std::fs::write(d.path().join("sha1/z.md"), "z").expect("w");
        let (code, out) = run_sh(&switch(&layout, "sha1", &want));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(code, Some(0), "{text}");
        assert!(switch_mismatch(&lock, &lsha, &out).is_none(), "{text}");
        assert!(
            text.contains("verified; current -> sha1 (previous none)"),
            "{text}"
        );
        assert_eq!(
            std::fs::read_link(d.path().join("current")).expect("current"),
            std::path::PathBuf::from("sha1")
        );
        // no temporary listing left behind
        let left: Vec<_> = std::fs::read_dir(d.path())
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("verify"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// What the baseline makes of the rsync probe: the stock rsync is used without -s
    /// unless a name needs it (then refused, naming the file); rsync 3 carries any name;
    /// no probe line (the simulated mesh) learns nothing.
    #[test]
    fn the_baseline_holds_the_nodes_rsync_against_the_bundle() {
        let layout = Layout::default();
        let stock = b"MESHROLL-RSYNC 0 -\nMESHROLL-RSYNC 1 -\nMESHROLL-RSYNC 2 openrsync: protocol version 29 rsync version 2.6.9 compatible\n";
        let brew = b"MESHROLL-RSYNC 0 rsync  version 3.4.1  protocol version 32\n";
        let mut l = lock();
        let r = rsync_at_baseline(stock, &layout, &l, "abc").expect("usable");
        assert!(r.is_some_and(|r| !r.secluded_args));
        l.files[0].path = "a\u{1b}]0;owned\u{7}.md".into();
        match rsync_at_baseline(stock, &layout, &l, "abc") {
            Err(Failure::Fatal(m)) => {
                assert!(
                    m.contains("refused: the node's openrsync (protocol 29) at rsync has no -s"),
                    "{m}"
                );
                assert!(m.contains("a control character in the name"), "{m}");
                assert!(m.contains("brew install rsync"), "{m}");
                assert!(!m.contains('\u{1b}') && !m.contains('\u{7}'), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let r = rsync_at_baseline(brew, &layout, &l, "abc").expect("rsync 3 carries it");
        assert!(r.is_some_and(|r| r.secluded_args));
        assert_eq!(rsync_at_baseline(b"{}\n", &layout, &l, "abc"), Ok(None));
        let e = rsync_at_baseline(b"MESHROLL-RSYNC 2 -\n", &layout, &l, "abc");
        assert!(
            matches!(e, Err(Failure::Fatal(ref m)) if m.contains("no rsync on the node")),
            "{e:?}"
        );
    }

    /// On a Mac `mv -T` is refused (exit 64) and perl may be gone: the switch renames
    /// with BSD `mv -h`, `current` and `previous` both.
    #[test]
    fn switch_renames_with_mv_h_where_mv_refuses_t() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().join("skills");
        std::fs::create_dir_all(&root).expect("mkdir");
        let layout = Layout {
            skills_root: root.display().to_string(),
            state_dir: d.path().join("state").display().to_string(),
            ..Layout::default()
        };
        let fake = d.path().join("bin");
        std::fs::create_dir_all(&fake).expect("mkdir");
        let calls = d.path().join("mv.calls");
        // BSD mv: no -T; -h renames over a symlink without following it
        let mv = format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\ncase \"$1\" in\n-T) echo 'mv: illegal option -- T' >&2; exit 64 ;;\n-h) shift; exec /bin/mv -T \"$@\" ;;\nesac\nexec /bin/mv \"$@\"\n",
            calls.display()
        );
        for (name, body) in [
            ("mv", mv.as_str()),
            ("perl", "#!/bin/sh\necho 'perl: not here' >&2\nexit 127\n"),
        ] {
            std::fs::write(fake.join(name), body).expect("w");
            std::fs::set_permissions(fake.join(name), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let run = |script: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        fake.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                )
                .output()
                .expect("sh");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).to_string(),
            )
        };
        let (l1, s1) = real_bundle(&root, "sha1");
        let (l2, s2) = real_bundle(&root, "sha2");
        let (code, text) = run(&switch(&layout, "sha1", &expected_digest(&l1, &s1)));
        assert_eq!(code, Some(0), "{text}");
        let (code, text) = run(&switch(&layout, "sha2", &expected_digest(&l2, &s2)));
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("current -> sha2 (previous sha1)"), "{text}");
        let link = |n: &str| std::fs::read_link(root.join(n)).expect("link");
        assert_eq!(link("current"), std::path::PathBuf::from("sha2"));
        assert_eq!(link("previous"), std::path::PathBuf::from("sha1"));
        // sha2 was not moved into the directory `current` pointed at
        assert!(!root.join("sha1/.current.tmp").exists());
        let log = std::fs::read_to_string(&calls).expect("mv was called");
        assert!(log.lines().any(|l| l.starts_with("-T ")), "{log}");
        assert!(log.lines().any(|l| l.starts_with("-h ")), "{log}");
    }

    #[test]
    fn symlinks_and_fifos_in_the_bundle_are_a_mismatch() {
        let d = tempfile::tempdir().expect("tmp");
        let layout = Layout {
            skills_root: d.path().display().to_string(),
            ..Layout::default()
        };
        let (lock, lsha) = real_bundle(d.path(), "sha1");
        let want = expected_digest(&lock, &lsha);
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("sha1/k/link")).expect("ln");
        let (_, out) = run_sh(&verify(&layout, "sha1"));
        match verify_result(&lock, &lsha, &out) {
            Err(Failure::Mismatch(m)) => {
                assert!(
                    m.contains("k/link is not a regular file or a directory"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let (code, out) = run_sh(&switch(&layout, "sha1", &want));
        assert_eq!(code, Some(6), "{}", String::from_utf8_lossy(&out));
        assert!(std::fs::symlink_metadata(d.path().join("current")).is_err());
        std::fs::remove_file(d.path().join("sha1/k/link")).expect("rm");
        let st = std::process::Command::new("mkfifo")
            .arg(d.path().join("sha1/pipe"))
            .status()
            .expect("mkfifo");
        assert!(st.success());
        let (_, out) = run_sh(&verify(&layout, "sha1"));
        match verify_result(&lock, &lsha, &out) {
            Err(Failure::Mismatch(m)) => {
                assert!(
                    m.contains("pipe is not a regular file or a directory"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listing_and_prewarm_output_are_cut_at_the_cap() {
        let cut = format!("head -c {}", OUTPUT_CAP + 1);
        assert_eq!(PRINT_LISTING.matches(&cut).count(), 1, "{PRINT_LISTING}");
        let p = prewarm(&Layout::default(), "s", 1024, None);
        assert!(p.contains(&format!("| {cut}\n")), "{p}");
    }

    #[test]
    fn a_chatty_prewarm_is_cut_on_the_node() {
        let d = tempfile::tempdir().expect("tmp");
        let layout = Layout {
            skills_root: d.path().display().to_string(),
            state_dir: d.path().join("state").display().to_string(),
            prewarm_cmd: Some("yes 'warming up'".into()),
            ..Layout::default()
        };
        // `yes` never stops by itself: the script ends because its output is cut.
        let (_, out) = run_sh(&prewarm(&layout, "s", 4 * 1024 * 1024, None));
        assert_eq!(out.len(), OUTPUT_CAP + 1);
        assert!(!d.path().join("state/skill-cache-ready").exists());
    }

    #[test]
    fn rollback_takes_and_releases_the_lock() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().join("skills");
        let layout = Layout {
            skills_root: root.display().to_string(),
            state_dir: d.path().join("state").display().to_string(),
            ..Layout::default()
        };
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::create_dir_all(root.join("b")).expect("mkdir");
        std::os::unix::fs::symlink("b", root.join("current")).expect("ln");
        std::os::unix::fs::symlink("a", root.join("previous")).expect("ln");
        let target = |p: &str| std::fs::read_link(root.join(p)).expect("link");
        // held by another rollout: refused, nothing flipped, the lock left alone
        let lock = d.path().join("state/meshroll.lock");
        std::fs::create_dir_all(&lock).expect("mkdir");
        std::fs::write(lock.join("owner"), "r-9 bob@h2/pid7 100\n").expect("w");
        std::fs::write(lock.join("heartbeat"), "150\n").expect("w");
        let (code, out) = run_sh(&rollback(&layout, "rb-1", "me@h/pid1", 200));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(code, Some(4), "{text}");
        assert!(locked_by_other(&out), "{text}");
        let e = baseline_result(code, &out, 200, "w01").expect_err("locked");
        assert!(
            e.message().contains(
                "owner bob, host h2, pid 7, rollout r-9, taken 100s ago, heartbeat 50s ago"
            ),
            "{e:?}"
        );
        assert_eq!(target("current"), std::path::PathBuf::from("b"));
        assert!(lock.join("owner").is_file());
        // free: taken, flipped, released
        std::fs::remove_dir_all(&lock).expect("rm");
        let (code, out) = run_sh(&rollback(&layout, "rb-1", "me@h/pid1", 200));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("current -> a (was b)"), "{text}");
        assert_eq!(target("current"), std::path::PathBuf::from("a"));
        assert_eq!(target("previous"), std::path::PathBuf::from("b"));
        assert!(!lock.exists(), "lock left behind: {text}");
    }

    #[test]
    fn the_lock_is_read_and_removed_only_if_unchanged() {
        let d = tempfile::tempdir().expect("tmp");
        let layout = Layout {
            state_dir: d.path().display().to_string(),
            ..Layout::default()
        };
        let (_, out) = run_sh(&read_lock(&layout));
        assert_eq!(read_lock_result(&out), Ok(None));
        let lock = d.path().join("meshroll.lock");
        std::fs::create_dir_all(&lock).expect("mkdir");
        std::fs::write(lock.join("owner"), "r-9 bob@h2/pid7 100\n").expect("w");
        std::fs::write(lock.join("heartbeat"), "150\n").expect("w");
        let (_, out) = run_sh(&read_lock(&layout));
        let info = read_lock_result(&out).expect("read").expect("locked");
        assert_eq!(info.owner_line, "r-9 bob@h2/pid7 100");
        assert_eq!((info.taken_s, info.heartbeat_s), (Some(100), Some(150)));
        assert_eq!(info.parts(), ("bob".into(), "h2".into(), "7".into()));
        let (code, out) = run_sh(&force_unlock(&layout, Some("r-8 someone@else/pid1 5")));
        assert_eq!(code, Some(3), "{}", String::from_utf8_lossy(&out));
        assert!(lock.exists());
        let (code, out) = run_sh(&force_unlock(&layout, Some(&info.owner_line)));
        assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&out));
        assert!(!lock.exists());
        // the heartbeat is refreshed only by the owner
        std::fs::create_dir_all(&lock).expect("mkdir");
        std::fs::write(lock.join("owner"), "r-9 bob@h2/pid7 100\n").expect("w");
        let (_, out) = run_sh(&heartbeat(&layout, "r-1", 999));
        assert!(String::from_utf8_lossy(&out).contains("MESHROLL-ERR"));
        assert!(!lock.join("heartbeat").exists());
        let (_, out) = run_sh(&heartbeat(&layout, "r-9", 999));
        assert_eq!(String::from_utf8_lossy(&out).trim(), "ok");
        assert_eq!(
            std::fs::read_to_string(lock.join("heartbeat")).expect("hb"),
            "999\n"
        );
    }
}
