//! The justfile's test passes name their tests exactly, and every name is a
//! test: a `cargo test` line in a recipe that picks tests must say `--exact`,
//! and each name it lists must be a test function of one of the files its
//! `--test` options name (an ignored one where it runs `--ignored` only).
//! A substring filter, or a name left behind by a rename, would make a pass
//! run fewer tests than it says without anything failing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// One `cargo test` command of a recipe.
#[derive(Debug)]
struct TestCommand {
    recipe: String,
    test_files: Vec<String>,
    libtest_options: Vec<String>,
    names: Vec<String>,
}

/// The justfile's recipes' `cargo test` lines, continuations joined.
fn test_commands(justfile: &str) -> Vec<TestCommand> {
    let mut lines: Vec<String> = Vec::new();
    let mut continued = false;
    for line in justfile.lines() {
        let (text, continues) = match line.strip_suffix('\\') {
            Some(head) => (head, true),
            None => (line, false),
        };
        match lines.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(text.trim());
            }
            _ => lines.push(text.to_owned()),
        }
        continued = continues;
    }
    let mut recipe = String::new();
    let mut commands = Vec::new();
    for line in lines {
        if !line.starts_with([' ', '\t', '#']) && line.contains(':') && !line.contains(":=") {
            recipe = line.split([':', ' ']).next().unwrap_or_default().to_owned();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(cargo) = words.windows(2).position(|w| w == ["cargo", "test"]) else {
            continue;
        };
        let words = &words[cargo + 2..];
        let separator = words.iter().position(|w| *w == "--");
        let (cargo_args, libtest_args) = match separator {
            Some(at) => (&words[..at], &words[at + 1..]),
            None => (words, &[][..]),
        };
        let test_files = cargo_args
            .windows(2)
            .filter(|w| w[0] == "--test")
            .map(|w| w[1].to_owned())
            .collect();
        let mut libtest_options = Vec::new();
        let mut names = Vec::new();
        let mut args = libtest_args.iter();
        while let Some(arg) = args.next() {
            if arg.starts_with("{{") {
                continue; // the caller's own arguments (`test-faults-on`)
            }
            if arg.starts_with('-') {
                libtest_options.push((*arg).to_owned());
                if ["--test-threads", "--skip", "--format", "--color", "-Z"].contains(arg) {
                    args.next();
                }
            } else {
                names.push((*arg).to_owned());
            }
        }
        commands.push(TestCommand {
            recipe: recipe.clone(),
            test_files,
            libtest_options,
            names,
        });
    }
    commands
}

/// The test functions of a test file: name → whether it is `#[ignore]`d.
fn test_functions(source: &str) -> BTreeMap<String, bool> {
    let mut tests = BTreeMap::new();
    let mut attributes: Vec<&str> = Vec::new();
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[") {
            attributes.push(line);
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        let is_test = attributes
            .iter()
            .any(|a| *a == "#[test]" || a.starts_with("#[tokio::test"));
        if is_test {
            let signature = line
                .trim_start_matches("pub ")
                .trim_start_matches("async ")
                .strip_prefix("fn ");
            if let Some(name) = signature.and_then(|rest| rest.split(['(', '<']).next()) {
                let ignored = attributes.iter().any(|a| a.starts_with("#[ignore"));
                tests.insert(name.trim().to_owned(), ignored);
            }
        }
        attributes.clear();
    }
    tests
}

/// What is wrong with one command's selection, if anything.
fn selection_problems(command: &TestCommand, tests_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if command.names.is_empty() {
        return problems;
    }
    let recipe = &command.recipe;
    if !command.libtest_options.iter().any(|o| o == "--exact") {
        problems.push(format!(
            "recipe `{recipe}` picks tests by substring ({:?}): add `--exact` and full names",
            command.names
        ));
    }
    let mut tests = BTreeMap::new();
    for file in &command.test_files {
        let path = tests_dir.join(format!("{file}.rs"));
        match std::fs::read_to_string(&path) {
            Ok(source) => tests.extend(test_functions(&source)),
            Err(error) => problems.push(format!(
                "recipe `{recipe}`: --test {file}: {}: {error}",
                path.display()
            )),
        }
    }
    let ignored_only = command.libtest_options.iter().any(|o| o == "--ignored");
    for name in &command.names {
        match tests.get(name) {
            None => problems.push(format!(
                "recipe `{recipe}` names `{name}`, which is no test in {:?}",
                command.test_files
            )),
            Some(false) if ignored_only => problems.push(format!(
                "recipe `{recipe}` runs `--ignored` only, but `{name}` is not #[ignore]d: \
                 it would not run"
            )),
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn every_test_a_justfile_recipe_names_exists_and_is_named_exactly() {
    let root = workspace_root();
    let justfile = std::fs::read_to_string(root.join("justfile")).expect("the justfile");
    let commands = test_commands(&justfile);
    let selecting: Vec<&TestCommand> = commands.iter().filter(|c| !c.names.is_empty()).collect();
    // The passes this test exists for: if they stop naming tests (or the
    // parser stops seeing them), this check would pass vacuously.
    for recipe in ["test-faults-non-utc", "test-faults-binlog"] {
        assert!(
            selecting.iter().any(|c| c.recipe == recipe),
            "no `cargo test` line naming tests in recipe `{recipe}`: {commands:#?}"
        );
    }
    let problems: Vec<String> = selecting
        .iter()
        .flat_map(|command| selection_problems(command, &root.join("host/tests")))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_substring_filter_a_stale_name_and_a_test_not_ignored_are_caught() {
    let tests_dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        tests_dir.path().join("suite.rs"),
        "#[test]\n#[ignore = \"slow\"]\nfn a_slow_test() {}\n\n\
         /// Documented.\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn a_quick_test() {}\n",
    )
    .expect("the test file");
    let justfile = "substring:\n    cargo test --test suite -- --ignored slow\n\
                    exact: setup\n    cargo test --test suite -- --ignored --exact \\\n        \
                    a_slow_test \\\n        a_renamed_test \\\n        a_quick_test\n";
    let commands = test_commands(justfile);
    assert_eq!(commands.len(), 2, "{commands:#?}");
    assert_eq!(
        commands[1].names,
        ["a_slow_test", "a_renamed_test", "a_quick_test"]
    );
    let substring = selection_problems(&commands[0], tests_dir.path());
    assert!(
        substring.iter().any(|p| p.contains("substring")),
        "{substring:?}"
    );
    let exact = selection_problems(&commands[1], tests_dir.path());
    assert_eq!(exact.len(), 2, "{exact:?}");
    assert!(
        exact[0].contains("`a_renamed_test`, which is no test"),
        "{exact:?}"
    );
    assert!(
        exact[1].contains("`a_quick_test` is not #[ignore]d"),
        "{exact:?}"
    );
}
