//! Kill what you start, all of it: the shell functions with which node-side scripts
//! start a command in a process group of its own and kill that whole group, so a CLI
//! that hangs (or a login shell whose rc file starts something) leaves no child behind
//! when its watchdog fires. Killing the pid alone orphaned every child it had.
//!
//! How a job gets its own group differs by node (probed once per script, `GM`):
//! - `jobs`: `set -m` job control, which bash grants without a terminal (a Mac's `sh`
//!   is bash 3.2);
//! - `setsid`: Linux (dash has no job control without a terminal);
//! - `perl`: `setpgrp` then `exec` (a Mac has perl but no `setsid`; a Linux without
//!   `setsid`);
//! - `none`: the job shares the script's group, and only its pid can be killed.
//!
//! In every mode but `none` the group's id is the job's pid (`$!`), so
//! `kill -9 -"$p"` reaches the job and everything it started. POSIX sh, BSD-safe (see
//! `PORTABILITY.md`).

/// `grp_mode`, `bg_grp CMD...` (start CMD in the background in a group of its own; its
/// pid in `$!`) and `kill_grp PID` (KILL the group PID leads, else PID alone). A caller
/// that has already reaped PID kills only the group (`kill -9 -"$p"`), never the pid,
/// which may have been reused.
///
/// The probe is KILLed, never TERMed: a child hit before it drops the script's inherited
/// traps would run the script's `exit 0` and its EXIT trap (removing the temp dir).
pub(crate) const GROUP_FNS: &str = r#"grp_mode() {
  set -m 2>/dev/null; sleep 1 </dev/null >/dev/null 2>&1 & gq=$!; set +m 2>/dev/null
  if kill -0 -"$gq" 2>/dev/null; then GM=jobs
  elif command -v setsid >/dev/null 2>&1; then GM=setsid
  elif command -v perl >/dev/null 2>&1; then GM=perl
  else GM=none; fi
  { kill -9 "$gq"; wait "$gq"; } >/dev/null 2>&1
}
bg_grp() {
  [ -n "${GM:-}" ] || grp_mode
  case $GM in
  jobs) set -m 2>/dev/null; "$@" & set +m 2>/dev/null ;;
  setsid) setsid "$@" & ;;
  perl) perl -e 'setpgrp(0, 0); exec { $ARGV[0] } @ARGV; print STDERR "$ARGV[0]: not found ($!)\n"; exit 127' -- "$@" & ;;
  *) "$@" & ;;
  esac
}
kill_grp() { kill -9 -"$1" 2>/dev/null || kill -9 "$1" 2>/dev/null; }
"#;

#[cfg(test)]
mod tests {
    use super::GROUP_FNS;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// `pid` runs (a zombie waiting for a reaper that never comes does not count).
    fn alive(pid: u32) -> bool {
        let out = Command::new("ps")
            .args(["-o", "stat=", "-p", &pid.to_string()])
            .output()
            .expect("test setup");
        let stat = String::from_utf8_lossy(&out.stdout);
        !stat.trim().is_empty() && !stat.trim().starts_with('Z')
    }

    /// Under each shell at hand (and perl's mode forced), `bg_grp` then `kill_grp`
    /// leaves no child of the job: the job forks a sleeper that would outlive a kill by
    /// pid.
    #[test]
    fn kill_grp_takes_the_jobs_children_along() {
        for (sh, gm) in [("sh", ""), ("dash", ""), ("bash", ""), ("dash", "perl")] {
            if Command::new(sh).arg("-c").arg("exit 0").status().is_err() {
                continue;
            }
            let d = tempfile::tempdir().expect("test setup");
            let pidf = d.path().join("child");
            let script = format!(
                "GM={gm}\n{GROUP_FNS}bg_grp sh -c 'sleep 300 & echo $! >\"$0\"; wait' {pidf} </dev/null >/dev/null 2>&1\np=$!\n\
                 while [ ! -s {pidf} ]; do sleep 0.1; done\nkill_grp \"$p\"; wait \"$p\"\necho \"$GM\"\n",
                pidf = pidf.display()
            );
            let out = Command::new(sh)
                .arg("-c")
                .arg(&script)
                .output()
                .expect("test setup");
            assert!(
                out.status.success(),
                "{sh}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mode = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_ne!(mode, "none", "{sh}: no process group mode here");
            if !gm.is_empty() {
                assert_eq!(mode, gm, "{sh}");
            }
            let child: u32 = std::fs::read_to_string(&pidf)
                .expect("test setup")
                .trim()
                .parse()
                .expect("test setup");
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(child) {
                assert!(
                    Instant::now() < deadline,
                    "{sh} ({mode}): the job's child {child} lives on"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
