//! The dashboard against a hostile node, drawn into ratatui's TestBackend: terminal
//! escapes, a bidi override, a secret hidden as JSON `\u` escapes and a 100 kB version
//! in what the node printed. The screen shows the escapes escaped, the secret redacted
//! and the long field capped.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use meshroll::dashboard::{App, Setup, View};
use meshroll::inventory::NodeId;
use meshroll::remote::sim::SimMesh;
use meshroll::signals::CliRun;

const AT: u64 = 1_800_000_000_000;
const SECRET: &str = "ui-S3CRET-token-42";

fn hostile_doc() -> Vec<u8> {
    let esc: String = SECRET.bytes().map(|b| format!("\\u{b:04x}")).collect();
    let big = "v".repeat(100_000);
    format!(
        r#"{{"rpc":{{"ok":false,"error":"\u001b]0;pwned\u0007\u001b[31mred\u202eevil token {esc}","connectFailure":{{"kind":"other"}},"server":{{"version":"{big}","buildId":"{big}"}}}},"cli":{{"version":"{big}"}},"port":{{"listeners":[{{"address":"\u001b]0;listen\u0007 {esc}"}}]}}}}"#
    )
    .into_bytes()
}

async fn hostile_app() -> App {
    meshroll::safe_text::register_secret(SECRET);
    let (inv, mesh) = SimMesh::demo();
    let mut app = demo::new_app("demo", &inv, Setup::default());
    let req = meshroll::poller::Cadence::for_timeout(std::time::Duration::from_secs(10))
        .request(true, false);
    demo::poll_all_asking(&mut app, &mesh, &req, AT, |_, r| {
        if r.node == NodeId::new(0)
            && let Ok(raw) = r.result.as_mut()
        {
            raw.gateway = Some(CliRun {
                rc: 0,
                timed_out: false,
                bytes: 0,
                stdout: hostile_doc(),
                stderr: b"\x1b[2J\x1b]0;pwned\x07".to_vec(),
            });
        }
    })
    .await;
    app.update_rows(AT + 2_000);
    app
}

/// The screen's symbols, row after row.
fn render(app: &App, w: u16, h: u16) -> String {
    demo::render_lines(app, w, h).concat()
}

#[track_caller]
fn safe_screen(what: &str, screen: &str) {
    assert!(!screen.contains(SECRET), "{what}: the secret is on screen");
    assert!(
        !screen
            .chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{what}: a control character reached the screen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hostile_node_is_escaped_redacted_and_capped_in_the_dashboard() {
    let mut app = hostile_app().await;
    let fleet = render(&app, 200, 40);
    safe_screen("fleet", &fleet);
    demo::key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Node);
    let node = render(&app, 120, 80);
    safe_screen("node view", &node);
    assert!(
        node.contains("\\e]0;pwned"),
        "the escapes are shown escaped:\n{node}"
    );
    assert!(
        node.contains("[redacted]"),
        "the secret is redacted:\n{node}"
    );
    // The gateway's listeners, shown from the node's state (not the row), too.
    assert!(
        node.contains("\\e]0;listen\\x07 [redacted]"),
        "the listeners are cleaned:\n{node}"
    );
    let vs = node.chars().filter(|&c| c == 'v').count();
    assert!(
        vs < 1000,
        "a 100 kB version is capped on screen ({vs} 'v's drawn)"
    );
    let row = &app.rows()[NodeId::new(0)];
    assert!(
        row.gateway.daemon_version.as_ref().unwrap().chars().count() <= 129,
        "the version in the row is capped"
    );
}
