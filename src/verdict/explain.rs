//! Why [`judge`](super::judge) says what it says: one check per signal of the merged
//! probe, mapped over [`Signal::ALL`] in the order the verdict looks at them.

use serde::Serialize;

use super::{Kind, Rules, Signal, decisive, human, judge, standing};
use crate::observe::{Millis, NodeState};
use crate::safe_text::clean;

/// One signal of the merged probe, as on-call reads it: its value, the limit it is held
/// to, how old it is, and whether it passes. Node text in `value` is already cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalCheck {
    /// `reachability`, `poll`, `gateway status`, `gateway`, `liveness`, `drain`,
    /// `cache age`.
    pub signal: &'static str,
    pub value: String,
    /// The comparison and the limit, e.g. `> 2h00m limit`, `expected ready`.
    pub limit: String,
    /// Age of the observation, when there is one.
    pub age_s: Option<u64>,
    /// `None` when the signal is not known yet (it then counts as failing).
    pub pass: Option<bool>,
    /// This is the check that decided the verdict (the first failing one in the order
    /// [`judge`] looks at them).
    pub decides: bool,
}

impl SignalCheck {
    /// `cache age 3h02m > 2h00m limit: fail`.
    pub fn line(&self) -> String {
        let age = self
            .age_s
            .map_or(String::new(), |a| format!(" (seen {} ago)", human(a)));
        let verdict = match self.pass {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "unknown",
        };
        let limit = if self.limit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.limit)
        };
        format!(
            "{} {}{limit}{age}: {verdict}{}",
            self.signal,
            self.value,
            if self.decides { "  <- the verdict" } else { "" }
        )
    }
}

/// Every signal of the merged probe at `now`, in the order the verdict looks at them,
/// with the one that decided it marked. A signal not checked (`/readyz` disabled or not
/// polled yet) is not listed.
pub fn explain(st: &NodeState, now: Millis, rules: &Rules) -> Vec<SignalCheck> {
    let deciding = judge(st, now, rules)
        .filter(|j| j.kind != Kind::Healthy)
        .and_then(|_| decisive(st, now, rules));
    Signal::ALL
        .into_iter()
        .filter_map(|signal| {
            let pass = standing(signal, st, now, rules).pass();
            let r = reading(signal, st, now, rules, pass)?;
            Some(SignalCheck {
                signal: signal.name(),
                value: r.value,
                limit: r.limit,
                age_s: r.age_s,
                pass,
                decides: deciding == Some(signal),
            })
        })
        .collect()
}

/// What one check shows of its signal: the value, the limit it is held to, the age of
/// the observation.
struct Reading {
    value: String,
    limit: String,
    age_s: Option<u64>,
}

impl Reading {
    fn new(value: impl Into<String>, limit: impl Into<String>, age_s: Option<u64>) -> Self {
        Reading {
            value: value.into(),
            limit: limit.into(),
            age_s,
        }
    }
}

/// The one check of `signal` (`pass`: where it stands, for the comparison shown);
/// `None` when it is not checked ([`super::Standing::NotChecked`]).
fn reading(
    signal: Signal,
    st: &NodeState,
    now: Millis,
    rules: &Rules,
    pass: Option<bool>,
) -> Option<Reading> {
    Some(match signal {
        Signal::Reachability => reachability(st, now),
        Signal::LastGoodPoll => last_good_poll(st, now, rules, pass),
        Signal::GatewayReadyz => return gateway_readyz(st, now),
        Signal::GatewayStatus => gateway_status(st, now, rules, pass),
        Signal::Gateway => gateway(st, now),
        Signal::Liveness => liveness(st, now),
        Signal::DrainFlag => drain_flag(st, now, rules),
        Signal::CacheAge => cache_age(st, now, rules, pass),
    })
}

/// `<= 30s limit` or `> 30s limit`, the limit shown exactly (10m15s, not 10m): it is
/// what the value is held to.
fn limit(op: &str, s: u64) -> String {
    let h = if (120..7200).contains(&s) && !s.is_multiple_of(60) {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        human(s)
    };
    format!("{op} {h} limit")
}

/// The limit of a value that is known: `<=` when it passes, `>` when not.
fn held_to(pass: Option<bool>, s: u64) -> String {
    limit(if pass == Some(true) { "<=" } else { ">" }, s)
}

fn reachability(st: &NodeState, now: Millis) -> Reading {
    match (&st.unreachable, &st.poll_error) {
        (Some(u), _) => Reading::new(
            format!("host unreachable: {}", clean(&u.value)),
            "",
            Some(u.age_s(now)),
        ),
        (None, Some(e)) => Reading::new(
            format!(
                "answered, output unreadable: {}",
                clean(&e.value.to_string())
            ),
            "",
            Some(e.age_s(now)),
        ),
        (None, None) if st.last_ok.is_some() => Reading::new("answered", "", None),
        (None, None) => Reading::new("no answer yet", "", None),
    }
}

fn last_good_poll(st: &NodeState, now: Millis, rules: &Rules, pass: Option<bool>) -> Reading {
    match st.last_ok {
        Some(t) => Reading::new(
            format!("age {}", human(now.saturating_sub(t) / 1000)),
            held_to(pass, rules.poll_stale_after_s),
            None,
        ),
        None => Reading::new("never", limit("<=", rules.poll_stale_after_s), None),
    }
}

/// The gateway's /readyz, checked in every cheap poll; it outranks an older gateway
/// status, as in `judge`. `None`: not checked (disabled, or not polled yet).
fn gateway_readyz(st: &NodeState, now: Millis) -> Option<Reading> {
    st.readyz.as_ref().map(|r| {
        Reading::new(
            clean(&r.value.describe()),
            "(expected ready)",
            Some(r.age_s(now)),
        )
    })
}

fn gateway_status(st: &NodeState, now: Millis, rules: &Rules, pass: Option<bool>) -> Reading {
    match &st.gateway {
        Some(g) => Reading::new(
            format!("age {}", human(g.age_s(now))),
            held_to(pass, rules.gateway_stale_after_s),
            None,
        ),
        None => Reading::new(
            "not polled yet",
            limit("<=", rules.gateway_stale_after_s),
            None,
        ),
    }
}

fn gateway(st: &NodeState, now: Millis) -> Reading {
    match &st.gateway {
        Some(g) => Reading::new(
            clean(&g.value.state.label()),
            "(expected ready)",
            Some(g.age_s(now)),
        ),
        None => Reading::new("unknown", "(expected ready)", None),
    }
}

fn liveness(st: &NodeState, now: Millis) -> Reading {
    match &st.live {
        Some(l) => Reading::new(
            l.value.describe(),
            "(expected HTTP 2xx)",
            Some(l.age_s(now)),
        ),
        None => Reading::new("not polled yet", "(expected HTTP 2xx)", None),
    }
}

fn drain_flag(st: &NodeState, now: Millis, rules: &Rules) -> Reading {
    match &st.drained {
        Some(d) if d.value && rules.ignore_drain => {
            Reading::new("set (set aside: rollout probe)", "", Some(d.age_s(now)))
        }
        Some(d) => Reading::new(
            if d.value { "set" } else { "clear" },
            "(expected clear)",
            Some(d.age_s(now)),
        ),
        None => Reading::new("not polled yet", "(expected clear)", None),
    }
}

fn cache_age(st: &NodeState, now: Millis, rules: &Rules, pass: Option<bool>) -> Reading {
    let seen = st.cache.as_ref().map(|c| c.age_s(now));
    match st.cache_age_s(now) {
        Some(a) => Reading::new(human(a), held_to(pass, rules.cache_max_age_s), seen),
        None if st.cache.is_some() => {
            Reading::new("cold (no marker)", limit("<=", rules.cache_max_age_s), seen)
        }
        None => Reading::new("not polled yet", limit("<=", rules.cache_max_age_s), None),
    }
}
