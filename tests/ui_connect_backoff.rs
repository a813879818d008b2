//! The node view of a node whose connects failed says when the next connect goes (the
//! ssh layer's per-node connect backoff, `RemoteError::Unreachable`), counting down.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use std::time::Duration;

use crossterm::event::KeyCode;
use demo::{AT, demo_app, feed, key_at, render};
use meshroll::dashboard::{AppEvent, View};
use meshroll::poller::PollResult;
use meshroll::remote::{PollFailure, RemoteError};

fn line_with<'a>(screen: &'a str, what: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(what))
}

#[tokio::test(start_paused = true)]
async fn the_node_view_counts_down_to_a_failed_nodes_next_connect() {
    let mut app = demo_app().await;
    key_at(&mut app, KeyCode::Enter, AT + 2_000);
    assert_eq!(app.view(), View::Node);
    let node = app.selected_node().unwrap();
    let failed = |at, retry_in| PollResult {
        node,
        at,
        took_ms: 0,
        result: Err(PollFailure::Remote(RemoteError::Unreachable {
            cause: Box::new(RemoteError::Timeout(10)),
            retry_in,
        })),
    };
    feed(&mut app, failed(AT + 3_000, Duration::from_secs(20)));
    app.handle(AppEvent::Tick, AT + 3_000);
    let screen = render(&app, 100, 60);
    let line = line_with(&screen, "next connect").unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("in 20s"), "{line}");
    assert!(
        line_with(&screen, "timed out after 10s").is_some(),
        "the connect's own error: {screen}"
    );
    app.handle(AppEvent::Tick, AT + 8_000);
    let screen = render(&app, 100, 60);
    let line = line_with(&screen, "next connect").unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("in 15s"), "{line}");
    // Past that time, or after a failure that holds nothing back: no line.
    app.handle(AppEvent::Tick, AT + 24_000);
    assert!(line_with(&render(&app, 100, 60), "next connect").is_none());
    feed(&mut app, failed(AT + 25_000, Duration::ZERO));
    assert!(line_with(&render(&app, 100, 60), "next connect").is_none());
}
