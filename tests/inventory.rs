//! Every inventory fixture under tests/fixtures/inventory, loaded through
//! `meshroll::inventory::load`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use meshroll::inventory::{Inventory, Layout, Node, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

fn load_ok(name: &str) -> Inventory {
    load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A node with the default layout; adjust with struct update syntax.
fn node(name: &str, host: &str, class: &str) -> Node {
    Node {
        name: name.into(),
        host: host.into(),
        port: None,
        user: None,
        class: class.into(),
        labels: Vec::new(),
        layout: Layout::default(),
    }
}

/// The fleet described by fleet.ini and fleet.yml.
fn ansible_fleet() -> Vec<Node> {
    let base = Layout {
        skills_root: "/etc/openclaw/skills".into(),
        cache_max_age_min: 90,
        healthz_url: "http://127.0.0.1:18789/healthz".into(),
        ..Layout::default()
    };
    let gateway = Layout {
        state_dir: "/srv/openclaw/state".into(),
        ..base.clone()
    };
    let worker = Layout {
        skills_root: "/opt/openclaw/skills".into(),
        prewarm_cmd: Some("openclaw skills prewarm --concurrency 1 --timeout 10m".into()),
        ..gateway.clone()
    };
    let admin = Some("admin".to_string());
    let w = |name: &str, layout: &Layout| Node {
        user: admin.clone(),
        layout: layout.clone(),
        ..node(name, name, "worker")
    };
    let no_sudo = Layout {
        run_as: String::new(),
        ..worker.clone()
    };
    vec![
        Node {
            user: Some("ops".into()),
            layout: base.clone(),
            ..node("bastion-mac", "10.0.0.2", "ungrouped")
        },
        Node {
            user: admin.clone(),
            layout: gateway.clone(),
            ..node("mac-g01", "10.0.0.11", "gateway")
        },
        Node {
            user: admin.clone(),
            port: Some(2222),
            layout: gateway.clone(),
            ..node("mac-g02", "10.0.0.12", "gateway")
        },
        Node {
            user: admin.clone(),
            port: Some(2200),
            layout: gateway.clone(),
            ..node("mac-g03", "mac-g03", "gateway")
        },
        Node {
            labels: vec!["canary".into()],
            layout: Layout {
                cache_max_age_min: 30,
                ..worker.clone()
            },
            ..w("mac-w01", &worker)
        },
        w("mac-w02", &worker),
        w("mac-w03", &worker),
        w("mac-w08", &no_sudo),
        w("mac-w10", &no_sudo),
        w("mac-w12", &no_sudo),
        w("mac-wa", &worker),
        w("mac-wb", &worker),
    ]
}

#[test]
fn ini_fleet() {
    let inv = load_ok("fleet.ini");
    let want = ansible_fleet();
    assert_eq!(inv.nodes.len(), want.len());
    for (got, want) in inv.nodes.iter().zip(&want) {
        assert_eq!(got, want);
    }
    assert_eq!(inv.classes, vec!["ungrouped", "gateway", "worker"]);
}

#[test]
fn yaml_fleet() {
    let inv = load_ok("fleet.yml");
    assert_eq!(inv.nodes, ansible_fleet());
    assert_eq!(inv.classes, vec!["ungrouped", "gateway", "worker"]);
}

#[test]
fn ini_and_yaml_agree() {
    assert_eq!(load_ok("fleet.ini"), load_ok("fleet.yml"));
}

#[test]
fn toml_fleet() {
    let inv = load_ok("meshroll.toml");
    let defaults = Layout {
        healthz_url: "http://127.0.0.1:18789/healthz".into(),
        cache_max_age_min: 90,
        ..Layout::default()
    };
    let worker = Layout {
        skills_root: "/opt/openclaw/skills".into(),
        prewarm_cmd: Some("openclaw skills prewarm --concurrency 1 --timeout 10m".into()),
        ..defaults.clone()
    };
    let want = vec![
        Node {
            user: Some("admin".into()),
            layout: Layout {
                state_dir: "/srv/openclaw/state".into(),
                drain_cmd: Some("sudo /usr/local/bin/lb-drain".into()),
                undrain_cmd: Some("sudo /usr/local/bin/lb-undrain".into()),
                ..defaults.clone()
            },
            ..node("mac-g01", "10.0.0.11", "gateway")
        },
        Node {
            port: Some(2222),
            user: Some("admin".into()),
            labels: vec!["canary".into(), "rack-a".into()],
            layout: Layout {
                cache_max_age_min: 30,
                ..worker.clone()
            },
            ..node("mac-w01", "mac-w01.lan", "worker")
        },
        Node {
            labels: vec!["rack-b".into()],
            layout: Layout {
                run_as: String::new(),
                skills_root: "/Volumes/fast/skills".into(),
                ..worker.clone()
            },
            ..node("mac-w02", "mac-w02", "worker")
        },
    ];
    assert_eq!(inv.nodes, want);
    assert_eq!(inv.classes, vec!["gateway", "worker"]);
    assert_eq!(inv.nodes[0].destination(), "admin@10.0.0.11");
    assert_eq!(inv.nodes[1].destination(), "admin@mac-w01.lan:2222");
}

#[test]
fn ini_without_extension() {
    let inv = load_ok("hosts");
    let admin = Some("admin".to_string());
    assert_eq!(
        inv.nodes,
        vec![
            node("mac-g01", "mac-g01", "gateway"),
            Node {
                user: admin.clone(),
                ..node("mac-w1", "mac-w1", "worker")
            },
            Node {
                user: admin,
                ..node("mac-w2", "mac-w2", "worker")
            },
        ]
    );
}

#[test]
fn invalid_fixtures() {
    let cases: &[(&str, usize, &str)] = &[
        ("bad-range.ini", 3, "mac-w[01:]"),
        ("bad-port.ini", 5, "a port number for ansible_port"),
        ("bad-host-line.ini", 3, "a host pattern or [section]"),
        ("bad-vars-line.ini", 2, "key=value"),
        ("cycle.ini", 8, "without a cycle"),
        ("unknown-meshroll-var.ini", 2, "meshroll_skills_root"),
        ("unknown-key.toml", 4, "unknown field `skils_root`"),
        ("duplicate-node.toml", 6, "node names to be unique"),
        (
            "bad-port.toml",
            4,
            "a port number from 1 to 65535 for node mac-w01",
        ),
        (
            "hosts-list.yml",
            5,
            "a mapping of host names under hosts of group worker",
        ),
        ("bad-syntax.yml", 5, "valid YAML"),
        ("bad-range.yml", 5, "mac-w[01:20:0]"),
        (
            "unknown-group-key.yml",
            4,
            "hosts, vars or children in group worker",
        ),
    ];
    let mut fixtures: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            !matches!(
                n.as_str(),
                "fleet.ini" | "fleet.yml" | "meshroll.toml" | "hosts"
            )
        })
        .collect();
    fixtures.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    listed.sort();
    assert_eq!(fixtures, listed, "every invalid fixture has a case here");

    for (name, line, want) in cases {
        let path = fixture(name);
        let e = load(&path).expect_err(name);
        assert_eq!(e.file, path, "{name}");
        assert_eq!(e.line, Some(*line), "{name}: {e}");
        assert!(e.expected.contains(want), "{name}: {e}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("{name}:{line}: expected ")),
            "{shown}"
        );
    }
}

#[test]
fn missing_file() {
    let e = load(&fixture("no-such-inventory.ini")).unwrap_err();
    assert_eq!(e.line, None);
    assert!(e.expected.contains("a readable file"));
}

/// `gateway_ready_url` in all three formats: set, emptied (readiness off) and the
/// built-in default when not given.
#[test]
fn gateway_ready_url_in_every_format() {
    use meshroll::inventory::{DEFAULT_GATEWAY_READY_URL, parse};
    let d = tempfile::tempdir().unwrap();
    let cases = [
        (
            "a.toml",
            "[defaults]\ngateway_ready_url = \"http://127.0.0.1:9/readyz\"\n\n\
             [[nodes]]\nname = \"n1\"\nclass = \"worker\"\n\n\
             [[nodes]]\nname = \"n2\"\nclass = \"worker\"\ngateway_ready_url = \"\"\n",
        ),
        (
            "a.ini",
            "[worker]\nn1 meshroll_gateway_ready_url=http://127.0.0.1:9/readyz\n\
             n2 meshroll_gateway_ready_url=\n",
        ),
        (
            "a.yml",
            "all:\n  children:\n    worker:\n      hosts:\n        n1:\n          \
             meshroll_gateway_ready_url: http://127.0.0.1:9/readyz\n        n2:\n          \
             meshroll_gateway_ready_url: \"\"\n",
        ),
    ];
    for (name, text) in cases {
        let inv = parse(&d.path().join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            inv.nodes[0].layout.gateway_ready_url, "http://127.0.0.1:9/readyz",
            "{name}"
        );
        assert_eq!(inv.nodes[1].layout.gateway_ready_url, "", "{name}");
    }
    let inv = parse(
        &d.path().join("b.toml"),
        "[[nodes]]\nname = \"n1\"\nclass = \"worker\"\n",
    )
    .unwrap();
    assert_eq!(
        inv.nodes[0].layout.gateway_ready_url,
        DEFAULT_GATEWAY_READY_URL
    );
    assert_eq!(DEFAULT_GATEWAY_READY_URL, "http://127.0.0.1:18789/readyz");
}
