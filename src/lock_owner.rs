//! Whether a node lock's owner is still running: the one check behind `meshroll locks`,
//! `unlock` and the node actions' undrain (which releases a lock only when this host's
//! rollout that took it is gone). The owner line names `user@host/pidN`
//! ([`crate::node_lock::LockInfo`]); only a pid on this host can be asked.

/// `kill(pid, 0)`: alive when it succeeds or is refused for permission (another user's
/// process), gone on ESRCH; `None` for pid 0 (the process group, not an owner), a pid
/// out of range, or any other error.
pub fn pid_alive(pid: u32) -> Option<bool> {
    let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 {
        return Some(true);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EPERM) => Some(true),
        Some(libc::ESRCH) => Some(false),
        _ => None,
    }
}

/// Whether the owner `pid` on `owner_host` is alive: `Some` only when `owner_host` is
/// `this_host` (gethostname, as the lock names it) and the owner line names a pid.
pub fn alive_here(owner_host: &str, pid: Option<u32>, this_host: Option<&str>) -> Option<bool> {
    if owner_host != this_host? {
        return None;
    }
    pid_alive(pid?)
}

/// The owner is this host's and its process is known to be gone: what lets undrain
/// release the lock. Unknown (another host, no pid, an error) is never "gone".
pub fn gone_here(owner_host: &str, pid: Option<u32>, this_host: &str) -> bool {
    alive_here(owner_host, pid, Some(this_host)) == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_one_is_not() {
        assert_eq!(pid_alive(std::process::id()), Some(true));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert_eq!(pid_alive(pid), Some(false));
        assert_eq!(
            pid_alive(0),
            None,
            "pid 0 is the process group, not an owner"
        );
    }

    #[test]
    fn only_this_hosts_owner_is_asked() {
        let me = Some(std::process::id());
        assert_eq!(alive_here("h1", me, Some("h1")), Some(true));
        assert_eq!(alive_here("h2", me, Some("h1")), None, "another host's");
        assert_eq!(alive_here("h1", None, Some("h1")), None, "no pid");
        assert_eq!(alive_here("h1", me, None), None, "no hostname");
        assert!(!gone_here("h1", me, "h1"));
        assert!(gone_here("h1", Some(1_999_999_999), "h1"));
        assert!(
            !gone_here("h2", Some(1_999_999_999), "h1"),
            "another host's"
        );
        assert!(!gone_here("h1", Some(0), "h1"), "pid 0 is not a dead owner");
    }
}
