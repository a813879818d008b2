//! The merged probe: gateway readiness, liveness and cache age (plus the drain flag)
//! -> `healthy`, `draining` or `dead`, always with the reason.

use serde::Serialize;
use std::fmt;

use crate::observe::{Millis, NodeState};

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

/// The merged probe for one node at `now`; `None` before the first answer.
pub fn judge(st: &NodeState, now: Millis, rules: &Rules) -> Option<Verdict> {
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
    // The gateway's own readiness, polled every few seconds, outranks a gateway status
    // that may be minutes old.
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

    #[test]
    fn readyz_failing_is_dead_even_when_the_gateway_status_said_ready() {
        let ready = |code, rc| {
            Some(Stamped::new(
                ReadySeen {
                    code,
                    curl_rc: Some(rc),
                },
                NOW - 2_000,
            ))
        };
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
}
