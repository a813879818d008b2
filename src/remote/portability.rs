//! The check behind `src/remote/PORTABILITY.md`: every node-side script (the poll
//! scripts of `script.rs`, every operation of `ops.rs`, the rsync probe inside them) is
//! free of the GNU-only forms a Mac lacks. Test code only.

use super::ops::{self, NodeOp};
use super::script::{self, PollRequest};
use crate::inventory::Layout;

/// Every node-side script meshroll sends, by name, for a few layouts (the defaults, the
/// operator's own drain/undrain/prewarm commands, an explicit rsync path).
pub fn every_script() -> Vec<(String, String)> {
    let mut layouts = vec![("default", Layout::default())];
    let mut custom = Layout::default();
    for (k, v) in [
        ("drain_cmd", "touch /tmp/drained"),
        ("undrain_cmd", "rm -f /tmp/drained"),
        ("prewarm_cmd", "echo warm"),
        ("rsync_path", "/opt/rsync3/bin/rsync"),
    ] {
        assert_eq!(custom.set(k, v), Ok(true), "layout key {k}");
    }
    layouts.push(("custom", custom));
    let mut out = Vec::new();
    for (lname, l) in &layouts {
        for token in [None, Some("tok")] {
            for (gateway, doctor) in [(false, false), (true, false), (true, true)] {
                let req = PollRequest {
                    gateway,
                    doctor,
                    cli_timeout_s: 7,
                    doctor_timeout_s: 60,
                    live_timeout_s: 3,
                };
                out.push((
                    format!("poll_script gateway={gateway} doctor={doctor} ({lname})"),
                    script::poll_script(l, &req, token),
                ));
            }
            out.push((
                format!("poll_loop_script ({lname})"),
                script::poll_loop_script(l, token, 10, None),
            ));
            for op in every_op() {
                out.push((
                    format!("{} ({lname})", op_name(&op)),
                    ops::script(l, &op, token),
                ));
            }
        }
    }
    out
}

/// One of every operation.
fn every_op() -> Vec<NodeOp> {
    let (id, who) = ("r-1".to_string(), "ops@h/pid1".to_string());
    vec![
        NodeOp::Baseline {
            rollout_id: id.clone(),
            who: who.clone(),
            now_s: 5,
        },
        NodeOp::RsyncProbe,
        NodeOp::Heartbeat {
            rollout_id: id.clone(),
            now_s: 6,
        },
        NodeOp::ReadLock,
        NodeOp::ForceUnlock {
            expected_owner: Some("o".into()),
        },
        NodeOp::ForceUnlock {
            expected_owner: None,
        },
        NodeOp::Release {
            rollout_id: id.clone(),
        },
        NodeOp::Drain,
        NodeOp::Undrain {
            rollout_id: id.clone(),
        },
        NodeOp::PrepareSync { sha: "s".into() },
        NodeOp::Verify { sha: "s".into() },
        NodeOp::Switch {
            sha: "s".into(),
            want: "w".into(),
        },
        NodeOp::ReadCurrent,
        NodeOp::Rollback {
            rollout_id: id,
            who,
            now_s: 7,
        },
        NodeOp::Doctor,
        NodeOp::Prewarm {
            sha: "s".into(),
            mem_limit_kb: 9,
        },
        // Baseline then drain in one round trip, as the rollout runs them.
        NodeOp::Then {
            first: Box::new(NodeOp::Baseline {
                rollout_id: "r".into(),
                who: "w".into(),
                now_s: 1,
            }),
            then: Box::new(NodeOp::Drain),
        },
        NodeOp::GatewayRestart,
        NodeOp::Logs {
            lines: 200,
            follow: false,
        },
        NodeOp::Logs {
            lines: 200,
            follow: true,
        },
        NodeOp::Command {
            argv: vec!["openclaw".into(), "skills".into(), "check".into()],
        },
        // Inside a rollout: the login PATH learned in this run, or asked for.
        NodeOp::LoginPath {
            known: super::login_path::LoginPath::parse("/opt/homebrew/bin:/usr/bin"),
            op: Box::new(NodeOp::Prewarm {
                sha: "s".into(),
                mem_limit_kb: 9,
            }),
        },
        NodeOp::LoginPath {
            known: None,
            op: Box::new(NodeOp::Then {
                first: Box::new(NodeOp::Baseline {
                    rollout_id: "r".into(),
                    who: "w".into(),
                    now_s: 1,
                }),
                then: Box::new(NodeOp::Drain),
            }),
        },
    ]
}

/// The operation's name; the match is exhaustive, so a new operation fails to compile
/// here until [`every_op`] lists it too.
fn op_name(op: &NodeOp) -> &'static str {
    match op {
        NodeOp::Baseline { .. } => "baseline",
        NodeOp::RsyncProbe => "rsync_probe",
        NodeOp::Heartbeat { .. } => "heartbeat",
        NodeOp::ReadLock => "read_lock",
        NodeOp::ForceUnlock { .. } => "force_unlock",
        NodeOp::Release { .. } => "release",
        NodeOp::Drain => "drain",
        NodeOp::Undrain { .. } => "undrain",
        NodeOp::PrepareSync { .. } => "prepare_sync",
        NodeOp::Verify { .. } => "verify",
        NodeOp::Switch { .. } => "switch",
        NodeOp::ReadCurrent => "read_current",
        NodeOp::Rollback { .. } => "rollback",
        NodeOp::Doctor => "doctor",
        NodeOp::Prewarm { .. } => "prewarm",
        NodeOp::Then { .. } => "then",
        NodeOp::GatewayRestart => "gateway_restart",
        NodeOp::Logs { follow: false, .. } => "logs",
        NodeOp::Logs { follow: true, .. } => "logs_follow",
        NodeOp::Command { .. } => "command",
        NodeOp::LoginPath { known: Some(_), .. } => "login_path_known",
        NodeOp::LoginPath { known: None, .. } => "login_path_asked",
    }
}

/// The simple commands of a line: split at `; & | ( )` and backquotes, leading
/// keywords (`then`, `do`, `else`, `!`...) dropped.
fn commands(line: &str) -> Vec<String> {
    line.split([';', '&', '|', '(', ')', '`'])
        .map(|c| {
            let mut c = c.trim();
            loop {
                let before = c;
                for kw in [
                    "then ", "do ", "else ", "elif ", "if ", "while ", "! ", "{ ", "exec ",
                ] {
                    c = c.strip_prefix(kw).map_or(c, str::trim_start);
                }
                if c == before {
                    break;
                }
            }
            c.to_string()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Whether `s` has `name=(` (an array assignment) or `${name[` (an array element).
fn has_array(s: &str) -> bool {
    let b = s.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    for i in 0..b.len() {
        if b[i] == b'=' && b.get(i + 1) == Some(&b'(') && i > 0 && ident(b[i - 1]) {
            return true;
        }
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let mut j = i + 2;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > i + 2 && b.get(j) == Some(&b'[') {
                return true;
            }
        }
    }
    s.contains("declare -a") || s.contains("local -a") || s.contains("read -a")
}

/// The GNU-only forms in `script`, each as `line N: <form>: <line>`.
pub fn gnu_only_forms(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    if script.contains("sha256sum") && !script.contains("shasum") {
        found.push("sha256sum without a shasum fallback (macOS 14 has none)".to_string());
    }
    if script.contains("setsid") && !script.contains("set -m") && !script.contains("setpgrp") {
        found.push(
            "setsid without a set -m or perl setpgrp fallback (a Mac has no setsid)".to_string(),
        );
    }
    let mut flag = |n: usize, what: &str, line: &str| {
        found.push(format!("line {}: {what}: {}", n + 1, line.trim()));
    };
    let whole_has_bsd_stat = script.contains("stat -f") || script.contains("SF=-f");
    for (n, line) in script.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for c in commands(line) {
            let words: Vec<&str> = c.split_whitespace().collect();
            let (Some(cmd), args) = (words.first().copied(), words.get(1..).unwrap_or(&[])) else {
                continue;
            };
            let has = |flag: &str| {
                args.iter()
                    .take_while(|a| a.starts_with('-'))
                    .any(|a| *a == flag)
            };
            let cluster = |ch: char| {
                args.iter()
                    .take_while(|a| a.starts_with('-') && !a.starts_with("--"))
                    .any(|a| a[1..].contains(ch))
            };
            match cmd {
                "timeout" => flag(n, "timeout (a Mac has none)", line),
                "readlink" if cluster('f') => flag(n, "readlink -f", line),
                "date" if cluster('d') => flag(n, "date -d", line),
                "xargs" if cluster('r') => flag(n, "xargs -r", line),
                "grep" | "egrep" if cluster('P') => flag(n, "grep -P", line),
                "find" if args.contains(&"-printf") => flag(n, "find -printf", line),
                // BSD sed needs the suffix attached (`-i.bak`); a bare -i is GNU's
                "sed" if has("-i") => flag(n, "sed -i without a suffix", line),
                "stat" if has("-c") && !whole_has_bsd_stat => {
                    flag(n, "stat -c without a stat -f branch", line)
                }
                _ => {}
            }
        }
        if line.contains("mv -T") && !line[line.find("mv -T").unwrap_or(0)..].contains("||") {
            flag(n, "mv -T without a fallback", line);
        }
        if line.contains("ulimit -v") && !line[line.find("ulimit -v").unwrap_or(0)..].contains("||")
        {
            flag(n, "ulimit -v without a fallback", line);
        }
        if line.contains("[[") && !line.contains("'[[") {
            flag(n, "[[ (not POSIX sh)", line);
        }
        if has_array(line) {
            flag(n, "an array (not POSIX sh)", line);
        }
    }
    found
}

/// Forms still present on purpose, with the reason; each must still match (so it is
/// removed when its reason goes away).
const PENDING: &[(&str, &str, &str)] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    /// The checker finds each GNU-only form the issue lists (so the test below can fail).
    #[test]
    fn the_checker_finds_every_gnu_only_form() {
        for (bad, form) in [
            ("x=$(stat -c %Y \"$f\")", "stat -c without a stat -f branch"),
            ("sed -i 's/a/b/' f", "sed -i without a suffix"),
            ("t=$(readlink -f \"$R/current\")", "readlink -f"),
            ("find . -type f -printf '%p\\n'", "find -printf"),
            ("d=$(date -d @5 +%s)", "date -d"),
            ("if timeout 5 openclaw x; then :; fi", "timeout"),
            ("ls | xargs -r rm", "xargs -r"),
            ("grep -oP '\\d+' f", "grep -P"),
            ("mv -T a b", "mv -T without a fallback"),
            (
                "( ulimit -v 9 2>/dev/null; exec x )",
                "ulimit -v without a fallback",
            ),
            ("if [[ -n $x ]]; then :; fi", "[[ (not POSIX sh)"),
            ("a=(1 2 3)", "an array"),
            ("echo ${a[1]}", "an array"),
            ("sha256sum f", "sha256sum without a shasum fallback"),
            (
                "setsid openclaw doctor &",
                "setsid without a set -m or perl setpgrp fallback",
            ),
        ] {
            let f = gnu_only_forms(bad);
            assert!(f.iter().any(|l| l.contains(form)), "{bad}: {f:?}");
        }
        for good in [
            "if stat -c %a \"$R\" >/dev/null 2>&1; then SF=-c; else SF=-f; fi; stat $SF x",
            "sed -i.bak 's/a/b/' f",
            "t=$(readlink \"$R/current\")",
            "mv -T a b 2>/dev/null || mv -h a b",
            "( ulimit -v 9 2>/dev/null || echo 'no cap'; exec x )",
            "openclaw skills prewarm --timeout 15m",
            "n=$((n + 1)); x=${y#z}",
            "set -m; x & set +m; setsid x & perl -e 'setpgrp(0, 0)'",
        ] {
            assert_eq!(gnu_only_forms(good), Vec::<String>::new(), "{good}");
        }
    }

    /// Every node-side script is POSIX sh with BSD-safe tools (PORTABILITY.md).
    #[test]
    fn every_node_side_script_is_free_of_gnu_only_forms() {
        let scripts = every_script();
        assert!(scripts.len() > 40, "{}", scripts.len());
        let mut bad = Vec::new();
        let mut pending_seen = vec![false; PENDING.len()];
        for (name, s) in &scripts {
            for f in gnu_only_forms(s) {
                match PENDING
                    .iter()
                    .position(|(op, form, _)| name.starts_with(op) && f.contains(form))
                {
                    Some(i) => pending_seen[i] = true,
                    None => bad.push(format!("{name}: {f}")),
                }
            }
        }
        assert!(bad.is_empty(), "GNU-only forms:\n{}", bad.join("\n"));
        for (i, seen) in pending_seen.iter().enumerate() {
            assert!(
                seen,
                "PENDING entry {:?} no longer matches: remove it",
                PENDING[i]
            );
        }
    }
}
