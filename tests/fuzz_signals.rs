//! Property tests over everything a node prints (issue 7, "Fuzzing"): the poll envelope
//! ([`meshroll::signals::parse_poll`]) and the gateway, doctor and disk parsers, on
//! arbitrary bytes and on structure-aware mutations of the real OpenClaw 2026.9.6
//! output in tests/fixtures. Properties: no panic, a result or a named signal error,
//! and heap bounded by a multiple of the input. Case counts are in `config(...)` below
//! and in the README; `MESHROLL_FUZZ_SCALE=N` runs N times as many.
#![allow(clippy::unwrap_used)]

mod fuzz_support;

use fuzz_support::{
    JSON_TOKENS, assert_bounded, config, mutate, ops, peak_of, repo_file, repo_files,
};
use meshroll::signals::{self, CliRun, disk, doctor, gateway};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Heap per input byte a signal parser may take, plus a constant.
const FACTOR: usize = 32;
const SLACK: usize = 256 * 1024;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A poll envelope as the poll script prints it, with the real CLI output inside.
fn envelope(gw: &[u8], doc: &[u8], doc_err: &[u8]) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"v":1,"now":1764633600,"gw":{{"rc":0,"timed_out":false,"bytes":{},"out":"{}","err":""}},"#,
            r#""doc":{{"rc":1,"timed_out":false,"bytes":{},"out":"{}","err":"{}"}},"#,
            r#""current":"{}","bundle_dir":true,"lock":{{"sha256":"ab12","claim":"9f3c"}},"#,
            r#""cache_mtime":1764630000,"drain":false,"live":{{"rc":0,"code":200}},"#,
            r#""dfk":["263174212","198765432","53621580","79%"],"dfi":["16777216","1234567","15542649","8%"]}}"#,
            "\n"
        ),
        gw.len(),
        hex(gw),
        doc.len(),
        hex(doc),
        hex(doc_err),
        hex(b"/etc/openclaw/skills/9f3c"),
    )
    .into_bytes()
}

/// Everything downstream of a parsed poll: the payload parsers must not panic either.
fn parse_payloads(p: &signals::RawPoll) -> usize {
    let mut n = 0;
    if let Some(g) = &p.gateway {
        n += format!("{:?}", gateway::parse(g)).len();
    }
    if let Some(d) = &p.doctor {
        n += format!("{:?}", doctor::parse(d)).len();
    }
    n
}

/// Parse one poll output with every check; whether it parsed.
fn check_poll(input: &[u8]) -> bool {
    let (out, peak) = peak_of(|| {
        let r = signals::parse_poll(input);
        let shown = match &r {
            Ok(p) => parse_payloads(p),
            Err(e) => {
                // The whole poll, or the one signal whose field was garbled.
                assert!(
                    ["poll", "gateway", "doctor", "manifest"].contains(&e.signal),
                    "{e}"
                );
                e.message.len()
            }
        };
        (r, shown)
    });
    assert_bounded("parse_poll", input.len(), peak, FACTOR, SLACK);
    if let (Ok(p), _) = &out {
        // Hex halves: what came out is never more than what went in.
        let got = p
            .gateway
            .as_ref()
            .map_or(0, |g| g.stdout.len() + g.stderr.len())
            + p.doctor
                .as_ref()
                .map_or(0, |d| d.stdout.len() + d.stderr.len());
        assert!(got <= input.len() / 2, "{got} bytes out of {}", input.len());
    }
    out.0.is_ok()
}

fn check_gateway(stdout: &[u8], rc: i32, stderr: &[u8], timed_out: bool, bytes: u64) {
    let run = CliRun {
        rc,
        timed_out,
        bytes,
        stdout: stdout.to_vec(),
        stderr: stderr.to_vec(),
    };
    let input = stdout.len() + stderr.len();
    let (status, peak) = peak_of(|| gateway::parse(&run));
    assert_bounded("gateway::parse", input, peak, FACTOR, SLACK);
    let json = serde_json::to_string(&status).unwrap();
    assert!(
        json.len() <= 6 * input + 2048,
        "{} bytes of status from {input} bytes",
        json.len()
    );
}

fn check_doctor(stdout: &[u8], rc: i32) {
    let run = CliRun {
        rc,
        bytes: stdout.len() as u64,
        stdout: stdout.to_vec(),
        ..CliRun::default()
    };
    let (r, peak) = peak_of(|| doctor::parse(&run));
    assert_bounded("doctor::parse", stdout.len(), peak, FACTOR, SLACK);
    match r {
        Ok(rep) => {
            let json = serde_json::to_string(&rep).unwrap();
            assert!(json.len() <= 6 * stdout.len() + 2048);
        }
        Err(e) => assert_eq!(e.signal, "doctor"),
    }
}

/// Every real `gateway status --json` output captured from OpenClaw 2026.9.6.
fn gateway_fixtures() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| {
        let mut v = repo_files("tests/fixtures/openclaw-2026.9.6-captured", ".json");
        v.retain(|(n, _)| n.starts_with("gateway-status"));
        v.extend(repo_files("tests/fixtures/openclaw-2026.9.6", ".json"));
        v
    })
}

/// Every real `doctor --lint --json` output captured from OpenClaw 2026.9.6.
fn doctor_fixtures() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| {
        let mut v = repo_files("tests/fixtures/openclaw-2026.9.6-captured", ".json");
        v.retain(|(n, _)| n.starts_with("doctor-lint"));
        v.push((
            "doctor-lint.json".into(),
            repo_file("tests/fixtures/openclaw-2026.9.6/doctor-lint.json"),
        ));
        v
    })
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn poll_envelope_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_poll(&input);
    }

    #[test]
    fn poll_envelope_arbitrary_text(input in ".{0,512}") {
        check_poll(input.as_bytes());
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// The real envelope, its JSON bent: types swapped, fields repeated, torn, escapes.
    #[test]
    fn poll_envelope_mutated(ops in ops(6), gw in 0usize..64, doc in 0usize..64) {
        let gws = gateway_fixtures();
        let docs = doctor_fixtures();
        let base = envelope(&gws[gw % gws.len()].1, &docs[doc % docs.len()].1, b"warn: x\n");
        check_poll(&mutate(&base, &ops, JSON_TOKENS));
    }

    /// The real envelope with the CLI output inside it mutated before hex-encoding: the
    /// gateway and doctor parsers get bent JSON through the real path.
    #[test]
    fn poll_payloads_mutated(gw_ops in ops(6), doc_ops in ops(6), gw in 0usize..64, doc in 0usize..64) {
        let gws = gateway_fixtures();
        let docs = doctor_fixtures();
        let g = mutate(&gws[gw % gws.len()].1, &gw_ops, JSON_TOKENS);
        let d = mutate(&docs[doc % docs.len()].1, &doc_ops, JSON_TOKENS);
        let input = envelope(&g, &d, &d);
        prop_assert!(check_poll(&input), "a well-formed envelope parses whatever its payloads hold");
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn gateway_status_mutated(ops in ops(8), which in 0usize..64, rc in any::<i32>(), err in proptest::collection::vec(any::<u8>(), 0..64)) {
        let fx = gateway_fixtures();
        let stdout = mutate(&fx[which % fx.len()].1, &ops, JSON_TOKENS);
        check_gateway(&stdout, rc, &err, false, stdout.len() as u64);
    }

    #[test]
    fn gateway_status_arbitrary(stdout in proptest::collection::vec(any::<u8>(), 0..1024), rc in any::<i32>(), timed_out in any::<bool>(), bytes in any::<u64>()) {
        check_gateway(&stdout, rc, b"", timed_out, bytes);
    }

    #[test]
    fn doctor_mutated(ops in ops(8), which in 0usize..64, rc in any::<i32>()) {
        let fx = doctor_fixtures();
        let stdout = mutate(&fx[which % fx.len()].1, &ops, JSON_TOKENS);
        check_doctor(&stdout, rc);
    }

    #[test]
    fn doctor_arbitrary(stdout in proptest::collection::vec(any::<u8>(), 0..1024), rc in any::<i32>()) {
        check_doctor(&stdout, rc);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn disk_arbitrary_lines(dfk in proptest::collection::vec(any::<u8>(), 0..256), dfi in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (r, peak) = peak_of(|| disk::parse(&dfk, &dfi));
        assert_bounded("disk::parse", dfk.len() + dfi.len(), peak, FACTOR, SLACK);
        if let Err(e) = r {
            prop_assert_eq!(e.signal, "disk");
        }
    }

    /// df-shaped columns: numbers, percentages, words, signs, huge values.
    #[test]
    fn disk_columns(
        dfk in proptest::collection::vec("[0-9]{0,22}%?|-[0-9]{1,4}|[a-z/ ]{0,8}|", 0..8),
        dfi in proptest::collection::vec("[0-9]{0,22}%?|-[0-9]{1,4}|[a-z/ ]{0,8}|", 0..12),
    ) {
        if let Err(e) = disk::parse_columns(&dfk, &dfi) {
            prop_assert_eq!(e.signal, "disk");
        }
        let line = format!("/dev/x {}\n", dfk.join(" "));
        let table = format!("Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/x {}\n", dfi.join(" "));
        let _ = disk::parse(line.as_bytes(), table.as_bytes());
        let mac = format!("Filesystem 512-blocks Used Available Capacity iused ifree %iused Mounted on\n/dev/x {}\n", dfi.join(" "));
        let _ = disk::parse(line.as_bytes(), mac.as_bytes());
    }

    #[test]
    fn unhex_and_excerpt(s in ".{0,256}", b in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Some(v) = signals::unhex(&s) {
            prop_assert_eq!(v.len() * 2, s.len());
        }
        let e = signals::excerpt(&b);
        prop_assert!(e.chars().count() <= 10 * 120 + 8, "{}", e.len());
        prop_assert!(!e.chars().any(|c| c.is_control()));
    }
}

/// The meter the memory bounds rely on sees what a parse allocates.
#[test]
fn memory_meter_sees_allocations() {
    let (v, peak) = peak_of(|| vec![7u8; 1 << 20]);
    assert!(peak >= 1 << 20, "{peak}");
    let (_, peak) = peak_of(|| drop(vec![7u8; 4 << 20]));
    assert!(peak >= 4 << 20, "a freed peak still counts: {peak}");
    drop(v);
}
