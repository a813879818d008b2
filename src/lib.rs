//! meshroll: roll a pinned OpenClaw skills bundle out to a pool of MeshMac nodes and
//! watch the pool live.
#![deny(clippy::unwrap_used)]

pub mod inventory;
pub mod remote;
pub mod signals;
pub mod observe;
pub mod verdict;
pub mod skew;
pub mod report;
pub mod cli;
pub mod cmd;
pub mod logging;
pub mod poller;
pub mod app;
pub mod ui;
