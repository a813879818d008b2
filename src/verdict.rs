//! The merged probe: gateway readiness, liveness and cache age (plus the drain flag)
//! -> `healthy`, `draining` or `dead`, always with the reason.

use serde::Serialize;
use std::fmt;

use crate::observe::{Millis, NodeState};

mod explain;
pub use explain::{SignalCheck, explain};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Healthy,
    Draining,
    Dead,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Healthy => "healthy",
            Kind::Draining => "draining",
            Kind::Dead => "dead",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    pub reason: String,
}

impl Verdict {
    fn new(kind: Kind, reason: impl Into<String>) -> Self {
        Verdict {
            kind,
            reason: reason.into(),
        }
    }
}

/// Thresholds the verdict needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Cache marker older than this is stale (SPEC: 120 minutes by default).
    pub cache_max_age_s: u64,
    /// A gateway status older than this is stale and no longer counts as ready.
    pub gateway_stale_after_s: u64,
    /// With no readable poll for this long, the node's signals are all stale.
    pub poll_stale_after_s: u64,
    /// Set the drain flag aside (rollout phase "probe": the node is still drained).
    pub ignore_drain: bool,
}

impl Rules {
    /// Staleness limits that follow the poll cadences: a signal is stale once two of
    /// its polls in a row have not come back (plus one command timeout of slack).
    pub fn for_cadence(fast_s: u64, slow_s: u64, timeout_s: u64) -> Rules {
        Rules {
            cache_max_age_s: 120 * 60,
            gateway_stale_after_s: 2 * slow_s + timeout_s + 5,
            poll_stale_after_s: 3 * fast_s + timeout_s + 5,
            ignore_drain: false,
        }
    }
}

impl Default for Rules {
    /// The default cadences: cheap polls every 5 s, gateway status every 300 s, 10 s
    /// command timeout.
    fn default() -> Self {
        Rules::for_cadence(5, 300, 10)
    }
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d", s / 86400),
    }
}

/// Short human form of an age, as the table shows it.
pub fn human_age(secs: u64) -> String {
    human(secs)
}

/// The signals of the merged probe, in the order the verdict looks at them: the first
/// one that does not pass decides ([`decisive`]). [`judge`] words that decision and
/// [`explain`] lists every signal with its standing, so the two cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The last round trip: answered, unreachable, or answered with unreadable output.
    Reachability,
    /// The age of the last readable poll.
    LastGoodPoll,
    /// The gateway's `/readyz` (not checked when disabled or not polled yet).
    GatewayReadyz,
    /// The age of the gateway status.
    GatewayStatus,
    /// The gateway status's state.
    Gateway,
    Liveness,
    DrainFlag,
    CacheAge,
}

impl Signal {
    pub const ALL: [Signal; 8] = [
        Signal::Reachability,
        Signal::LastGoodPoll,
        Signal::GatewayReadyz,
        Signal::GatewayStatus,
        Signal::Gateway,
        Signal::Liveness,
        Signal::DrainFlag,
        Signal::CacheAge,
    ];

    /// The name [`explain`] shows.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Reachability => "reachability",
            Signal::LastGoodPoll => "last good poll",
            Signal::GatewayReadyz => "gateway readyz",
            Signal::GatewayStatus => "gateway status",
            Signal::Gateway => "gateway",
            Signal::Liveness => "liveness",
            Signal::DrainFlag => "drain flag",
            Signal::CacheAge => "cache age",
        }
    }
}

/// Where one signal stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Pass,
    Fail,
    /// Not known yet: holds the verdict back like a failure, except for the drain flag
    /// (an unknown drain flag is taken as clear).
    Unknown,
    /// Not checked at all (`/readyz` disabled or not polled yet): not listed.
    NotChecked,
}

impl Standing {
    fn of(pass: Option<bool>) -> Standing {
        match pass {
            Some(true) => Standing::Pass,
            Some(false) => Standing::Fail,
            None => Standing::Unknown,
        }
    }

    /// `Some(pass)`, `None` when unknown (as [`SignalCheck::pass`] says it).
    fn pass(self) -> Option<bool> {
        match self {
            Standing::Pass | Standing::NotChecked => Some(true),
            Standing::Fail => Some(false),
            Standing::Unknown => None,
        }
    }
}

/// Where `signal` stands at `now` under `rules`: the one set of thresholds.
pub fn standing(signal: Signal, st: &NodeState, now: Millis, rules: &Rules) -> Standing {
    match signal {
        Signal::Reachability if st.unreachable.is_some() || st.poll_error.is_some() => {
            Standing::Fail
        }
        Signal::Reachability => Standing::of(st.last_ok.map(|_| true)),
        Signal::LastGoodPoll => Standing::of(
            st.last_ok
                .map(|t| now.saturating_sub(t) / 1000 <= rules.poll_stale_after_s),
        ),
        Signal::GatewayReadyz => match &st.readyz {
            Some(r) => Standing::of(Some(r.value.ok())),
            None => Standing::NotChecked,
        },
        Signal::GatewayStatus => Standing::of(
            st.gateway
                .as_ref()
                .map(|g| g.age_s(now) <= rules.gateway_stale_after_s),
        ),
        Signal::Gateway => Standing::of(st.gateway.as_ref().map(|g| g.value.state.is_ready())),
        Signal::Liveness => Standing::of(st.live.as_ref().map(|l| l.value.ok())),
        Signal::DrainFlag => {
            Standing::of(st.drained.as_ref().map(|d| !d.value || rules.ignore_drain))
        }
        Signal::CacheAge => match st.cache_age_s(now) {
            Some(a) => Standing::of(Some(a <= rules.cache_max_age_s)),
            None if st.cache.is_some() => Standing::Fail,
            None => Standing::Unknown,
        },
    }
}

/// The signal that decides the verdict: the first that fails or is not known yet (an
/// unknown drain flag excepted). `None`: every signal passes (healthy).
pub fn decisive(st: &NodeState, now: Millis, rules: &Rules) -> Option<Signal> {
    Signal::ALL
        .into_iter()
        .find(|&s| match standing(s, st, now, rules) {
            Standing::Pass | Standing::NotChecked => false,
            Standing::Fail => true,
            Standing::Unknown => s != Signal::DrainFlag,
        })
}

/// The merged probe for one node at `now`; `None` before the first answer.
pub fn judge(st: &NodeState, now: Millis, rules: &Rules) -> Option<Verdict> {
    let dead = |reason: String| Some(Verdict::new(Kind::Dead, reason));
    let Some(signal) = decisive(st, now, rules) else {
        let age = st.cache_age_s(now).unwrap_or(0);
        return Some(Verdict::new(
            Kind::Healthy,
            format!("ready, live, cache {}", human(age)),
        ));
    };
    match signal {
        Signal::Reachability => match (&st.unreachable, &st.poll_error) {
            (Some(u), _) => dead(format!("host unreachable: {}", u.value)),
            (None, Some(e)) => dead(e.value.to_string()),
            // No answer yet: no verdict.
            (None, None) => None,
        },
        Signal::LastGoodPoll => {
            let age = st.last_ok.map_or(0, |t| now.saturating_sub(t) / 1000);
            dead(format!("no answer for {} (signals stale)", human(age)))
        }
        Signal::GatewayReadyz => dead(format!(
            "gateway readyz: {}",
            st.readyz
                .as_ref()
                .map_or(String::new(), |r| r.value.describe())
        )),
        Signal::GatewayStatus => match &st.gateway {
            None => dead("gateway status not polled yet".into()),
            Some(g) => dead(format!(
                "gateway status stale ({} old)",
                human(g.age_s(now))
            )),
        },
        Signal::Gateway => dead(format!(
            "gateway {}",
            st.gateway
                .as_ref()
                .map_or(String::new(), |g| g.value.state.label())
        )),
        Signal::Liveness => match &st.live {
            Some(l) => dead(format!("liveness failing: {}", l.value.describe())),
            None => dead("liveness not polled yet".into()),
        },
        Signal::DrainFlag => Some(Verdict::new(Kind::Draining, "drained")),
        Signal::CacheAge => Some(Verdict::new(
            Kind::Draining,
            match st.cache_age_s(now) {
                None => "warming: cache cold".to_string(),
                Some(a) => format!(
                    "warming: cache stale ({} > {})",
                    human(a),
                    human(rules.cache_max_age_s)
                ),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{CacheSeen, LiveSeen, ReadySeen, Stamped};
    use crate::signals::{GatewayState, GatewayStatus, SignalError};

    const NOW: Millis = 1_800_000_000_000;

    fn gw(state: GatewayState) -> GatewayStatus {
        GatewayStatus {
            state,
            build_id: Some("b1".into()),
            cli_version: Some("1".into()),
            daemon_version: Some("1".into()),
            bind: None,
            listeners: vec![],
            error: None,
        }
    }

    fn healthy() -> NodeState {
        NodeState {
            gateway: Some(Stamped::new(gw(GatewayState::Ready), NOW - 10_000)),
            cache: Some(Stamped::new(
                CacheSeen {
                    age_at_poll_s: Some(600),
                },
                NOW - 2_000,
            )),
            live: Some(Stamped::new(
                LiveSeen {
                    code: Some(200),
                    curl_rc: 0,
                },
                NOW - 2_000,
            )),
            drained: Some(Stamped::new(false, NOW - 2_000)),
            last_ok: Some(NOW - 2_000),
            ..NodeState::default()
        }
    }

    fn v(st: &NodeState) -> Verdict {
        judge(st, NOW, &Rules::default()).expect("verdict")
    }

    #[test]
    fn healthy_needs_all_three_signals_and_no_drain() {
        let r = v(&healthy());
        assert_eq!(r.kind, Kind::Healthy);
        assert_eq!(r.reason, "ready, live, cache 10m");
    }

    #[test]
    fn nothing_known_yet_is_no_verdict() {
        assert_eq!(judge(&NodeState::default(), NOW, &Rules::default()), None);
    }

    #[test]
    fn dead_reasons() {
        let mut st = healthy();
        st.unreachable = Some(Stamped::new("connection refused".into(), NOW));
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "host unreachable: connection refused")
        );

        let mut st = healthy();
        st.poll_error = Some(Stamped::new(
            SignalError::new("poll", "output is not UTF-8"),
            NOW,
        ));
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "poll: output is not UTF-8")
        );

        for (state, want) in [
            (GatewayState::Unreachable, "gateway unreachable"),
            (
                GatewayState::AuthRejected(String::new()),
                "gateway auth rejected",
            ),
            (GatewayState::TimedOut, "gateway status timed out"),
            (
                GatewayState::Unparseable("not JSON (exit 1): \"x\"".into()),
                "gateway unparseable status: not JSON (exit 1): \"x\"",
            ),
        ] {
            let mut st = healthy();
            st.gateway = Some(Stamped::new(gw(state), NOW));
            assert_eq!(v(&st), Verdict::new(Kind::Dead, want));
        }

        let mut st = healthy();
        st.live = Some(Stamped::new(
            LiveSeen {
                code: Some(503),
                curl_rc: 0,
            },
            NOW,
        ));
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "liveness failing: HTTP 503")
        );
        st.live = Some(Stamped::new(
            LiveSeen {
                code: None,
                curl_rc: 7,
            },
            NOW,
        ));
        assert_eq!(v(&st).reason, "liveness failing: no answer (curl exit 7)");
    }

    /// A `/readyz` answer seen 2 s ago: HTTP `code` (None: no answer), curl's `rc`.
    fn ready(code: Option<u16>, rc: i32) -> Option<Stamped<ReadySeen>> {
        Some(Stamped::new(
            ReadySeen {
                code,
                curl_rc: Some(rc),
            },
            NOW - 2_000,
        ))
    }

    #[test]
    fn readyz_failing_is_dead_even_when_the_gateway_status_said_ready() {
        let mut st = healthy();
        st.readyz = ready(Some(200), 0);
        assert_eq!(v(&st).kind, Kind::Healthy);
        st.readyz = ready(None, 7);
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "gateway readyz: connection refused")
        );
        st.readyz = ready(Some(503), 0);
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "gateway readyz: 503 not ready")
        );
        st.readyz = ready(None, 28);
        assert_eq!(v(&st).reason, "gateway readyz: timed out");
        // Readiness not checked (disabled): the gateway status alone decides.
        st.readyz = None;
        assert_eq!(v(&st).kind, Kind::Healthy);
    }

    #[test]
    fn stale_signals_are_never_current() {
        let mut st = healthy();
        // Defaults: gateway status every 300 s, stale after two missed ones.
        st.gateway = Some(Stamped::new(gw(GatewayState::Ready), NOW - 200_000));
        assert_eq!(v(&st).kind, Kind::Healthy);
        st.gateway = Some(Stamped::new(gw(GatewayState::Ready), NOW - 700_000));
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "gateway status stale (11m old)")
        );
        // A faster cadence makes it stale sooner.
        let fast = Rules::for_cadence(5, 30, 10);
        assert_eq!(fast.gateway_stale_after_s, 75);
        st.gateway = Some(Stamped::new(gw(GatewayState::Ready), NOW - 80_000));
        assert_eq!(
            judge(&st, NOW, &fast).map(|v| v.reason),
            Some("gateway status stale (80s old)".into())
        );
        let mut st = healthy();
        st.last_ok = Some(NOW - 300_000);
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Dead, "no answer for 5m (signals stale)")
        );
    }

    #[test]
    fn draining_reasons_and_probe_mode() {
        let mut st = healthy();
        st.drained = Some(Stamped::new(true, NOW));
        assert_eq!(v(&st), Verdict::new(Kind::Draining, "drained"));
        let probe = Rules {
            ignore_drain: true,
            ..Rules::default()
        };
        assert_eq!(judge(&st, NOW, &probe).map(|v| v.kind), Some(Kind::Healthy));

        let mut st = healthy();
        st.cache = Some(Stamped::new(
            CacheSeen {
                age_at_poll_s: None,
            },
            NOW,
        ));
        assert_eq!(v(&st), Verdict::new(Kind::Draining, "warming: cache cold"));
        st.cache = Some(Stamped::new(
            CacheSeen {
                age_at_poll_s: Some(3 * 3600),
            },
            NOW,
        ));
        assert_eq!(
            v(&st),
            Verdict::new(Kind::Draining, "warming: cache stale (3h00m > 2h00m)")
        );
    }

    #[test]
    fn cache_age_grows_between_polls() {
        let mut st = healthy();
        st.cache = Some(Stamped::new(
            CacheSeen {
                age_at_poll_s: Some(7190),
            },
            NOW - 20_000,
        ));
        assert_eq!(st.cache_age_s(NOW), Some(7210));
        let r = judge(
            &st,
            NOW,
            &Rules {
                poll_stale_after_s: 60,
                ..Rules::default()
            },
        )
        .expect("v");
        assert_eq!(r.kind, Kind::Draining);
    }
    fn lines(st: &NodeState, rules: &Rules) -> Vec<String> {
        explain(st, NOW, rules)
            .iter()
            .map(SignalCheck::line)
            .collect()
    }

    #[test]
    fn explain_lists_every_signal_with_value_limit_age_and_pass() {
        assert_eq!(
            lines(&healthy(), &Rules::default()),
            vec![
                "reachability answered: pass",
                "last good poll age 2s <= 30s limit: pass",
                "gateway status age 10s <= 10m15s limit: pass",
                "gateway ready (expected ready) (seen 10s ago): pass",
                "liveness HTTP 200 (expected HTTP 2xx) (seen 2s ago): pass",
                "drain flag clear (expected clear) (seen 2s ago): pass",
                "cache age 10m <= 2h00m limit (seen 2s ago): pass",
            ]
        );
    }

    #[test]
    fn explain_shows_readyz_and_lets_it_decide_over_a_ready_gateway_status() {
        let mut st = healthy();
        st.readyz = ready(Some(200), 0);
        let l = lines(&st, &Rules::default());
        assert!(
            l.iter()
                .any(|x| x.starts_with("gateway readyz ") && x.ends_with(": pass")),
            "{l:?}"
        );
        st.readyz = ready(None, 7);
        let c = explain(&st, NOW, &Rules::default());
        let decided: Vec<&str> = c.iter().filter(|c| c.decides).map(|c| c.signal).collect();
        assert_eq!(decided, vec!["gateway readyz"]);
        let line = c
            .iter()
            .find(|c| c.decides)
            .map(SignalCheck::line)
            .unwrap_or_default();
        assert!(
            line.contains("connection refused") && line.contains("fail"),
            "{line}"
        );
        // The gateway status line still says ready: readyz is what decided.
        assert!(
            c.iter()
                .any(|c| c.signal == "gateway" && c.pass == Some(true))
        );
    }

    #[test]
    fn explain_marks_the_signal_that_decided_the_verdict() {
        // A stale cache: draining, and the cache line says why.
        let mut st = healthy();
        st.cache = Some(Stamped::new(
            CacheSeen {
                age_at_poll_s: Some(3 * 3600 + 120),
            },
            NOW,
        ));
        let l = lines(&st, &Rules::default());
        assert_eq!(
            l[6],
            "cache age 3h02m > 2h00m limit (seen 0s ago): fail  <- the verdict"
        );
        assert!(l[..6].iter().all(|x| x.ends_with(": pass")), "{l:?}");

        // Drained and liveness failing: liveness decides (dead comes first).
        let mut st = healthy();
        st.drained = Some(Stamped::new(true, NOW));
        st.live = Some(Stamped::new(
            LiveSeen {
                code: Some(503),
                curl_rc: 0,
            },
            NOW - 4_000,
        ));
        let c = explain(&st, NOW, &Rules::default());
        let decided: Vec<&str> = c.iter().filter(|c| c.decides).map(|c| c.signal).collect();
        assert_eq!(decided, vec!["liveness"]);
        assert_eq!(
            c[4].line(),
            "liveness HTTP 503 (expected HTTP 2xx) (seen 4s ago): fail  <- the verdict"
        );
        assert_eq!(c[5].pass, Some(false), "the drain flag fails too");
        assert!(!c[5].decides);

        // In the rollout's probe the drain flag is set aside and passes.
        let mut st = healthy();
        st.drained = Some(Stamped::new(true, NOW));
        let probe = Rules {
            ignore_drain: true,
            ..Rules::default()
        };
        let c = explain(&st, NOW, &probe);
        assert_eq!(c[5].pass, Some(true));
        assert!(c.iter().all(|c| !c.decides));

        // A stale gateway status: the staleness line decides, with its limit.
        let mut st = healthy();
        st.gateway = Some(Stamped::new(gw(GatewayState::Ready), NOW - 700_000));
        let c = explain(&st, NOW, &Rules::default());
        assert_eq!(
            c[2].line(),
            "gateway status age 11m > 10m15s limit: fail  <- the verdict"
        );
    }

    #[test]
    fn explain_of_an_unreachable_node_cleans_what_the_node_said() {
        let mut st = healthy();
        st.unreachable = Some(Stamped::new(
            "refused \x1b]0;owned\x07".into(),
            NOW - 12_000,
        ));
        let c = explain(&st, NOW, &Rules::default());
        assert_eq!(
            c[0].line(),
            "reachability host unreachable: refused \\e]0;owned\\x07 (seen 12s ago): fail  <- the verdict"
        );
        // Nothing known yet: unknown, and no verdict to explain.
        let c = explain(&NodeState::default(), NOW, &Rules::default());
        assert!(
            c.iter()
                .all(|c| c.pass.is_none() || c.signal == "cache age")
        );
        assert!(c.iter().all(|c| !c.decides));
    }
    /// `judge` as it was written before it became "the first signal of `explain` that
    /// does not pass": the reference the one set of rules must agree with.
    fn judge_before(st: &NodeState, now: Millis, rules: &Rules) -> Option<Verdict> {
        if let Some(u) = &st.unreachable {
            return Some(Verdict::new(
                Kind::Dead,
                format!("host unreachable: {}", u.value),
            ));
        }
        if let Some(e) = &st.poll_error {
            return Some(Verdict::new(Kind::Dead, e.value.to_string()));
        }
        let last_ok = st.last_ok?;
        let poll_age = now.saturating_sub(last_ok) / 1000;
        if poll_age > rules.poll_stale_after_s {
            return Some(Verdict::new(
                Kind::Dead,
                format!("no answer for {} (signals stale)", human(poll_age)),
            ));
        }
        if let Some(r) = &st.readyz
            && !r.value.ok()
        {
            return Some(Verdict::new(
                Kind::Dead,
                format!("gateway readyz: {}", r.value.describe()),
            ));
        }
        let Some(gw) = &st.gateway else {
            return Some(Verdict::new(Kind::Dead, "gateway status not polled yet"));
        };
        let gw_age = gw.age_s(now);
        if gw_age > rules.gateway_stale_after_s {
            return Some(Verdict::new(
                Kind::Dead,
                format!("gateway status stale ({} old)", human(gw_age)),
            ));
        }
        if !gw.value.state.is_ready() {
            return Some(Verdict::new(
                Kind::Dead,
                format!("gateway {}", gw.value.state.label()),
            ));
        }
        match &st.live {
            Some(l) if l.value.ok() => {}
            Some(l) => {
                return Some(Verdict::new(
                    Kind::Dead,
                    format!("liveness failing: {}", l.value.describe()),
                ));
            }
            None => return Some(Verdict::new(Kind::Dead, "liveness not polled yet")),
        }
        let drained = st.drained.as_ref().is_some_and(|d| d.value);
        if drained && !rules.ignore_drain {
            return Some(Verdict::new(Kind::Draining, "drained"));
        }
        match st.cache_age_s(now) {
            None => Some(Verdict::new(Kind::Draining, "warming: cache cold")),
            Some(a) if a > rules.cache_max_age_s => Some(Verdict::new(
                Kind::Draining,
                format!(
                    "warming: cache stale ({} > {})",
                    human(a),
                    human(rules.cache_max_age_s)
                ),
            )),
            Some(a) => Some(Verdict::new(
                Kind::Healthy,
                format!("ready, live, cache {}", human(a)),
            )),
        }
    }

    /// Every combination of every signal's cases: missing, passing, failing, stale.
    fn every_state() -> Vec<(NodeState, Rules)> {
        let live = |code| {
            Some(Stamped::new(
                LiveSeen {
                    code: Some(code),
                    curl_rc: 0,
                },
                NOW - 3_000,
            ))
        };
        let cache =
            |age: Option<u64>| Some(Stamped::new(CacheSeen { age_at_poll_s: age }, NOW - 1_000));
        let probe = Rules {
            ignore_drain: true,
            ..Rules::default()
        };
        let mut out = Vec::new();
        for unreachable in [None, Some(Stamped::new("refused".to_string(), NOW - 4_000))] {
            for poll_error in [
                None,
                Some(Stamped::new(
                    SignalError::new("poll", "not UTF-8"),
                    NOW - 4_000,
                )),
            ] {
                for last_ok in [None, Some(NOW - 2_000), Some(NOW - 900_000)] {
                    for readyz in [
                        None,
                        ready(Some(200), 0),
                        ready(Some(503), 0),
                        ready(None, 7),
                    ] {
                        for gateway in [
                            None,
                            Some(Stamped::new(gw(GatewayState::Ready), NOW - 10_000)),
                            Some(Stamped::new(gw(GatewayState::Ready), NOW - 3_600_000)),
                            Some(Stamped::new(gw(GatewayState::Unreachable), NOW - 10_000)),
                            Some(Stamped::new(
                                gw(GatewayState::AuthRejected("token".into())),
                                NOW - 10_000,
                            )),
                        ] {
                            for live in [None, live(200), live(503)] {
                                for drained in [
                                    None,
                                    Some(Stamped::new(false, NOW)),
                                    Some(Stamped::new(true, NOW)),
                                ] {
                                    for cache in
                                        [None, cache(Some(600)), cache(None), cache(Some(3 * 3600))]
                                    {
                                        for rules in [Rules::default(), probe] {
                                            out.push((
                                                NodeState {
                                                    unreachable: unreachable.clone(),
                                                    poll_error: poll_error.clone(),
                                                    last_ok,
                                                    readyz: readyz.clone(),
                                                    gateway: gateway.clone(),
                                                    live: live.clone(),
                                                    drained: drained.clone(),
                                                    cache: cache.clone(),
                                                    ..NodeState::default()
                                                },
                                                rules,
                                            ));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// One set of rules: over every combination of signals, the verdict is what it was,
    /// and `explain` marks as deciding exactly the first signal that does not pass (an
    /// unknown drain flag excepted), and nothing when healthy or not known yet.
    #[test]
    fn judge_is_the_first_signal_of_explain_that_does_not_pass() {
        let states = every_state();
        assert!(states.len() > 10_000);
        let mut seen = std::collections::BTreeSet::new();
        for (st, rules) in &states {
            let verdict = judge(st, NOW, rules);
            assert_eq!(verdict, judge_before(st, NOW, rules), "{st:?} {rules:?}");
            let checks = explain(st, NOW, rules);
            let deciding: Vec<&str> = checks
                .iter()
                .filter(|c| c.decides)
                .map(|c| c.signal)
                .collect();
            let first = checks
                .iter()
                .find(|c| match c.pass {
                    Some(true) => false,
                    Some(false) => true,
                    None => c.signal != "drain flag",
                })
                .map(|c| c.signal);
            match &verdict {
                Some(v) if v.kind != Kind::Healthy => {
                    assert_eq!(deciding.len(), 1, "{v:?} {checks:?}");
                    assert_eq!(first, Some(deciding[0]), "{v:?} {checks:?}");
                    seen.insert(deciding[0]);
                }
                Some(_) => {
                    assert_eq!(deciding, Vec::<&str>::new());
                    assert_eq!(first, None, "healthy, yet {checks:?}");
                    assert!(checks.iter().all(|c| c.pass != Some(false)), "{checks:?}");
                }
                None => {
                    assert_eq!(deciding, Vec::<&str>::new());
                    assert_eq!(first, Some("reachability"), "{checks:?}");
                }
            }
        }
        // Every signal decides somewhere in the grid.
        let every: std::collections::BTreeSet<&str> =
            Signal::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(seen, every);
    }
}
