//! `openclaw gateway status --json`, as the real CLI 2026.9.6 prints it.
//!
//! Ready when `rpc.ok` is true (the CLI exits 0 either way). A vendor-neutral
//! `{"state": "ready"}` is accepted too. Unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CliRun, excerpt};

/// Why the gateway is or is not ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum GatewayState {
    Ready,
    /// Nothing listens (`connect ECONNREFUSED`, `connectFailure.kind = unreachable`).
    Unreachable,
    /// The gateway answered but refused our credentials; the detail says how, when it
    /// is more than a token mismatch.
    AuthRejected(String),
    /// The gateway answered but is not ready, with its error.
    NotReady(String),
    /// Output that is not a status document (not JSON, not UTF-8, not an object).
    Unparseable(String),
    /// More output than we accept.
    TooLarge,
    /// The CLI did not finish in time and was killed on the node.
    TimedOut,
}

impl GatewayState {
    pub fn is_ready(&self) -> bool {
        matches!(self, GatewayState::Ready)
    }

    /// The short reason a table shows.
    pub fn label(&self) -> String {
        match self {
            GatewayState::Ready => "ready".into(),
            GatewayState::Unreachable => "unreachable".into(),
            GatewayState::AuthRejected(d) if d.is_empty() => "auth rejected".into(),
            GatewayState::AuthRejected(d) => format!("auth rejected ({d})"),
            GatewayState::NotReady(e) => format!("not ready: {e}"),
            GatewayState::Unparseable(e) => format!("unparseable status: {e}"),
            GatewayState::TooLarge => "status output too large".into(),
            GatewayState::TimedOut => "status timed out".into(),
        }
    }
}

/// The gateway signal of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayStatus {
    pub state: GatewayState,
    pub build_id: Option<String>,
    pub cli_version: Option<String>,
    pub daemon_version: Option<String>,
    /// `gateway.bindHost:gateway.port`.
    pub bind: Option<String>,
    /// `port.listeners[].address`.
    pub listeners: Vec<String>,
    /// `rpc.error`, verbatim (already bounded by the output cap).
    pub error: Option<String>,
}

impl GatewayStatus {
    fn bare(state: GatewayState) -> Self {
        GatewayStatus {
            state,
            build_id: None,
            cli_version: None,
            daemon_version: None,
            bind: None,
            listeners: Vec::new(),
            error: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    state: Option<String>,
    build: Option<String>,
    version: Option<String>,
    cli: Option<Cli>,
    gateway: Option<Gw>,
    port: Option<Port>,
    rpc: Option<Rpc>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Cli {
    version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Gw {
    bind_host: Option<String>,
    port: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Port {
    listeners: Vec<Listener>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Listener {
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Rpc {
    ok: Option<bool>,
    error: Option<String>,
    server: Option<Server>,
    connect_failure: Option<ConnectFailure>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Server {
    version: Option<String>,
    build_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConnectFailure {
    kind: Option<String>,
}

/// `rpc.connectFailure.kind` values of the real CLI 2026.9.6
/// (`classifyGatewayConnectFailure`) that mean the gateway answered but refused us,
/// with the words we show.
const REFUSALS: &[(&str, &str)] = &[
    ("auth-rejected", ""),
    ("rate-limited", "too many failed attempts"),
    ("device-identity-required", "device identity required"),
    ("pairing-required", "pairing required"),
    ("scope-mismatch", "scope mismatch"),
    ("identity-proxy", "an identity proxy refused the upgrade"),
];

/// Parse one CLI run of `gateway status --json`.
pub fn parse(run: &CliRun) -> GatewayStatus {
    if run.timed_out {
        return GatewayStatus::bare(GatewayState::TimedOut);
    }
    if run.truncated() {
        return GatewayStatus::bare(GatewayState::TooLarge);
    }
    parse_bytes(&run.stdout, run.rc, &run.stderr)
}

/// Parse the bytes the CLI printed; `rc` and `stderr` explain output that is not JSON.
pub fn parse_bytes(stdout: &[u8], rc: i32, stderr: &[u8]) -> GatewayStatus {
    let Ok(text) = std::str::from_utf8(stdout) else {
        return GatewayStatus::bare(GatewayState::Unparseable(format!(
            "output is not UTF-8 ({} bytes)",
            stdout.len()
        )));
    };
    let doc: Doc = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => match serde_json::from_value(v) {
            Ok(d) => d,
            Err(e) => {
                return GatewayStatus::bare(GatewayState::Unparseable(format!(
                    "unexpected field types ({e})"
                )));
            }
        },
        Ok(_) => {
            return GatewayStatus::bare(GatewayState::Unparseable("JSON is not an object".into()));
        }
        Err(_) => {
            let why = if stdout.iter().all(u8::is_ascii_whitespace) {
                format!("no output (exit {rc}), stderr {}", excerpt(stderr))
            } else {
                format!("not JSON (exit {rc}): {}", excerpt(stdout))
            };
            return GatewayStatus::bare(GatewayState::Unparseable(why));
        }
    };
    classify(doc)
}

fn classify(doc: Doc) -> GatewayStatus {
    let rpc = doc.rpc.unwrap_or_default();
    let server = rpc.server.unwrap_or_default();
    let gw = doc.gateway.unwrap_or_default();
    let bind = match (gw.bind_host, gw.port) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (Some(h), None) => Some(h),
        _ => None,
    };
    let listeners = doc
        .port
        .map(|p| p.listeners.into_iter().filter_map(|l| l.address).collect())
        .unwrap_or_default();
    let failure = rpc
        .connect_failure
        .and_then(|c| c.kind)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let error = rpc.error.clone();
    let err_l = error.clone().unwrap_or_default().to_ascii_lowercase();

    let vendor_ready = rpc.ok.is_none()
        && doc.state.as_deref().map(str::to_ascii_lowercase).as_deref() == Some("ready");
    let state = if rpc.ok == Some(true) || vendor_ready {
        GatewayState::Ready
    } else if rpc.ok.is_none() && doc.state.is_none() {
        GatewayState::Unparseable("no rpc.ok and no state field".into())
    } else if let Some(s) = doc.state.filter(|_| rpc.ok.is_none()) {
        GatewayState::NotReady(format!("state {s}"))
    } else if let Some((_, why)) = REFUSALS.iter().find(|(k, _)| *k == failure) {
        GatewayState::AuthRejected(why.to_string())
    } else if failure == "unreachable" || err_l.contains("econnrefused") {
        GatewayState::Unreachable
    } else if failure.is_empty() && err_l.starts_with("unauthorized") {
        // Older or vendor CLIs without connectFailure.
        GatewayState::AuthRejected(String::new())
    } else {
        GatewayState::NotReady(error.clone().unwrap_or_else(|| {
            if failure.is_empty() {
                "rpc.ok is false".into()
            } else {
                failure.clone()
            }
        }))
    };
    GatewayStatus {
        state,
        build_id: server.build_id.or(doc.build),
        cli_version: doc.cli.and_then(|c| c.version),
        daemon_version: server.version.or(doc.version),
        bind,
        listeners,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/openclaw-2026.9.6/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn real_ready_fixture() {
        let g = parse_bytes(&fixture("gateway-status.ready.json"), 0, b"");
        assert_eq!(g.state, GatewayState::Ready);
        assert_eq!(
            g.build_id.as_deref(),
            Some("2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z")
        );
        assert_eq!(g.cli_version.as_deref(), Some("2026.9.6"));
        assert_eq!(g.daemon_version.as_deref(), Some("2026.9.6"));
        assert_eq!(g.bind.as_deref(), Some("127.0.0.1:18789"));
        assert_eq!(g.listeners, vec!["127.0.0.1:18789".to_string()]);
        assert_eq!(g.error, None);
    }

    #[test]
    fn real_unreachable_fixture() {
        let g = parse_bytes(&fixture("gateway-status.unreachable.json"), 0, b"");
        assert_eq!(g.state, GatewayState::Unreachable);
        assert_eq!(g.build_id, None);
        assert_eq!(g.daemon_version, None);
        assert_eq!(g.cli_version.as_deref(), Some("2026.9.6"));
        assert_eq!(
            g.error.as_deref(),
            Some("connect ECONNREFUSED 127.0.0.1:18789")
        );
        assert!(g.listeners.is_empty());
    }

    #[test]
    fn other_fixtures_are_not_status_documents() {
        // The probe document has `ok` but no `rpc`: it must not pass for a status.
        let g = parse_bytes(&fixture("gateway-probe.ready.json"), 0, b"");
        assert!(matches!(g.state, GatewayState::Unparseable(_)), "{g:?}");
        let g = parse_bytes(&fixture("healthz.json"), 0, b"");
        assert!(matches!(g.state, GatewayState::Unparseable(_)));
        let g = parse_bytes(&fixture("doctor-lint.json"), 1, b"");
        assert!(matches!(g.state, GatewayState::Unparseable(_)));
    }

    #[test]
    fn vendor_neutral_state_ready() {
        let g = parse_bytes(br#"{"state":"ready","build":"v-1","extra":[1,2]}"#, 0, b"");
        assert_eq!(g.state, GatewayState::Ready);
        assert_eq!(g.build_id.as_deref(), Some("v-1"));
        let g = parse_bytes(br#"{"state":"starting"}"#, 0, b"");
        assert_eq!(g.state, GatewayState::NotReady("state starting".into()));
    }

    fn captured(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/openclaw-2026.9.6-captured/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// Outputs of the real CLI captured on this machine (tests/real-openclaw/FINDINGS.md).
    #[test]
    fn real_refusals_captured_here() {
        let g = parse_bytes(&captured("gateway-status.wrong-token-config.json"), 0, b"");
        assert_eq!(g.state, GatewayState::AuthRejected(String::new()));
        assert_eq!(g.state.label(), "auth rejected");
        assert_eq!(g.listeners.len(), 1, "the gateway is up, it refused us");
        let g = parse_bytes(&captured("gateway-status.no-token.json"), 0, b"");
        assert_eq!(g.state.label(), "auth rejected (device identity required)");
        let g = parse_bytes(
            &captured("gateway-status.rate-limit.attempt4-right.json"),
            0,
            b"",
        );
        assert_eq!(g.state.label(), "auth rejected (too many failed attempts)");
        let g = parse_bytes(&captured("gateway-status.ready.json"), 0, b"");
        assert_eq!(g.state, GatewayState::Ready);
        let g = parse_bytes(&captured("gateway-status.unreachable.json"), 0, b"");
        assert_eq!(g.state, GatewayState::Unreachable);
        let g = parse_bytes(
            &captured("gateway-status.silent-listener-timeout.json"),
            0,
            b"",
        );
        assert_eq!(
            g.state,
            GatewayState::Unreachable,
            "a silent port is unreachable: {g:?}"
        );
    }

    #[test]
    fn unknown_refusal_kinds_stay_visible() {
        let doc = br#"{"rpc":{"ok":false,"error":"gateway closed (4001): nope","connectFailure":{"kind":"gateway-rejected"}}}"#;
        assert_eq!(
            parse_bytes(doc, 0, b"").state,
            GatewayState::NotReady("gateway closed (4001): nope".into())
        );
    }

    #[test]
    fn garbage_becomes_named_unparseable() {
        let g = parse_bytes(b"Error: something went wrong", 1, b"");
        let GatewayState::Unparseable(why) = g.state else {
            panic!("{g:?}")
        };
        assert!(why.contains("not JSON (exit 1)"), "{why}");
        assert!(why.contains("something went wrong"));
        let g = parse_bytes(b"\xff\xfe\xfd", 0, b"");
        assert!(g.state.label().contains("not UTF-8"));
        let g = parse_bytes(b"", 127, b"sh: openclaw: not found");
        assert!(
            g.state.label().contains("openclaw: not found"),
            "{}",
            g.state.label()
        );
        let g = parse_bytes(b"[1,2]", 0, b"");
        assert!(g.state.label().contains("not an object"));
        let g = parse_bytes(br#"{"rpc":{"ok":"yes"}}"#, 0, b"");
        assert!(g.state.label().contains("unexpected field types"));
    }

    #[test]
    fn timeouts_and_truncation_win_over_content() {
        let run = CliRun {
            rc: 137,
            timed_out: true,
            ..CliRun::default()
        };
        assert_eq!(parse(&run).state, GatewayState::TimedOut);
        let run = CliRun {
            rc: 0,
            bytes: 5_000_000,
            stdout: b"{".to_vec(),
            ..CliRun::default()
        };
        assert_eq!(parse(&run).state, GatewayState::TooLarge);
    }
}
