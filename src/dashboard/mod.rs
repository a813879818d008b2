//! The dashboard: its state ([`state`], pure: events in, effects out) and the event
//! loop that feeds it, carries its effects out and draws it ([`event_loop`]).

pub mod action_runner;
pub mod actions;
pub mod event_loop;
pub mod layout;
mod marks;
pub mod pacer;
pub mod rows;
pub mod scroll;
mod stage;
pub mod state;

pub use state::{App, Effect, Event, Sort, View};
