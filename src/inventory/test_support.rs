//! Test set-up shared by the inventory readers' tests (INI, YAML, `meshroll.toml`,
//! the Ansible groups they build on).

use super::{Inventory, InventoryError, NodeId};

/// Each node's name, class and ssh destination, in inventory order.
fn destinations(inv: &Inventory) -> Vec<(&str, &str, String)> {
    inv.nodes
        .iter()
        .map(|n| (n.name.as_str(), n.class.as_str(), n.destination()))
        .collect()
}

/// Each node's name, class and labels, in inventory order.
pub(crate) fn labels(inv: &Inventory) -> Vec<(&str, &str, Vec<String>)> {
    inv.nodes
        .iter()
        .map(|n| (n.name.as_str(), n.class.as_str(), n.labels.clone()))
        .collect()
}

/// `read` refuses each case's text naming the case's line, in words that contain the
/// case's.
pub(crate) fn assert_refused(
    cases: &[(&str, usize, &str)],
    read: impl Fn(&str) -> Result<Inventory, InventoryError>,
) {
    for (text, line, want) in cases {
        let e = read(text).expect_err("refused");
        assert_eq!(e.line, Some(*line), "{text:?}: {}", e.expected);
        assert!(e.expected.contains(want), "{text:?}: {}", e.expected);
    }
}

/// The same fleet written as INI and as YAML (`groups_children_vars` in both), read:
/// a lone node, a gateway behind an address and user, three workers on two ports, and
/// w3 with its group's skills root, its parent group's state dir and no run-as user.
pub(crate) fn assert_groups_example(inv: &Inventory) {
    assert_eq!(
        destinations(inv),
        vec![
            ("solo", "ungrouped", "solo".to_string()),
            ("g1", "gateway", "admin@10.0.0.1".to_string()),
            ("w1", "worker", "w1:2200".to_string()),
            ("w2", "worker", "w2:2200".to_string()),
            ("w3", "worker", "w3:2300".to_string()),
        ]
    );
    let w3 = &inv.nodes[NodeId::new(4)].layout;
    assert_eq!(w3.skills_root, "/opt/skills");
    assert_eq!(w3.state_dir, "/srv/state");
    assert_eq!(w3.run_as, "");
}
