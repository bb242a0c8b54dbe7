//! Every `zkstorm` command the README and docs/ show in a shell block
//! parses: its subcommand and flags exist and its values are valid. A
//! synopsis line's placeholders are filled in and its optional flags all
//! given (`[--json]` becomes `--json`).

use std::process::Command;

/// The commands in `text`'s `sh` blocks, as argument lists.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            in_sh = !in_sh && matches!(lang.trim(), "sh" | "bash");
            continue;
        }
        let line = line.split(" #").next().unwrap_or("").trim();
        let rest = line
            .strip_prefix("zkstorm ")
            .or_else(|| line.strip_prefix("cargo run --release -- "));
        if let (true, Some(rest)) = (in_sh, rest) {
            out.push(fill(rest));
        }
    }
    out
}

/// A synopsis made concrete.
fn fill(synopsis: &str) -> Vec<String> {
    let concrete = synopsis
        .replace("scenarios/<name>.toml", "scenarios/leader-crash.toml")
        .replace("FILE", "scenarios/leader-crash.toml")
        .replace("K/N", "1/2")
        .replace("NAME", "ack-before-fsync")
        .replace("PATH", "out.toml")
        .replace("SCENARIO...", "")
        .replace(['[', ']'], "");
    let words = concrete.split_whitespace().take_while(|w| *w != ">");
    words
        .map(|w| if w == "N" { "1".into() } else { w.to_string() })
        .collect()
}

#[test]
fn every_command_in_the_docs_parses() {
    let mut files = vec![std::path::PathBuf::from("../README.md")];
    for e in std::fs::read_dir("../docs").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut seen = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for args in commands(&text) {
            let out = Command::new(env!("CARGO_BIN_EXE_zkstorm"))
                .args(&args)
                .env("ZKSTORM_PARSE_ONLY", "1")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{}: zkstorm {}\n{err}",
                f.display(),
                args.join(" ")
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 15,
        "only {seen} commands found: the extraction broke"
    );
}

#[test]
fn a_command_with_a_bad_flag_does_not_parse() {
    let args = fill("fuzz --seeds 0..10 --no-such-flag");
    let out = Command::new(env!("CARGO_BIN_EXE_zkstorm"))
        .args(&args)
        .env("ZKSTORM_PARSE_ONLY", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README's Rust test is one the examples run: its lines (bar the
/// `use`s) appear, in order, in `examples/lock_recipe.rs`.
#[test]
fn the_readme_test_is_run_by_an_example() {
    let readme = std::fs::read_to_string("../README.md").unwrap();
    let example = std::fs::read_to_string("../examples/lock_recipe.rs").unwrap();
    let start = readme
        .find("```rust\n")
        .expect("a rust block in the README")
        + 8;
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let mut lines = example.lines().map(str::trim);
    for want in block.lines().map(str::trim) {
        if want.is_empty() || want.starts_with("use ") {
            continue;
        }
        assert!(
            lines.any(|l| l == want),
            "README line {want:?} is not in examples/lock_recipe.rs (in this order)"
        );
    }
}
