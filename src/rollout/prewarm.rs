//! Reading what the prewarm script (`crate::remote::ops::prewarm`) printed: its exit
//! line, how its memory cap was held (or why it could not be), and a kill past the cap.
//! Pure: the executor hands each line in as it comes and the whole output at the end.

use super::machine::Failure;
use crate::safe_text;

/// What the node view shows for one line of prewarm output: the marker lines in words,
/// `None` for the exit line (the attempt's outcome says it).
pub fn shown_line(line: &str) -> Option<String> {
    match marker(line) {
        Some(Marker::Exit) => None,
        Some(Marker::CapBy { how, kb }) => Some(format!(
            "memory cap {} ({})",
            mib(kb),
            match how {
                CapBy::Group => "process group watchdog",
                CapBy::Ulimit => "ulimit -v",
            }
        )),
        Some(Marker::NoCap(why)) => Some(no_cap(&why)),
        Some(Marker::Killed { cap_kb, rss_kb }) => Some(killed(cap_kb, rss_kb)),
        None => Some(safe_text::clean(line)),
    }
}

/// The prewarm's outcome: its exit code from the `MESHROLL-EXIT` line; a kill past the
/// memory cap is the error ("over the memory cap of N MiB"), not retried; a cap that could not be
/// applied is said in the note or the error ("memory cap not applied on this node").
pub fn outcome(stdout: &[u8]) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(stdout);
    let mut rc = None;
    let mut kill = None;
    let mut nocap = None;
    for l in text.lines() {
        match marker(l) {
            Some(Marker::Exit) => {
                rc = Some(l["MESHROLL-EXIT ".len()..].trim().parse::<i32>().ok());
            }
            Some(Marker::Killed { cap_kb, rss_kb }) => kill = Some(killed(cap_kb, rss_kb)),
            Some(Marker::NoCap(why)) => nocap = Some(no_cap(&why)),
            _ => {}
        }
    }
    let last = || {
        safe_text::clean(
            text.lines()
                .rev()
                .find(|l| marker(l).is_none())
                .unwrap_or(""),
        )
    };
    let uncapped = |m: String| match &nocap {
        Some(n) => format!("{m}; {n}"),
        None => m,
    };
    // The same command grows the same way again: no retry (as with output over the
    // cap).
    if let Some(k) = kill {
        return Err(Failure::Fatal(format!("prewarm {k}")));
    }
    match rc {
        Some(Some(0)) => Ok(uncapped("prewarmed; skill-cache-ready touched".into())),
        Some(Some(c)) => Err(Failure::Transient(uncapped(format!(
            "prewarm exited {c}: {}",
            last()
        )))),
        _ => Err(Failure::Transient(uncapped(format!(
            "prewarm ended without its exit code: {}",
            last()
        )))),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum CapBy {
    Group,
    Ulimit,
}

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Exit,
    CapBy { how: CapBy, kb: u64 },
    NoCap(String),
    Killed { cap_kb: u64, rss_kb: u64 },
}

/// The script's own lines. A line the command prints that merely looks like one is
/// read as one only if it parses; the command's output precedes the exit line anyway.
fn marker(line: &str) -> Option<Marker> {
    if line.starts_with("MESHROLL-EXIT ") {
        return Some(Marker::Exit);
    }
    if let Some(why) = line.strip_prefix("MESHROLL-NOCAP ") {
        return Some(Marker::NoCap(why.to_string()));
    }
    if let Some(rest) = line.strip_prefix("MESHROLL-CAPBY ") {
        let mut w = rest.split_whitespace();
        let how = match w.next()? {
            "jobs" | "setsid" | "perl" => CapBy::Group,
            "ulimit" => CapBy::Ulimit,
            _ => return None,
        };
        let kb = w.next()?.parse().ok()?;
        return Some(Marker::CapBy { how, kb });
    }
    if let Some(rest) = line.strip_prefix("MESHROLL-MEMCAP ") {
        let mut w = rest.split_whitespace();
        let cap_kb = w.next()?.parse().ok()?;
        let rss_kb = w.next()?.parse().ok()?;
        return Some(Marker::Killed { cap_kb, rss_kb });
    }
    None
}

fn mib(kb: u64) -> String {
    format!("{} MiB", kb.div_ceil(1024))
}

fn no_cap(why: &str) -> String {
    format!(
        "memory cap not applied on this node: {}",
        safe_text::clean(why.trim_start_matches("; "))
    )
}

fn killed(cap_kb: u64, rss_kb: u64) -> String {
    format!(
        "over the memory cap of {} ({} resident), killed",
        mib(cap_kb),
        mib(rss_kb)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_the_cap_are_read() {
        assert_eq!(
            outcome(b"MESHROLL-CAPBY setsid 1024\nwarm\nMESHROLL-EXIT 0\n"),
            Ok("prewarmed; skill-cache-ready touched".into())
        );
        assert_eq!(
            outcome(b"MESHROLL-CAPBY jobs 16384\nallocating\nMESHROLL-MEMCAP 16384 65800\nMESHROLL-EXIT 137\n"),
            Err(Failure::Fatal(
                "prewarm over the memory cap of 16 MiB (65 MiB resident), killed".into()
            ))
        );
        assert_eq!(
            outcome(b"MESHROLL-NOCAP ps cannot read memory use (ps: denied); ulimit -v 9 refused (no)\nok\nMESHROLL-EXIT 0\n"),
            Ok("prewarmed; skill-cache-ready touched; memory cap not applied on this node: ps cannot read memory use (ps: denied); ulimit -v 9 refused (no)".into())
        );
        assert_eq!(
            outcome(b"MESHROLL-NOCAP \x1b[31mred\nboom\nMESHROLL-EXIT 2\n"),
            Err(Failure::Transient(
                "prewarm exited 2: boom; memory cap not applied on this node: \\e[31mred".into()
            ))
        );
        assert!(
            matches!(outcome(b"half"), Err(Failure::Transient(m)) if m.contains("without its exit code: half"))
        );
    }

    #[test]
    fn marker_lines_are_shown_in_words() {
        assert_eq!(shown_line("MESHROLL-EXIT 0"), None);
        assert_eq!(
            shown_line("MESHROLL-CAPBY jobs 4194304").as_deref(),
            Some("memory cap 4096 MiB (process group watchdog)")
        );
        assert_eq!(
            shown_line("MESHROLL-CAPBY ulimit 2048").as_deref(),
            Some("memory cap 2 MiB (ulimit -v)")
        );
        assert_eq!(
            shown_line("MESHROLL-NOCAP no setsid").as_deref(),
            Some("memory cap not applied on this node: no setsid")
        );
        assert_eq!(shown_line("plain").as_deref(), Some("plain"));
    }

    /// The prewarm script itself, run by `shell` (`dash`, `bash --posix`: macOS's `sh`
    /// is bash 3.2 in POSIX mode) with `path_first` ahead of the PATH; returns what it
    /// printed and how long it took.
    fn run_script(
        shell: &[&str],
        layout: &crate::inventory::Layout,
        cap_kb: u64,
        path_first: Option<&std::path::Path>,
    ) -> (String, std::time::Duration) {
        let script = crate::remote::ops::prewarm(layout, "s", cap_kb, None);
        let mut c = std::process::Command::new(shell[0]);
        // no login shell to ask for a PATH (the one running the tests may reset it)
        c.args(&shell[1..]).arg("-c").arg(&script).env("SHELL", "");
        if let Some(p) = path_first {
            c.env(
                "PATH",
                format!(
                    "{}:{}",
                    p.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        }
        let t = std::time::Instant::now();
        let out = c.output().expect("run the shell");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            t.elapsed(),
        )
    }

    fn layout_in(d: &std::path::Path, cmd: &str) -> crate::inventory::Layout {
        crate::inventory::Layout {
            skills_root: d.display().to_string(),
            state_dir: d.join("state").display().to_string(),
            prewarm_cmd: Some(cmd.into()),
            ..crate::inventory::Layout::default()
        }
    }

    const SHELLS: [&[&str]; 2] = [&["dash"], &["bash", "--posix"]];

    /// A command that grows past the cap is killed with its whole process group within
    /// a few seconds, and the kill is the phase's error; the cache is not marked warm.
    #[test]
    fn a_prewarm_over_the_cap_is_killed_with_its_group() {
        for sh in SHELLS {
            let d = tempfile::tempdir().expect("tmp");
            let tag = format!("meshroll-memcap-{}-{}", std::process::id(), sh.len());
            // a child of the command holds 64 MiB (perl is on Linux and macOS), and a
            // grandchild that would outlive it sleeps with a name we can look for
            let cmd = format!(
                "echo allocating; sh -c 'sleep 60; : {tag}' & perl -e '$x = \"a\" x (64 << 20); sleep 60'; echo survived"
            );
            let (out, took) = run_script(sh, &layout_in(d.path(), &cmd), 16 * 1024, None);
            assert!(took.as_secs() < 20, "{sh:?}: took {took:?}\n{out}");
            assert!(out.contains("MESHROLL-CAPBY "), "{sh:?}: {out}");
            assert!(!out.contains("survived"), "{sh:?}: {out}");
            match outcome(out.as_bytes()) {
                Err(Failure::Fatal(m)) => assert!(
                    m.starts_with("prewarm over the memory cap of 16 MiB ("),
                    "{sh:?}: {m}\n{out}"
                ),
                other => panic!("{sh:?}: {other:?}\n{out}"),
            }
            assert!(!d.path().join("state/skill-cache-ready").exists());
            let left = std::process::Command::new("pgrep")
                .args(["-f", &tag])
                .output()
                .expect("pgrep");
            assert!(
                left.stdout.is_empty(),
                "{sh:?}: the group's other processes survived: {}",
                String::from_utf8_lossy(&left.stdout)
            );
        }
    }

    /// Under the cap: the command runs to its end in a watched process group (`set -m`
    /// under bash, `setsid` under dash, which has no job control without a terminal).
    #[test]
    fn a_prewarm_under_the_cap_runs_watched() {
        for (sh, how) in [(SHELLS[0], "setsid"), (SHELLS[1], "jobs")] {
            let d = tempfile::tempdir().expect("tmp");
            let (out, _) = run_script(
                sh,
                &layout_in(d.path(), "echo warm; sleep 1; echo done"),
                64 * 1024,
                None,
            );
            assert!(
                out.starts_with(&format!(
                    "MESHROLL-CAPBY {how} 65536\nwarm\ndone\nMESHROLL-EXIT 0\n"
                )),
                "{sh:?}: {out}"
            );
            assert_eq!(
                outcome(out.as_bytes()),
                Ok("prewarmed; skill-cache-ready touched".into())
            );
            assert!(d.path().join("state/skill-cache-ready").exists());
        }
    }

    /// Where neither a watched process group nor `ulimit -v` is possible (here: a `ps`
    /// that is refused, and a hard address-space limit below the cap with the right to
    /// raise it dropped, as Darwin refuses `ulimit -v`), prewarm runs uncapped and the
    /// outcome says so and why.
    #[test]
    fn a_prewarm_that_cannot_be_capped_says_so() {
        let d = tempfile::tempdir().expect("tmp");
        let bin = d.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let ps = bin.join("ps");
        std::fs::write(
            &ps,
            "#!/bin/sh\necho 'ps: operation not permitted' >&2\nexit 1\n",
        )
        .expect("ps");
        std::fs::set_permissions(&ps, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        for sh in SHELLS {
            let mut wrapped = vec![
                "bash",
                "-c",
                "ulimit -v 1048576 && exec setpriv --bounding-set=-sys_resource \"$@\"",
                "wrap",
            ];
            wrapped.extend_from_slice(sh);
            let (out, _) = run_script(
                &wrapped,
                &layout_in(d.path(), "echo warm"),
                4 << 20,
                Some(&bin),
            );
            let note = outcome(out.as_bytes()).expect("ran uncapped");
            assert!(
                note.starts_with("prewarmed; skill-cache-ready touched; memory cap not applied on this node: ps cannot read memory use (ps: operation not permitted); ulimit -v 4194304 refused ("),
                "{sh:?}: {note}\n{out}"
            );
            assert_eq!(
                shown_line(out.lines().next().unwrap_or_default())
                    .as_deref()
                    .map(|l| l.starts_with("memory cap not applied on this node: ")),
                Some(true),
                "{out}"
            );
        }
    }
}
