//! A `./themes/NAME.toml` in the working folder never replaces a built-in theme: a name
//! is looked up in the user's theme folder and the built-ins only; a file in the working
//! folder is used when it is given as a path (`--theme ./themes/mine.toml`).
//!
//! One test in its own binary: it changes the process's working folder.
#![allow(clippy::unwrap_used)]

use meshroll::ui::theme::Theme;

#[test]
fn a_theme_in_the_working_folder_shadows_no_built_in_name() {
    let dir = tempfile::tempdir().unwrap();
    // No user theme folder either: XDG_CONFIG_HOME points at an empty folder.
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // SAFETY: the only test in this binary; no other thread reads the environment.
    unsafe { std::env::set_var("XDG_CONFIG_HOME", &config) };
    unsafe { std::env::remove_var("NO_COLOR") };
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("themes")).unwrap();
    let planted = "name = \"planted\"\nbase = \"default\"\n";
    std::fs::write(work.join("themes/default.toml"), planted).unwrap();
    std::fs::write(
        work.join("themes/mine.toml"),
        "name = \"mine\"\nbase = \"mono\"\n",
    )
    .unwrap();
    let builtin = Theme::from_env("default").expect("built-in default");
    std::env::set_current_dir(&work).unwrap();

    let by_name = Theme::from_env("default").expect("default");
    assert_eq!(
        by_name.name, builtin.name,
        "./themes/default.toml replaced the built-in default"
    );
    // A name that only the working folder has is not found by name...
    let err = Theme::from_env("mine")
        .map(|t| t.name)
        .expect_err("mine by name");
    assert!(err.to_string().contains("unknown theme"), "{err}");
    // ...but is used when given as a path.
    let by_path = Theme::from_env("./themes/mine.toml").expect("mine by path");
    assert_eq!(by_path.name, "mine");
    let planted = Theme::from_env("./themes/default.toml").expect("planted by path");
    assert_eq!(planted.name, "planted");
}
