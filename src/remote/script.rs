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

/// The PATH line every node-side script starts with: the node's own PATH first (nvm, a
/// newer Node in `~/bin`, a package folder), then the usual folders as a fallback, so a
/// CLI found on the node's PATH runs under the Node the node's PATH picks.
pub const PATH_LINE: &str = "PATH=${PATH:+$PATH:}/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin\nexport PATH\n";

/// The shared head of the poll scripts: shell options, PATH, the layout and (when given)
/// the gateway token, which travels only here, on stdin.
pub fn prelude(layout: &Layout, token: Option<&str>) -> String {
    let mut s = String::with_capacity(4096);
    s.push_str("set +e\numask 077\n");
    s.push_str(PATH_LINE);
    s.push_str(&format!("R={}\n", shell_quote(&layout.skills_root)));
    s.push_str(&format!("S={}\n", shell_quote(&layout.state_dir)));
    s.push_str(&format!("OC={}\n", shell_quote(&layout.openclaw)));
    s.push_str(&format!("URL={}\n", shell_quote(&layout.healthz_url)));
    s.push_str(&format!(
        "RURL={}\n",
        shell_quote(&layout.gateway_ready_url)
    ));
    s.push_str(&format!(
        "CAP={CLI_OUTPUT_CAP}\nBIG={CLI_OUTPUT_KILL}\nCLIJ=\n"
    ));
    if let Some(t) = token {
        s.push_str(&format!(
            "OPENCLAW_GATEWAY_TOKEN={}\nexport OPENCLAW_GATEWAY_TOKEN\n",
            shell_quote(t)
        ));
    }
    s.push_str(FUNCS);
    s.push_str("GM=\n");
    s.push_str(super::pgroup::GROUP_FNS);
    s
}

/// The script text for one poll (one round trip, one shell). `token`, when given, is
/// exported as `OPENCLAW_GATEWAY_TOKEN` inside the script (which travels on stdin).
pub fn poll_script(layout: &Layout, req: &PollRequest, token: Option<&str>) -> String {
    let mut s = prelude(layout, token);
    s.push_str("t=\nLASTK=\nDFT=\nIDJ=\nLASTO=\n");
    if req.gateway || req.doctor {
        s.push_str(TEMP_DIR);
    }
    // A newline first: whatever the login shell's rc files printed without one ends on
    // its own line, not glued to the envelope.
    s.push_str(&format!(
        "echo\nGW={} DOC={} T={} TD={} LT={}\npoll_one\n",
        u8::from(req.gateway),
        u8::from(req.doctor),
        req.cli_timeout_s.max(1),
        req.doctor_timeout_s.max(1),
        req.live_timeout_s.max(1),
    ));
    s
}

/// The script of a long-lived poll channel: it says hello ([`HELLO`]), then answers each
/// request line ([`poll_request_line`]) with one JSON line, until stdin closes. Between
/// polls it keeps what did not change (the `current` target and its lock hash, keyed on
/// their inode, size and mtime; `df`, refreshed every 60 s).
///
/// Once, when it opens, it reads the PATH of the account's login shell (`$SHELL -lc`,
/// at most `login_timeout_s` seconds, whatever its rc files print around it) and puts it
/// ahead of the node's session PATH and the fallback folders: ssh runs commands through
/// the login shell non-interactively, so zsh reads only `~/.zshenv` and a CLI (or the
/// Node it needs) on a PATH set in `~/.zprofile` would not be found. Then it notes
/// which CLI that PATH finds and its `--version` (as long at most), and every answer
/// carries them (`"cli":{"path","version"}`, hex).
///
/// `known`: the login PATH a rollout of this process learned for the node
/// ([`super::login_path`]); the channel then starts no login shell.
pub fn poll_loop_script(
    layout: &Layout,
    token: Option<&str>,
    login_timeout_s: u64,
    known: Option<&super::login_path::LoginPath>,
) -> String {
    let mut s = prelude(layout, token);
    s.push_str(&format!("LPT={}\nLPR=\n", login_timeout_s.max(1)));
    match known {
        Some(p) => s.push_str(&p.assignment()),
        None => s.push_str("LP=\n"),
    }
    s.push_str(super::login_path::LOGIN_PATH_FNS);
    s.push_str(LOGIN);
    s.push_str(LOOP);
    s
}

/// The CLI the login shell's PATH finds, for [`poll_loop_script`] (the PATH itself is
/// read by `lpath`, [`super::login_path::LOGIN_PATH_FNS`], the rollout scripts' reader
/// too, at most `$LPT` seconds).
const LOGIN: &str = r#"cli_ident() {
  CLIP=$(command -v "$OC" 2>/dev/null)
  CLIV=
  case "$CLIP" in /*)
    cli_start ver "$LPT" --version
    wait "$ver_p"; kill -9 "$ver_w" 2>/dev/null; wait "$ver_w" 2>/dev/null
    CLIV=$(head -c 512 "$t/ver.o" | head -n 1) ;;
  *) CLIP= ;;
  esac
  case "$OC" in /*) CLIO=false ;; *) CLIO=true ;; esac
  CLIJ=",\"cli\":{\"path\":\"$(printf %s "$CLIP" | hex)\",\"version\":\"$(printf %s "$CLIV" | hex)\",\"on_path\":$CLIO}"
}
"#;

/// One request to a poll channel: `p <id> <gateway> <doctor> <cli s> <doctor s> <live s>`.
pub fn poll_request_line(id: u64, req: &PollRequest) -> String {
    format!(
        "p {id} {} {} {} {} {}\n",
        u8::from(req.gateway),
        u8::from(req.doctor),
        req.cli_timeout_s.max(1),
        req.doctor_timeout_s.max(1),
        req.live_timeout_s.max(1),
    )
}

/// The first line a poll channel prints once it has read its whole script.
pub const HELLO: &str = r#"{"v":1,"hello":1}"#;

// Cheap polls run often on every node, so the script keeps to shell builtins where it
// can. A cheap poll runs two programs (one `stat` for the clock, the cache marker,
// `current` and its lock file, and the node lock's directory, owner and heartbeat; one
// `curl` for liveness and readiness; in a channel, a third: `cat` writes the answer
// whole), plus `df` twice
// when it is due (every poll in a one-shot script, every 60 s in a channel), plus
// `readlink` and the hash when `current` or its lock file changed, and `head` (capped)
// for the node lock's owner line when the lock changed. A temp dir (and the
// CLI watchdog's processes, and once per script a `sleep` that probes how a job gets a
// process group of its own, `pgroup.rs`) only when a CLI runs or a channel opens.
const FUNCS: &str = r#"NL='
'
hex() { od -An -v -tx1 | tr -d ' \n'; }
num() { N=$1; case "$N" in ''|*[!0-9]*) N=null; return ;; esac
  while :; do case "$N" in 0?*) N=${N#0} ;; *) return ;; esac; done; }
nums() { F=; for w in "$@"; do case "$w" in ''|*[!0-9%]*) ;; *) F="$F${F:+,}\"$w\"" ;; esac; done; }
dflast() { o=$(df "$1" "$S" 2>/dev/null); o=${o##*"$NL"}; nums $o; }
# cli_start NAME SECONDS ARGS...: run the CLI in the background, in a process group of
# its own (bg_grp), with a watchdog.
cli_start() {
  n=$1; lim=$2; shift 2
  : >"$t/$n.k"
  bg_grp "$OC" "$@" >"$t/$n.o" 2>"$t/$n.e" </dev/null
  eval "${n}_p=\$!"
  cli_watch "$n" "$!" "$lim" >/dev/null 2>&1 </dev/null &
  eval "${n}_w=\$!"
}
# Kill the CLI and all it started (its group) past its time or past BIG bytes of output.
# The time-out marker is written before the kill, so the reporter never sees the kill first.
cli_watch() {
  i=0
  while kill -0 "$2" 2>/dev/null; do
    if [ "$i" -ge "$3" ]; then echo 1 >"$t/$1.k"; kill_grp "$2"; exit 0; fi
    sz=$(wc -c <"$t/$1.o" 2>/dev/null)
    if [ $((${sz:-0})) -gt "$BIG" ]; then kill_grp "$2"; exit 0; fi
    sleep 1; i=$((i + 1))
  done
}
cli_report() {
  n=$1
  eval "p=\$${n}_p; w=\$${n}_w"
  wait "$p"; rc=$?
  kill "$w" 2>/dev/null
  # what the CLI left running in its group goes with it (the group only: $p is reaped)
  [ "$GM" = none ] || kill -9 -"$p" 2>/dev/null
  to=false; [ -s "$t/$n.k" ] && to=true
  b=$(wc -c <"$t/$n.o"); num $b
  printf ',"%s":{"rc":%s,"timed_out":%s,"bytes":%s,"out":"%s","err":"%s"}' "$n" "$rc" "$to" "$N" \
    "$(head -c "$CAP" "$t/$n.o" | hex)" "$(head -c 4096 "$t/$n.e" | hex)"
}
poll_one() {
  if [ "$GW" = 1 ]; then cli_start gw "$T" gateway status --json; fi
  if [ "$DOC" = 1 ]; then cli_start doc "$TD" doctor --lint --json; fi
  # One stat: the clock (a file touched now), the cache marker, `current` itself and
  # the lock file behind it.
  nf=; [ -n "$t" ] && : >"$t/now" 2>/dev/null && nf=$t/now
  if [ "$SF" = f ]; then
    so=$(stat -f '%m %i %z %N' $nf "$S/skill-cache-ready" "$R/current" "$R/current/skills.lock.json" "$S/meshroll.lock" "$S/meshroll.lock/owner" "$S/meshroll.lock/heartbeat" 2>/dev/null)
  else
    so=$(stat -c '%Y %i %s %n' $nf "$S/skill-cache-ready" "$R/current" "$R/current/skills.lock.json" "$S/meshroll.lock" "$S/meshroll.lock/owner" "$S/meshroll.lock/heartbeat" 2>/dev/null)
  fi
  nw=; cm=; ck=; lk=; ld=; lo=; om=; hm=
  while read -r a b c d; do
    case "$d" in
      "$nf") nw=$a ;;
      "$S/skill-cache-ready") cm=$a ;;
      "$R/current") ck="$a.$b" ;;
      "$R/current/skills.lock.json") lk="$a.$b.$c" ;;
      "$S/meshroll.lock") ld="$a.$b" ;;
      "$S/meshroll.lock/owner") lo="$a.$b.$c"; om=$a ;;
      "$S/meshroll.lock/heartbeat") hm=$a ;;
    esac
  done <<EOF
$so
EOF
  [ -n "$nw" ] || nw=$(date +%s)
  num "$nw"; nw=$N
  printf '{"v":1%s,"now":%s' "$IDJ" "$nw"
  if [ "$GW" = 1 ]; then cli_report gw; fi
  if [ "$DOC" = 1 ]; then cli_report doc; fi
  if [ -L "$R/current" ]; then
    if [ -z "$LASTK" ] || [ "$ck/$lk" != "$LASTK" ]; then
      cur=$(readlink "$R/current" 2>/dev/null)
      case "$cur" in
        ''|*[!A-Za-z0-9._/+-]*) CJ=,\"current\":\"$(printf %s "$cur" | hex)\" ;;
        *) CJ=,\"current_raw\":\"$cur\" ;;
      esac
      case "$cur" in /*) B=$cur ;; *) B=$R/$cur ;; esac
      LJ=
      if [ -f "$B/skills.lock.json" ]; then
        set -- $(sha256sum "$B/skills.lock.json" 2>/dev/null || shasum -a 256 "$B/skills.lock.json" 2>/dev/null)
        h=${1:-}
        case "$h" in *[!0-9a-f]*) h= ;; esac
        # The claim: the canonical lock ends with `"skills_sha":"…","version":1}`, so its
        # last 512 bytes hold it (the first 512 for a lock written skills_sha first).
        # Never the whole line: it lists every file (21 KB for 200, megabytes for a
        # hostile node), and the shell's pattern removal is quadratic in its length.
        c=
        for e in tail head; do
          l1=$($e -c 512 "$B/skills.lock.json" 2>/dev/null)
          case "$l1" in *'"skills_sha":"'*) c=${l1#*\"skills_sha\":\"}; c=${c%%\"*}; break ;; esac
        done
        case "$c" in *[!0-9A-Za-z._-]*) c= ;; esac
        LJ=,\"lock\":{\"sha256\":\"$h\",\"claim\":\"$c\"}
      fi
      LASTK="$ck/$lk"
    fi
    printf '%s' "$CJ"
    if [ -d "$B" ]; then printf ',"bundle_dir":true'; else printf ',"bundle_dir":false'; fi
    printf '%s' "$LJ"
  else
    LASTK=
    if [ -e "$R/current" ]; then printf ',"current_not_link":true'; fi
  fi
  # The node lock: its owner line is read (capped, hex) only when the lock or its owner
  # file changed; the ages come from the stat above.
  if [ -n "$ld" ]; then
    if [ -z "$LASTO" ] || [ "$ld/$lo" != "$LASTO" ]; then
      OX=
      if [ -n "$lo" ]; then OX=$(head -c 512 "$S/meshroll.lock/owner" 2>/dev/null | hex); fi
      LASTO="$ld/$lo"
    fi
    num "$om"; o2=$N; num "$hm"
    printf ',"nlock":{"ox":"%s","om":%s,"hbm":%s}' "$OX" "$o2" "$N"
  else
    LASTO=
  fi
  num "$cm"; printf ',"cache_mtime":%s' "$N"
  if [ -e "$S/drain" ]; then printf ',"drain":true'; else printf ',"drain":false'; fi
  if [ -n "$RURL" ]; then
    set -- $(curl -gs -o /dev/null -o /dev/null -w '%{http_code} %{exitcode}\n' --max-time "$LT" --url "$URL" --url "$RURL" 2>/dev/null)
    num "$1"; lc=$N; num "$2"; lr=$N; num "$3"; rc=$N; num "$4"
    printf ',"live":{"rc":%s,"code":%s},"ready":{"rc":%s,"code":%s}' "$lr" "$lc" "$N" "$rc"
  else
    set -- $(curl -gs -o /dev/null -w '%{http_code} %{exitcode}' --max-time "$LT" --url "$URL" 2>/dev/null)
    num "$1"; lc=$N; num "$2"
    printf ',"live":{"rc":%s,"code":%s}' "$N" "$lc"
  fi
  if [ -z "$DFT" ] || [ "$nw" = null ] || [ $((nw - DFT)) -ge 60 ] || [ $((nw - DFT)) -lt 0 ]; then
    dflast -Pk; DFK=$F; dflast -Pi; DFI=$F
    if [ -n "$t" ] && [ "$nw" != null ]; then DFT=$nw; fi
  fi
  printf ',"dfk":[%s],"dfi":[%s]%s}\n' "$DFK" "$DFI" "$CLIJ"
}
SF=c; stat -c %Y / >/dev/null 2>&1 || SF=f
"#;

const TEMP_DIR: &str = r#"t=$(mktemp -d 2>/dev/null || mktemp -d -t meshroll) || { echo '{"v":1,"fatal":"mktemp failed"}'; exit 0; }
trap 'rm -rf "$t"' EXIT
"#;

// The channel's main loop is inside a function so the shell has read the whole script
// before it reads the first request from the same stdin; the client sends requests only
// after the hello line.
const LOOP: &str = r#"main() {
  t=$(mktemp -d 2>/dev/null || mktemp -d -t meshroll) || { echo '{"v":1,"fatal":"mktemp failed"}'; return; }
  trap 'rm -rf "$t"' EXIT
  trap 'exit 0' HUP TERM PIPE
  LASTK=; DFT=; LASTO=
  lpath
  cli_ident
  printf '%s\n' '{"v":1,"hello":1}'
  while IFS= read -r q; do
    set -- $q
    case "$1" in
      p) ID=$2 GW=$3 DOC=$4 T=$5 TD=$6 LT=$7
         num "$ID"; IDJ=",\"id\":$N"
         # Written whole, in one write: a line that another process on the node
         # prints on this channel (an rc file's late `You have new mail.`) lands
         # between answers, never inside one.
         poll_one >"$t/a" && cat "$t/a" ;;
      q) return ;;
      *) printf '{"v":1,"fatal":"unknown request"}\n' ;;
    esac
  done
}
main; exit 0
"#;

/// Test support: the poll channel run by a local shell as a node's would run it (its
/// script on stdin, requests after the hello line, one answer line each).
#[cfg(test)]
pub(crate) struct LocalChannel {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    out: std::io::BufReader<std::process::ChildStdout>,
}

#[cfg(test)]
impl LocalChannel {
    /// `shell` (its argv; `-s` is added) reading `script`, with `env` set; returns once
    /// the hello line came, which it checks.
    pub(crate) fn start(shell: &[&str], script: &str, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        use std::io::{BufRead, Write};
        use std::process::{Command, Stdio};
        let mut c = Command::new(shell[0]);
        c.args(&shell[1..])
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("shell");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        stdin.write_all(script.as_bytes()).expect("write");
        stdin.flush().expect("flush");
        let mut line = String::new();
        out.read_line(&mut line).expect("hello");
        assert_eq!(line.trim_end(), HELLO, "{shell:?}");
        LocalChannel {
            child,
            stdin: Some(stdin),
            out,
        }
    }

    /// Request `id` and its answer line.
    pub(crate) fn ask(&mut self, id: u64, req: &PollRequest) -> String {
        use std::io::{BufRead, Write};
        let stdin = self.stdin.as_mut().expect("open");
        stdin
            .write_all(poll_request_line(id, req).as_bytes())
            .expect("request");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.out.read_line(&mut line).expect("answer");
        line
    }

    /// Close its stdin (the loop ends) and wait for it.
    pub(crate) fn close(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().expect("wait")
    }
}

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
        assert!(s.contains("GW=1 DOC=0 T=7 TD=60 LT=3\npoll_one\n"));
        assert!(s.contains("RURL='http://127.0.0.1:18789/readyz'\n"));
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
        let layout = Layout::local(&skills, &state, &cli.display().to_string());
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

    /// A lock file that lists many files is one long line. The poll reads its claim from
    /// a bounded tail (or head), never the whole line: the shell's pattern removal is
    /// quadratic in the line's length, and a 21 KB lock (200 files) took seconds per
    /// poll on a loaded node, 10 s and more with 20 nodes rolling out at once. With a
    /// 4 MB lock (30,000 files; or a hostile node's) the old read never answered: this
    /// test gives the script a minute, a hang detector, not a speed bound.
    #[test]
    fn a_lock_file_of_many_files_is_read_in_bounded_time() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let skills = root.join("skills");
        let state = root.join("state");
        std::fs::create_dir_all(skills.join("big")).expect("mkdir");
        std::fs::create_dir_all(skills.join("first")).expect("mkdir");
        std::fs::create_dir_all(&state).expect("mkdir");
        let entry = r#"{"mode":"0640","path":"skill-00/lib/main.js","sha256":"c0a6dcf38e31d6671c5fa138b245e7183f24814deba480a6c0c26fc2e763ef5a","size":39960}"#;
        let files = vec![entry; 30_000].join(",");
        std::fs::write(
            skills.join("big/skills.lock.json"),
            format!("{{\"files\":[{files}],\"skills_sha\":\"big\",\"version\":1}}\n"),
        )
        .expect("lock");
        // Written skills_sha first (not meshroll's canonical order): found in the head.
        std::fs::write(
            skills.join("first/skills.lock.json"),
            format!("{{\"skills_sha\":\"first\",\"files\":[{files}],\"version\":1}}\n"),
        )
        .expect("lock");
        let req = PollRequest {
            gateway: false,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 1,
        };
        for sha in ["big", "first"] {
            let _ = std::fs::remove_file(skills.join("current"));
            std::os::unix::fs::symlink(sha, skills.join("current")).expect("symlink");
            let layout = Layout::local(&skills, &state, "/nonexistent/openclaw");
            let out_path = root.join("answer");
            let mut child = Command::new("sh")
                .arg("-s")
                .stdin(Stdio::piped())
                .stdout(std::fs::File::create(&out_path).expect("answer file"))
                .spawn()
                .expect("sh");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(poll_script(&layout, &req, None).as_bytes())
                .expect("write");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while child.try_wait().expect("try_wait").is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the poll did not answer within a minute with a 4 MB lock file");
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let out = std::fs::read(&out_path).expect("answer");
            let p = crate::signals::parse_poll(&out).expect("envelope parses");
            let lock = p.lock.expect("lock seen");
            assert_eq!(lock.claim, sha);
            assert_eq!(lock.sha256.len(), 64);
        }
    }

    /// The long-lived channel under the local `sh`: hello first, one JSON line per
    /// request with its id, the lock hash follows a switch of `current`, and readiness
    /// that nothing answers reads as curl's "connection refused" (exit 7).
    #[test]
    fn loop_script_answers_each_request_and_follows_current() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let skills = root.join("skills");
        let state = root.join("state");
        for (sha, lock) in [
            ("aaa", "{\"skills_sha\":\"aaa\"}"),
            ("bbb", "{\"skills_sha\":\"bbb\"}"),
        ] {
            std::fs::create_dir_all(skills.join(sha)).expect("mkdir");
            std::fs::write(skills.join(sha).join("skills.lock.json"), lock).expect("lock");
        }
        std::fs::create_dir_all(&state).expect("mkdir");
        std::os::unix::fs::symlink("aaa", skills.join("current")).expect("symlink");
        let layout = Layout {
            gateway_ready_url: "http://127.0.0.1:9/readyz".into(),
            ..Layout::local(&skills, &state, "/nonexistent/openclaw")
        };
        let req = PollRequest {
            gateway: false,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 1,
        };
        let mut ch = LocalChannel::start(
            &["sh"],
            &poll_loop_script(&layout, Some("tok"), 5, None),
            &[],
        );
        let mut ask = |id: u64| {
            let line = ch.ask(id, &req);
            assert!(
                line.starts_with(&format!("{{\"v\":1,\"id\":{id},")),
                "{line}"
            );
            crate::signals::parse_poll(line.as_bytes()).expect("envelope parses")
        };
        let a = ask(1);
        assert_eq!(a.current.as_deref(), Some("aaa"));
        assert_eq!(a.lock.as_ref().map(|l| l.claim.as_str()), Some("aaa"));
        let r = a.ready.expect("readiness checked");
        assert_eq!((r.rc, r.code), (Some(7), None));
        assert!(a.disk.is_ok());
        assert!(a.node_now > 1_600_000_000);
        // Unchanged: the same answer from what the loop kept.
        let b = ask(2);
        assert_eq!(b.lock, a.lock);
        // A switch of `current` (a new link renamed over the old one) is seen at once.
        std::os::unix::fs::symlink("bbb", skills.join("cur.tmp")).expect("symlink");
        std::fs::rename(skills.join("cur.tmp"), skills.join("current")).expect("rename");
        let c = ask(3);
        assert_eq!(c.current.as_deref(), Some("bbb"));
        assert_eq!(c.lock.as_ref().map(|l| l.claim.as_str()), Some("bbb"));
        assert_ne!(c.lock.map(|l| l.sha256), a.lock.map(|l| l.sha256));
        assert!(ch.close().success(), "the loop ends when stdin closes");
    }

    /// The node lock in the channel's answers: its owner line and the ages of its files,
    /// the owner line read again only when the lock or its owner file changed (same
    /// inode, size and mtime: the answer keeps what it read), gone once the lock is.
    #[test]
    fn loop_script_reports_the_node_lock_and_rereads_it_only_when_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let lock = state.join("meshroll.lock");
        std::fs::create_dir_all(&lock).expect("mkdir");
        std::fs::write(lock.join("owner"), "r-1 alice@ops1/pid42 1800000000\n").expect("owner");
        std::fs::write(lock.join("heartbeat"), "1800000000\n").expect("hb");
        let layout = Layout {
            gateway_ready_url: String::new(),
            ..Layout::local(&dir.path().join("skills"), &state, "/nonexistent/openclaw")
        };
        let req = PollRequest {
            gateway: false,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 1,
        };
        let mut ch = LocalChannel::start(&["sh"], &poll_loop_script(&layout, None, 5, None), &[]);
        let mut ask = |id: u64| {
            crate::signals::parse_poll(ch.ask(id, &req).as_bytes()).expect("envelope parses")
        };
        let owner = |p: &crate::signals::RawPoll| {
            p.node_lock
                .as_ref()
                .and_then(|l| l.owner.clone())
                .map(|o| String::from_utf8_lossy(&o).into_owned())
        };
        let a = ask(1);
        assert_eq!(
            owner(&a).as_deref(),
            Some("r-1 alice@ops1/pid42 1800000000\n")
        );
        let l = a.node_lock.as_ref().expect("lock");
        assert!((a.node_now - l.owner_mtime.unwrap_or(0)).abs() < 60);
        assert!(l.heartbeat_mtime.is_some());
        // The same bytes count, the same inode and mtime: not read again.
        let f = lock.join("owner");
        let mtime = std::fs::metadata(&f)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(&f, "r-9 mallory@x/pid777 1800000000\n").expect("rewrite");
        std::fs::File::options()
            .write(true)
            .open(&f)
            .and_then(|h| h.set_modified(mtime))
            .expect("set mtime");
        assert_eq!(
            owner(&ask(2)).as_deref(),
            Some("r-1 alice@ops1/pid42 1800000000\n")
        );
        // A new owner (another size): read again.
        std::fs::write(&f, "r-22 bob@ops2/pid7 1800000100\n").expect("owner");
        assert_eq!(
            owner(&ask(3)).as_deref(),
            Some("r-22 bob@ops2/pid7 1800000100\n")
        );
        // A lock whose owner was never written (taken, then the taker died): the lock
        // still shows, with no owner line.
        std::fs::remove_file(&f).expect("rm owner");
        let d = ask(4);
        assert_eq!(
            d.node_lock.as_ref().map(|l| l.owner.as_deref()),
            Some(Some(&b""[..]))
        );
        // Released: gone.
        std::fs::remove_dir_all(&lock).expect("release");
        assert_eq!(ask(5).node_lock, None);
        assert!(ch.close().success());
    }

    /// The node's own PATH comes first; the fallback folders after it.
    #[test]
    fn path_keeps_the_nodes_own_path_first() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{PATH_LINE}printf %s \"$PATH\""))
            .env("PATH", "/opt/node24/bin:/usr/bin:/bin")
            .output()
            .expect("sh");
        let path = String::from_utf8_lossy(&out.stdout);
        assert!(path.starts_with("/opt/node24/bin:/usr/bin:/bin:"), "{path}");
        assert!(path.ends_with("/opt/homebrew/bin:/usr/local/bin"), "{path}");
    }

    /// Open a poll channel with `shell` (`dash`, or `bash --posix` as macOS's `sh`) in
    /// the environment `env`, and return its first answer (after the hello) and how long
    /// the open took.
    fn first_answer(
        shell: &[&str],
        layout: &Layout,
        env: &[(&str, String)],
    ) -> (crate::signals::RawPoll, std::time::Duration) {
        let env: Vec<(&str, &std::ffi::OsStr)> =
            env.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        let started = std::time::Instant::now();
        let mut ch = LocalChannel::start(shell, &poll_loop_script(layout, None, 2, None), &env);
        let took = started.elapsed();
        let req = PollRequest {
            gateway: true,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 5,
            live_timeout_s: 1,
        };
        let line = ch.ask(1, &req);
        let _ = ch.close();
        let p = crate::signals::parse_poll(line.as_bytes())
            .unwrap_or_else(|e| panic!("{shell:?} {env:?}: {e}: {line:?}"));
        (p, took)
    }

    /// A CLI found only on a PATH that the zsh login shell's `~/.zprofile` sets (as nvm
    /// or Homebrew set it on a Mac) is found, whatever the rc files print around it; the
    /// answers say which one ran and its `--version`. A login shell that hangs costs at
    /// most its limit, and changes nothing.
    #[test]
    fn the_channel_reads_the_login_shells_path_once() {
        let d = tempfile::tempdir().expect("tmp");
        let home = d.path().join("home");
        let nvm = d.path().join("nvm bin");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::create_dir_all(&nvm).expect("mkdir");
        let cli = nvm.join("meshroll-test-oc");
        std::fs::write(
            &cli,
            "#!/bin/sh\ncase \"$1\" in --version) echo 'OpenClaw 2026.9.6 (eb377ac)' ;; *) echo '{\"state\":\"ready\"}' ;; esac\n",
        )
        .expect("cli");
        std::fs::set_permissions(&cli, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        std::fs::write(home.join(".zshenv"), "echo zshenv says hi\n").expect("zshenv");
        std::fs::write(
            home.join(".zprofile"),
            format!(
                "printf 'no newline at the end'\nexport PATH=\"{}:$PATH\"\necho 'Last login: today'\n",
                nvm.display()
            ),
        )
        .expect("zprofile");
        let layout = Layout {
            gateway_ready_url: String::new(),
            ..Layout::local(
                &d.path().join("skills"),
                &d.path().join("state"),
                "meshroll-test-oc",
            )
        };
        let zsh = ["/usr/bin/zsh", "/bin/zsh"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect("zsh is installed (scripts/test.sh installs it)");
        let base = [
            ("HOME", home.display().to_string()),
            ("PATH", "/usr/bin:/bin".to_string()),
        ];
        for sh in [&["dash"][..], &["bash", "--posix"][..]] {
            let mut env = base.to_vec();
            env.push(("SHELL", zsh.to_string()));
            let (p, _) = first_answer(sh, &layout, &env);
            let id = p.cli.expect("the channel says which CLI");
            assert_eq!(id.path, cli.display().to_string(), "{sh:?}");
            assert_eq!(id.version, "OpenClaw 2026.9.6 (eb377ac)", "{sh:?}");
            let gw = p.gateway.expect("gateway ran");
            assert_eq!(gw.stdout, b"{\"state\":\"ready\"}\n".to_vec(), "{sh:?}");
            // a login shell that hangs: the open waits at most its limit (2 s here)
            let hang = d.path().join("hang");
            std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").expect("hang");
            std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
            let mut env = base.to_vec();
            env.push(("SHELL", hang.display().to_string()));
            let (p, took) = first_answer(sh, &layout, &env);
            assert!(took < std::time::Duration::from_secs(6), "{sh:?}: {took:?}");
            let id = p.cli.expect("the channel says which CLI");
            assert_eq!((id.path.as_str(), id.version.as_str()), ("", ""), "{sh:?}");
        }
    }
}
