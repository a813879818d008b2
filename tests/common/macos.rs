//! A macOS-shaped lab node: the node's sshd runs in its own mount namespace
//! (`unshare -m --propagation private`, so the suite must run as root), where `/usr/bin`
//! (and `/bin`, a symlink to it) is replaced by a folder of the real tools plus
//! **simulators of Apple's tools** (shell scripts written here, not Apple's code):
//!
//! | tool | on the macOS-shaped node |
//! |---|---|
//! | `stat` | BSD syntax only: `-f FORMAT` (`%m %i %z %N %Lp %a %c %u %g %d %l %Su %Sg %Sp`), `-L`, `-n`; `stat -c` prints `stat: illegal option -- c` and exits 1 |
//! | `mv` | BSD flags `-f -i -n -v -h`; `-T` prints `mv: illegal option -- T` and exits 64; `-h` renames over a symlink without following it |
//! | `df` | macOS columns: 512-byte blocks unless `-k`, inode columns (`iused ifree %iused`) unless `-P` (or with `-i`) |
//! | `wc` | counts padded with spaces (`wc -c <f` prints `       5`) |
//! | `rsync` | stock macOS rsync: [`RsyncFlavor::Apple269`] (rsync 2.6.9, protocol 29) or [`RsyncFlavor::Openrsync`] (macOS 15.4+); `--version` as they print it; refuses `-s`/`--secluded-args` and the other options that version lacks with its own message, else runs the real rsync as server, held to protocol 29 |
//! | `sha256sum`, `timeout`, `setsid` | absent |
//! | `sh` | `dash`, a strict POSIX shell (no `[[`, no arrays) |
//! | login shell | `zsh` (root's entry in a copy of `/etc/passwd` bound over it), `$HOME` = `<root>/login-home`, `openclaw` on a PATH set only in `~/.zprofile` |
//! | `/usr/local/bin`, `/opt/homebrew/bin` | empty (or a real rsync 3 in `/opt/homebrew/bin`, [`MacSpec::brew_rsync`]) |
//!
//! Everything else (`perl`, `shasum`, `curl`, `find`, `readlink`...) is the real tool.
//! The namespace, its mounts and the shims exist only for that sshd and its sessions.
//! When the namespace cannot be made (not root, no `unshare`, mount refused) the node's
//! sshd does not start and [`super::Lab::start`] panics with the reason from its log: a
//! test on a macOS-shaped node never passes without one.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{LabNode, NodeSpec, mkdirs};

/// Which stock macOS rsync the node has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsyncFlavor {
    /// rsync 2.6.9 (protocol 29): macOS 14 and 15.0-15.3.
    Apple269,
    /// openrsync (protocol 29, "rsync version 2.6.9 compatible"): macOS 15.4 and later.
    Openrsync,
}

/// What a macOS-shaped node looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacSpec {
    pub rsync: RsyncFlavor,
    /// A real rsync 3 at `/opt/homebrew/bin/rsync` (as after `brew install rsync`).
    pub brew_rsync: bool,
}

impl NodeSpec {
    /// A macOS-shaped node (see the module docs) with stock `rsync` of `flavor`.
    pub fn macos(name: &str, class: &str, flavor: RsyncFlavor) -> NodeSpec {
        NodeSpec {
            macos: Some(MacSpec {
                rsync: flavor,
                brew_rsync: false,
            }),
            ..NodeSpec::new(name, class)
        }
    }

    /// A macOS-shaped node that also has Homebrew's rsync 3 in `/opt/homebrew/bin`.
    pub fn macos_with_brew_rsync(name: &str, class: &str, flavor: RsyncFlavor) -> NodeSpec {
        NodeSpec {
            macos: Some(MacSpec {
                rsync: flavor,
                brew_rsync: true,
            }),
            ..NodeSpec::new(name, class)
        }
    }
}

/// Tools left out of the node's `/usr/bin` (a Mac has none of them).
const ABSENT: &[&str] = &["sha256sum", "timeout", "setsid"];

/// `<root>/macos`: the shims, the real `/usr/bin` mount point, passwd.
fn mac_dir(root: &Path) -> PathBuf {
    root.join("macos")
}

/// Build the node's macOS `/usr/bin` and files under `<root>/macos`, its `~/.zprofile`
/// and the `openclaw` it puts on the PATH. Called by `Lab::start` before sshd starts.
pub(super) fn prepare(root: &Path, spec: MacSpec) {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        is_root,
        "lab: a macOS-shaped node needs root: its sshd runs in a mount namespace of its own \
         (unshare -m) with Apple-like tools mounted over /usr/bin"
    );
    let unshare_ok = Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        unshare_ok,
        "lab: a macOS-shaped node needs `unshare` (apt-get install util-linux)"
    );
    for tool in ["zsh", "dash"] {
        assert!(
            Path::new("/usr/bin").join(tool).exists(),
            "lab: a macOS-shaped node needs /usr/bin/{tool} (apt-get install {tool}; scripts/test.sh installs it)"
        );
    }
    let m = mac_dir(root);
    let real = m.join("real");
    let bin = m.join("bin");
    for d in [&real, &bin, &m.join("empty")] {
        mkdirs(d);
    }
    let real_s = real.display().to_string();
    // every real tool, by a symlink into the real /usr/bin (bound at `real/` inside the
    // namespace), except the ones a Mac lacks and the ones simulated below
    let shims: [(&str, String); 6] = [
        ("stat", STAT.to_string()),
        ("mv", MV.to_string()),
        ("df", DF.to_string()),
        ("wc", WC.to_string()),
        ("rsync", rsync_shim(spec.rsync)),
        ("sh", String::new()),
    ];
    for e in fs::read_dir("/usr/bin")
        .expect("lab: read /usr/bin")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if ABSENT.contains(&name.as_str()) || shims.iter().any(|(s, _)| *s == name) {
            continue;
        }
        symlink(real.join(&name), bin.join(&name)).expect("lab: symlink a real tool");
    }
    for (name, text) in &shims {
        if *name == "sh" {
            // a strict POSIX shell, as Apple's bash 3.2 in sh mode is close to
            symlink(real.join("dash"), bin.join("sh")).expect("lab: symlink sh");
            continue;
        }
        let p = bin.join(name);
        fs::write(&p, text.replace("@REAL@", &real_s)).expect("lab: write a shim");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("lab: chmod shim");
    }
    if spec.brew_rsync {
        fs::write(m.join("brew-rsync"), b"").expect("lab: brew-rsync marker");
    }

    // root's login shell is zsh, its home the node's login-home
    let home = root.join("login-home");
    mkdirs(&home);
    let passwd = fs::read_to_string("/etc/passwd").expect("lab: read /etc/passwd");
    let mut out = String::new();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() == 7 && f[2] == "0" {
            out.push_str(&format!(
                "{}:{}:{}:{}:{}:{}:/bin/zsh\n",
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                home.display()
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    fs::write(m.join("passwd"), out).expect("lab: write passwd copy");
    // `openclaw` only on the PATH a login shell builds (as nvm/Homebrew installs are)
    let oc_dir = home.join(".openclaw-bin");
    mkdirs(&oc_dir);
    let oc = oc_dir.join("openclaw");
    fs::write(
        &oc,
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            root.join("bin/openclaw").display()
        ),
    )
    .expect("lab: write openclaw wrapper");
    fs::set_permissions(&oc, fs::Permissions::from_mode(0o755)).expect("lab: chmod openclaw");
    fs::write(
        home.join(".zprofile"),
        "# read by login shells only (zsh -l), like the PATH lines Homebrew and nvm add\n\
         export PATH=\"$HOME/.openclaw-bin:$PATH\"\n",
    )
    .expect("lab: write .zprofile");
}

/// The command that starts a macOS-shaped node's sshd: `unshare -m` into a private mount
/// namespace, the mounts, then `exec sshd` (same pid throughout, so stopping it stops
/// the namespace). A failing step ends it with the reason on stderr (sshd.log).
pub(super) fn sshd_command(root: &Path, sshd: &str, config: &Path) -> Command {
    let m = mac_dir(root);
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let script = format!(
        "set -e\n\
         M={m}\n\
         mount --bind /usr/bin \"$M/real\" || {{ echo 'lab: macOS node: cannot bind /usr/bin' >&2; exit 1; }}\n\
         mount --bind \"$M/bin\" /usr/bin\n\
         mount --bind \"$M/empty\" /usr/local/bin\n\
         mount -t tmpfs -o mode=0755 meshroll-lab-opt /opt\n\
         mkdir -p /opt/homebrew/bin\n\
         if [ -e \"$M/brew-rsync\" ]; then ln -s \"$M/real/rsync\" /opt/homebrew/bin/rsync; fi\n\
         mount --bind \"$M/passwd\" /etc/passwd\n\
         exec {sshd} -D -e -f {cfg}\n",
        m = q(&m),
        cfg = q(config),
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "/bin/sh", "-c", &script]);
    c
}

impl LabNode {
    /// Whether this node is macOS-shaped ([`NodeSpec::macos`]).
    pub fn is_macos(&self) -> bool {
        self.macos.is_some()
    }

    /// Every call of a macOS-shaped node's stock rsync (its arguments), in order.
    pub fn stock_rsync_calls(&self) -> Vec<String> {
        fs::read_to_string(mac_dir(&self.root).join("stock-rsync-calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The folder `~/.zprofile` puts on the PATH of a macOS-shaped node's login shell,
    /// holding an `openclaw` that runs this node's stand-in.
    pub fn zprofile_openclaw_dir(&self) -> PathBuf {
        self.login_home().join(".openclaw-bin")
    }
}

// ---------------------------------------------------------------------------------------
// the shims: simulators of Apple's tools (not Apple's code), POSIX sh run by dash

const STAT: &str = r#"#!/bin/sh
# Simulator of macOS's BSD stat(1) for the meshroll lab's macOS-shaped node (not Apple's
# code): BSD options only; -f FORMAT is translated for the real GNU stat.
REAL=@REAL@
usage() { echo 'usage: stat [-FLnq] [-f format | -l | -r | -s | -x] [-t timefmt] [file ...]' >&2; exit 1; }
fmt='%d %i %Sp %l %Su %Sg %z %a %m %c %N'; L=; n=
while getopts ':FLnqf:lrsxt:' o; do
  case $o in
    f) fmt=$OPTARG ;;
    L) L=-L ;;
    n) n=1 ;;
    q) ;;
    :) echo "stat: option requires an argument -- $OPTARG" >&2; usage ;;
    \?) echo "stat: illegal option -- $OPTARG" >&2; usage ;;
    *) echo "stat (lab simulator): -$o is not simulated" >&2; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
g=$(printf '%s' "$fmt" | "$REAL/awk" '
{ s = s (NR > 1 ? "\n" : "") $0 }
END {
  out = ""; i = 1; n = length(s)
  while (i <= n) {
    c = substr(s, i, 1)
    if (c != "%") { out = out c; i++; continue }
    i++; m = ""
    if (substr(s, i, 1) ~ /[LHMS]/) { m = substr(s, i, 1); i++ }
    k = m substr(s, i, 1); i++
    if (k == "%") r = "%%"
    else if (k == "m") r = "%Y"; else if (k == "a") r = "%X"; else if (k == "c") r = "%Z"
    else if (k == "i") r = "%i"; else if (k == "z") r = "%s"; else if (k == "N") r = "%n"
    else if (k == "Lp") r = "%a"; else if (k == "u") r = "%u"; else if (k == "g") r = "%g"
    else if (k == "d") r = "%d"; else if (k == "l") r = "%h"; else if (k == "Su") r = "%U"
    else if (k == "Sg") r = "%G"; else if (k == "Sp") r = "%A"
    else { print "stat (lab simulator): %" k " is not simulated" > "/dev/stderr"; exit 1 }
    out = out r
  }
  printf "%s", out
}') || exit 1
[ $# -gt 0 ] || usage
rc=0
for f in "$@"; do
  if [ -n "$n" ]; then "$REAL/stat" $L --printf="$g" -- "$f" 2>/dev/null
  else "$REAL/stat" $L -c "$g" -- "$f" 2>/dev/null; fi || {
    echo "stat: $f: stat: No such file or directory" >&2; rc=1; }
done
exit $rc
"#;

const MV: &str = r#"#!/bin/sh
# Simulator of macOS's BSD mv(1) for the meshroll lab's macOS-shaped node (not Apple's
# code): -f -i -n -v -h; no GNU -T.
REAL=@REAL@
usage() {
  printf 'usage: mv [-f | -i | -n] [-hv] source target\n       mv [-f | -i | -n] [-v] source ... directory\n' >&2
  exit 64
}
h=; fl=
while getopts ':fhinv' o; do
  case $o in
    f|i|n|v) fl="$fl -$o" ;;
    h) h=1 ;;
    *) echo "mv: illegal option -- $OPTARG" >&2; usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
# -h: a target that is a symlink (to a directory) is replaced, not followed
if [ -n "$h" ] && [ $# -eq 2 ] && [ -L "$2" ]; then exec "$REAL/mv" $fl -T -- "$1" "$2"; fi
exec "$REAL/mv" $fl -- "$@"
"#;

const DF: &str = r#"#!/bin/sh
# Simulator of macOS's df(1) for the meshroll lab's macOS-shaped node (not Apple's code):
# 512-byte blocks unless -k, the inode columns (iused ifree %iused) unless -P (or with -i).
REAL=@REAL@
P=; k=; i=
while getopts ':aHhikglmnPT:t:' o; do
  case $o in
    P) P=1 ;;
    k) k=1 ;;
    i) i=1 ;;
    a|l|n) ;;
    \?|:) echo "df: illegal option -- $OPTARG" >&2
       echo 'usage: df [--libxo] [-b | -g | -H | -h | -k | -m | -P] [-acIilntY] [-,] [-T type] [file | filesystem ...]' >&2
       exit 64 ;;
    *) echo "df (lab simulator): -$o is not simulated" >&2; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
ino=1; [ -n "$P" ] && ino=; [ -n "$i" ] && ino=1
bk=$("$REAL/df" -P -k -- "$@") || exit 1
bi=$("$REAL/df" -P -i -- "$@" 2>/dev/null)
{ printf '%s\n' "$bk"; printf '%s\n' '--inodes--'; printf '%s\n' "$bi"; } | "$REAL/awk" -v k="$k" -v ino="$ino" '
$0 == "--inodes--" { part = 2; next }
part != 2 { if (NR > 1) { nb++; fs[nb] = $1; bl[nb] = $2; us[nb] = $3; av[nb] = $4; cap[nb] = $5
              mp = $6; for (j = 7; j <= NF; j++) mp = mp " " $j; mt[nb] = mp } ; next }
{ if (++ni > 1) { iu[ni - 1] = $3; ifr[ni - 1] = $4; ip[ni - 1] = $5 } }
END {
  mul = (k == "1") ? 1 : 2
  hdr = sprintf("%-14s %10s %9s %9s %8s", "Filesystem", (k == "1") ? "1024-blocks" : "512-blocks", "Used", "Available", "Capacity")
  if (ino == "1") hdr = hdr sprintf(" %9s %10s %6s", "iused", "ifree", "%iused")
  print hdr "  Mounted on"
  for (r = 1; r <= nb; r++) {
    line = sprintf("%-14s %10d %9d %9d %8s", fs[r], bl[r] * mul, us[r] * mul, av[r] * mul, cap[r])
    if (ino == "1") { p = ip[r]; if (p == "-" || p == "") p = "0%"; line = line sprintf(" %9d %10d %6s", iu[r], ifr[r], p) }
    print line "  " mt[r]
  }
}'
"#;

const WC: &str = r#"#!/bin/sh
# Simulator of macOS's BSD wc(1) for the meshroll lab's macOS-shaped node (not Apple's
# code): every count right-aligned in 8 columns (` %7d`), as BSD prints it.
REAL=@REAL@
while getopts ':Lclmw' o; do
  case $o in
    \?) echo "wc: illegal option -- $OPTARG" >&2; echo 'usage: wc [-Lclmw] [file ...]' >&2; exit 1 ;;
  esac
done
out=$("$REAL/wc" "$@"); rc=$?
[ -n "$out" ] && printf '%s\n' "$out" | "$REAL/awk" '{
  line = ""
  for (i = 1; i <= NF; i++) {
    if ($i ~ /^[0-9]+$/) line = line sprintf(" %7d", $i)
    else { rest = $i; for (j = i + 1; j <= NF; j++) rest = rest " " $j; line = line " " rest; break }
  }
  print line
}'
exit $rc
"#;

/// The rsync shim of one flavour: the option table of that version, its messages, and
/// the real rsync run as server held to protocol 29 once the arguments pass.
fn rsync_shim(flavor: RsyncFlavor) -> String {
    let (short, long, version, bad_short, bad_long) = match flavor {
        // rsync 2.6.9's popt table (options.c), with Apple's -E (extended attributes)
        RsyncFlavor::Apple269 => (
            "vqcarRbulLkKHpEogDtOSnWxB:e:CfFzPhT:iy0468mdI",
            "verbose quiet no-motd checksum archive recursive relative no-relative \
             no-implied-dirs backup backup-dir: suffix: update inplace append dirs links \
             copy-links copy-unsafe-links safe-links copy-dirlinks keep-dirlinks hard-links \
             perms executability extended-attributes chmod: owner group devices specials \
             times omit-dir-times super dry-run whole-file no-whole-file one-file-system \
             block-size: rsh: rsync-path: existing ignore-existing remove-sent-files del \
             delete delete-before delete-during delete-after delete-excluded ignore-errors \
             force max-delete: max-size: min-size: partial partial-dir: delay-updates \
             prune-empty-dirs numeric-ids timeout: ignore-times size-only modify-window: \
             temp-dir: fuzzy compare-dest: copy-dest: link-dest: compress compress-level: \
             cvs-exclude filter: exclude: exclude-from: include: include-from: files-from: \
             from0 address: port: blocking-io no-blocking-io stats 8-bit-output \
             human-readable progress itemize-changes out-format: log-format: log-file: \
             log-file-format: password-file: list-only bwlimit: write-batch: \
             only-write-batch: read-batch: protocol: checksum-seed: ipv4 ipv6 version help \
             server sender daemon no-detach config: sockopts:",
            "rsync  version 2.6.9  protocol version 29\n\
             Copyright (C) 1996-2006 by Andrew Tridgell, Wayne Davison, and others.\n\
             <http://rsync.samba.org/>\n\
             Capabilities: 64-bit files, socketpairs, hard links, symlinks, batchfiles,\n              \
             inplace, IPv6, 64-bit system inums, 64-bit internal inums\n\n\
             rsync comes with ABSOLUTELY NO WARRANTY.  This is free software, and you\n\
             are welcome to redistribute it under certain conditions.  See the GNU\n\
             General Public Licence for details.\n",
            // popt names the whole argument it could not parse
            "echo \"rsync: $arg: unknown option\" >&2; \
             echo 'rsync error: syntax or usage error (code 1) at /AppleInternal/Library/BuildRoots/rsync/rsync/main.c(1337) [server=2.6.9]' >&2; exit 1",
            "echo \"rsync: $arg: unknown option\" >&2; \
             echo 'rsync error: syntax or usage error (code 1) at /AppleInternal/Library/BuildRoots/rsync/rsync/main.c(1337) [server=2.6.9]' >&2; exit 1",
        ),
        // openrsync's getopt table (main.c: rsync_shopts and lopts)
        RsyncFlavor::Openrsync => (
            "0468B:CDFHIJKLOPRSTVWabcde:f:ghklnopqrtuvxz",
            "8-bit-output address: archive backup backup-dir: block-size: bwlimit: checksum \
             compare-dest: compress contimeout: copy-dest: copy-dirlinks copy-links \
             copy-unsafe-links cvs-exclude del delete delete-after delete-before delete-delay \
             delete-during delete-excluded devices dirs dry-run exclude: exclude-from: \
             existing filter: force from0 group hard-links help ignore-errors ignore-existing \
             ignore-non-existing ignore-times include: include-from: ipv4 ipv6 keep-dirlinks \
             link-dest: links log-format: max-delete: max-size: min-size: no-J no-O no-R no-W \
             no-devices no-dirs no-implied-dirs no-group no-links no-motd no-omit-dir-times \
             no-omit-link-times no-owner no-partial no-perms no-r no-relative no-recursive \
             no-specials no-times no-verbose no-whole-file numeric-ids omit-dir-times \
             omit-link-times one-file-system out-format: owner partial perms port: progress \
             protocol: quiet recursive relative rsh: rsync-path: safe-links sender server \
             size-only sparse specials stats suffix: temp-dir: timeout: times update verbose \
             version whole-file",
            "openrsync: protocol version 29\nrsync version 2.6.9 compatible\n",
            // BSD getopt_long's words
            "echo \"rsync: illegal option -- $c\" >&2; \
             echo 'usage: rsync [-aBCcDgHhKkLlnOoPpqRrSxVvz] [--rsh=cmd] [--rsync-path=path] source ... directory' >&2; exit 1",
            "echo \"rsync: unrecognized option \\`$arg'\" >&2; \
             echo 'usage: rsync [-aBCcDgHhKkLlnOoPpqRrSxVvz] [--rsh=cmd] [--rsync-path=path] source ... directory' >&2; exit 1",
        ),
    };
    let long = long.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        r#"#!/bin/sh
# Simulator of macOS's stock rsync ({flavor:?}) for the meshroll lab's macOS-shaped node
# (not Apple's code): that version's options and messages; once the arguments pass, the
# real rsync runs, held to protocol 29 as the stock one speaks.
REAL=@REAL@
# every call, for the lab's tests (LabNode::stock_rsync_calls)
printf '%s\n' "$*" >>"$REAL/../stock-rsync-calls.log" 2>/dev/null
SHORT='{short}'
LONG=' {long} '
case " $* " in *' --version '*|*' -V '*) printf '%s' '{version}'; exit 0 ;; esac
skip=
for arg in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$arg" in
    --) break ;;
    --*=*) name=${{arg#--}}; name=${{name%%=*}}
      case "$LONG" in *" $name: "*) ;; *) {bad_long} ;; esac ;;
    --*) name=${{arg#--}}
      case "$LONG" in
        *" $name: "*) skip=1 ;;
        *" $name "*) ;;
        *) {bad_long} ;;
      esac ;;
    -?*) rest=${{arg#-}}
      while [ -n "$rest" ]; do
        c=$(printf '%s' "$rest" | cut -c1); rest=${{rest#?}}
        case "$SHORT" in
          *"$c:"*) [ -z "$rest" ] && skip=1; rest= ;;
          *"$c"*) ;;
          *) {bad_short} ;;
        esac
      done ;;
  esac
done
exec "$REAL/rsync" "$@" --protocol=29
"#,
        version = version.replace('\'', r"'\''"),
    )
}
