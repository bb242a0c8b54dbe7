//! The `zkstorm` binary on bad arguments: exit code 2 and a clear error,
//! never a false pass, a hang or a silently changed setting.
#![cfg(madsim)] // without it the binary is a stub that only says so

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A one-server, one-second scenario: a run takes milliseconds.
const TINY: &str = "name = \"tiny\"\nduration = \"1s\"\nsettle = \"1s\"\n[ensemble]\nservers = 1\n[workload]\nclients = 1\n";
/// TINY without the client checks: one second of one client gives them too
/// little to judge (inconclusive, exit 5), and these tests want a pass.
const TINY_PASSING: &str = "name = \"tiny\"\nduration = \"1s\"\nsettle = \"1s\"\n[ensemble]\nservers = 1\n[workload]\nclients = 1\n[check]\nclient = false\n";

/// A scenario file with `text`, unique to this test.
fn scenario(name: &str, text: &str) -> PathBuf {
    // Under target/tmp (cargo's scratch space for integration tests), not /tmp.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary; a run past `limit` is killed and fails the test (a
/// hang detector, far above the expected milliseconds).
fn zkstorm(args: &[&str]) -> Out {
    let limit = Duration::from_secs(120);
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkstorm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zkstorm");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("zkstorm {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = Out {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::new(),
    };
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out.stdout)
        .ok();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out.stderr)
        .ok();
    out
}

#[track_caller]
fn bad_input(args: &[&str], says: &str) {
    let o = zkstorm(args);
    assert_eq!(
        o.code, 2,
        "{args:?}\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    assert!(
        o.stderr.contains(says),
        "{args:?}: {:?} lacks {says:?}",
        o.stderr
    );
}

#[test]
fn the_last_seed_runs_instead_of_passing_unrun() {
    let tiny = scenario("last-seed", TINY_PASSING);
    let o = zkstorm(&[
        "run",
        tiny.to_str().unwrap(),
        "--seeds",
        "18446744073709551615",
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("seed 18446744073709551615  pass"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("1 of 1 seeds passed"), "{}", o.stdout);
}

#[test]
fn seed_ranges_are_strict() {
    let tiny = scenario("ranges", TINY_PASSING);
    let t = tiny.to_str().unwrap();
    for range in [
        "5..5",
        "7..3",
        "5..=4",
        "",
        "a..b",
        "1..",
        "..4",
        "+3",
        "1.5",
        "-1",
        "99999999999999999999",
    ] {
        bad_input(&["run", t, "--seeds", range], "--seeds");
    }
    let o = zkstorm(&["run", t, "--seeds", "4..=5"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("2 of 2 seeds passed"), "{}", o.stdout);
    assert!(o.stdout.contains("seed      5  pass"), "{}", o.stdout);
}

#[test]
fn jobs_within_limits() {
    let tiny = scenario("jobs", TINY);
    let t = tiny.to_str().unwrap();
    for jobs in ["0", "100000", "-1", "x"] {
        bad_input(&["run", t, "--seeds", "0..2", "--jobs", jobs], "--jobs");
    }
    // Without --seeds there is nothing to run in parallel: said, not ignored.
    bad_input(&["run", t, "--seed", "1", "--jobs", "2"], "--jobs");
}

#[test]
fn bench_seconds_finite_and_positive() {
    let tiny = scenario("bench", TINY);
    let t = tiny.to_str().unwrap();
    for secs in ["inf", "nan", "0", "-1", "1e400", "100000"] {
        bad_input(&["bench", "--secs", secs, t], "--secs");
    }
}

#[test]
fn determinism_is_checked_for_every_seed_of_a_range() {
    let tiny = scenario("determinism", TINY_PASSING);
    let t = tiny.to_str().unwrap();
    let o = zkstorm(&["run", t, "--seeds", "3..5", "--check-determinism"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout.matches("same trace hash twice").count(),
        2,
        "{}",
        o.stdout
    );
}

#[test]
fn determinism_in_json_lines() {
    let tiny = scenario("determinism-json", TINY_PASSING);
    let t = tiny.to_str().unwrap();
    let o = zkstorm(&["run", t, "--seeds", "7", "--json", "--check-determinism"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let first = o.stdout.lines().next().unwrap();
    assert!(first.starts_with('{') && first.ends_with('}'), "{first}");
    assert!(
        first.contains("\"determinism\":\"same trace hash twice\""),
        "{first}"
    );
}

#[test]
fn a_bad_scenario_file_is_located() {
    let bad = scenario("bad", &TINY.replace("servers = 1", "servers = 16"));
    let shown = format!(
        "{}:5:11: ensemble.servers: 16 is out of range",
        bad.display()
    );
    bad_input(&["run", bad.to_str().unwrap()], &shown);
    bad_input(
        &[
            "replay",
            bad.to_str().unwrap(),
            "--seed",
            "1",
            "--trace",
            "/dev/null",
        ],
        &shown,
    );
}

/// A check that gives up is its own verdict: "undecided" in the report and
/// the JSON, exit code 5 — neither a pass (0) nor a found violation (1).
#[test]
fn an_undecided_check_is_neither_a_pass_nor_a_failure() {
    let text = format!("{TINY}rate = 50\n[check]\nlinearizable = true\nlinearizable_steps = 1\n");
    let path = scenario("undecided", &text);
    let out = zkstorm(&["run", path.to_str().unwrap(), "--seed", "1", "--json"]);
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("client.linearizable          UNDECIDED: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\"verdict\":\"undecided\""),
        "{}",
        out.stdout
    );
    let many = zkstorm(&["run", path.to_str().unwrap(), "--seeds", "0..3"]);
    assert_eq!(many.code, 5, "{}", many.stdout);
    assert!(
        many.stdout.contains("0 of 3 seeds passed, 3 undecided"),
        "{}",
        many.stdout
    );
}

/// Only liveness failed (the bound is far too short to commit anything):
/// exit 3, not the safety failure's 1.
#[test]
fn a_liveness_only_failure_exits_3() {
    let text = format!("{TINY}[check]\nliveness = \"1ms\"\n");
    let path = scenario("liveness-only", &text);
    let out = zkstorm(&["run", path.to_str().unwrap(), "--seed", "1", "--json"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("liveness                     FAIL: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("FAIL (liveness only)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\"exit\":3"), "{}", out.stdout);
    let many = zkstorm(&["run", path.to_str().unwrap(), "--seeds", "0..2"]);
    assert_eq!(many.code, 3, "{}", many.stdout);
    assert!(
        many.stdout
            .contains("0 of 2 seeds passed, 2 failed liveness only"),
        "{}",
        many.stdout
    );
}

/// `zkstorm fuzz`: passing seeds exit 0 with a JSON line each; failing ones
/// (here a liveness bound too tight for any recovery) are shrunk to files
/// that `zkstorm run` replays to the same failure.
#[test]
fn fuzz_shrinks_failures_to_files_that_replay() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    let _ = std::fs::remove_dir_all(&dir);
    let json = dir.join("seeds.jsonl");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("failures");
    let (o, j) = (out.to_str().unwrap(), json.to_str().unwrap());
    let ok = zkstorm(&["fuzz", "--seeds", "0..3", "--out", o, "--json", j]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("3 of 3 seeds passed"), "{}", ok.stdout);
    let lines = std::fs::read_to_string(&json).unwrap();
    assert_eq!(lines.lines().count(), 3);
    assert!(lines.lines().all(|l| l.contains("\"exit\":0")), "{lines}");

    let bad = zkstorm(&["fuzz", "--seeds", "0..2", "--out", o, "--liveness", "50ms"]);
    assert_eq!(bad.code, 3, "{}{}", bad.stdout, bad.stderr);
    for seed in ["0", "1"] {
        let file = out.join(format!("liveness-seed-{seed}.toml"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), bad.stdout));
        assert!(text.contains("# Fails liveness: "), "{text}");
        let faults = text.matches("[[fault]]").count();
        assert!(faults <= 5, "{faults} faults left:\n{text}");
        let again = zkstorm(&["run", file.to_str().unwrap(), "--seed", seed]);
        assert_eq!(again.code, 3, "{}", again.stdout);
    }
    let bad_arg = zkstorm(&["fuzz", "--seeds", "3..3"]);
    assert_eq!(bad_arg.code, 2, "{}", bad_arg.stderr);
    // Shard 2 of 3 of 0..6: seeds 1 and 4, nothing else.
    let shard = zkstorm(&["fuzz", "--seeds", "0..6", "--shard", "2/3", "--out", o]);
    assert_eq!(shard.code, 0, "{}", shard.stdout);
    assert!(
        shard.stdout.contains("2 of 2 seeds passed"),
        "{}",
        shard.stdout
    );
    let ran: Vec<&str> = shard
        .stdout
        .lines()
        .filter(|l| l.starts_with("seed "))
        .collect();
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.iter().any(|l| l.starts_with("seed      1 ")), "{ran:?}");
    assert!(ran.iter().any(|l| l.starts_with("seed      4 ")), "{ran:?}");
    let bad_shard = zkstorm(&["fuzz", "--shard", "4/3"]);
    assert_eq!(bad_shard.code, 2, "{}", bad_shard.stderr);
}

/// The bug catalogue: with `commit-without-quorum` (a leader that commits
/// without a quorum) or `ack-before-fsync` (a follower that ACKs before its
/// fsync) injected, the fuzz pipeline (here through `zkstorm mutants`, which
/// stops at the first failing seed) finds a failure within 200 seeds and
/// shrinks it to a file of at most five faults, naming the bug, that
/// `zkstorm run` replays to the same failing check.
#[test]
fn fuzz_finds_and_shrinks_injected_bugs() {
    for bug in ["commit-without-quorum", "ack-before-fsync"] {
        fuzz_finds_and_shrinks(bug);
    }
}

fn fuzz_finds_and_shrinks(bug: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bug-{bug}"));
    let _ = std::fs::remove_dir_all(&dir);
    let o = dir.to_str().unwrap();
    let out = zkstorm(&[
        "mutants", "--seeds", "0..200", "--jobs", "2", "--bug", bug, "--out", o,
    ]);
    assert_eq!(out.code, 0, "{bug}: {}{}", out.stdout, out.stderr);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{}", out.stdout);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let (check, seed) = name
            .trim_end_matches(".toml")
            .rsplit_once("-seed-")
            .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&format!("bugs = [\"{bug}\"]")), "{text}");
        assert!(text.matches("[[fault]]").count() <= 5, "{text}");
        let again = zkstorm(&["run", file.to_str().unwrap(), "--seed", seed]);
        assert_eq!(again.code, 1, "{}", again.stdout);
        assert!(
            again.stdout.contains(&format!("{check:<28} FAIL")),
            "{}",
            again.stdout
        );
    }
}

#[test]
fn an_unknown_bug_is_bad_input() {
    let unknown = zkstorm(&["fuzz", "--bug", "no-such-bug"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("commit-without-quorum"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn list_names_every_fault_kind_checker_and_bug() {
    let out = zkstorm(&["list", "--dir", "../scenarios"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for k in zkstorm_sim::scenario::KINDS {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(k.key)),
            "{} missing from:\n{}",
            k.key,
            out.stdout
        );
    }
    for c in zkstorm_sim::check::CHECKS {
        assert!(out.stdout.contains(c.name), "{}", c.name);
    }
    for b in zkstorm::bugs::names() {
        assert!(out.stdout.contains(b), "{b}");
    }
}

/// Where there is no `scenarios` folder (this test runs in `sim/`),
/// `list` still lists what the build knows; a folder named that is not
/// there is bad input.
#[test]
fn list_works_outside_the_repository() {
    let out = zkstorm(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("scenarios:"), "{}", out.stdout);
    assert!(out.stdout.contains("checkers:") && out.stdout.contains("faults"));
    bad_input(&["list", "--dir", "no-such-folder"], "no-such-folder");
}

/// A hand-written scenario (one from `scenarios/` with a bug injected)
/// that fails on a seed shrinks to a smaller file failing the same check;
/// a seed that passes has nothing to shrink.
#[test]
fn shrink_takes_any_failing_scenario_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shrink-file");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string("../scenarios/ack-then-power-loss.toml").unwrap();
    let mine = dir.join("mine.toml");
    let with_bug = text.replacen(
        "duration = ",
        "bugs = [\"ack-before-fsync\"]\nduration = ",
        1,
    );
    std::fs::write(&mine, with_bug).unwrap();
    let out = zkstorm(&[
        "shrink",
        mine.to_str().unwrap(),
        "--seed",
        "1",
        "--runs",
        "12",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("zab.ack_durable shrunk"),
        "{}",
        out.stdout
    );
    let shrunk = dir.join("mine.shrunk-seed-1.toml");
    let faults = |f: &std::path::Path| {
        std::fs::read_to_string(f)
            .unwrap()
            .matches("[[fault]]")
            .count()
    };
    assert!(faults(&shrunk) < faults(&mine), "{}", out.stdout);
    let again = zkstorm(&["run", shrunk.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(again.code, 1);
    assert!(again.stdout.contains("zab.ack_durable") && again.stdout.contains("FAIL"));
    let clean = zkstorm(&[
        "shrink",
        "../scenarios/ack-then-power-loss.toml",
        "--seed",
        "1",
    ]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(
        clean.stdout.contains("nothing to shrink"),
        "{}",
        clean.stdout
    );
}

/// `zkstorm mutants` on the fastest bugs of the catalogue: each caught, in
/// a table row; a bug its seeds do not catch is reported and fails the run.
#[test]
fn mutants_scores_the_catalogue() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mutants");
    let o = dir.to_str().unwrap();
    let out = zkstorm(&[
        "mutants",
        "--seeds",
        "0..20",
        "--bug",
        "watch-after-reply",
        "--bug",
        "ephemeral-outlives-session",
        "--out",
        o,
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for bug in ["watch-after-reply", "ephemeral-outlives-session"] {
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| `{bug}` | yes |")))
            .unwrap_or_else(|| panic!("{bug}: {}", out.stdout));
        assert!(row.contains("client."), "{row}");
    }
    let missed = zkstorm(&[
        "mutants",
        "--seeds",
        "0..1",
        "--bug",
        "snap-keeps-stale-log",
        "--out",
        o,
    ]);
    assert_eq!(missed.code, 1, "{}", missed.stdout);
    assert!(
        missed
            .stdout
            .contains("| `snap-keeps-stale-log` | **no** (in 1 seeds)"),
        "{}",
        missed.stdout
    );
}

/// A campaign reports coverage (cells reached, never reached) and, with
/// `--guided`, runs mutants of seeds that reached new cells; each JSON line
/// says how many cells the seed reached and whose mutant it is.
#[test]
fn fuzz_reports_coverage_and_guides_by_it() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guided");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("seeds.jsonl");
    let out = zkstorm(&[
        "fuzz",
        "--seeds",
        "0..12",
        "--guided",
        "--recheck",
        "0",
        "--out",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("coverage: "), "{}", out.stdout);
    assert!(out.stdout.contains("never reached: "), "{}", out.stdout);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|l| l["cells"].as_u64().unwrap() > 0));
    assert!(
        lines.iter().any(|l| l["parent"].is_u64()),
        "no mutant among {lines:?}"
    );
}

/// `replay --html` writes one self-contained page; headless Chromium renders
/// it without a script error, and for a failing run it lists the operations
/// the failing check names. (Without Chromium the browser half is skipped,
/// unless ZKSTORM_REQUIRE_BROWSER is set, as `.ci/run` does.)
#[test]
fn replay_writes_a_page_that_renders() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html");
    std::fs::create_dir_all(&dir).unwrap();
    let steady = std::fs::read_to_string("../scenarios/steady-state.toml").unwrap();
    let broken = steady.replacen(
        "\nduration",
        "\nbugs = [\"ephemeral-outlives-session\"]\nduration",
        1,
    );
    assert_ne!(broken, steady, "no duration line to put bugs before");
    let file = scenario("html-broken", &broken);
    let page = dir.join("broken.html");
    let out = zkstorm(&[
        "replay",
        file.to_str().unwrap(),
        "--seed",
        "1",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(
        text.contains("\"kind\":\"delivered\""),
        "no records embedded"
    );
    for fetch in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!text.contains(fetch), "the page fetches something: {fetch}");
    }
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("ZKSTORM_REQUIRE_BROWSER").is_none(),
            "ZKSTORM_REQUIRE_BROWSER is set and there is no chromium"
        );
        eprintln!("skipped the browser half: no chromium (apt-get install chromium)");
        return;
    };
    let dom = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-rendered=\"ok\""), "did not render");
    assert!(!dom.contains("data-error"), "script error: {dom:.2000}");
    assert!(dom.contains("<li>client "), "no offending operation listed");
    assert!(dom.contains("<svg"), "no diagram");
}

#[test]
fn fuzz_knobs_are_checked() {
    bad_input(&["fuzz", "--time-limit", "0s"], "at least 1s");
    bad_input(&["fuzz", "--time-limit", "soon"], "bad duration");
    bad_input(&["fuzz", "--max-faults", "49"], "49");
    bad_input(
        &["fuzz", "--only", "crsh"],
        "not a kind the random schedule draws",
    );
    bad_input(&["draw"], "--seed");
}
