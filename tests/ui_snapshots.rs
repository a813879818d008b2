//! The dashboard drawn into ratatui's TestBackend, checked with insta snapshots:
//! the fleet table at 80x24 and at a wide size, the node view, the skew view, help.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use demo::{demo_app, demo_app_with, key, render};
use meshroll::dashboard::{AppEffect, Setup, View};

#[tokio::test(start_paused = true)]
async fn fleet_80x24() {
    let app = demo_app().await;
    insta::assert_snapshot!(render(&app, 80, 24));
}

#[tokio::test(start_paused = true)]
async fn fleet_wide_160x40() {
    let app = demo_app().await;
    insta::assert_snapshot!(render(&app, 160, 40));
}

#[tokio::test(start_paused = true)]
async fn node_view_of_a_skewed_gateway() {
    let mut app = demo_app().await;
    key(&mut app, KeyCode::Char('j')); // mac-g02
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Node);
    insta::assert_snapshot!(render(&app, 100, 50));
}

#[tokio::test(start_paused = true)]
async fn skew_view_and_help() {
    let mut app = demo_app().await;
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(app.view(), View::Skew);
    insta::assert_snapshot!("skew_view", render(&app, 100, 30));
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_overlay", render(&app, 80, 24));
}

#[tokio::test(start_paused = true)]
async fn filter_and_class_tabs_narrow_the_table() {
    let mut app = demo_app().await;
    key(&mut app, KeyCode::Char('2')); // worker tab
    assert!(
        app.visible()
            .iter()
            .all(|&i| app.rows()[i].class == "worker")
    );
    assert_eq!(app.visible().len(), 20);
    key(&mut app, KeyCode::Char('0'));
    key(&mut app, KeyCode::Char('/'));
    for c in "dead".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let names: Vec<&str> = app
        .visible()
        .iter()
        .map(|&i| app.rows()[i].node.as_str())
        .collect();
    assert!(
        names.contains(&"mac-w17") && names.contains(&"mac-w09"),
        "{names:?}"
    );
    assert!(!names.contains(&"mac-g01"));
    assert_eq!(key(&mut app, KeyCode::Char('q')), vec![AppEffect::Quit]);
}

#[tokio::test(start_paused = true)]
async fn rebound_keys_drive_the_app_and_show_in_footer_and_help() {
    let keymap = meshroll::keymap::KeyMap::parse(
        "[keys]\ndown = [\"J\"]\nskew_view = \"v\"\nquit = \"Q\"\n",
        "keys.toml",
    )
    .unwrap();
    let setup = Setup {
        keymap,
        ..Setup::default()
    };
    let mut app = demo_app_with(setup, |_, _| {}).await;
    key(&mut app, KeyCode::Char('j')); // no longer bound
    assert_eq!(app.cursor(), 0);
    key(&mut app, KeyCode::Char('J'));
    assert_eq!(app.cursor(), 1);
    let screen = render(&app, 120, 24);
    assert!(screen.contains("J/k move"), "{screen}");
    assert!(
        screen.contains("v skew") && screen.contains("Q quit"),
        "{screen}"
    );
    key(&mut app, KeyCode::Char('?'));
    let help = render(&app, 120, 40);
    assert!(
        help.contains("k ↑ / J ") && help.contains("move up / down"),
        "{help}"
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view(), View::Skew);
    assert_eq!(
        key(&mut app, KeyCode::Char('q')),
        vec![],
        "q is free after quit was rebound"
    );
    assert_eq!(key(&mut app, KeyCode::Char('Q')), vec![AppEffect::Quit]);
}
