//! Issue 19, "half a token on screen", end to end with real sshd nodes on loopback
//! (tests/common): a node whose `openclaw gateway status --json` prints one long
//! non-JSON line with the gateway token straddling the excerpt's 120-byte cut. No part
//! of the token (4 characters or more) is in `status --json`, the status table
//! (fitted and `--wide`), `status --explain` or the log; the redaction mark is shown
//! in its place.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{Lab, NodeSpec};
use rollout_run::{Opts, meshroll_with};
use serde_json::Value;

const TOKEN: &str = "SEKRET-xyz-0123456789abcdef";
const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Where the token starts in the CLI's line, per node: before, across and at the end
/// of the 120-byte cut (the cut falls 12, 6 and 1 bytes into it).
const STARTS: [(&str, usize); 3] = [("cut12", 108), ("cut06", 114), ("cut01", 119)];

/// meshroll logging to `log_dir` with the gateway token in its environment.
fn meshroll(lab: &Lab, inv: &Path, log_dir: &Path, args: &[&str]) -> Output {
    let opts = Opts {
        log_dir: Some(log_dir),
        token: Some(TOKEN),
        ..Opts::default()
    };
    meshroll_with(lab, inv, args, &opts)
}

/// The CLI prints `<pad>(auth=<token>) ...` with the token at byte `start`, taking the
/// token from its environment (the poll script hands it there) as a chatty CLI would.
fn straddling_cli(path: &Path, start: usize) {
    let pad = "x".repeat(start - "(auth=".len());
    let body = format!(
        "#!/bin/sh\nprintf '%s(auth=%s) then the rest of a long line %s\\n' '{pad}' \"$OPENCLAW_GATEWAY_TOKEN\" '{}'\n",
        "y".repeat(150)
    );
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[track_caller]
fn no_part_of_the_token(what: &str, text: &str) {
    for n in 4..=TOKEN.len() {
        let p = &TOKEN[..n];
        assert!(
            !text.contains(p),
            "{what} shows {p:?} of the token:\n{text}"
        );
    }
}

#[test]
fn a_token_across_the_excerpt_cut_is_redacted_whole() {
    let specs: Vec<NodeSpec> = STARTS
        .iter()
        .map(|(name, _)| NodeSpec::new(name, "worker"))
        .collect();
    let lab = Lab::start(&specs);
    for (name, start) in STARTS {
        let n = lab.node(name);
        n.serve(A);
        straddling_cli(&n.openclaw(), start);
    }
    let inv = lab.write_inventory_ini();
    let logs = lab.dir.join("logs");

    let json = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status", "--json"]);
    let fitted = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status"]);
    let wide = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status", "--wide"]);
    let explain = meshroll(
        &lab,
        &inv,
        &logs,
        &["--timeout", "8", "status", "--explain", "cut06"],
    );
    let json_out = String::from_utf8_lossy(&json.stdout).into_owned();
    let rows: Vec<Value> = serde_json::from_str(&json_out).unwrap();
    eprintln!("{json_out}");

    // The line reached the output (so the check below is not vacuous): the gateway
    // state and the reason quote it, with the mark where the token was.
    for (name, _) in STARTS {
        let row = rows.iter().find(|r| r["node"] == name).unwrap();
        assert_eq!(row["verdict"], "dead", "{name}: {row:#}");
        let state = row["gateway"]["state"].as_str().unwrap();
        assert!(state.contains("not JSON"), "{name}: {state}");
        for field in ["error", "last_error"] {
            let e = row[field].as_str().unwrap();
            assert!(
                e.contains("not JSON") && e.contains("(auth=[redacted]"),
                "{name}: {field} quotes the line, redacted: {e}"
            );
        }
    }
    no_part_of_the_token("status --json", &json_out);
    for (what, o) in [
        ("the fitted table", &fitted),
        ("the --wide table", &wide),
        ("--explain", &explain),
    ] {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("cut06"), "{what}: {text}");
        no_part_of_the_token(what, &text);
        no_part_of_the_token(what, &String::from_utf8_lossy(&o.stderr));
    }
    let explained = String::from_utf8_lossy(&explain.stdout);
    assert!(
        explained.contains("(auth=[redacted]"),
        "--explain quotes the line, redacted: {explained}"
    );
    let mut log = String::new();
    for e in fs::read_dir(&logs).unwrap().flatten() {
        log.push_str(&String::from_utf8_lossy(&fs::read(e.path()).unwrap()));
    }
    no_part_of_the_token("the log", &log);
}
