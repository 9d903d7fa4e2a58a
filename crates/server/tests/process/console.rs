//! The web console driven in headless Chromium (`crates/console/tests/browser/console.mjs`,
//! playwright-core from npm with Debian's chromium) against this build's `rigel`. Needs
//! chromium, Node.js and npm (required when `RIGEL_REQUIRE_CHROMIUM=1`, as CI sets).

use std::path::Path;
use std::process::Command;

use crate::common::{free_port, rigel_command, spawn_rigel, wait_ready, Running, Start};

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Whether the browser and Node.js are here; says why not, or fails when they are required.
fn tools_present() -> bool {
    let node = Command::new("node").arg("--version").output();
    let missing = if !Path::new(&chromium()).exists() {
        Some(format!("no chromium at {}", chromium()))
    } else if !node.is_ok_and(|o| o.status.success()) {
        Some("no node".to_owned())
    } else {
        None
    };
    let Some(missing) = missing else {
        return true;
    };
    let required = std::env::var("RIGEL_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    assert!(!required, "RIGEL_REQUIRE_CHROMIUM=1 but {missing}");
    eprintln!("note: {missing}; skipping the console's browser tests");
    false
}

/// A broker on a fresh data directory, ready; its base URL.
async fn started() -> (Running, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rigel = spawn_rigel(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &format!("{base}/ngsi-ld/v1")).await;
    (rigel, base, dir)
}

#[tokio::test]
async fn the_console_shows_entities_history_the_map_subscriptions_and_rules_in_chromium() {
    if !tools_present() {
        return;
    }
    let tests = browser_tests();
    let (_rigel, base, _dir) = started().await;
    run_node(&tests, &["console.mjs", &base], "console: OK").await;
}

/// The browser tests' directory, with playwright-core installed (`npm ci`).
fn browser_tests() -> std::path::PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/tests/browser");
    if !tests.join("node_modules/playwright-core").is_dir() {
        let installed = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&tests)
            .status()
            .expect("npm runs");
        assert!(installed.success(), "npm ci of the browser tests failed");
    }
    tests
}

/// Runs a browser test script; it must succeed and print `done`.
async fn run_node(dir: &Path, args: &[&str], done: &str) {
    let output = tokio::process::Command::new("node")
        .args(args)
        .env("CHROMIUM", chromium())
        .current_dir(dir)
        .output()
        .await
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains(done),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// With `--console-tiles` the map shows the tile server's tiles (`tiles.mjs` serves them).
#[tokio::test]
async fn the_console_map_shows_the_configured_tile_servers_tiles_in_chromium() {
    if !tools_present() {
        return;
    }
    let tests = browser_tests();
    let dir = tempfile::tempdir().unwrap();
    let (port, tile_port) = (free_port(), free_port());
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "warn", "--console-tiles"])
        .arg(format!(
            "http://127.0.0.1:{tile_port}/{{z}}/{{x}}/{{y}}.png"
        ))
        .start();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &format!("{base}/ngsi-ld/v1")).await;
    run_node(
        &tests,
        &["tiles.mjs", &base, &tile_port.to_string()],
        "tiles: OK",
    )
    .await;
}

#[tokio::test]
async fn the_console_files_carry_validators_and_a_policy_and_can_be_turned_off() {
    let (_rigel, base, _dir) = started().await;
    let client = reqwest::Client::new();
    if let Some(reason) = rigel_console::missing() {
        let answer = client.get(format!("{base}/console/")).send().await.unwrap();
        assert_eq!(answer.status(), 404);
        assert!(
            answer.text().await.unwrap().contains("no web console"),
            "{reason}"
        );
        return;
    }
    let page = client.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let etag = page.headers()["etag"].clone();
    let again = client
        .get(format!("{base}/console"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let script = client
        .get(format!("{base}/console/vendor/leaflet.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let none = client
        .get(format!("{base}/console/vendor/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    let off_dir = tempfile::tempdir().unwrap();
    let off_port = free_port();
    let _off = crate::common::rigel_command(off_dir.path(), off_port, free_port())
        .args(["--log-level", "warn", "--console", "false"])
        .start();
    let off_base = format!("http://127.0.0.1:{off_port}");
    wait_ready(&client, &format!("{off_base}/ngsi-ld/v1")).await;
    let gone = client
        .get(format!("{off_base}/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}
