//! The dashboard: its state ([`state`], pure: events in, effects out) and the event
//! loop that feeds it, carries its effects out and draws it ([`event_loop`]).

pub mod action_runner;
pub mod actions;
pub mod event_loop;
pub mod layout;
mod marks;
pub mod pacer;
mod read;
pub mod rows;
pub mod scroll;
mod stage;
pub mod state;
#[cfg(test)]
mod test_harness;

pub use state::{App, AppEffect, AppEvent, Outcome, Setup, Sort, View};
