//! Issue 19, "half a token on screen": every path that shows an excerpt of node text is
//! fed a token at every position around its cut; no prefix of the token (4 characters
//! or more) may come out. Each path is the real function the product calls.

use super::*;
use crate::manifest::Lock;
use crate::remote::RemoteOutput;
use crate::signals::{self, CliRun, EXCERPT_BYTES};

/// The token as a node would hand it back, after `auth=`.
const SECRET: &str = "SEKRET-xyz-0123456789abcdef-cut-test";

/// Every byte text around the cut: `pad` bytes of filler, then `auth=TOKEN`, then more
/// filler so the whole is longer than any cut.
fn hostile(pad: usize) -> Vec<u8> {
    let mut s = "x".repeat(pad);
    s.push_str("(auth=");
    s.push_str(SECRET);
    s.push_str(") and the rest of a long line ");
    s.push_str(&"y".repeat(200));
    s.into_bytes()
}

/// Where the token starts for every cut position: it begins before, straddles and
/// follows every cut (120 bytes, 80 for rsync, 512 characters for `clean`).
fn pads() -> impl Iterator<Item = usize> {
    0..=EXCERPT_BYTES + 8 + 512
}

/// Every path that showed part of the token, with the first output that did.
type Leaks = std::collections::BTreeMap<&'static str, String>;

fn no_prefix(leaks: &mut Leaks, path: &'static str, pad: usize, out: &str) {
    if leaks.contains_key(path) {
        return;
    }
    if let Some(p) = (4..=SECRET.len())
        .map(|n| &SECRET[..n])
        .find(|p| out.contains(p))
    {
        leaks.insert(path, format!("token at byte {pad}: {p:?} shown in {out:?}"));
    }
}

fn output(code: Option<i32>, stdout: Vec<u8>, stderr: Vec<u8>) -> RemoteOutput {
    RemoteOutput {
        code,
        stdout,
        stderr,
    }
}

#[test]
fn no_excerpt_path_shows_part_of_a_token_cut_in_two() {
    register_secret(SECRET);
    let lock = Lock {
        files: Vec::new(),
        skills_sha: String::new(),
        version: 1,
    };
    let mut leaks = Leaks::new();
    for pad in pads() {
        let b = hostile(pad);
        let text = String::from_utf8_lossy(&b).into_owned();
        no_prefix(&mut leaks, "signals::excerpt", pad, &signals::excerpt(&b));
        no_prefix(
            &mut leaks,
            "Shown::excerpt",
            pad,
            &Shown::excerpt(&b, 80).into_string(),
        );
        no_prefix(&mut leaks, "clean", pad, &clean(&text));
        no_prefix(&mut leaks, "clean_capped", pad, &clean_capped(&text, 100));

        // The gateway parser: non-JSON stdout, and no stdout with stderr.
        let g = signals::gateway::parse_bytes(&b, 1, b"");
        no_prefix(&mut leaks, "gateway not JSON", pad, &g.state.label());
        let g = signals::gateway::parse_bytes(b"", 1, &b);
        no_prefix(&mut leaks, "gateway stderr", pad, &g.state.label());

        // The doctor parser.
        let run = CliRun {
            rc: 1,
            bytes: b.len() as u64,
            stdout: b.clone(),
            ..CliRun::default()
        };
        let e = signals::doctor::parse(&run).expect_err("not JSON");
        no_prefix(&mut leaks, "doctor not JSON", pad, &e.to_string());

        // The poll envelope with no JSON object, and ssh_exec's empty poll.
        let e = signals::parse_poll(&b).expect_err("no envelope");
        no_prefix(&mut leaks, "poll envelope", pad, &e.to_string());
        let e = crate::remote::ssh_exec::no_output(&output(Some(3), Vec::new(), b.clone()));
        no_prefix(&mut leaks, "ssh_exec no output", pad, &e.to_string());

        // The rollout's expect_ok: stderr, stdout, and a MESHROLL-ERR line.
        for out in [
            output(Some(1), Vec::new(), b.clone()),
            output(Some(1), b.clone(), Vec::new()),
            output(
                Some(0),
                [b"MESHROLL-ERR ".as_slice(), &b].concat(),
                Vec::new(),
            ),
        ] {
            let f = crate::rollout::steps::expect_ok(&out, "step").expect_err("fails");
            no_prefix(&mut leaks, "expect_ok", pad, f.message());
        }
        // The switch and the verify of node_ops.
        let f = crate::rollout::node_ops::expect_switch(&output(Some(2), Vec::new(), b.clone()))
            .expect_err("fails");
        no_prefix(&mut leaks, "expect_switch", pad, f.message());
        let (verify, _) = crate::rollout::node_ops::verify_switch_result(
            &lock,
            "",
            &output(Some(9), b.clone(), Vec::new()),
        );
        no_prefix(
            &mut leaks,
            "verify",
            pad,
            verify.expect_err("fails").message(),
        );
    }
    assert!(
        leaks.is_empty(),
        "paths that show part of a token cut in two:\n{}",
        leaks
            .iter()
            .map(|(p, w)| format!("{p}: {w}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn an_excerpt_is_cut_after_the_redactor_and_says_so() {
    register_secret(SECRET);
    // The token straddles the cut: it is gone whole, the text before it kept.
    let b = hostile(EXCERPT_BYTES - 10);
    let e = signals::excerpt(&b);
    assert!(e.starts_with("\"xxxx"), "{e}");
    assert!(e.contains(&format!("(auth={REDACTED}")), "{e}");
    assert!(e.ends_with("…\""), "{e}");
    // Short text is whole and quoted; nothing reads "(empty)".
    assert_eq!(signals::excerpt(b"  ok \x1b "), "\"ok\"");
    assert_eq!(signals::excerpt(b" \n "), "(empty)");
    // A multi-byte character on the cut is not split.
    let e = Shown::excerpt("é".repeat(100).as_bytes(), 5);
    assert_eq!(e, "\"éé…\"");
    // Serialised as a plain JSON string.
    assert_eq!(
        serde_json::to_string(&Shown::new("a\u{1b}b")).expect("json"),
        "\"a\\\\eb\""
    );
    let back: Shown = serde_json::from_str("\"x\\u001b\"").expect("json");
    assert_eq!(back, "x\\e", "read back, cleaned again");
}
