//! The gateway token is overwritten in meshroll's own environment block before the
//! variable is removed: `/proc/<pid>/environ` of a running meshroll does not show it
//! (SECURITY.md, "The gateway token").
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};

const TOKEN: &str = "SEKRET-environ-0123456789abcdef";

#[test]
fn the_token_is_not_readable_in_meshrolls_own_environ() {
    let log = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .args(["--log-dir", log.path().to_str().unwrap()])
        .args(["status", "--sim", "--watch", "--json", "--count", "1000"])
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run meshroll");
    // The first round printed: main has long taken the token.
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .expect("a first round");
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).expect("environ");
    let alive = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "meshroll ended before its environment was read");
    let shown = String::from_utf8_lossy(&environ);
    assert!(
        !shown.contains(TOKEN),
        "the token is in /proc/<pid>/environ"
    );
    assert!(
        !shown.contains("SEKRET-environ"),
        "part of the token is in /proc/<pid>/environ"
    );
}
