//! The node lock a rollout holds (`<state_dir>/meshroll.lock`), as the operator sees it:
//! its owner line read back ([`LockInfo`]), how old it is and when it last beat
//! ([`LockRow`]), and the rule that calls it stale. Pure: the time is an argument.
//!
//! The lock is a directory holding `owner` (`<rollout id> <user@host/pidN> <taken>`)
//! and `heartbeat` (epoch seconds, rewritten every `--lock-heartbeat` seconds while the
//! rollout holds it). The poll reports the owner line when it changes and both files'
//! modification times on the node's own clock, so the ages here do not depend on the
//! operator's clock agreeing with the node's.

use serde::Serialize;

/// A rollout refreshes its lock's heartbeat this often unless told otherwise
/// (`rollout --lock-heartbeat`, default 30 s).
pub const DEFAULT_HEARTBEAT_S: u64 = 30;

/// Heartbeats a lock may miss before it is called stale.
pub const STALE_AFTER_BEATS: u64 = 3;

/// Seconds without a heartbeat after which a lock is stale: three beats of the default
/// heartbeat.
pub const STALE_AFTER_S: u64 = STALE_AFTER_BEATS * DEFAULT_HEARTBEAT_S;

/// Bytes of the owner line kept (the node side sends at most this many).
pub const OWNER_CAP: usize = 512;

/// Whether a lock whose last sign of life (heartbeat, or its taking when it never beat)
/// is `quiet_s` seconds old is stale: it missed [`STALE_AFTER_BEATS`] heartbeats.
/// Unknown (`None`) is stale: a lock that cannot say when it last beat is not known to
/// be held.
pub fn is_stale(quiet_s: Option<u64>) -> bool {
    quiet_s.is_none_or(|q| q > STALE_AFTER_S)
}

/// A node lock as read from the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// The owner line as the node has it.
    pub owner_line: String,
    pub rollout_id: String,
    /// `user@host/pidN`.
    pub who: String,
    pub taken_s: Option<u64>,
    pub heartbeat_s: Option<u64>,
}

impl LockInfo {
    /// `user`, `host`, `pid` out of `user@host/pidN` (what is missing is `?`).
    pub fn parts(&self) -> (String, String, String) {
        let (user, rest) = self.who.split_once('@').unwrap_or(("?", self.who.as_str()));
        let (host, pid) = rest.rsplit_once("/pid").unwrap_or((rest, "?"));
        (user.to_string(), host.to_string(), pid.to_string())
    }

    /// The owner's process id, when the owner line names one.
    pub fn pid(&self) -> Option<u32> {
        self.parts().2.parse().ok().filter(|p| *p > 0)
    }

    /// "owner alice, host ops1, pid 42, rollout r-1, taken 10m ago, heartbeat 5s ago"
    pub fn describe(&self, now_s: u64) -> String {
        let (user, host, pid) = self.parts();
        let ago = |t: Option<u64>| {
            t.map_or("unknown".into(), |t| {
                format!("{} ago", crate::verdict::human_age(now_s.saturating_sub(t)))
            })
        };
        crate::safe_text::clean_capped(
            &format!(
                "owner {user}, host {host}, pid {pid}, rollout {}, taken {}, heartbeat {}",
                self.rollout_id,
                ago(self.taken_s),
                ago(self.heartbeat_s)
            ),
            400,
        )
    }

    /// The owner line and the heartbeat file's text, as the node has them.
    pub fn parse(owner: &str, heartbeat: &str) -> LockInfo {
        let mut it = owner.split_whitespace();
        LockInfo {
            owner_line: owner.to_string(),
            rollout_id: it.next().unwrap_or("?").to_string(),
            who: it.next().unwrap_or("?").to_string(),
            taken_s: it.next().and_then(|t| t.parse().ok()),
            heartbeat_s: heartbeat.trim().parse().ok(),
        }
    }
}

/// A node lock seen by a poll: the owner line, and the ages of the lock's taking and of
/// its last heartbeat on the node's clock at that poll (`None`: the file is missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockSeen {
    pub info: LockInfo,
    pub taken_age_at_poll_s: Option<u64>,
    pub heartbeat_age_at_poll_s: Option<u64>,
}

impl LockSeen {
    /// From what the poll reported: the owner line's bytes (cut at [`OWNER_CAP`]) and the
    /// owner and heartbeat files' modification times, with the node's clock.
    pub fn from_poll(
        owner: &[u8],
        owner_mtime: Option<i64>,
        heartbeat_mtime: Option<i64>,
        node_now: i64,
    ) -> LockSeen {
        let owner = &owner[..owner.len().min(OWNER_CAP)];
        let text = String::from_utf8_lossy(owner);
        let line = text.lines().next().unwrap_or("").trim();
        let age =
            |m: Option<i64>| m.map(|m| u64::try_from(node_now.saturating_sub(m)).unwrap_or(0));
        LockSeen {
            info: LockInfo::parse(line, ""),
            taken_age_at_poll_s: age(owner_mtime),
            heartbeat_age_at_poll_s: age(heartbeat_mtime),
        }
    }
}

/// A node lock as the table, the node view, `status --json` and `meshroll locks` show
/// it. Its strings came from the node: [`LockRow::cleaned`] passes them through the one
/// sanitiser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockRow {
    /// `user@host/pidN` as the owner line says.
    pub owner: String,
    pub user: String,
    pub host: String,
    pub pid: Option<u32>,
    pub rollout: String,
    /// Seconds since the lock was taken (its owner file written), on the node's clock.
    pub age_s: Option<u64>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: Option<u64>,
    /// It missed [`STALE_AFTER_BEATS`] heartbeats (or never beat for that long).
    pub stale: bool,
}

impl LockRow {
    /// The lock seen at a poll `since_poll_s` seconds ago.
    pub fn at(seen: &LockSeen, since_poll_s: u64) -> LockRow {
        let later = |a: Option<u64>| a.map(|a| a + since_poll_s);
        let age_s = later(seen.taken_age_at_poll_s);
        let heartbeat_age_s = later(seen.heartbeat_age_at_poll_s);
        let (user, host, _) = seen.info.parts();
        LockRow {
            owner: seen.info.who.clone(),
            user,
            host,
            pid: seen.info.pid(),
            rollout: seen.info.rollout_id.clone(),
            age_s,
            heartbeat_age_s,
            stale: is_stale(heartbeat_age_s.or(age_s)),
        }
    }

    /// Every string through the one sanitiser and redactor, capped.
    pub fn cleaned(mut self) -> LockRow {
        for s in [
            &mut self.owner,
            &mut self.user,
            &mut self.host,
            &mut self.rollout,
        ] {
            *s = crate::safe_text::clean_capped(s, 128);
        }
        self
    }

    /// `locked` or `stale`: the word the table shows after the lock glyph.
    pub fn word(&self) -> &'static str {
        if self.stale { "stale" } else { "locked" }
    }

    /// "owner alice@ops1/pid42, rollout r-1, taken 10m ago, heartbeat 5s ago (stale: no
    /// heartbeat for over 1m30s)"
    pub fn describe(&self) -> String {
        let ago = |a: Option<u64>| {
            a.map_or("unknown".to_string(), |a| {
                format!("{} ago", crate::verdict::human_age(a))
            })
        };
        let mut s = format!(
            "owner {}, rollout {}, taken {}, heartbeat {}",
            self.owner,
            self.rollout,
            ago(self.age_s),
            ago(self.heartbeat_age_s)
        );
        if self.stale {
            s.push_str(&format!(
                " (stale: no heartbeat for over {})",
                crate::verdict::human_age(STALE_AFTER_S)
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_after_three_missed_heartbeats() {
        assert!(!is_stale(Some(0)));
        assert!(!is_stale(Some(3 * DEFAULT_HEARTBEAT_S)));
        assert!(is_stale(Some(3 * DEFAULT_HEARTBEAT_S + 1)));
        assert!(
            is_stale(None),
            "a lock that cannot say when it beat is not known held"
        );
    }

    #[test]
    fn a_polled_lock_ages_on_the_nodes_clock_and_turns_stale() {
        let seen = LockSeen::from_poll(
            b"r-1 alice@ops1/pid4242 1800000000\n",
            Some(1_000),
            Some(1_050),
            1_060,
        );
        assert_eq!(seen.info.rollout_id, "r-1");
        assert_eq!(seen.info.pid(), Some(4242));
        let row = LockRow::at(&seen, 0);
        assert_eq!((row.age_s, row.heartbeat_age_s), (Some(60), Some(10)));
        assert_eq!((row.user.as_str(), row.host.as_str()), ("alice", "ops1"));
        assert!(!row.stale);
        assert_eq!(row.word(), "locked");
        // 81 s later the heartbeat is 91 s old: three beats missed.
        let row = LockRow::at(&seen, 81);
        assert!(row.stale);
        assert_eq!(row.word(), "stale");
        assert!(
            row.describe().contains("stale: no heartbeat for over 90s"),
            "{}",
            row.describe()
        );
        // Never beat: judged by when it was taken.
        let fresh = LockSeen::from_poll(b"r-2 bob@h/pid1 0", Some(1_000), None, 1_020);
        assert!(!LockRow::at(&fresh, 0).stale);
        assert!(LockRow::at(&fresh, 71).stale);
    }

    #[test]
    fn hostile_owner_lines_are_bounded_and_cleaned() {
        let mut owner = b"r-1 \x1b[31mevil@h\x07/pid9 1\n".to_vec();
        owner.extend(std::iter::repeat_n(b'x', 10_000));
        let seen = LockSeen::from_poll(&owner, Some(1), Some(1), 1);
        assert!(seen.info.owner_line.len() <= OWNER_CAP);
        let row = LockRow::at(&seen, 0).cleaned();
        assert!(
            !row.owner.contains('\x1b') && !row.owner.contains('\x07'),
            "{:?}",
            row.owner
        );
        // No pid, garbage: none, never a panic.
        let seen = LockSeen::from_poll(b"\xff\xfe", None, None, 0);
        assert_eq!(seen.info.pid(), None);
        assert!(LockRow::at(&seen, 0).stale);
    }
}
