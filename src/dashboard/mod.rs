//! The dashboard: its state ([`state`], pure: events in, changes out) and the event
//! loop that feeds it and draws it ([`event_loop`]).

pub mod event_loop;
pub mod rows;
pub mod state;

pub use event_loop::run;
pub use state::{App, Event, Sort, View};
