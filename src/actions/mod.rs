//! Node actions: one model for the built-in ones (drain, undrain, restart the gateway,
//! its log once or followed, a shell) and the operator's own (`actions.toml`, like k9s
//! plugins). An action says what it runs on each node ([`Runs`]), whether it asks first
//! and whether its output opens in a pane. The dashboard asks for one as an
//! [`ActionRequest`] (an `Effect` of `App::handle`), the event loop and the headless
//! commands carry it out with [`run`], and every run is written to the audit log
//! ([`audit`]).
//!
//! Pure here (the model, templates, confirm text); I/O in [`run`] and [`audit`].

pub mod audit;
pub mod run;
pub mod user;

use crate::inventory::{Node, NodeId};
use crate::remote::NodeOp;
use crate::remote::script::shell_quote;

/// Lines of the gateway log shown by default (`openclaw logs --limit`).
pub const DEFAULT_LOG_LINES: u32 = 200;

/// What an action does on each node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runs {
    /// The layout's drain command, or the drain flag (as the rollout's drain phase).
    Drain,
    /// The layout's undrain command, or clear the drain flag; then release a lock left
    /// by this host's dead rollout (after showing it).
    Undrain,
    /// `openclaw gateway restart`, then poll the node at once.
    Restart,
    /// `openclaw logs --plain --limit N` once.
    Logs { lines: u32 },
    /// `openclaw logs --plain --limit N --follow` until the pane closes.
    Follow { lines: u32 },
    /// An interactive `ssh` over the node's own master.
    Shell,
    /// The operator's argv template, run on the node over its master.
    Remote(Vec<String>),
    /// The operator's argv template, run here.
    Local(Vec<String>),
}

/// One action: built in or the operator's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAction {
    /// Its name (`drain`, or the name in actions.toml).
    pub name: String,
    /// What it does, for `?`, the footer and the confirm.
    pub description: String,
    pub runs: Runs,
    /// Asks first, naming the nodes and their count.
    pub confirm: bool,
    /// Its output opens in a pane of the node view.
    pub pane: bool,
}

/// The built-in actions, in the order `?` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Drain,
    Undrain,
    Restart,
    Logs,
    Follow,
    Shell,
}

impl NodeAction {
    pub fn builtin(b: Builtin) -> NodeAction {
        let (name, description, runs, confirm, pane) = match b {
            Builtin::Drain => ("drain", "drain the node", Runs::Drain, true, false),
            Builtin::Undrain => (
                "undrain",
                "undrain the node (and release a lock this host's dead rollout left)",
                Runs::Undrain,
                true,
                true,
            ),
            Builtin::Restart => (
                "restart",
                "restart the gateway, then poll at once",
                Runs::Restart,
                true,
                false,
            ),
            Builtin::Logs => (
                "logs",
                "the gateway's log (last lines)",
                Runs::Logs {
                    lines: DEFAULT_LOG_LINES,
                },
                false,
                true,
            ),
            Builtin::Follow => (
                "follow",
                "follow the gateway's log in a pane",
                Runs::Follow { lines: 20 },
                false,
                true,
            ),
            Builtin::Shell => ("shell", "a shell on the node", Runs::Shell, false, false),
        };
        NodeAction {
            name: name.into(),
            description: description.into(),
            runs,
            confirm,
            pane,
        }
    }

    /// Whether it takes one node only (a shell, a followed log: the selected node).
    pub fn single(&self) -> bool {
        matches!(self.runs, Runs::Shell | Runs::Follow { .. })
    }

    /// Whether the node is polled at once when the action is done.
    pub fn then_poll(&self) -> bool {
        matches!(self.runs, Runs::Restart | Runs::Drain | Runs::Undrain)
    }

    /// What it runs on `node`, in words, for the audit log and the headless output.
    pub fn command_text(&self, node: &Node) -> String {
        let l = &node.layout;
        let oc = shell_quote(&l.openclaw);
        match &self.runs {
            Runs::Drain => l
                .drain_cmd
                .clone()
                .unwrap_or_else(|| format!("touch {}/drain", shell_quote(&l.state_dir))),
            Runs::Undrain => l
                .undrain_cmd
                .clone()
                .unwrap_or_else(|| format!("rm -f {}/drain", shell_quote(&l.state_dir))),
            Runs::Restart => format!("{oc} gateway restart"),
            Runs::Logs { lines } => format!("{oc} logs --plain --limit {lines}"),
            Runs::Follow { lines } => format!("{oc} logs --plain --limit {lines} --follow"),
            Runs::Shell => format!("ssh {}", node.host),
            Runs::Remote(t) | Runs::Local(t) => match expand(t, node) {
                Ok(argv) => quoted(&argv),
                Err(e) => e.to_string(),
            },
        }
    }

    /// The operation it runs on `node` over the node's master (`None`: it runs here, or
    /// is a shell or the undrain's own steps).
    pub fn node_op(&self, node: &Node) -> Result<Option<NodeOp>, TemplateError> {
        Ok(match &self.runs {
            Runs::Drain => Some(NodeOp::Drain),
            Runs::Restart => Some(NodeOp::GatewayRestart),
            Runs::Logs { lines } => Some(NodeOp::Logs {
                lines: *lines,
                follow: false,
            }),
            Runs::Follow { lines } => Some(NodeOp::Logs {
                lines: *lines,
                follow: true,
            }),
            Runs::Remote(t) => Some(NodeOp::Command {
                argv: expand(t, node)?,
            }),
            Runs::Undrain | Runs::Shell | Runs::Local(_) => None,
        })
    }
}

/// What the dashboard asks the event loop to do: `action` on `nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// Which run of an action this is (the dashboard numbers them; its events say it).
    pub run: u64,
    pub action: NodeAction,
    pub nodes: Vec<NodeId>,
}

/// Words joined as a shell would read them back (each quoted when it needs it).
pub fn quoted(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c))
            {
                w.clone()
            } else {
                shell_quote(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The placeholders an argv template may use.
pub const PLACEHOLDERS: &[&str] = &["node", "host", "class", "skills_root", "state_dir"];

/// A word of an argv template that cannot be filled in, naming the word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed {{ in {word:?}")]
    Unclosed { word: String },
    #[error(
        "unknown placeholder {{{name}}} in {word:?}; the placeholders are {}",
        PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
    )]
    UnknownPlaceholder { name: String, word: String },
}

/// The template's words with the placeholders replaced by `node`'s values. Each word
/// stays one word (it is quoted as a whole where it reaches a shell).
pub fn expand(template: &[String], node: &Node) -> Result<Vec<String>, TemplateError> {
    template
        .iter()
        .map(|w| {
            expand_word(w, |name| match name {
                "node" => Some(node.name.clone()),
                "host" => Some(node.host.clone()),
                "class" => Some(node.class.clone()),
                "skills_root" => Some(node.layout.skills_root.clone()),
                "state_dir" => Some(node.layout.state_dir.clone()),
                _ => None,
            })
        })
        .collect()
}

/// Replace each `{name}` in `w` with `value(name)`; an unknown name or an unclosed `{`
/// is an error naming it.
pub fn expand_word(
    w: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = w;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(TemplateError::Unclosed { word: w.into() });
        };
        let name = &after[..close];
        match value(name) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(TemplateError::UnknownPlaceholder {
                    name: name.into(),
                    word: w.into(),
                });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The confirm question: the action, how many nodes, and their names (the first few
/// then how many more): `drain 3 nodes: mac-w01, mac-w02, mac-w03?`.
pub fn confirm_question(action: &NodeAction, names: &[String]) -> String {
    const SHOWN: usize = 5;
    let n = names.len();
    let mut list: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|s| crate::safe_text::clean_capped(s, 40))
        .collect();
    if n > SHOWN {
        list.push(format!("and {} more", n - SHOWN));
    }
    format!(
        "{} {n} node{}: {}?",
        action.name,
        if n == 1 { "" } else { "s" },
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::Layout;

    fn node() -> Node {
        Node {
            name: "mac-w01".into(),
            host: "w01.example".into(),
            port: None,
            user: None,
            class: "worker".into(),
            labels: Vec::new(),
            layout: Layout::default(),
        }
    }

    #[test]
    fn templates_expand_each_word_as_one_word() {
        let t: Vec<String> = [
            "echo",
            "{node} on {host}",
            "{skills_root}/current",
            "{class}",
        ]
        .map(String::from)
        .to_vec();
        let argv = expand(&t, &node()).unwrap();
        assert_eq!(
            argv,
            vec![
                "echo",
                "mac-w01 on w01.example",
                "/etc/openclaw/skills/current",
                "worker"
            ]
        );
        let e = expand(&["{nod}".into()], &node()).unwrap_err();
        assert_eq!(
            e,
            TemplateError::UnknownPlaceholder {
                name: "nod".into(),
                word: "{nod}".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "unknown placeholder {nod} in \"{nod}\"; the placeholders are \
             {node}, {host}, {class}, {skills_root}, {state_dir}"
        );
        let e = expand(&["{node".into()], &node()).unwrap_err();
        assert_eq!(e.to_string(), "unclosed { in \"{node\"");
    }

    #[test]
    fn confirm_names_the_nodes_and_their_count() {
        let a = NodeAction::builtin(Builtin::Drain);
        assert_eq!(
            confirm_question(&a, &["mac-w01".into()]),
            "drain 1 node: mac-w01?"
        );
        let names: Vec<String> = (1..=7).map(|i| format!("mac-w0{i}")).collect();
        assert_eq!(
            confirm_question(&a, &names),
            "drain 7 nodes: mac-w01, mac-w02, mac-w03, mac-w04, mac-w05, and 2 more?"
        );
    }

    #[test]
    fn each_builtin_runs_its_operation() {
        let n = node();
        let op = |b| NodeAction::builtin(b).node_op(&n).unwrap();
        assert_eq!(op(Builtin::Drain), Some(NodeOp::Drain));
        assert_eq!(op(Builtin::Restart), Some(NodeOp::GatewayRestart));
        assert_eq!(
            op(Builtin::Logs),
            Some(NodeOp::Logs {
                lines: DEFAULT_LOG_LINES,
                follow: false
            })
        );
        assert_eq!(
            op(Builtin::Follow),
            Some(NodeOp::Logs {
                lines: 20,
                follow: true
            })
        );
        assert_eq!(op(Builtin::Shell), None);
        assert_eq!(
            NodeAction::builtin(Builtin::Restart).command_text(&n),
            "'openclaw' gateway restart"
        );
    }
}
