//! `openclaw doctor --lint --json`: findings with severity and fix hint.
//!
//! The real CLI exits 1 when it has findings and prints the JSON on stdout anyway.

use serde::{Deserialize, Serialize};

use super::{CliRun, SignalError, excerpt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    fn from_word(s: &str) -> Severity {
        match s.to_ascii_lowercase().as_str() {
            "error" | "fatal" | "critical" => Severity::Error,
            "warning" | "warn" => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check_id: String,
    pub severity: Severity,
    pub message: String,
    pub path: Option<String>,
    pub fix_hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub checks_run: Option<u64>,
    pub findings: Vec<Finding>,
}

impl DoctorReport {
    /// Error findings block widening a rollout.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Doc {
    ok: Option<bool>,
    checks_run: Option<u64>,
    findings: Option<Vec<RawFinding>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawFinding {
    check_id: Option<String>,
    severity: Option<String>,
    message: Option<String>,
    path: Option<String>,
    fix_hint: Option<String>,
}

/// Parse one run of `doctor --lint --json`.
pub fn parse(run: &CliRun) -> Result<DoctorReport, SignalError> {
    if run.timed_out {
        return Err(SignalError::new("doctor", "doctor timed out"));
    }
    if run.truncated() {
        return Err(SignalError::new("doctor", "doctor output too large"));
    }
    let text = std::str::from_utf8(&run.stdout)
        .map_err(|_| SignalError::new("doctor", "output is not UTF-8"))?;
    let doc: Doc = serde_json::from_str(text).map_err(|_| {
        SignalError::new(
            "doctor",
            format!("not JSON (exit {}): {}", run.rc, excerpt(&run.stdout)),
        )
    })?;
    let Some(raw) = doc.findings else {
        return Err(SignalError::new(
            "doctor",
            "no findings list in doctor output",
        ));
    };
    let findings = raw
        .into_iter()
        .map(|f| Finding {
            check_id: f.check_id.unwrap_or_else(|| "?".into()),
            severity: Severity::from_word(f.severity.as_deref().unwrap_or("info")),
            message: f.message.unwrap_or_default(),
            path: f.path,
            fix_hint: f.fix_hint,
        })
        .collect::<Vec<_>>();
    Ok(DoctorReport {
        ok: doc.ok.unwrap_or(findings.is_empty()),
        checks_run: doc.checks_run,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_doctor_fixture() {
        let p = format!(
            "{}/tests/fixtures/openclaw-2026.9.6/doctor-lint.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let stdout = std::fs::read(p).expect("fixture");
        let run = CliRun {
            rc: 1,
            bytes: stdout.len() as u64,
            stdout,
            ..CliRun::default()
        };
        let r = parse(&run).expect("parses");
        assert!(!r.ok);
        assert_eq!(r.checks_run, Some(35));
        assert_eq!(r.findings.len(), 3);
        assert_eq!(r.errors(), 0);
        let f = &r.findings[0];
        assert_eq!(f.check_id, "core/doctor/gateway-auth");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.path.as_deref(), Some("gateway.auth.token"));
        assert!(
            f.fix_hint
                .as_deref()
                .unwrap_or("")
                .contains("--generate-gateway-token")
        );
    }

    #[test]
    fn errors_counted_and_garbage_named() {
        let stdout =
            br#"{"ok":false,"findings":[{"checkId":"x","severity":"error","message":"m"}]}"#
                .to_vec();
        let run = CliRun {
            rc: 1,
            bytes: stdout.len() as u64,
            stdout,
            ..CliRun::default()
        };
        assert_eq!(parse(&run).expect("parses").errors(), 1);
        let run = CliRun {
            rc: 1,
            bytes: 4,
            stdout: b"oops".to_vec(),
            ..CliRun::default()
        };
        let e = parse(&run).expect_err("garbage");
        assert_eq!(e.signal, "doctor");
        assert!(e.message.contains("not JSON"));
    }
}
