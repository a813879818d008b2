//! Every inventory fixture under tests/fixtures/inventory, loaded through
//! `meshroll::inventory::load`.
#![allow(clippy::unwrap_used)]

use meshroll::inventory::NodeId;
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
        host: host.into(),
        ..Node::new(name, class)
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
    assert_eq!(inv.nodes[NodeId::new(0)].destination(), "admin@10.0.0.11");
    assert_eq!(
        inv.nodes[NodeId::new(1)].destination(),
        "admin@mac-w01.lan:2222"
    );
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

// ---------------------------------------------------------------------------------------
// Ansible inventories as operators keep them: group_vars/, host_vars/, inventory
// directories (issue 11, section 5). Real files in temp dirs.

/// Write `body` to `root/rel`, creating folders.
fn put(root: &Path, rel: &str, body: &str) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

fn by_name<'a>(inv: &'a Inventory, name: &str) -> &'a Node {
    inv.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name} in {:?}", inv.nodes))
}

/// The issue's case: a `meshroll_skills_root` set in group_vars/ must never fall back to
/// the default path.
#[test]
fn skills_root_in_group_vars_is_used() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(d.path(), "hosts.ini", "[worker]\nmac-w01\nmac-w02\n");
    put(
        d.path(),
        "group_vars/all.yml",
        "---\nmeshroll_skills_root: /Volumes/fast/skills\nansible_user: admin\n",
    );
    let inv = load(&inv).unwrap();
    for n in &inv.nodes {
        assert_eq!(n.layout.skills_root, "/Volumes/fast/skills", "{}", n.name);
        assert_eq!(n.user.as_deref(), Some("admin"));
    }
    assert_ne!(Layout::default().skills_root, "/Volumes/fast/skills");
}

/// Ansible's default precedence, lowest first: inventory group vars (all < parent <
/// child) < group_vars/all < group_vars/<parent> < group_vars/<child> < inline host vars
/// < host_vars/<host>; files of a group_vars folder apply in name order.
#[test]
fn vars_folders_follow_ansible_precedence() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(
        d.path(),
        "inventory/hosts.ini",
        "\
[worker]
w1 meshroll_run_as=inline-host
w2
w3 meshroll_openclaw=/inline/openclaw
[macs:children]
worker
[worker:vars]
meshroll_state_dir=/inline/worker
meshroll_healthz_url=http://inline-worker/healthz
[all:vars]
meshroll_prewarm_cmd=inline-all
",
    );
    put(
        d.path(),
        "inventory/group_vars/all.yml",
        "meshroll_state_dir: /gv/all\nmeshroll_drain_cmd: gv-all-drain\nmeshroll_openclaw: /gv/all/openclaw\n",
    );
    put(
        d.path(),
        "inventory/group_vars/macs",
        "meshroll_drain_cmd: gv-macs-drain\nmeshroll_undrain_cmd: gv-macs-undrain\n",
    );
    put(
        d.path(),
        "inventory/group_vars/worker/10-base.yml",
        "meshroll_undrain_cmd: gv-worker-undrain\nmeshroll_cache_max_age_min: 45\n",
    );
    put(
        d.path(),
        "inventory/group_vars/worker/20-override.yaml",
        "meshroll_cache_max_age_min: 15\n",
    );
    put(
        d.path(),
        "inventory/group_vars/worker/notes.md",
        "meshroll_cache_max_age_min: 99 (not a vars file: .md is skipped, as Ansible does)\n",
    );
    put(
        d.path(),
        "inventory/host_vars/w1",
        "meshroll_run_as: from-host-vars\n",
    );
    put(
        d.path(),
        "inventory/host_vars/w2.json",
        r#"{"ansible_host": "10.0.0.2", "ansible_port": 2202}"#,
    );
    let inv = load(&inv).unwrap();
    let w1 = by_name(&inv, "w1");
    let w2 = by_name(&inv, "w2");
    let w3 = by_name(&inv, "w3");
    // group_vars/all beats the inventory's own [worker:vars].
    assert_eq!(w1.layout.state_dir, "/gv/all");
    // The inventory's own vars still count where no file sets the key.
    assert_eq!(w1.layout.healthz_url, "http://inline-worker/healthz");
    assert_eq!(w1.layout.prewarm_cmd.as_deref(), Some("inline-all"));
    // group_vars: parent beats all, child beats parent.
    assert_eq!(w1.layout.drain_cmd.as_deref(), Some("gv-macs-drain"));
    assert_eq!(w1.layout.undrain_cmd.as_deref(), Some("gv-worker-undrain"));
    // Files of a folder in name order, later wins; notes.md is not read.
    assert_eq!(w1.layout.cache_max_age_min, 15);
    // host_vars beats the host's inline var.
    assert_eq!(w1.layout.run_as, "from-host-vars");
    // An inline host var beats every group_vars file.
    assert_eq!(w3.layout.openclaw, "/inline/openclaw");
    assert_eq!(w1.layout.openclaw, "/gv/all/openclaw");
    // JSON host_vars set the destination.
    assert_eq!(w2.destination(), "10.0.0.2:2202");
    assert_eq!(w2.layout.run_as, Layout::default().run_as);
}

#[test]
fn yaml_inventory_reads_vars_folders_too() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(
        d.path(),
        "hosts.yml",
        "all:\n  children:\n    gateway:\n      hosts:\n        g1:\n          meshroll_state_dir: /inline\n",
    );
    put(
        d.path(),
        "group_vars/gateway.yaml",
        "meshroll_state_dir: /gv\nmeshroll_rsync_path: /opt/homebrew/bin/rsync\n",
    );
    put(d.path(), "host_vars/g1.yml", "ansible_user: ops\n");
    let inv = load(&inv).unwrap();
    let g1 = &inv.nodes[NodeId::new(0)];
    assert_eq!(
        g1.layout.state_dir, "/inline",
        "inline host vars beat group_vars"
    );
    assert_eq!(g1.layout.rsync_path, "/opt/homebrew/bin/rsync");
    assert_eq!(g1.destination(), "ops@g1");
}

/// An inventory directory of INI and YAML files, with nesting across files, skipped
/// names as Ansible skips them, and its own vars folders.
#[test]
fn inventory_directory_of_mixed_files() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("prod");
    put(
        &dir,
        "01-gateways.ini",
        "[gateway]\nmac-g01 ansible_host=10.0.0.11\n",
    );
    put(
        &dir,
        "02-workers.yml",
        "worker:\n  hosts:\n    mac-w[01:02]:\n  vars:\n    meshroll_skills_root: /opt/skills\n",
    );
    put(
        &dir,
        "03-nesting",
        "[macs:children]\ngateway\nworker\n[macs:vars]\nansible_user=admin\n",
    );
    put(
        &dir,
        "more/04-canary.yaml",
        "canary:\n  hosts:\n    mac-w01:\n",
    );
    put(&dir, "README.md", "[bogus]\nnot-a-host\n");
    put(&dir, "old.ini.bak", "[bogus]\nnot-a-host\n");
    put(&dir, ".hidden", "[bogus]\nnot-a-host\n");
    put(
        &dir,
        "group_vars/macs.yml",
        "meshroll_cache_max_age_min: 30\n",
    );
    put(&dir, "host_vars/mac-w02.yml", "meshroll_run_as: ''\n");
    let inv = load(&dir).unwrap();
    let got: Vec<_> = inv
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.class.as_str(),
                n.labels.clone(),
                n.destination(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("mac-g01", "gateway", vec![], "admin@10.0.0.11".to_string()),
            (
                "mac-w01",
                "worker",
                vec!["canary".to_string()],
                "admin@mac-w01".to_string()
            ),
            ("mac-w02", "worker", vec![], "admin@mac-w02".to_string()),
        ]
    );
    assert!(inv.nodes.iter().all(|n| n.layout.cache_max_age_min == 30));
    assert_eq!(by_name(&inv, "mac-w01").layout.skills_root, "/opt/skills");
    assert_eq!(
        by_name(&inv, "mac-g01").layout.skills_root,
        Layout::default().skills_root
    );
    assert_eq!(by_name(&inv, "mac-w02").layout.run_as, "");
    assert_eq!(inv.classes, vec!["gateway", "worker"]);
}

/// An error in any file of a directory or vars folder names that file and line.
#[test]
fn errors_name_the_file_they_are_in() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("inv");
    put(&dir, "a.ini", "[worker]\nw1\n");
    let bad = put(
        &dir,
        "b.yml",
        "worker:\n  hosts:\n    w2:\n      ansible_port: ssh\n",
    );
    let e = load(&dir).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (bad.as_path(), Some(4)), "{e}");
    assert!(e.expected.contains("a port number for ansible_port"), "{e}");

    std::fs::remove_file(&bad).unwrap();
    let gv = put(
        &dir,
        "group_vars/worker.yml",
        "# worker\nmeshroll_cache_max_age_min: soon\n",
    );
    let e = load(&dir).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (gv.as_path(), Some(2)), "{e}");
    assert!(e.expected.contains("whole number of minutes"), "{e}");
    assert!(e.to_string().contains("worker.yml:2: expected"), "{e}");

    put(&dir, "group_vars/worker.yml", "meshroll_skils_root: /x\n");
    let e = load(&dir).unwrap_err();
    assert!(e.expected.contains("meshroll_skills_root"), "{e}");
}

#[test]
fn vars_for_a_group_or_host_the_inventory_lacks() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(d.path(), "hosts", "[worker]\nw1\n");
    // Ansible ignores vars of unknown groups; so does meshroll when they set nothing it reads.
    put(
        d.path(),
        "group_vars/databases.yml",
        "postgres_version: 16\n",
    );
    put(
        d.path(),
        "host_vars/old-host.yml",
        "ansible_host: 10.9.9.9\n",
    );
    put(
        d.path(),
        "group_vars/backups/vault.yml",
        "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
    );
    assert_eq!(load(&inv).unwrap().nodes.len(), 1);
    // A meshroll_* setting there would silently not apply: an error naming it.
    let typo = put(
        d.path(),
        "group_vars/wroker.yml",
        "\nmeshroll_skills_root: /x\n",
    );
    let e = load(&inv).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (typo.as_path(), Some(2)), "{e}");
    assert!(e.expected.contains("no group of that name"), "{e}");
    assert!(e.expected.contains("\"wroker\""), "{e}");
    std::fs::remove_file(&typo).unwrap();
    put(d.path(), "host_vars/w2/layout.yml", "meshroll_run_as: x\n");
    let e = load(&inv).unwrap_err();
    assert!(e.expected.contains("no host of that name"), "{e}");
}

#[test]
fn two_vars_files_for_one_group_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(d.path(), "hosts.ini", "[worker]\nw1\n");
    put(d.path(), "group_vars/worker.yml", "meshroll_run_as: a\n");
    put(
        d.path(),
        "group_vars/worker/main.yml",
        "meshroll_run_as: b\n",
    );
    let e = load(&inv).unwrap_err();
    assert!(
        e.expected
            .contains("group_vars/worker and group_vars/worker.yml"),
        "{e}"
    );
}

#[test]
fn unsupported_constructs_stop_with_an_error_naming_them() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    // A dynamic inventory script.
    let script = put(
        d.path(),
        "ec2.py",
        "#!/usr/bin/env python3\nimport json\nprint(json.dumps({}))\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = load(&script).unwrap_err();
    assert_eq!(e.file, script);
    assert!(e.expected.contains("dynamic inventory script"), "{e}");
    // The same inside an inventory directory.
    let dir = d.path().join("inv");
    put(&dir, "hosts.ini", "[worker]\nw1\n");
    let s2 = put(&dir, "gce", "#!/bin/sh\necho '{}'\n");
    let e = load(&dir).unwrap_err();
    assert_eq!(e.file, s2);
    assert!(e.expected.contains("dynamic inventory script"), "{e}");
    std::fs::remove_file(&s2).unwrap();
    // An inventory plugin configuration, with or without an extension.
    for name in ["aws_ec2.yml", "cloud"] {
        let p = put(
            d.path(),
            name,
            "# fleet in AWS\nplugin: amazon.aws.aws_ec2\nregions:\n  - eu-west-1\n",
        );
        let e = load(&p).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(
            e.expected
                .contains("inventory plugin \"amazon.aws.aws_ec2\""),
            "{e}"
        );
    }
    // A vault-encrypted vars file.
    let vault = put(
        &dir,
        "group_vars/all/vault.yml",
        "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n",
    );
    let e = load(&dir).unwrap_err();
    assert_eq!(e.file, vault);
    assert!(e.expected.contains("ansible-vault"), "{e}");
    std::fs::remove_file(&vault).unwrap();
    // A !vault value for a variable meshroll reads; other vaulted variables are fine.
    let gv = put(
        &dir,
        "group_vars/worker.yml",
        "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\nmeshroll_run_as: svc\n",
    );
    assert_eq!(
        load(&dir).unwrap().nodes[NodeId::new(0)].layout.run_as,
        "svc"
    );
    std::fs::write(
        &gv,
        "meshroll_run_as: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
    )
    .unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (gv.as_path(), Some(1)), "{e}");
    assert!(e.expected.contains("cannot decrypt vault values"), "{e}");
    std::fs::remove_file(&gv).unwrap();
    // A Jinja template meshroll would take literally.
    put(
        &dir,
        "group_vars/worker.yml",
        "meshroll_skills_root: \"{{ base }}/skills\"\n",
    );
    let e = load(&dir).unwrap_err();
    assert!(e.expected.contains("Jinja"), "{e}");
    std::fs::remove_file(dir.join("group_vars/worker.yml")).unwrap();
    // group_vars in a subfolder of an inventory directory: Ansible does not read it.
    put(&dir, "sub/group_vars/worker.yml", "meshroll_run_as: x\n");
    let e = load(&dir).unwrap_err();
    assert!(e.expected.contains("move it up"), "{e}");
    std::fs::remove_dir_all(dir.join("sub")).unwrap();
    // A meshroll.toml inside an Ansible inventory directory.
    let t = put(
        &dir,
        "meshroll.toml",
        "[[nodes]]\nname = \"a\"\nclass = \"w\"\n",
    );
    let e = load(&dir).unwrap_err();
    assert_eq!(e.file, t);
    assert!(e.expected.contains("looks like TOML"), "{e}");
    std::fs::remove_file(&t).unwrap();
    assert_eq!(load(&dir).unwrap().nodes.len(), 1);
    // An empty directory.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(load(&empty).unwrap_err().expected.contains("at least one"));
}

// ---------------------------------------------------------------------------------------
// Hostile or careless inventories (issue 7): a clear error naming the host, nothing else.

#[test]
fn hosts_and_users_ssh_would_misread_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "a.ini",
            "[worker]\nw1 ansible_host=-oProxyCommand=touch/tmp/pwned\n",
            "does not begin with -",
        ),
        ("b.ini", "[worker]\n-oProxyJump\n", "does not begin with -"),
        (
            "c.ini",
            "[worker]\nw1 ansible_user=-lroot\n",
            "does not begin with -",
        ),
        (
            "d.yml",
            "worker:\n  hosts:\n    w1:\n      ansible_host: \"mac\\u0007-w1\"\n",
            "control characters",
        ),
        (
            "e.yml",
            "worker:\n  hosts:\n    w1:\n      ansible_user: \"ad\\nmin\"\n",
            "control characters",
        ),
        (
            "f.yml",
            "worker:\n  hosts:\n    w1:\n      ansible_host: \"10.0.0.1 -oProxyCommand=x\"\n",
            "without spaces",
        ),
        ("g.ini", "[worker]\nw1 ansible_port=70000\n", "1 to 65535"),
        ("h.ini", "[worker]\nw1:0\n", "1 to 65535"),
        (
            "i.toml",
            "[[nodes]]\nname = \"w1\"\nclass = \"worker\"\nhost = \"-oProxyCommand=x\"\n",
            "does not begin with -",
        ),
        (
            "j.toml",
            "[[nodes]]\nname = \"w1\"\nclass = \"worker\"\nuser = \"-lroot\"\n",
            "does not begin with -",
        ),
        (
            "k.toml",
            "[[nodes]]\nname = \"w1\"\nclass = \"worker\"\nhost = \"-x@mac\"\n",
            "does not begin with -",
        ),
        (
            "l.toml",
            "[[nodes]]\nname = \"-w1\"\nclass = \"worker\"\n",
            "does not begin with -",
        ),
        (
            "m.ini",
            "[worker]\nw1 ansible_host=mac\u{202e}1w\n",
            "control characters",
        ),
    ];
    for (name, body, want) in cases {
        let p = put(d.path(), name, body);
        let e = load(&p).expect_err(name);
        assert!(e.expected.contains(want), "{name}: {e}");
        assert!(e.line.is_some(), "{name}: {e}");
        let shown = e.to_string();
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{name}: the message shows the value escaped: {shown:?}"
        );
        assert!(
            shown.contains("w1") || shown.contains("-oProxy"),
            "{name}: names the host: {shown}"
        );
    }
}

/// A "billion laughs": 9 levels of 9 aliases each, under 600 bytes, would expand to
/// hundreds of millions of nodes. It stops with an error naming the alias's line.
#[test]
fn yaml_alias_bomb_is_refused_naming_the_line() {
    let mut text = String::from(
        "all:\n  vars:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..=9 {
        let p = i - 1;
        text.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    assert!(text.len() < 600, "{}", text.len());
    let d = tempfile::tempdir().unwrap();
    let p = put(d.path(), "bomb.yml", &text);
    let e = load(&p).unwrap_err();
    assert!(e.expected.contains("aliases"), "{e}");
    let line = e.line.unwrap();
    assert!((4..=12).contains(&line), "{e}");
    // Aliases used as operators use them still work.
    let ok = put(
        d.path(),
        "ok.yml",
        "worker:\n  vars: &v\n    meshroll_run_as: svc\n  hosts: {w1: }\ngateway:\n  vars: *v\n  hosts: {g1: }\n",
    );
    assert!(
        load(&ok)
            .unwrap()
            .nodes
            .iter()
            .all(|n| n.layout.run_as == "svc")
    );
}

#[test]
fn deeply_nested_yaml_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "all:\n  vars:\n    x: {}{}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let p = put(d.path(), "deep.yml", &text);
    let e = load(&p).unwrap_err();
    assert!(e.expected.contains("nested at most"), "{e}");
}

/// Through the real binary: an inventory whose `ansible_host` would be an ssh option stops
/// `status` before anything runs, naming the host; the would-be proxy command never runs.
#[test]
fn status_refuses_an_option_as_host_before_any_ssh() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("pwned");
    let proxy = put(
        d.path(),
        "proxy.sh",
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    std::fs::set_permissions(&proxy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inv = put(
        d.path(),
        "hosts.ini",
        &format!(
            "[worker]\nmac-w01 ansible_host=-oProxyCommand={}\n",
            proxy.display()
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .arg("-i")
        .arg(&inv)
        .arg("--log-dir")
        .arg(d.path().join("log"))
        .args(["--timeout", "3", "status", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // An inventory meshroll refuses: it could not run, exit 2.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("hosts.ini:2"), "{err}");
    assert!(err.contains("does not begin with -"), "{err}");
    assert!(err.contains("mac-w01"), "{err}");
    assert!(!marker.exists(), "the proxy command ran");
}

/// Older inventories use `ansible_ssh_host/port/user`: Ansible's ssh plugin still reads
/// them, and takes them over the new names; meshroll must not silently connect to the
/// inventory name instead.
#[test]
fn older_ansible_ssh_names_are_read_as_ansible_does() {
    let d = tempfile::tempdir().unwrap();
    let inv = put(
        d.path(),
        "hosts.ini",
        "\
[worker]
w1 ansible_ssh_host=10.0.0.5 ansible_ssh_port=2222 ansible_ssh_user=ops
w2 ansible_host=10.0.0.6
w3
[worker:vars]
ansible_ssh_host=10.9.9.9
ansible_user=admin
",
    );
    put(
        d.path(),
        "host_vars/w3.yml",
        "ansible_host: 10.0.0.7\nansible_ssh_host: ~\n",
    );
    let inv = load(&inv).unwrap();
    assert_eq!(by_name(&inv, "w1").destination(), "ops@10.0.0.5:2222");
    // The group's ansible_ssh_host beats the host's own ansible_host, as in Ansible.
    assert_eq!(by_name(&inv, "w2").destination(), "admin@10.9.9.9");
    // A null is "not set": the group's value stays.
    assert_eq!(by_name(&inv, "w3").destination(), "admin@10.9.9.9");
    let bad = put(
        d.path(),
        "bad.ini",
        "[worker]\nw1 ansible_ssh_host=-oProxyCommand=x\n",
    );
    let e = load(&bad).unwrap_err();
    assert!(e.expected.contains("does not begin with - (ssh would take it for an option), got \"-oProxyCommand=x\" for ansible_ssh_host"), "{e}");
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
            inv.nodes[NodeId::new(0)].layout.gateway_ready_url,
            "http://127.0.0.1:9/readyz",
            "{name}"
        );
        assert_eq!(
            inv.nodes[NodeId::new(1)].layout.gateway_ready_url,
            "",
            "{name}"
        );
    }
    let inv = parse(
        &d.path().join("b.toml"),
        "[[nodes]]\nname = \"n1\"\nclass = \"worker\"\n",
    )
    .unwrap();
    assert_eq!(
        inv.nodes[NodeId::new(0)].layout.gateway_ready_url,
        DEFAULT_GATEWAY_READY_URL
    );
    assert_eq!(DEFAULT_GATEWAY_READY_URL, "http://127.0.0.1:18789/readyz");
}

/// Every key of the layout table round-trips through all three formats, at each level
/// that can set it (so a key added to the table is covered here without a new test):
/// set in TOML `[defaults]`, `[classes.*]` and `[[nodes]]`; as `meshroll_<key>` in INI
/// group and host vars and in YAML group and host vars; and reset by a YAML null.
#[test]
fn every_layout_key_round_trips_through_toml_ini_and_yaml() {
    use meshroll::inventory::layout::{KEYS, TomlKind};
    use meshroll::inventory::parse;
    assert!(!KEYS.is_empty());
    for (i, key) in KEYS.iter().enumerate() {
        let (text, toml_value) = match key.toml {
            TomlKind::Text => {
                let t = format!("/rt/{i}/{}", key.name);
                (t.clone(), format!("{t:?}"))
            }
            TomlKind::Count => ((37 + i).to_string(), (37 + i).to_string()),
        };
        let k = key.name;
        let mut want = Layout::default();
        (key.set)(&mut want, &text).unwrap();
        assert_ne!(
            want,
            Layout::default(),
            "{k}: the test value is the default"
        );
        assert_eq!((key.get)(&want).as_deref(), Some(text.as_str()), "{k}");
        let cases = [
            (
                "toml [[nodes]]",
                "fleet.toml",
                format!("[[nodes]]\nname = \"n1\"\nclass = \"w\"\n{k} = {toml_value}\n"),
            ),
            (
                "toml [defaults]",
                "fleet.toml",
                format!(
                    "[defaults]\n{k} = {toml_value}\n[[nodes]]\nname = \"n1\"\nclass = \"w\"\n"
                ),
            ),
            (
                "toml [classes]",
                "fleet.toml",
                format!(
                    "[classes.w]\n{k} = {toml_value}\n[[nodes]]\nname = \"n1\"\nclass = \"w\"\n"
                ),
            ),
            (
                "ini host var",
                "fleet.ini",
                format!("[w]\nn1 meshroll_{k}={text}\n"),
            ),
            (
                "ini group var",
                "fleet.ini",
                format!("[w]\nn1\n[w:vars]\nmeshroll_{k}={text}\n"),
            ),
            (
                "yaml host var",
                "fleet.yml",
                format!("w:\n  hosts:\n    n1:\n      meshroll_{k}: '{text}'\n"),
            ),
            (
                "yaml group var",
                "fleet.yml",
                format!("w:\n  hosts:\n    n1:\n  vars:\n    meshroll_{k}: '{text}'\n"),
            ),
        ];
        for (what, file, body) in cases {
            let inv = parse(Path::new(file), &body).unwrap_or_else(|e| panic!("{k} {what}: {e}"));
            assert_eq!(inv.nodes.len(), 1, "{k} {what}");
            assert_eq!(
                inv.nodes[NodeId::new(0)].layout,
                want,
                "{k} {what}:\n{body}"
            );
        }
        // A null host var puts back the default the group set.
        let body = format!(
            "w:\n  hosts:\n    n1:\n      meshroll_{k}: ~\n  vars:\n    meshroll_{k}: '{text}'\n"
        );
        let inv = parse(Path::new("fleet.yml"), &body).unwrap();
        assert_eq!(
            inv.nodes[NodeId::new(0)].layout,
            Layout::default(),
            "{k} yaml null:\n{body}"
        );
    }
}

/// An unknown key names the known ones, in TOML and in Ansible inventories.
#[test]
fn unknown_layout_keys_list_the_known_ones() {
    use meshroll::inventory::layout::KEYS;
    use meshroll::inventory::parse;
    let toml = parse(
        Path::new("f.toml"),
        "[defaults]\nskils_root = \"/x\"\n[[nodes]]\nname = \"n\"\nclass = \"w\"\n",
    )
    .unwrap_err();
    let ini = parse(Path::new("f.ini"), "[w]\nn meshroll_skils_root=/x\n").unwrap_err();
    assert_eq!(toml.line, Some(2));
    assert!(
        toml.expected.contains("unknown field `skils_root`"),
        "{toml}"
    );
    assert!(
        ini.expected
            .contains("did you mean \"meshroll_skills_root\"?"),
        "{ini}"
    );
    for key in KEYS {
        assert!(toml.expected.contains(&format!("`{}`", key.name)), "{toml}");
        assert!(
            ini.expected.contains(&format!("meshroll_{}", key.name)),
            "{ini}"
        );
    }
}

/// A node name the sanitiser would change (a control, bidi or zero-width character, or
/// more than 128 characters) is refused at load in every format, naming the line: two
/// such names could clean to the same text and be one node on screen and in the journal.
#[test]
fn names_the_sanitiser_would_change_are_refused_naming_the_line() {
    use meshroll::inventory::parse;
    let long = format!("mac-{}", "w".repeat(125));
    assert_eq!(long.chars().count(), 129);
    let fits = format!("mac-{}", "w".repeat(124));
    for bad in [
        "mac-\u{202E}10w",
        "mac-w\u{200B}01",
        "mac-w\u{2066}01",
        "mac-w\u{7f}01",
        long.as_str(),
    ] {
        let ini = format!("[workers]\nmac-ok\n{bad} ansible_host=10.0.0.9\n");
        let yml = format!(
            "all:\n  children:\n    workers:\n      hosts:\n        mac-ok:\n        \"{bad}\":\n"
        );
        let toml_name: String = bad
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() {
                    c.to_string()
                } else {
                    format!("\\u{:04X}", c as u32)
                }
            })
            .collect();
        let toml = format!(
            "[[nodes]]\nname = \"mac-ok\"\nclass = \"w\"\n\n[[nodes]]\nname = \"{toml_name}\"\nclass = \"w\"\n"
        );
        for (file, text, line) in [
            ("hosts.ini", ini, 3),
            ("hosts.yml", yml, 6),
            ("meshroll.toml", toml, 6),
        ] {
            let err = parse(Path::new(file), &text)
                .expect_err(&format!("{file} with {bad:?} must be refused"));
            assert_eq!(err.line, Some(line), "{file} {bad:?}: {err}");
            let why = err.to_string();
            assert!(why.contains("node name"), "{file} {bad:?}: {why}");
            // The message shows the name escaped, never the raw character.
            assert!(
                !why.chars()
                    .any(|c| meshroll::safe_text::is_unsafe_char(c) && c != '\n'),
                "{why:?}"
            );
        }
    }
    // 128 characters is still a name.
    let ok = format!("[workers]\n{fits}\n");
    assert_eq!(fits.chars().count(), 128);
    let inv = parse(Path::new("hosts.ini"), &ok).unwrap();
    assert_eq!(inv.nodes[NodeId::new(0)].name, fits);
}
