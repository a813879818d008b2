//! The PATH of the account's login shell, read on the node (one shell function, used by
//! the poll channel and by the rollout's scripts alike) and learned once per node per
//! rollout run.
//!
//! ssh runs commands through the login shell non-interactively, so zsh reads only
//! `~/.zshenv`, and a CLI (or the Node it needs) on a PATH set in `~/.zprofile` (nvm,
//! Homebrew) would not be found: the scripts that run the CLI ask `$SHELL -lc` for its
//! PATH and put it first. A login shell is not cheap (an rc file running `pyenv init`
//! starts ~90 processes), so a rollout reads it once per node: the first of its scripts
//! that reads it reports it ([`MARK`] on stderr, when `LPR` is set), meshroll checks the
//! value ([`LoginPath::parse`]: the node is not trusted) and hands it to the later
//! scripts of the run as `LP='...'` ([`LoginPath::assignment`]), which then start no
//! login shell. Without it (no script of this run read it yet, a node action from the
//! dashboard) the function reads the login shell as before.

/// The line a script prints on stderr (with `LPR` set) when it has read the login
/// shell's PATH: `MESHROLL-LOGIN-PATH=<path>`.
pub const MARK: &str = "MESHROLL-LOGIN-PATH=";

/// The longest login PATH taken from a node; a longer one is treated as unknown.
pub const MAX_LEN: usize = 4096;

/// `login_path` sets `LP` to the login shell's PATH, unless `LP` is already set (learned
/// earlier in this run, passed in); `lpath` puts `LP` first on `PATH`. The login shell
/// runs in a process group of its own (`bg_grp`, `crate::remote::pgroup`) and is killed
/// whole after `$LPT` seconds (10 unless the script sets it; macOS has no `timeout`); one
/// that is not an absolute path, or prints no PATH that starts with `/`, changes nothing.
/// Whatever the rc files print around the marker line is skipped. Its output is read
/// line by line with `read` (no `sed`, no `tail`; no pattern removal over the whole
/// text, which is quadratic in dash). With `LPR` set, a PATH read is reported on stderr
/// ([`MARK`]).
pub(crate) const LOGIN_PATH_FNS: &str = r#"login_path() {
  [ -z "${LP:-}" ] || return 0
  case "${SHELL:-}" in /*) [ -x "$SHELL" ] || return 0 ;; *) return 0 ;; esac
  [ -n "${GM:-}" ] || grp_mode
  lo=$( ( bg_grp "$SHELL" -lc 'printf "\nMESHROLL-PATH=%s\n" "$PATH"' 2>/dev/null </dev/null; lp=$!
    ( sleep "${LPT:-10}"; kill_grp "$lp" ) >/dev/null 2>&1 </dev/null & lw=$!
    wait "$lp"
    # KILL, not TERM: a subshell hit before it drops the inherited traps would run
    # `exit 0` and the EXIT trap (the poll channel's removes "$t" under it).
    kill -9 "$lw" 2>/dev/null; wait "$lw" 2>/dev/null ) )
  v=
  while IFS= read -r l; do case "$l" in MESHROLL-PATH=*) v=${l#MESHROLL-PATH=} ;; esac; done <<EOF
$lo
EOF
  case "$v" in /*) LP=$v; [ -z "${LPR:-}" ] || printf '\nMESHROLL-LOGIN-PATH=%s\n' "$LP" >&2 ;; esac
}
lpath() {
  login_path
  case "${LP:-}" in /*) PATH=$LP:$PATH; export PATH ;; esac
}
"#;

/// A login-shell PATH learned from a node: absolute, without control characters, at
/// most [`MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPath(String);

impl LoginPath {
    /// `text` as a login PATH, or `None` (unknown) if it is not one meshroll passes
    /// back: empty, relative, holding a control character (a newline would end the
    /// assignment's line), or longer than [`MAX_LEN`].
    pub fn parse(text: &str) -> Option<LoginPath> {
        let ok =
            text.starts_with('/') && text.len() <= MAX_LEN && !text.chars().any(|c| c.is_control());
        ok.then(|| LoginPath(text.to_string()))
    }

    /// The PATH itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The line that hands it to a script: `LP='...'`, quoted for the node's shell.
    pub fn assignment(&self) -> String {
        format!("LP={}\n", super::script::shell_quote(&self.0))
    }

    /// Take the [`MARK`] lines out of a script's stderr: what is left, and the login
    /// PATH the last of them reports (`None` when there is none, or it does not
    /// [`parse`](LoginPath::parse), or is not UTF-8).
    pub fn take_reported(stderr: &[u8]) -> (Vec<u8>, Option<LoginPath>) {
        let mark = MARK.as_bytes();
        if !stderr.windows(mark.len()).any(|w| w == mark) {
            return (stderr.to_vec(), None);
        }
        let mut rest = Vec::with_capacity(stderr.len());
        let mut last = None;
        for line in stderr.split_inclusive(|b| *b == b'\n') {
            match line.strip_prefix(mark) {
                Some(v) => {
                    let v = v.strip_suffix(b"\n").unwrap_or(v);
                    last = Some(std::str::from_utf8(v).ok().and_then(LoginPath::parse));
                }
                None => rest.extend_from_slice(line),
            }
        }
        (rest, last.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Layout;
    use crate::remote::ops::{self, NodeOp};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// A login PATH is taken only when it could be one: absolute, no control character
    /// (a newline, an escape, a NUL), not over 4096 bytes; else it is unknown.
    #[test]
    fn a_reported_login_path_is_checked_as_hostile_input() {
        let ok = "/opt/homebrew/bin:/Users/a b/.nvm/v24/bin:/usr/bin:/bin";
        assert_eq!(LoginPath::parse(ok).map(|p| p.0), Some(ok.to_string()));
        for bad in [
            "",
            "usr/bin:/bin",
            "~/bin:/usr/bin",
            "/usr/bin\n/evil",
            "/usr/bin\r",
            "/usr/bin\u{1b}[2J",
            "/usr/bin\u{7f}",
            "/usr/bin\u{85}",
            "/usr/bin\0",
        ] {
            assert_eq!(LoginPath::parse(bad), None, "{bad:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert!(LoginPath::parse(&long).is_some());
        assert_eq!(LoginPath::parse(&format!("{long}a")), None);

        // From a script's stderr: the marked lines go, the last one counts, and an
        // invalid last one leaves it unknown.
        let err = b"MESHROLL-RSYNC 0 rsync  version 3.2.7\n\nMESHROLL-LOGIN-PATH=/a:/b\nwarn\n";
        let (rest, lp) = LoginPath::take_reported(err);
        assert_eq!(lp.map(|p| p.0), Some("/a:/b".to_string()));
        assert_eq!(
            rest,
            b"MESHROLL-RSYNC 0 rsync  version 3.2.7\n\nwarn\n".to_vec()
        );
        for bad in [
            &b"MESHROLL-LOGIN-PATH=relative/bin\n"[..],
            b"MESHROLL-LOGIN-PATH=/a\nMESHROLL-LOGIN-PATH=/b\x07\n",
            b"MESHROLL-LOGIN-PATH=/a\xff\n",
            b"MESHROLL-LOGIN-PATH=\n",
        ] {
            let (rest, lp) = LoginPath::take_reported(bad);
            assert_eq!(lp, None, "{:?}", String::from_utf8_lossy(bad));
            assert!(rest.is_empty());
        }
        let too_long = format!("{MARK}/{}\n", "a".repeat(MAX_LEN));
        assert_eq!(LoginPath::take_reported(too_long.as_bytes()).1, None);
        assert_eq!(
            LoginPath::take_reported(b"nothing\n"),
            (b"nothing\n".to_vec(), None)
        );
        // What a script gets back is one quoted word.
        let p = LoginPath::parse("/x/it's; $(reboot)").expect("absolute");
        assert_eq!(p.assignment(), "LP='/x/it'\\''s; $(reboot)'\n");
    }

    /// A login shell in `dir` that appends a line to `dir/logins` each time it starts,
    /// prints `rc` (what a user's rc files print), puts `/from/login` first on PATH and
    /// runs its command: the shell and the file that counts its starts.
    fn counting_login_shell(
        dir: &std::path::Path,
        rc: &str,
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let count = dir.join("logins");
        let login = dir.join("login-shell");
        std::fs::write(
            &login,
            format!(
                "#!/bin/sh\necho x >>'{}'\n{rc}PATH=/from/login:$PATH\nexport PATH\nexec /bin/sh -c \"$2\"\n",
                count.display()
            ),
        )
        .expect("login shell");
        std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        (login, count)
    }

    /// Run the node-side script of `op` with `sh` and `$SHELL` a login shell that
    /// records each start in a file; the number of starts, and the script's stderr.
    fn logins(op: &NodeOp, keys: &[(&str, &str)], shells: &[&str]) -> Vec<(String, usize, String)> {
        let mut seen = Vec::new();
        for sh in shells {
            if Command::new(sh).arg("-c").arg("exit 0").status().is_err() {
                continue;
            }
            let d = tempfile::tempdir().expect("tempdir");
            let (login, count) = counting_login_shell(d.path(), "echo 'rc file says hi'\n");
            let mut layout = Layout {
                skills_root: d.path().join("skills").display().to_string(),
                state_dir: d.path().join("state").display().to_string(),
                openclaw: "/bin/true".into(),
                run_as: String::new(),
                ..Layout::default()
            };
            for (k, v) in keys {
                assert_eq!(layout.set(k, v), Ok(true), "{k}");
            }
            let script = format!(
                "{}printf 'PATH=%s\\n' \"$PATH\"\n",
                ops::script(&layout, op, None)
            );
            let out = Command::new(sh)
                .arg("-c")
                .arg(&script)
                .env("SHELL", &login)
                .env("PATH", "/usr/bin:/bin")
                .output()
                .expect("sh");
            let n = std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let path = stdout
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("PATH="))
                .unwrap_or_default()
                .to_string();
            seen.push((
                format!("{sh}: {path}"),
                n,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        assert!(!seen.is_empty(), "no shell to run the scripts");
        seen
    }

    /// A poll channel opened with the login PATH a rollout learned starts no login shell
    /// and finds the CLI on it; without it, it starts one.
    #[test]
    fn a_poll_channel_given_the_login_path_starts_no_login_shell() {
        let d = tempfile::tempdir().expect("tempdir");
        let (login, count) = counting_login_shell(d.path(), "");
        let bin = d.path().join("learned bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let cli = bin.join("meshroll-test-oc");
        std::fs::write(&cli, "#!/bin/sh\necho 'OpenClaw 2026.9.6 (eb377ac)'\n").expect("cli");
        std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let layout = Layout {
            gateway_ready_url: String::new(),
            ..Layout::local(
                &d.path().join("skills"),
                &d.path().join("state"),
                "meshroll-test-oc",
            )
        };
        let learned = LoginPath::parse(&bin.display().to_string()).expect("absolute");
        let logins = |known: Option<&LoginPath>| {
            let _ = std::fs::remove_file(&count);
            let script = crate::remote::script::poll_loop_script(&layout, None, 5, known);
            let env = [
                ("SHELL", login.as_os_str()),
                ("PATH", "/usr/bin:/bin".as_ref()),
            ];
            let _ = crate::remote::script::LocalChannel::start(&["sh"], &script, &env).close();
            std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count()
        };
        assert_eq!(logins(Some(&learned)), 0);
        assert_eq!(logins(None), 1);
    }

    /// A script handed the login PATH learned earlier in the run starts no login shell
    /// and puts that PATH first; without it, it starts the login shell once (and, in a
    /// rollout, reports what it read); a node action's script reports nothing.
    #[test]
    fn a_script_with_the_learned_login_path_starts_no_login_shell() {
        let learned = LoginPath::parse("/learned/bin:/usr/bin").expect("absolute");
        let doctor = || Box::new(NodeOp::Doctor);
        let shells = ["sh", "dash", "bash"];
        for (what, n, err) in logins(
            &NodeOp::LoginPath {
                known: Some(learned.clone()),
                op: doctor(),
            },
            &[],
            &shells,
        ) {
            assert_eq!(n, 0, "{what}: the login shell ran");
            assert!(what.ends_with(": /learned/bin:/usr/bin:/usr/bin:/bin:/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin"), "{what}");
            assert!(!err.contains(MARK), "{what}: {err}");
        }
        for (what, n, err) in logins(
            &NodeOp::LoginPath {
                known: None,
                op: doctor(),
            },
            &[],
            &shells,
        ) {
            assert_eq!(n, 1, "{what}");
            assert!(what.contains(": /from/login:"), "{what}");
            let (_, lp) = LoginPath::take_reported(err.as_bytes());
            assert!(
                lp.is_some_and(|p| p.as_str().starts_with("/from/login:")),
                "{what}: {err}"
            );
        }
        for (what, n, err) in logins(&NodeOp::Doctor, &[], &shells) {
            assert_eq!(n, 1, "{what}");
            assert!(!err.contains(MARK), "{what}: {err}");
        }
        // Baseline then a drain command in one script (the first in a subshell): one
        // login shell for both, reported once; both find the CLI on its PATH.
        let base_and_drain = NodeOp::LoginPath {
            known: None,
            op: Box::new(NodeOp::Then {
                first: Box::new(NodeOp::Baseline {
                    rollout_id: "r-1".into(),
                    who: "ops@h/pid1".into(),
                    now_s: 5,
                }),
                then: Box::new(NodeOp::Drain),
            }),
        };
        let drain = [(
            "drain_cmd",
            "case $PATH in /from/login:*) echo drained ;; *) exit 9 ;; esac",
        )];
        for (what, n, err) in logins(&base_and_drain, &drain, &shells) {
            assert_eq!(n, 1, "{what}: {err}");
            assert!(what.contains(": /from/login:"), "{what}");
            assert_eq!(err.matches(MARK).count(), 1, "{what}: {err}");
        }
    }
}
