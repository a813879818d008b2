//! The node view of a node whose connects failed says when the next connect goes (the
//! ssh layer's per-node connect backoff, `RemoteError::Unreachable`), counting down.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use demo::{AT, demo_app};
use meshroll::dashboard::{App, Event, View};
use meshroll::poller::PollResult;
use meshroll::remote::{PollFailure, RemoteError};
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(app: &App) -> String {
    let theme = Theme::load("default").unwrap();
    let mut t = Terminal::new(TestBackend::new(100, 60)).unwrap();
    t.draw(|f| meshroll::ui::draw(f, app, &theme)).unwrap();
    format!("{}", t.backend())
}

fn line_with<'a>(screen: &'a str, what: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(what))
}

#[tokio::test(start_paused = true)]
async fn the_node_view_counts_down_to_a_failed_nodes_next_connect() {
    let mut app = demo_app().await;
    let enter = TermEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    app.handle(Event::Input(enter), AT + 2_000);
    assert_eq!(app.view, View::Node);
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
    app.handle(
        Event::Poll(Box::new(failed(AT + 3_000, Duration::from_secs(20)))),
        AT + 3_000,
    );
    app.refresh(AT + 3_000);
    let screen = render(&app);
    let line = line_with(&screen, "next connect").unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("in 20s"), "{line}");
    assert!(
        line_with(&screen, "timed out after 10s").is_some(),
        "the connect's own error: {screen}"
    );
    app.refresh(AT + 8_000);
    let screen = render(&app);
    let line = line_with(&screen, "next connect").unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("in 15s"), "{line}");
    // Past that time, or after a failure that holds nothing back: no line.
    app.refresh(AT + 24_000);
    assert!(line_with(&render(&app), "next connect").is_none());
    app.handle(
        Event::Poll(Box::new(failed(AT + 25_000, Duration::ZERO))),
        AT + 25_000,
    );
    assert!(line_with(&render(&app), "next connect").is_none());
}
