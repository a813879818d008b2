//! What we know about one node: every signal with the time it was observed.
//!
//! A poll result folds into a [`NodeState`] with [`NodeState::apply_poll`]; a failed
//! round trip with [`NodeState::apply_failure`]. Signals that a poll did not carry
//! (the gateway status runs on its own slow cadence) keep their old value and their
//! old timestamp, so they age and can be shown as stale.

use serde::Serialize;

use crate::signals::{
    self, CliIdentity, Disk, DoctorReport, GatewayStatus, LockSeen, RawPoll, SignalError,
};

/// Wall-clock milliseconds since the Unix epoch. Time is always passed in.
pub type Millis = u64;

/// Now, for callers at the edge (the event loop, the headless command).
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (Howard Hinnant's
/// civil-from-days): dates for log file names and journal timelines without a clock crate.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A value and when it was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamped<T> {
    pub value: T,
    pub at: Millis,
}

impl<T> Stamped<T> {
    pub fn new(value: T, at: Millis) -> Self {
        Stamped { value, at }
    }
    /// Age in whole seconds at `now`.
    pub fn age_s(&self, now: Millis) -> u64 {
        now.saturating_sub(self.at) / 1000
    }
}

/// `current` and the lock file of the bundle it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestSeen {
    /// Target of `current` (a bundle directory name), `None` when there is none.
    pub target: Option<String>,
    /// `current` is a plain directory, not a symlink (a hand deploy).
    pub not_link: bool,
    pub bundle_dir: bool,
    pub lock: Option<LockSeen>,
}

impl ManifestSeen {
    /// The SKILLS_SHA this bundle is known by: its directory name (last path part).
    pub fn sha(&self) -> Option<&str> {
        self.target
            .as_deref()
            .map(|t| t.trim_end_matches('/').rsplit('/').next().unwrap_or(t))
    }
}

/// The cache marker: its age on the node's own clock when polled; `None` = cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheSeen {
    pub age_at_poll_s: Option<u64>,
}

/// Liveness URL result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiveSeen {
    pub code: Option<u16>,
    pub curl_rc: i32,
}

impl LiveSeen {
    pub fn ok(&self) -> bool {
        matches!(self.code, Some(200..=299))
    }
    pub fn describe(&self) -> String {
        match self.code {
            Some(c) => format!("HTTP {c}"),
            None => format!("no answer (curl exit {})", self.curl_rc),
        }
    }
}

/// The gateway's readiness URL (`/readyz`), checked in every cheap poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadySeen {
    pub code: Option<u16>,
    /// curl's exit code; `None` when curl could not say.
    pub curl_rc: Option<i32>,
}

impl ReadySeen {
    pub fn ok(&self) -> bool {
        matches!(self.code, Some(200..=299))
    }
    /// Why it is not ready, as the verdict words it: `connection refused`,
    /// `503 not ready`, `timed out`.
    pub fn describe(&self) -> String {
        match (self.code, self.curl_rc) {
            (Some(c), _) if (200..=299).contains(&c) => format!("{c} ready"),
            (Some(c), _) => format!("{c} not ready"),
            (None, Some(7)) => "connection refused".into(),
            (None, Some(28)) => "timed out".into(),
            (None, Some(6)) => "host not found".into(),
            (None, Some(rc)) => format!("no answer (curl exit {rc})"),
            (None, None) => "no answer".into(),
        }
    }
}

/// Everything we know about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeState {
    pub gateway: Option<Stamped<GatewayStatus>>,
    pub manifest: Option<Stamped<ManifestSeen>>,
    pub cache: Option<Stamped<CacheSeen>>,
    pub live: Option<Stamped<LiveSeen>>,
    /// The gateway's `/readyz`; `None` when not checked (disabled, or not polled yet).
    pub readyz: Option<Stamped<ReadySeen>>,
    pub disk: Option<Stamped<Result<Disk, String>>>,
    pub drained: Option<Stamped<bool>>,
    pub doctor: Option<Stamped<Result<DoctorReport, String>>>,
    /// The last round trip failed (connection, host key, timeout): when and why.
    pub unreachable: Option<Stamped<String>>,
    /// The last round trip came back but could not be read.
    pub poll_error: Option<Stamped<SignalError>>,
    /// The last error of any kind, kept after recovery for the table's "last error".
    pub last_error: Option<Stamped<String>>,
    /// When the last round trip came back with a readable poll.
    pub last_ok: Option<Millis>,
    /// Which CLI the node's poll channel runs (path and `--version`), as of when the
    /// channel opened; kept across one-shot polls, which do not say.
    pub cli: Option<Stamped<CliIdentity>>,
    pub polls_ok: u64,
    pub polls_failed: u64,
    /// After connects that failed: when the node's polls connect again (its connect
    /// backoff; `r` tries at once). Cleared by the next poll's result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_connect: Option<Millis>,
    /// The node lock a rollout holds, as the last readable poll saw it (`None`: not
    /// locked then, or never polled).
    pub node_lock: Option<Stamped<crate::node_lock::LockSeen>>,
}

impl NodeState {
    /// Fold one readable poll in, observed at `at`.
    pub fn apply_poll(&mut self, raw: RawPoll, at: Millis) {
        self.unreachable = None;
        self.next_connect = None;
        self.poll_error = None;
        self.last_ok = Some(at);
        self.polls_ok += 1;
        if let Some(run) = &raw.gateway {
            let g = signals::gateway::parse(run);
            if !g.state.is_ready() {
                self.last_error = Some(Stamped::new(format!("gateway: {}", g.state.label()), at));
            }
            self.gateway = Some(Stamped::new(g, at));
        }
        if let Some(run) = &raw.doctor {
            let d = signals::doctor::parse(run).map_err(|e| e.to_string());
            if let Err(e) = &d {
                self.last_error = Some(Stamped::new(e.clone(), at));
            }
            self.doctor = Some(Stamped::new(d, at));
        }
        self.manifest = Some(Stamped::new(
            ManifestSeen {
                target: raw.current.clone(),
                not_link: raw.current_not_link,
                bundle_dir: raw.bundle_dir,
                lock: raw.lock.clone(),
            },
            at,
        ));
        let age = raw
            .cache_mtime
            .map(|m| u64::try_from(raw.node_now.saturating_sub(m)).unwrap_or(0));
        self.cache = Some(Stamped::new(CacheSeen { age_at_poll_s: age }, at));
        self.live = Some(Stamped::new(
            LiveSeen {
                code: raw.live_code,
                curl_rc: raw.live_rc,
            },
            at,
        ));
        self.readyz = raw.ready.map(|r| {
            Stamped::new(
                ReadySeen {
                    code: r.code,
                    curl_rc: r.rc,
                },
                at,
            )
        });
        self.drained = Some(Stamped::new(raw.drain, at));
        self.node_lock = raw.node_lock.as_ref().map(|l| {
            let seen = crate::node_lock::LockSeen::from_poll(
                l.owner.as_deref().unwrap_or_default(),
                l.owner_mtime,
                l.heartbeat_mtime,
                raw.node_now,
            );
            Stamped::new(seen, at)
        });
        if let Err(e) = &raw.disk {
            self.last_error = Some(Stamped::new(e.to_string(), at));
        }
        self.disk = Some(Stamped::new(raw.disk.map_err(|e| e.to_string()), at));
        if let Some(c) = raw.cli {
            self.cli = Some(Stamped::new(c, at));
        }
    }

    /// A round trip whose output could not be read.
    pub fn apply_poll_error(&mut self, err: SignalError, at: Millis) {
        self.unreachable = None;
        self.next_connect = None;
        self.polls_failed += 1;
        self.last_error = Some(Stamped::new(err.to_string(), at));
        self.poll_error = Some(Stamped::new(err, at));
    }

    /// A round trip that failed: connection refused, host key, timeout.
    pub fn apply_failure(&mut self, err: String, at: Millis) {
        self.polls_failed += 1;
        self.next_connect = None;
        self.last_error = Some(Stamped::new(err.clone(), at));
        self.unreachable = Some(Stamped::new(err, at));
    }

    /// Cache age now: the age the node reported plus the time since the poll.
    pub fn cache_age_s(&self, now: Millis) -> Option<u64> {
        let c = self.cache.as_ref()?;
        c.value.age_at_poll_s.map(|a| a + c.age_s(now))
    }

    /// Whether this node has been polled successfully at least once.
    pub fn seen(&self) -> bool {
        self.last_ok.is_some()
    }
}
