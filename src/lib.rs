//! meshroll: roll a pinned OpenClaw skills bundle out to a pool of MeshMac nodes and
//! watch the pool live.
#![deny(clippy::unwrap_used)]

pub mod actions;
pub mod bounded_file;
pub mod cli;
pub mod cmd;
pub mod config_file;
pub mod config_paths;
pub mod dashboard;
pub mod exit;
pub mod fit;
pub mod inventory;
pub mod keymap;
pub mod limits;
pub mod lock_owner;
pub mod logging;
pub mod manifest;
pub mod node_lock;
pub mod observe;
pub mod poller;
pub mod remote;
pub mod replay;
pub mod report;
pub mod rollout;
pub mod safe_text;
pub mod signals;
pub mod skew;
pub mod suggest;
pub mod terminal;
pub mod ui;
pub mod verdict;
