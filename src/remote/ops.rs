//! What a rollout asks of a node ([`NodeOp`]), and the `sh` script that does it on a real
//! node (sent on stdin, every value quoted). The simulated mesh does the same operations
//! to its state and prints what these scripts print; the rollout reads both answers with
//! the same code (`crate::rollout::node_ops`).

use crate::inventory::Layout;
use crate::manifest::LOCK_NAME;
use crate::remote::login_path::LoginPath;
use crate::remote::script::shell_quote as q;

/// One operation on a node, as the rollout asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOp {
    /// Take the node lock for `rollout_id` (or find it ours), then print the gateway
    /// status ([`baseline`]).
    Baseline {
        rollout_id: String,
        who: String,
        now_s: u64,
    },
    /// Which rsync the node has ([`rsync_probe`]; the baseline prints the same on stderr).
    RsyncProbe,
    /// Refresh the lock's heartbeat if `rollout_id` holds it ([`heartbeat`]).
    Heartbeat {
        rollout_id: String,
        now_s: u64,
    },
    /// Who holds the lock ([`read_lock`]).
    ReadLock,
    /// Remove the lock if its owner line is still this one ([`force_unlock`]).
    ForceUnlock {
        expected_owner: Option<String>,
    },
    /// Give the lock back if `rollout_id` holds it ([`release`]).
    Release {
        rollout_id: String,
    },
    Drain,
    /// Undrain, then release the lock if `rollout_id` holds it ([`undrain`]).
    Undrain {
        rollout_id: String,
    },
    /// Make the bundle directory for the copy ([`prepare_sync`]).
    PrepareSync {
        sha: String,
    },
    /// List every entry of the bundle with its sha256 and mode ([`verify`]).
    Verify {
        sha: String,
    },
    /// List again and flip `current` only if the listing's digest is `want` ([`switch`]).
    Switch {
        sha: String,
        want: String,
    },
    /// The target of `current` ([`read_current`]).
    ReadCurrent,
    /// Flip `current` back to `previous` under the lock ([`rollback`]).
    Rollback {
        rollout_id: String,
        who: String,
        now_s: u64,
    },
    /// `openclaw doctor --lint --json` ([`doctor`]).
    Doctor,
    /// The prewarm command under caps, its output streamed ([`prewarm`]).
    Prewarm {
        sha: String,
        mem_limit_kb: u64,
    },
    /// `first`, then, only if it exited 0, `then`, in one round trip: their outputs
    /// apart at a [`THEN_MARK`] line ([`then`]).
    Then {
        first: Box<NodeOp>,
        then: Box<NodeOp>,
    },
    /// `openclaw gateway restart` ([`gateway_restart`]).
    GatewayRestart,
    /// `openclaw logs --plain --limit N`, once or followed ([`logs`]).
    Logs {
        lines: u32,
        follow: bool,
    },
    /// An operator's own command, each word quoted ([`command`]).
    Command {
        argv: Vec<String>,
    },
    /// `op` inside a rollout run: with the node's login PATH learned earlier in the run
    /// (`known`: `LP='...'`, so `lpath` starts no login shell), or, unknown, asked to
    /// report the one it reads (`LPR=1`: a `MESHROLL-LOGIN-PATH=` line on stderr,
    /// [`crate::remote::login_path`]).
    LoginPath {
        known: Option<LoginPath>,
        op: Box<NodeOp>,
    },
}

impl NodeOp {
    /// The operation itself, without the [`NodeOp::LoginPath`] around it.
    pub fn inner(&self) -> &NodeOp {
        match self {
            NodeOp::LoginPath { op, .. } => op.inner(),
            op => op,
        }
    }
}

/// The line between the outputs of the two operations of a [`NodeOp::Then`].
pub const THEN_MARK: &str = "MESHROLL-THEN";

/// The script that does `op` on a node with this layout; `token` is exported inside it.
/// It starts with the login PATH it is given ([`NodeOp::LoginPath`]), or with none (`LP`
/// and `LPR` cleared, whatever the session's environment holds).
pub fn script(layout: &Layout, op: &NodeOp, token: Option<&str>) -> String {
    let given = match op {
        NodeOp::LoginPath {
            known: Some(lp), ..
        } => format!("{}LPR=\n", lp.assignment()),
        NodeOp::LoginPath { known: None, .. } => "LP=\nLPR=1\n".to_string(),
        _ => "LP=\nLPR=\n".to_string(),
    };
    format!("{given}{}", body(layout, op.inner(), token))
}

/// The script of `op` after its login-PATH line ([`script`]).
fn body(layout: &Layout, op: &NodeOp, token: Option<&str>) -> String {
    match op {
        NodeOp::Baseline {
            rollout_id,
            who,
            now_s,
        } => baseline(layout, rollout_id, who, *now_s, token),
        NodeOp::Heartbeat { rollout_id, now_s } => heartbeat(layout, rollout_id, *now_s),
        NodeOp::RsyncProbe => rsync_probe(layout),
        NodeOp::ReadLock => read_lock(layout),
        NodeOp::ForceUnlock { expected_owner } => force_unlock(layout, expected_owner.as_deref()),
        NodeOp::Release { rollout_id } => release(layout, rollout_id),
        NodeOp::Drain => drain(layout),
        NodeOp::Undrain { rollout_id } => undrain(layout, rollout_id),
        NodeOp::PrepareSync { sha } => prepare_sync(layout, sha),
        NodeOp::Verify { sha } => verify(layout, sha),
        NodeOp::Switch { sha, want } => switch(layout, sha, want),
        NodeOp::ReadCurrent => read_current(layout),
        NodeOp::Rollback {
            rollout_id,
            who,
            now_s,
        } => rollback(layout, rollout_id, who, *now_s),
        NodeOp::Doctor => doctor(layout, token),
        NodeOp::Prewarm { sha, mem_limit_kb } => prewarm(layout, sha, *mem_limit_kb, token),
        NodeOp::Then { first, then: next } => {
            let both = then(&body(layout, first, token), &body(layout, next, token));
            if runs_lpath(layout, first) && runs_lpath(layout, next) {
                // Read once, before the subshell: what it sets there would not reach
                // the second script, which would read the login shell again.
                format!(
                    "{PRELUDE}{}GM=\n{}login_path\n{both}",
                    super::login_path::LOGIN_PATH_FNS,
                    super::pgroup::GROUP_FNS
                )
            } else {
                both
            }
        }
        NodeOp::GatewayRestart => gateway_restart(layout, token),
        NodeOp::Logs { lines, follow } => logs(layout, *lines, *follow, token),
        NodeOp::Command { argv } => command(layout, argv, token),
        // given once, at the top ([`script`])
        NodeOp::LoginPath { op, .. } => body(layout, op, token),
    }
}

/// Whether the script of `op` puts the login shell's PATH first (`lpath`): those that
/// run the CLI or the operator's commands.
fn runs_lpath(layout: &Layout, op: &NodeOp) -> bool {
    match op {
        NodeOp::Baseline { .. }
        | NodeOp::Doctor
        | NodeOp::Prewarm { .. }
        | NodeOp::GatewayRestart
        | NodeOp::Logs { .. }
        | NodeOp::Command { .. } => true,
        NodeOp::Drain => layout.drain_cmd.is_some(),
        NodeOp::Undrain { .. } => layout.undrain_cmd.is_some(),
        NodeOp::Then { first, then } => runs_lpath(layout, first) || runs_lpath(layout, then),
        NodeOp::LoginPath { op, .. } => runs_lpath(layout, op),
        NodeOp::RsyncProbe
        | NodeOp::Heartbeat { .. }
        | NodeOp::ReadLock
        | NodeOp::ForceUnlock { .. }
        | NodeOp::Release { .. }
        | NodeOp::PrepareSync { .. }
        | NodeOp::Verify { .. }
        | NodeOp::Switch { .. }
        | NodeOp::ReadCurrent
        | NodeOp::Rollback { .. } => false,
    }
}

/// Two scripts in one: `first` in a subshell (its `exit` ends only it); if it exited 0,
/// the mark on a line of its own (after a newline, in case `first`'s output did not end
/// with one), then `next`, whose exit status is the script's.
pub fn then(first: &str, next: &str) -> String {
    format!(
        "(\n{first}\n)\nrc=$?\n[ \"$rc\" -eq 0 ] || exit \"$rc\"\nprintf '\\n%s\\n' {THEN_MARK}\n{next}"
    )
}

/// Portable atomic rename of a symlink over another: GNU `mv -T`, then BSD `mv -h`
/// (macOS: do not follow a target that is a symlink), then rename(2) through perl
/// (deprecated by Apple, the last resort). A plain `mv` would move into the directory
/// the target points at.
///
/// `lpath` puts the login shell's PATH first (`crate::remote::login_path`, the same
/// function as the poll channel's; at most 10 s): the scripts that run the CLI or the
/// operator's commands call it. Inside a rollout it starts no login shell once this
/// run has learned the node's login PATH ([`NodeOp::LoginPath`]).
const PRELUDE: &str = r#"set -u
PATH=${PATH:+$PATH:}/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin
mvT() { mv -T "$1" "$2" 2>/dev/null || mv -h "$1" "$2" 2>/dev/null || perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\n"' "$1" "$2"; }
"#;

/// The prelude and the layout. `umask 027`: files the scripts create (the archived
/// status, the lock) are not world-readable.
fn head(layout: &Layout) -> String {
    format!(
        "{PRELUDE}{}GM=\n{}umask 027\nR={}\nS={}\nOC={}\n",
        super::login_path::LOGIN_PATH_FNS,
        super::pgroup::GROUP_FNS,
        q(&layout.skills_root),
        q(&layout.state_dir),
        q(&layout.openclaw)
    )
}

/// The gateway token, exported inside the script (which travels on ssh's stdin, never on
/// a command line or in a local child's environment), as the poll script does.
fn token_line(token: Option<&str>) -> String {
    match token {
        Some(t) => format!(
            "OPENCLAW_GATEWAY_TOKEN={}\nexport OPENCLAW_GATEWAY_TOKEN\n",
            q(t)
        ),
        None => String::new(),
    }
}

/// The node lock: a directory (atomic `mkdir`) holding the owner line
/// `<rollout id> <who> <epoch seconds taken>` and a `heartbeat` file (epoch seconds,
/// refreshed by [`heartbeat`] while the rollout holds the lock). Taken at baseline,
/// released after undrain. Then the gateway status is archived to
/// `last-gateway-status.json` and printed. First, on stderr (stdout is the status), the
/// node's rsync as [`crate::remote::rsync::probe_script`] finds it, learned once per run;
/// and, when the run has not learned it yet ([`NodeOp::LoginPath`]), the login shell's
/// PATH that `lpath` read (`crate::remote::login_path::MARK`).
pub fn baseline(
    layout: &Layout,
    rollout_id: &str,
    who: &str,
    now_s: u64,
    token: Option<&str>,
) -> String {
    format!(
        r#"{head}{token}ID={id}
{{
{probe}}} >&2
mkdir -p "$S" || {{ echo "MESHROLL-ERR cannot create $S"; exit 3; }}
{take}lpath
"$OC" gateway status --json >"$S/last-gateway-status.json.tmp" 2>/dev/null </dev/null
mv -f "$S/last-gateway-status.json.tmp" "$S/last-gateway-status.json"
cat "$S/last-gateway-status.json"
"#,
        head = head(layout),
        token = token_line(token),
        id = q(rollout_id),
        take = take_lock(who, now_s),
        probe = crate::remote::rsync::probe_script(&crate::remote::rsync::candidates(
            &layout.rsync_path
        )),
    )
}

/// Which rsync the node has: the baseline's probe alone, on stdout (a resumed rollout
/// that did not run this node's baseline in this run).
pub fn rsync_probe(layout: &Layout) -> String {
    format!(
        "{}{}",
        head(layout),
        crate::remote::rsync::probe_script(&crate::remote::rsync::candidates(&layout.rsync_path))
    )
}

/// Take the node lock for `$ID` (or find it ours already), or print who holds it
/// (`MESHROLL-LOCKED <owner line>`, `MESHROLL-HEARTBEAT <epoch>`) and exit 4.
fn take_lock(who: &str, now_s: u64) -> String {
    format!(
        r#"L="$S/meshroll.lock"
if mkdir "$L" 2>/dev/null; then
  printf '%s %s %s\n' "$ID" {who} {now} >"$L/owner"
  printf '%s\n' {now} >"$L/heartbeat"
else
  o=$(head -c 300 "$L/owner" 2>/dev/null)
  case "$o" in
  "$ID "*) printf '%s\n' {now} >"$L/heartbeat" ;;
  *) echo "MESHROLL-LOCKED $o"; echo "MESHROLL-HEARTBEAT $(head -c 30 "$L/heartbeat" 2>/dev/null)"; exit 4 ;;
  esac
fi
"#,
        who = q(who),
        now = now_s,
    )
}

/// Refresh the heartbeat of the lock if `rollout_id` holds it.
pub fn heartbeat(layout: &Layout, rollout_id: &str, now_s: u64) -> String {
    format!(
        r#"{head}ID={id}
o=$(head -c 300 "$S/meshroll.lock/owner" 2>/dev/null)
case "$o" in "$ID "*) printf '%s\n' {now} >"$S/meshroll.lock/heartbeat" && echo ok ;; *) echo "MESHROLL-ERR not our lock" ;; esac
"#,
        head = head(layout),
        id = q(rollout_id),
        now = now_s,
    )
}

/// Who holds the node lock, read by `unlock` (nothing between the markers: no lock).
pub fn read_lock(layout: &Layout) -> String {
    format!(
        r#"{head}L="$S/meshroll.lock"
echo MESHROLL-LOCK
if [ -d "$L" ]; then echo "owner $(head -c 300 "$L/owner" 2>/dev/null)"; echo "heartbeat $(head -c 30 "$L/heartbeat" 2>/dev/null)"; fi
echo MESHROLL-END
"#,
        head = head(layout),
    )
}

/// Remove the node lock whoever holds it (`meshroll unlock`), if its owner line is
/// still `expected_owner` (what the operator was shown).
pub fn force_unlock(layout: &Layout, expected_owner: Option<&str>) -> String {
    let check = match expected_owner {
        Some(o) => format!(
            "o=$(head -c 300 \"$L/owner\" 2>/dev/null)\n[ \"$o\" = {} ] || {{ echo \"MESHROLL-ERR the lock changed hands meanwhile: $o\"; exit 3; }}\n",
            q(o)
        ),
        None => String::new(),
    };
    format!(
        "{head}L=\"$S/meshroll.lock\"\n[ -d \"$L\" ] || {{ echo 'no lock'; exit 0; }}\n{check}rm -rf \"$L\" && echo 'lock removed'\n",
        head = head(layout),
    )
}

/// Drain: the configured command, or create `<state>/drain`.
pub fn drain(layout: &Layout) -> String {
    match &layout.drain_cmd {
        Some(c) => format!("{}lpath\n{c}\n", head(layout)),
        None => format!("{}mkdir -p \"$S\" && : >\"$S/drain\"\n", head(layout)),
    }
}

/// Undrain (the configured command, or remove `<state>/drain`), then release the lock
/// if it is ours.
pub fn undrain(layout: &Layout, rollout_id: &str) -> String {
    let body = match &layout.undrain_cmd {
        Some(c) => format!("lpath\n{c}\n"),
        None => "rm -f \"$S/drain\"\n".to_string(),
    };
    format!(
        "{}ID={}\n{body}rc=$?\n{}exit $rc\n",
        head(layout),
        q(rollout_id),
        RELEASE
    )
}

const RELEASE: &str = r#"o=$(head -c 300 "$S/meshroll.lock/owner" 2>/dev/null)
case "$o" in "$ID "*) rm -rf "$S/meshroll.lock" ;; esac
"#;

/// Release the node lock if `rollout_id` holds it (and nothing else).
pub fn release(layout: &Layout, rollout_id: &str) -> String {
    format!("{}ID={}\n{RELEASE}", head(layout), q(rollout_id))
}

/// Make sure the bundle directory exists before rsync writes into it.
pub fn prepare_sync(layout: &Layout, sha: &str) -> String {
    format!(
        "{}mkdir -p \"$R\"/{} && chmod 0750 \"$R\"/{}\n",
        head(layout),
        q(sha),
        q(sha)
    )
}

/// The node-side listing of bundle `$T` under `$R`, in a constant number of processes
/// whatever the number of files: one `find` for entries that are neither regular files
/// nor directories (symlinks, fifos, sockets, devices: each one a mismatch), one
/// `find -exec <sha256> {} +` pass for the hashes and one `find -exec stat {} +` pass
/// for the modes, each sorted bytewise (`LC_ALL=C`). The three lists go to
/// `$V.o`, `$V.h` and `$V.m`; `$D` is the sha256 of their concatenation, which
/// `node_ops::expected_digest` computes from the lock on the operator's side.
const LISTING: &str = r#"V="$R/.meshroll-verify.$$"
trap 'rm -f "$V.o" "$V.h" "$V.m"' EXIT
if command -v sha256sum >/dev/null 2>&1; then H=sha256sum; else H='shasum -a 256'; fi
if stat -c %a "$R" >/dev/null 2>&1; then SF=-c; F='%a %n'; else SF=-f; F='%Lp %N'; fi
(
  cd "$R/$T" || exit 1
  find . ! -type f ! -type d -print >"$V.o"
  find . -type f -exec $H {} + | LC_ALL=C sort >"$V.h"
  find . -type f -exec stat $SF "$F" {} + | LC_ALL=C sort >"$V.m"
) || { echo "MESHROLL-ERR cannot list $R/$T"; exit 3; }
D=$(cat "$V.o" "$V.h" "$V.m" | $H)
D=${D%% *}
"#;

/// At most this much output of one phase is read; past it the phase fails with
/// "output over 4 MiB". Scripts that may print a lot cut their output on the node too.
pub const OUTPUT_CAP: usize = 4 * 1024 * 1024;

/// Print the listing between markers, for `node_ops::verify_result`, cut after
/// [`OUTPUT_CAP`] bytes (a huge tree planted on the node).
pub(crate) const PRINT_LISTING: &str = r#"{ echo MESHROLL-ODD; cat "$V.o"
echo MESHROLL-HASHES; cat "$V.h"
echo MESHROLL-MODES; cat "$V.m"
echo MESHROLL-END; } | head -c 4194305
"#;

/// List every entry of the bundle for `node_ops::verify_result` (see [`LISTING`]).
pub fn verify(layout: &Layout, sha: &str) -> String {
    format!(
        r#"{head}T={sha}
[ -d "$R/$T" ] || {{ echo "MESHROLL-MISSING"; exit 0; }}
{LISTING}{PRINT_LISTING}"#,
        head = head(layout),
        sha = q(sha),
    )
}

/// Verify the bundle again, then flip `current` to it atomically, keeping the old
/// target as `previous`, in one script: the rename happens only if the node's listing
/// (right before it) has the digest `want` of an exact copy
/// (`node_ops::expected_digest`); if not, the listing is printed after
/// `MESHROLL-MISMATCH` and nothing changes. A tree changed after the verify phase (or
/// before a resumed run's switch) never lands.
pub fn switch(layout: &Layout, sha: &str, want: &str) -> String {
    format!(
        r#"{head}T={sha}
W={want}
cd "$R" || exit 3
[ -d "$T" ] || {{ echo "MESHROLL-ERR no bundle $T"; exit 3; }}
{LISTING}if [ "$D" != "$W" ]; then
echo MESHROLL-MISMATCH
{PRINT_LISTING}exit 6
fi
old=$(readlink current 2>/dev/null || true)
if [ "$old" = "$T" ]; then echo "verified; already current"; exit 0; fi
if [ -n "$old" ]; then ln -s "$old" .previous.$$ && mvT .previous.$$ previous || exit 5; fi
ln -s "$T" .current.$$ && mvT .current.$$ current || exit 5
echo "verified; current -> $T (previous ${{old:-none}})"
"#,
        head = head(layout),
        sha = q(sha),
        want = q(want),
    )
}

/// Print the target of `current` between markers (nothing between them when there is
/// no `current`), so a resumed rollout can check what the journal says against the node.
pub fn read_current(layout: &Layout) -> String {
    format!(
        "{}echo MESHROLL-CURRENT; readlink \"$R/current\" 2>/dev/null; echo MESHROLL-END\n",
        head(layout)
    )
}

/// Flip `current` back to `previous` (and `previous` to what was current) under the
/// node lock: taken for `rollout_id` (or found ours already, inside a rollout), then
/// released. A lock held by someone else refuses the rollback (`MESHROLL-LOCKED`).
pub fn rollback(layout: &Layout, rollout_id: &str, who: &str, now_s: u64) -> String {
    format!(
        r#"{head}ID={id}
mkdir -p "$S" || {{ echo "MESHROLL-ERR cannot create $S"; exit 3; }}
{take}trap '{release}' EXIT
cd "$R" || exit 3
prev=$(readlink previous 2>/dev/null) || {{ echo "MESHROLL-ERR no previous target"; exit 3; }}
[ -d "$prev" ] || {{ echo "MESHROLL-ERR previous target $prev is gone"; exit 3; }}
cur=$(readlink current 2>/dev/null || true)
ln -s "$prev" .current.$$ && mvT .current.$$ current || exit 5
if [ -n "$cur" ]; then ln -s "$cur" .previous.$$ && mvT .previous.$$ previous; fi
echo "current -> $prev (was ${{cur:-none}})"
"#,
        head = head(layout),
        id = q(rollout_id),
        take = take_lock(who, now_s),
        release = RELEASE.trim().replace('\n', "; "),
    )
}

/// Doctor on the node.
pub fn doctor(layout: &Layout, token: Option<&str>) -> String {
    format!(
        "{}{}lpath\n\"$OC\" doctor --lint --json </dev/null 2>/dev/null\n",
        head(layout),
        token_line(token)
    )
}

/// The default prewarm command (SPEC section 4).
pub fn default_prewarm(layout: &Layout) -> String {
    format!(
        "{} skills prewarm --manifest {}/current/{LOCK_NAME} --concurrency 2 --timeout 15m",
        q(&layout.openclaw),
        q(&layout.skills_root)
    )
}

/// Prewarm under caps (nice 10, and the memory cap of [`PREWARM_CAP`]), output
/// interleaved on stdout and cut on the node after [`OUTPUT_CAP`] bytes (the command
/// then dies of SIGPIPE rather than flood the channel for its whole time limit);
/// success touches `skill-cache-ready`. The exit code is on the last line
/// (`MESHROLL-EXIT <rc>`), a kill past the memory cap on a `MESHROLL-MEMCAP` line
/// before it, a cap that could not be applied on a `MESHROLL-NOCAP <why>` line. The
/// command sees `MESHROLL_MANIFEST`, `SKILLS_SHA` and the gateway token.
/// `mem_limit_kb` 0 means no cap.
pub fn prewarm(layout: &Layout, sha: &str, mem_limit_kb: u64, token: Option<&str>) -> String {
    let cmd = layout
        .prewarm_cmd
        .clone()
        .unwrap_or_else(|| default_prewarm(layout));
    format!(
        r#"{head}{token}MESHROLL_MANIFEST="$R/current/{LOCK_NAME}"; SKILLS_SHA={sha}
export MESHROLL_MANIFEST SKILLS_SHA
lpath
CAPK={mem}
CMD={cmd}
(
{PREWARM_CAP}if [ $rc -eq 0 ]; then mkdir -p "$S" && touch "$S/skill-cache-ready"; fi
echo "MESHROLL-EXIT $rc"
) | head -c {cap}
"#,
        head = head(layout),
        token = token_line(token),
        sha = q(sha),
        mem = mem_limit_kb,
        cmd = q(&cmd),
        cap = OUTPUT_CAP + 1,
    )
}

/// Run `$CMD` niced under a memory cap of `$CAPK` KiB and leave its exit code in `$rc`,
/// on macOS and Linux alike. In order of preference:
/// - a watchdog: the command runs in a process group of its own (`bg_grp`,
///   `pgroup.rs`: `set -m` job control, which macOS's bash-as-`sh` grants without a
///   terminal, else `setsid`, which Linux has and dash needs, else perl's `setpgrp`),
///   and the resident memory of that group (`ps -A -o pgid= -o
///   rss=`, the same on BSD and procps) is summed every second; past the cap the whole
///   group is killed and a `MESHROLL-MEMCAP` line says so;
/// - `ulimit -v` (address space), where the kernel takes it: Darwin refuses it for a
///   process already above the limit, which every macOS process is;
/// - neither: the command runs uncapped, and `MESHROLL-NOCAP <why>` says why (never
///   silently).
pub(crate) const PREWARM_CAP: &str = r#"why=; mode=
one() { set -- $1; o=${1:-}; }
if [ "$CAPK" -eq 0 ]; then why="no memory cap is configured (prewarm_mem_mb = 0)"; fi
if [ -z "$why" ]; then
  e=$(ps -o rss= -p $$ 2>&1); one "$e"
  case "$o" in ''|*[!0-9]*) why="ps cannot read memory use ($(printf %s "$e" | head -n 1))" ;; esac
fi
if [ -z "$why" ]; then
  [ -n "${GM:-}" ] || grp_mode
  case $GM in
  none) why="no process group: sh has no job control here and there is neither setsid nor perl" ;;
  *) mode=$GM ;;
  esac
fi
if [ -z "$mode" ] && [ "$CAPK" -gt 0 ]; then
  e=$( (ulimit -v "$CAPK") 2>&1 ) && mode=ulimit || why="$why; ulimit -v $CAPK refused ($(printf %s "$e" | head -n 1))"
fi
if [ -n "$mode" ]; then echo "MESHROLL-CAPBY $mode $CAPK"; else echo "MESHROLL-NOCAP $why"; fi
case "$mode" in
jobs|setsid|perl)
  bg_grp nice -n 10 sh -c "$CMD" 2>&1 </dev/null; p=$!
  (
    while kill -0 $p 2>/dev/null; do
      r=$(ps -A -o pgid= -o rss= 2>/dev/null | awk -v g=$p '$1 == g { s += $2 } END { print s + 0 }')
      if [ "${r:-0}" -gt "$CAPK" ]; then
        echo "MESHROLL-MEMCAP $CAPK $r"
        kill -9 -$p 2>/dev/null
        exit 0
      fi
      sleep 1 >/dev/null 2>&1
    done
  ) </dev/null &
  w=$!
  wait $p; rc=$?
  kill $w 2>/dev/null; wait $w 2>/dev/null ;;
ulimit) ( ulimit -v "$CAPK" || exit 126; exec nice -n 10 sh -c "$CMD" ) 2>&1 </dev/null; rc=$? ;;
*) ( exec nice -n 10 sh -c "$CMD" ) 2>&1 </dev/null; rc=$? ;;
esac
"#;

/// `openclaw gateway restart` (the real CLI drives launchd on a Mac), its output and
/// exit code as the CLI gives them.
pub fn gateway_restart(layout: &Layout, token: Option<&str>) -> String {
    format!(
        "{}{}lpath\n\"$OC\" gateway restart </dev/null 2>&1\n",
        head(layout),
        token_line(token)
    )
}

/// The line a followed log prints every [`ALIVE_EVERY_S`] seconds: when it can no longer
/// be written (meshroll closed the channel), the script stops the CLI.
pub const ALIVE: &str = "MESHROLL-ALIVE";
/// Seconds between [`ALIVE`] lines.
pub const ALIVE_EVERY_S: u32 = 2;

/// The gateway's log: `openclaw logs --plain --limit N` once, or with `--follow` in the
/// background of a loop that prints [`ALIVE`] every [`ALIVE_EVERY_S`] seconds and stops
/// the CLI (and its children) as soon as that line cannot be written: a closed pane
/// leaves nothing running on the node. The token is exported inside the script.
pub fn logs(layout: &Layout, lines: u32, follow: bool, token: Option<&str>) -> String {
    if !follow {
        return format!(
            "{}{}lpath\n\"$OC\" logs --plain --limit {lines} </dev/null 2>&1\n",
            head(layout),
            token_line(token)
        );
    }
    format!(
        r#"{head}{token}lpath
bg_grp "$OC" logs --plain --limit {lines} --follow </dev/null 2>&1
p=$!
trap '' PIPE
stop() {{ kill -TERM -"$p" 2>/dev/null || {{ pkill -TERM -P "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; }}; }}
while kill -0 "$p" 2>/dev/null; do
  sleep {every}
  echo {ALIVE} 2>/dev/null || {{ stop; exit 0; }}
done
wait "$p"
"#,
        head = head(layout),
        token = token_line(token),
        every = ALIVE_EVERY_S,
    )
}

/// An operator's own command (a user action): every word quoted for the node's shell,
/// never spliced; stderr merged into stdout, the exit code the command's.
pub fn command(layout: &Layout, argv: &[String], token: Option<&str>) -> String {
    let words: Vec<String> = argv.iter().map(|w| q(w)).collect();
    format!(
        "{}{}lpath\n{} </dev/null 2>&1\n",
        head(layout),
        token_line(token),
        words.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each operation is sent as its own script (the lab tests run them on real nodes).
    #[test]
    fn each_operation_is_its_script() {
        let l = Layout::default();
        let (id, who) = ("r-1".to_string(), "ops@h/pid1".to_string());
        let t = Some("tok");
        let cases: Vec<(NodeOp, String)> = vec![
            (
                NodeOp::Baseline {
                    rollout_id: id.clone(),
                    who: who.clone(),
                    now_s: 5,
                },
                baseline(&l, &id, &who, 5, t),
            ),
            (
                NodeOp::Heartbeat {
                    rollout_id: id.clone(),
                    now_s: 6,
                },
                heartbeat(&l, &id, 6),
            ),
            (NodeOp::ReadLock, read_lock(&l)),
            (NodeOp::RsyncProbe, rsync_probe(&l)),
            (
                NodeOp::ForceUnlock {
                    expected_owner: Some("o".into()),
                },
                force_unlock(&l, Some("o")),
            ),
            (
                NodeOp::Release {
                    rollout_id: id.clone(),
                },
                release(&l, &id),
            ),
            (NodeOp::Drain, drain(&l)),
            (
                NodeOp::Undrain {
                    rollout_id: id.clone(),
                },
                undrain(&l, &id),
            ),
            (
                NodeOp::PrepareSync { sha: "s".into() },
                prepare_sync(&l, "s"),
            ),
            (NodeOp::Verify { sha: "s".into() }, verify(&l, "s")),
            (
                NodeOp::Switch {
                    sha: "s".into(),
                    want: "w".into(),
                },
                switch(&l, "s", "w"),
            ),
            (NodeOp::ReadCurrent, read_current(&l)),
            (
                NodeOp::Rollback {
                    rollout_id: id.clone(),
                    who: who.clone(),
                    now_s: 7,
                },
                rollback(&l, &id, &who, 7),
            ),
            (NodeOp::Doctor, doctor(&l, t)),
            (
                NodeOp::Prewarm {
                    sha: "s".into(),
                    mem_limit_kb: 9,
                },
                prewarm(&l, "s", 9, t),
            ),
            (NodeOp::GatewayRestart, gateway_restart(&l, t)),
            (
                NodeOp::Logs {
                    lines: 5,
                    follow: false,
                },
                logs(&l, 5, false, t),
            ),
            (
                NodeOp::Logs {
                    lines: 5,
                    follow: true,
                },
                logs(&l, 5, true, t),
            ),
            (
                NodeOp::Command {
                    argv: vec!["echo".into(), "a b".into()],
                },
                command(&l, &["echo".into(), "a b".into()], t),
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (op, want) in &cases {
            assert_eq!(script(&l, op, t), format!("LP=\nLPR=\n{want}"), "{op:?}");
            assert_eq!(
                runs_lpath(&l, op),
                want.lines().any(|x| x.trim() == "lpath"),
                "{op:?}"
            );
            assert!(
                seen.insert(want.clone()),
                "two operations, one script: {op:?}"
            );
        }
        // Inside a rollout: the login PATH learned in this run, quoted, or a request to
        // report the one the script reads.
        let lp = LoginPath::parse("/a b/bin:/usr/bin").expect("absolute");
        let op = |known| NodeOp::LoginPath {
            known,
            op: Box::new(NodeOp::Doctor),
        };
        assert_eq!(
            script(&l, &op(Some(lp)), t),
            format!("LP='/a b/bin:/usr/bin'\nLPR=\n{}", doctor(&l, t))
        );
        assert_eq!(
            script(&l, &op(None), t),
            format!("LP=\nLPR=1\n{}", doctor(&l, t))
        );
    }

    /// A user's words reach the node's shell quoted, never spliced.
    #[test]
    fn command_words_are_quoted() {
        let l = Layout::default();
        let s = command(&l, &["echo".into(), "$(touch /tmp/x); 'q'".into()], None);
        assert!(
            s.contains(r#"'echo' '$(touch /tmp/x); '\''q'\''' </dev/null 2>&1"#),
            "{s}"
        );
        assert!(!s.contains("OPENCLAW_GATEWAY_TOKEN"));
        let s = logs(&l, 7, true, Some("tok"));
        assert!(s.contains("--limit 7 --follow") && s.contains("OPENCLAW_GATEWAY_TOKEN='tok'"));
    }
}
