//! Rolling a bundle out: the plan, the pure state machine, the journal, and the
//! executor that runs the machine's effects against nodes.

pub mod bake;
pub mod error;
pub mod events;
pub mod journal;
pub mod machine;
pub mod node_ops;
pub mod plan;
pub mod prewarm;
pub mod runner;
pub mod session;
pub mod state;
pub mod steps;
#[cfg(test)]
mod test_support;
pub mod track;
pub mod types;
pub mod words;

pub use error::NodeError;
pub use machine::{
    Command, Effect, Failure, Halt, Input, Left, Machine, Mode, NodeRun, Phase, Record,
};
pub use plan::{Plan, PlanOptions, Size};
