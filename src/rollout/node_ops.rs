//! What each phase does on a real node: the `sh` scripts (sent on stdin, every value
//! quoted) and the pure functions that read their output. The executor runs them.

use crate::inventory::Layout;
use crate::manifest::{LOCK_NAME, Lock};
use crate::remote::script::shell_quote as q;
use crate::rollout::Failure;

/// Portable atomic rename of a symlink over another (`mv -T` on Linux; rename(2)
/// through perl on macOS, whose `mv` would move into the target directory).
const PRELUDE: &str = r#"set -u
PATH=${PATH:+$PATH:}/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin
mvT() { mv -T "$1" "$2" 2>/dev/null || perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\n"' "$1" "$2"; }
"#;

fn head(layout: &Layout) -> String {
    format!(
        "{PRELUDE}R={}\nS={}\nOC={}\n",
        q(&layout.skills_root),
        q(&layout.state_dir),
        q(&layout.openclaw)
    )
}

/// The node lock: a directory (atomic `mkdir`) holding the owner line
/// `<rollout id> <who> <epoch seconds>`. Taken at baseline, released after undrain.
/// Then the gateway status is archived to `last-gateway-status.json` and printed.
pub fn baseline(layout: &Layout, rollout_id: &str, who: &str, now_s: u64) -> String {
    format!(
        r#"{head}ID={id}
mkdir -p "$S" || {{ echo "MESHROLL-ERR cannot create $S"; exit 3; }}
L="$S/meshroll.lock"
if mkdir "$L" 2>/dev/null; then
  printf '%s %s %s\n' "$ID" {who} {now} >"$L/owner"
else
  o=$(head -c 300 "$L/owner" 2>/dev/null)
  case "$o" in "$ID "*) ;; *) echo "MESHROLL-LOCKED $o"; exit 4 ;; esac
fi
"$OC" gateway status --json >"$S/last-gateway-status.json.tmp" 2>/dev/null </dev/null
mv -f "$S/last-gateway-status.json.tmp" "$S/last-gateway-status.json"
cat "$S/last-gateway-status.json"
"#,
        head = head(layout),
        id = q(rollout_id),
        who = q(who),
        now = now_s,
    )
}

/// Read the baseline's output: the lock refusal, or the gateway status.
pub fn baseline_result(code: Option<i32>, stdout: &[u8], now_s: u64) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(stdout);
    if let Some(rest) = text
        .lines()
        .find_map(|l| l.strip_prefix("MESHROLL-LOCKED "))
    {
        let mut it = rest.split_whitespace();
        let (id, who, since) = (
            it.next(),
            it.next(),
            it.next().and_then(|s| s.parse::<u64>().ok()),
        );
        let age = since.map_or("unknown age".into(), |t| {
            format!("{} ago", crate::verdict::human_age(now_s.saturating_sub(t)))
        });
        return Err(Failure::Fatal(format!(
            "node is locked by another rollout: {} (rollout {}), taken {age}",
            who.unwrap_or("?"),
            id.unwrap_or("?")
        )));
    }
    if let Some(e) = text.lines().find_map(|l| l.strip_prefix("MESHROLL-ERR ")) {
        return Err(Failure::Fatal(e.to_string()));
    }
    if code != Some(0) {
        return Err(Failure::Transient(format!("baseline exited {code:?}")));
    }
    let g = crate::signals::gateway::parse_bytes(stdout, 0, b"");
    if !g.state.is_ready() {
        return Err(Failure::Fatal(format!(
            "gateway not ready at baseline: {}",
            g.state.label()
        )));
    }
    // Archive a compact copy in the journal.
    Ok(serde_json::from_slice::<serde_json::Value>(stdout)
        .map(|v| v.to_string())
        .unwrap_or_default())
}

/// Drain: the configured command, or create `<state>/drain`.
pub fn drain(layout: &Layout) -> String {
    match &layout.drain_cmd {
        Some(c) => format!("{}{c}\n", head(layout)),
        None => format!("{}mkdir -p \"$S\" && : >\"$S/drain\"\n", head(layout)),
    }
}

/// Undrain (the configured command, or remove `<state>/drain`), then release the lock
/// if it is ours.
pub fn undrain(layout: &Layout, rollout_id: &str) -> String {
    let body = match &layout.undrain_cmd {
        Some(c) => format!("{c}\n"),
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

/// Whether the baseline's output is the refusal of a lock held by another rollout.
pub fn locked_by_other(stdout: &[u8]) -> bool {
    String::from_utf8_lossy(stdout)
        .lines()
        .any(|l| l.starts_with("MESHROLL-LOCKED "))
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

/// List every file of the bundle with its sha256 and mode, for [`verify_result`]: one
/// `find -exec ... {} +` for the hashes and one for the modes, so a bundle of hundreds
/// of files costs a handful of processes, not several per file.
pub fn verify(layout: &Layout, sha: &str) -> String {
    format!(
        r#"{head}B="$R"/{sha}
cd "$B" 2>/dev/null || {{ echo "MESHROLL-MISSING"; exit 0; }}
if stat -c %a . >/dev/null 2>&1; then SF=-c; F='%a %n'; else SF=-f; F='%Lp %N'; fi
echo "MESHROLL-HASHES"
if command -v sha256sum >/dev/null 2>&1; then
  find . -type f -exec sha256sum {{}} +
else
  find . -type f -exec shasum -a 256 {{}} +
fi
echo "MESHROLL-MODES"
find . -type f -exec stat "$SF" "$F" {{}} +
echo "MESHROLL-END"
"#,
        head = head(layout),
        sha = q(sha),
    )
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
    for l in text.lines() {
        match l {
            "MESHROLL-HASHES" | "MESHROLL-MODES" | "MESHROLL-END" => {
                section = l;
                continue;
            }
            _ => {}
        }
        match section {
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
    let mut problems = Vec::new();
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
        Err(Failure::Mismatch(format!(
            "{n} difference(s): {}",
            problems.join("; ")
        )))
    }
}

/// Flip `current` to the bundle atomically, keeping the old target as `previous`.
pub fn switch(layout: &Layout, sha: &str) -> String {
    format!(
        r#"{head}T={sha}
cd "$R" || exit 3
[ -d "$T" ] || {{ echo "MESHROLL-ERR no bundle $T"; exit 3; }}
old=$(readlink current 2>/dev/null || true)
if [ "$old" = "$T" ]; then echo "already current"; exit 0; fi
if [ -n "$old" ]; then ln -s "$old" .previous.$$ && mvT .previous.$$ previous || exit 5; fi
ln -s "$T" .current.$$ && mvT .current.$$ current || exit 5
echo "current -> $T (previous ${{old:-none}})"
"#,
        head = head(layout),
        sha = q(sha),
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

/// Read [`read_current`]'s output: `Ok(None)` when the node has no `current`.
pub fn read_current_result(stdout: &[u8]) -> Result<Option<String>, String> {
    let text = String::from_utf8_lossy(stdout);
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "MESHROLL-CURRENT")
        .skip(1)
        .take_while(|l| *l != "MESHROLL-END")
        .collect();
    if !text.lines().any(|l| l == "MESHROLL-END") {
        return Err("no answer".into());
    }
    Ok(body
        .first()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty()))
}

/// Flip `current` back to `previous` (and `previous` to what was current), then
/// release the lock if it is ours.
pub fn rollback(layout: &Layout, rollout_id: &str) -> String {
    format!(
        r#"{head}ID={id}
cd "$R" || exit 3
prev=$(readlink previous 2>/dev/null) || {{ echo "MESHROLL-ERR no previous target"; exit 3; }}
[ -d "$prev" ] || {{ echo "MESHROLL-ERR previous target $prev is gone"; exit 3; }}
cur=$(readlink current 2>/dev/null || true)
ln -s "$prev" .current.$$ && mvT .current.$$ current || exit 5
if [ -n "$cur" ]; then ln -s "$cur" .previous.$$ && mvT .previous.$$ previous; fi
{release}echo "current -> $prev (was ${{cur:-none}})"
"#,
        head = head(layout),
        id = q(rollout_id),
        release = RELEASE,
    )
}

/// Doctor on the node.
pub fn doctor(layout: &Layout) -> String {
    format!(
        "{}\"$OC\" doctor --lint --json </dev/null 2>/dev/null\n",
        head(layout)
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

/// Prewarm under caps (nice 10, and a memory limit where `ulimit -v` works), output
/// interleaved on stdout; success touches `skill-cache-ready`. The command sees
/// `MESHROLL_MANIFEST` and `SKILLS_SHA`.
pub fn prewarm(layout: &Layout, sha: &str, mem_limit_kb: u64) -> String {
    let cmd = layout
        .prewarm_cmd
        .clone()
        .unwrap_or_else(|| default_prewarm(layout));
    format!(
        r#"{head}MESHROLL_MANIFEST="$R/current/{LOCK_NAME}"; SKILLS_SHA={sha}
export MESHROLL_MANIFEST SKILLS_SHA
( ulimit -v {mem} 2>/dev/null; exec nice -n 10 sh -c {cmd} ) 2>&1 </dev/null
rc=$?
if [ $rc -eq 0 ]; then mkdir -p "$S" && touch "$S/skill-cache-ready"; fi
echo "MESHROLL-EXIT $rc"
exit $rc
"#,
        head = head(layout),
        sha = q(sha),
        mem = mem_limit_kb,
        cmd = q(&cmd),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::LockEntry;

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
        let e = baseline_result(Some(4), b"MESHROLL-LOCKED r-1 alice@ops 1000\n", 1600)
            .expect_err("locked");
        assert_eq!(
            e,
            Failure::Fatal(
                "node is locked by another rollout: alice@ops (rollout r-1), taken 10m ago".into()
            )
        );
        let e = baseline_result(
            Some(0),
            br#"{"rpc":{"ok":false,"connectFailure":{"kind":"unreachable"}}}"#,
            0,
        )
        .expect_err("not ready");
        assert_eq!(
            e,
            Failure::Fatal("gateway not ready at baseline: unreachable".into())
        );
        let ok = baseline_result(Some(0), br#"{"rpc":{"ok":true}, "x": 1}"#, 0).expect("ready");
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
        let s = switch(&l, "abc$(id)");
        assert!(s.contains("R='/x/it'\\''s; rm -rf /'"), "{s}");
        assert!(s.contains("T='abc$(id)'"), "{s}");
        let p = prewarm(
            &Layout {
                prewarm_cmd: Some("echo 'hi'".into()),
                ..Layout::default()
            },
            "s",
            1024,
        );
        assert!(p.contains("sh -c 'echo '\\''hi'\\'''"), "{p}");
    }
}
