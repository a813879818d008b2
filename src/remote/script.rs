//! The poll script: one POSIX `sh` program that a node runs per poll and that prints
//! every signal as one JSON object on one line.
//!
//! The script goes to the node on **stdin** (`sh -s`), never on the command line, so
//! the gateway token it may carry never shows in the node's process list. Everything
//! it prints that could hold arbitrary bytes (CLI output, the `current` target, `df`)
//! is hex-encoded with `od`, so the envelope is always valid JSON and all parsing of
//! untrusted text happens in Rust ([`crate::signals`]).
//!
//! It runs on macOS and Linux: `stat -f`/`stat -c`, `shasum`/`sha256sum`, `df -P`.

use crate::inventory::Layout;

/// What one poll asks of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// Run `openclaw gateway status --json` (the slow, CPU-heavy signal).
    pub gateway: bool,
    /// Run `openclaw doctor --lint --json`.
    pub doctor: bool,
    /// Seconds `gateway status` may take on the node before it is killed.
    pub cli_timeout_s: u64,
    /// Seconds `doctor --lint` may take (the real one takes 10-14 s).
    pub doctor_timeout_s: u64,
    /// Seconds the liveness request may take.
    pub live_timeout_s: u64,
}

/// Bytes of one CLI's stdout that the node sends back; more is reported as truncated.
pub const CLI_OUTPUT_CAP: u64 = 256 * 1024;
/// A CLI whose output passes this many bytes is killed (checked every second). It is not
/// a `ulimit -f`: that would also cap the files the CLI itself writes (doctor writes a
/// SQLite snapshot over 1 MB).
const CLI_OUTPUT_KILL: u64 = 4 * 1024 * 1024;

/// Quote `s` as one word for a POSIX shell: `'...'` with embedded quotes escaped.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The script text for one poll. `token`, when given, is exported as
/// `OPENCLAW_GATEWAY_TOKEN` inside the script (which travels on stdin).
pub fn poll_script(layout: &Layout, req: &PollRequest, token: Option<&str>) -> String {
    let mut s = String::with_capacity(4096);
    s.push_str("set +e\numask 077\n");
    s.push_str("PATH=/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin:$PATH\n");
    s.push_str(&format!("R={}\n", shell_quote(&layout.skills_root)));
    s.push_str(&format!("S={}\n", shell_quote(&layout.state_dir)));
    s.push_str(&format!("OC={}\n", shell_quote(&layout.openclaw)));
    s.push_str(&format!("URL={}\n", shell_quote(&layout.healthz_url)));
    s.push_str(&format!("T={}\n", req.cli_timeout_s.max(1)));
    s.push_str(&format!("LT={}\n", req.live_timeout_s.max(1)));
    s.push_str(&format!("TD={}\n", req.doctor_timeout_s.max(1)));
    s.push_str(&format!("CAP={CLI_OUTPUT_CAP}\nBIG={CLI_OUTPUT_KILL}\n"));
    if let Some(t) = token {
        s.push_str(&format!(
            "OPENCLAW_GATEWAY_TOKEN={}\nexport OPENCLAW_GATEWAY_TOKEN\n",
            shell_quote(t)
        ));
    }
    s.push_str(BODY_START);
    if req.gateway || req.doctor {
        s.push_str(TEMP_DIR);
    }
    s.push_str("num \"$(date +%s)\"; printf '{\"v\":1,\"now\":%s' \"$N\"\n");
    if req.gateway {
        s.push_str("cli_start gw \"$T\" gateway status --json\n");
    }
    if req.doctor {
        s.push_str("cli_start doc \"$TD\" doctor --lint --json\n");
    }
    if req.gateway {
        s.push_str("cli_report gw\n");
    }
    if req.doctor {
        s.push_str("cli_report doc\n");
    }
    s.push_str(BODY_END);
    s
}

// Cheap polls run often on every node, so the script keeps to shell builtins where it
// can: about a dozen processes per cheap poll (date, readlink, the lock hash, sed, stat,
// curl, df twice), a temp dir only when a CLI runs.
const BODY_START: &str = r#"hex() { od -An -v -tx1 | tr -d ' \n'; }
num() { N=$1; case "$N" in ''|*[!0-9]*) N=null; return ;; esac
  while :; do case "$N" in 0?*) N=${N#0} ;; *) return ;; esac; done; }
nums() { F=; for w in "$@"; do case "$w" in ''|*[!0-9%]*) ;; *) F="$F${F:+,}\"$w\"" ;; esac; done; }
"#;

const TEMP_DIR: &str = r#"t=$(mktemp -d 2>/dev/null || mktemp -d -t meshroll) || { echo '{"v":1,"fatal":"mktemp failed"}'; exit 0; }
trap 'rm -rf "$t"' EXIT
# cli_start NAME SECONDS ARGS...: run the CLI in the background with a watchdog.
cli_start() {
  n=$1; lim=$2; shift 2
  "$OC" "$@" >"$t/$n.o" 2>"$t/$n.e" </dev/null &
  eval "${n}_p=\$!"
  cli_watch "$n" "$!" "$lim" >/dev/null 2>&1 </dev/null &
  eval "${n}_w=\$!"
}
# Kill the CLI past its time or past BIG bytes of output. The time-out marker is written
# before the kill, so the reporter never sees the kill first.
cli_watch() {
  i=0
  while kill -0 "$2" 2>/dev/null; do
    if [ "$i" -ge "$3" ]; then : >"$t/$1.k"; kill -9 "$2"; exit 0; fi
    sz=$(wc -c <"$t/$1.o" 2>/dev/null)
    if [ $((${sz:-0})) -gt "$BIG" ]; then kill -9 "$2"; exit 0; fi
    sleep 1; i=$((i + 1))
  done
}
cli_report() {
  n=$1
  eval "p=\$${n}_p; w=\$${n}_w"
  wait "$p"; rc=$?
  kill "$w" 2>/dev/null
  to=false; [ -e "$t/$n.k" ] && to=true
  b=$(wc -c <"$t/$n.o"); num $b
  printf ',"%s":{"rc":%s,"timed_out":%s,"bytes":%s,"out":"%s","err":"%s"}' "$n" "$rc" "$to" "$N" \
    "$(head -c "$CAP" "$t/$n.o" | hex)" "$(head -c 4096 "$t/$n.e" | hex)"
}
"#;

const BODY_END: &str = r#"if [ -L "$R/current" ]; then
  cur=$(readlink "$R/current" 2>/dev/null)
  case "$cur" in
    ''|*[!A-Za-z0-9._/+-]*) printf ',"current":"%s"' "$(printf %s "$cur" | hex)" ;;
    *) printf ',"current_raw":"%s"' "$cur" ;;
  esac
  case "$cur" in /*) b=$cur ;; *) b=$R/$cur ;; esac
  if [ -d "$b" ]; then printf ',"bundle_dir":true'; else printf ',"bundle_dir":false'; fi
  if [ -f "$b/skills.lock.json" ]; then
    set -- $(sha256sum "$b/skills.lock.json" 2>/dev/null || shasum -a 256 "$b/skills.lock.json" 2>/dev/null)
    h=${1:-}
    c=$(sed -n '1s/.*"skills_sha":"\([0-9A-Za-z._-]*\)".*/\1/p' "$b/skills.lock.json")
    case "$h" in *[!0-9a-f]*) h= ;; esac
    printf ',"lock":{"sha256":"%s","claim":"%s"}' "$h" "$c"
  fi
elif [ -e "$R/current" ]; then
  printf ',"current_not_link":true'
fi
num "$(stat -c %Y "$S/skill-cache-ready" 2>/dev/null || stat -f %m "$S/skill-cache-ready" 2>/dev/null)"
printf ',"cache_mtime":%s' "$N"
if [ -e "$S/drain" ]; then printf ',"drain":true'; else printf ',"drain":false'; fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$LT" "$URL" 2>/dev/null); lrc=$?
num "$code"
printf ',"live":{"rc":%s,"code":%s}' "$lrc" "$N"
nums $(df -Pk "$S" 2>/dev/null | tail -n 1); printf ',"dfk":[%s]' "$F"
nums $(df -Pi "$S" 2>/dev/null | tail -n 1); printf ',"dfi":[%s]' "$F"
printf '}\n'
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_metacharacters_as_one_word() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("a b;$(rm -rf /)"), "'a b;$(rm -rf /)'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn script_carries_layout_quoted_and_token_only_when_given() {
        let layout = Layout {
            skills_root: "/x/it's here".into(),
            ..Layout::default()
        };
        let req = PollRequest {
            gateway: true,
            doctor: false,
            cli_timeout_s: 7,
            doctor_timeout_s: 60,
            live_timeout_s: 3,
        };
        let s = poll_script(&layout, &req, None);
        assert!(s.contains("R='/x/it'\\''s here'\n"));
        assert!(s.contains("cli_start gw \"$T\" gateway status --json"));
        assert!(!s.contains("doctor --lint"));
        assert!(!s.contains("OPENCLAW_GATEWAY_TOKEN"));
        let s = poll_script(&layout, &req, Some("sekret"));
        assert!(s.contains("OPENCLAW_GATEWAY_TOKEN='sekret'\nexport OPENCLAW_GATEWAY_TOKEN"));
    }

    /// Runs the script with the local `sh` against a fake node root: the envelope it
    /// prints must parse, and each signal must be what the files say.
    #[test]
    fn script_runs_under_local_sh_and_parses() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let skills = root.join("skills");
        let state = root.join("state");
        std::fs::create_dir_all(skills.join("abc123")).expect("mkdir");
        std::fs::create_dir_all(&state).expect("mkdir");
        std::fs::write(
            skills.join("abc123/skills.lock.json"),
            br#"{"files":[],"skills_sha":"abc123","version":1}"#,
        )
        .expect("lock");
        std::os::unix::fs::symlink("abc123", skills.join("current")).expect("symlink");
        std::fs::write(state.join("skill-cache-ready"), b"").expect("cache");
        std::fs::write(state.join("drain"), b"").expect("drain");
        let cli = root.join("oc");
        std::fs::write(&cli, "#!/bin/sh\nprintf '{\"state\":\"ready\",\"args\":\"%s\"}' \"$*\"\nprintf 'warn\\377' >&2\n")
            .expect("cli");
        std::fs::set_permissions(&cli, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let layout = Layout {
            skills_root: skills.display().to_string(),
            state_dir: state.display().to_string(),
            openclaw: cli.display().to_string(),
            healthz_url: "http://127.0.0.1:9/healthz".into(),
            run_as: String::new(),
            ..Layout::default()
        };
        let req = PollRequest {
            gateway: true,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 1,
        };
        let mut child = Command::new("sh")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(poll_script(&layout, &req, None).as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        let p = crate::signals::parse_poll(&out.stdout).expect("envelope parses");
        assert_eq!(p.current.as_deref(), Some("abc123"));
        assert!(p.bundle_dir);
        let lock = p.lock.expect("lock seen");
        assert_eq!(lock.claim, "abc123");
        assert_eq!(lock.sha256.len(), 64);
        assert!(p.drain);
        assert!(p.cache_mtime.is_some());
        assert!((p.node_now - p.cache_mtime.unwrap_or(0)).abs() < 60);
        let gw = p.gateway.expect("gateway ran");
        assert_eq!(gw.rc, 0);
        assert!(!gw.timed_out);
        assert_eq!(
            gw.stdout,
            br#"{"state":"ready","args":"gateway status --json"}"#.to_vec()
        );
        assert_eq!(gw.stderr, b"warn\xff".to_vec());
        assert!(p.live_code.is_none(), "nothing listens on port 9");
        assert_ne!(p.live_rc, 0);
        let disk = p.disk.expect("df parsed");
        assert!(disk.avail_kb > 0);
    }
}
