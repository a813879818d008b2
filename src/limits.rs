//! Process limits for a large fleet: every node in flight holds a few file descriptors
//! here (the control-socket connection to its ssh master and the command's pipes), so
//! the soft `RLIMIT_NOFILE` (often 1024) is raised to the hard limit at start.

/// File descriptors meshroll holds per node at most (a command in flight on each node's
/// master: the mux socket, stdin/stdout/stderr, and a master being set up), plus room
/// for the runtime, the log and the terminal. Measured in BENCHMARKS.md ("1,000 real
/// nodes"): the peak stays under this.
pub const FDS_PER_NODE: u64 = 8;
pub const FDS_BASE: u64 = 256;

/// What a fleet of `nodes` needs.
pub fn nofile_needed(nodes: usize) -> u64 {
    FDS_BASE + FDS_PER_NODE * nodes as u64
}

/// The warning for a limit of `limit` descriptors and a fleet of `nodes`, if too low.
pub fn nofile_warning(limit: u64, hard: u64, nodes: usize) -> Option<String> {
    let need = nofile_needed(nodes);
    (limit < need).then(|| {
        format!(
            "open-file limit {limit} (hard limit {hard}) is too low for {nodes} nodes: about \
             {need} are needed; polls past it fail with \"Too many open files\". Raise the \
             hard limit (`ulimit -Hn {need}` as root, or `nofile` in \
             /etc/security/limits.conf, or launchctl limit maxfiles on macOS) or poll fewer \
             nodes from this machine (docs/SCALE.md)"
        )
    })
}

/// Raise the soft open-file limit to the hard limit; a warning when even that is too
/// low for `nodes`, or when the limit cannot be read or set.
pub fn raise_nofile(nodes: usize) -> Option<String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Some(format!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    let hard = rl.rlim_max;
    // macOS refuses a soft limit above OPEN_MAX when the hard limit is "unlimited".
    let want = if cfg!(target_os = "macos") {
        hard.min(10_240)
    } else {
        hard
    };
    if rl.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(from = rl.rlim_cur, to = want, "raised the open-file limit");
            rl.rlim_cur = want;
        } else {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the open-file limit");
        }
    }
    // rlim_t is u64 on Linux and macOS, but not on every unix.
    #[allow(clippy::unnecessary_cast)]
    let (cur, hard) = (rl.rlim_cur as u64, hard as u64);
    nofile_warning(cur, hard, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_the_limit_is_too_low() {
        assert_eq!(nofile_warning(20_000, 20_000, 1_000), None);
        let w = nofile_warning(1024, 1024, 1_000).expect("1024 is too low for 1,000 nodes");
        assert!(w.contains("hard limit 1024"), "{w}");
        assert!(w.contains("1000 nodes"), "{w}");
        assert_eq!(nofile_warning(1024, 4096, 20), None);
    }

    fn current() -> libc::rlimit {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
        rl
    }

    #[test]
    fn raises_the_soft_limit_to_the_hard_limit() {
        // Start from a low soft limit (1024, a common default: enough for the other
        // tests running alongside), unless the hard limit is lower still.
        let before = current();
        let low = libc::rlimit {
            rlim_cur: before.rlim_max.min(1024),
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let warning = raise_nofile(1);
        let rl = current();
        assert_eq!(warning, None, "hard limit {}", rl.rlim_max);
        let want = if cfg!(target_os = "macos") {
            rl.rlim_max.min(10_240)
        } else {
            rl.rlim_max
        };
        assert_eq!(rl.rlim_cur, want);
    }
}
