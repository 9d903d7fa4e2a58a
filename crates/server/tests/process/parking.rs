//! The parking example (`examples/parking/run.sh`) run as a user runs it, with this build's
//! `rigel`: sensors over a mosquitto of its own, a subscriber told of free spots, a query of
//! the free spots near a point. Needs mosquitto and mosquitto-clients (required when
//! `RIGEL_REQUIRE_MOSQUITTO=1`, as CI sets).

use std::path::Path;
use std::process::Command;

#[test]
fn the_parking_example_runs_from_its_script() {
    let has = |tool: &str| {
        Command::new("sh")
            .args([
                "-c",
                &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(has("mosquitto") && has("mosquitto_pub")) {
        let required = std::env::var("RIGEL_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "RIGEL_REQUIRE_MOSQUITTO=1 but mosquitto or mosquitto_pub is missing"
        );
        eprintln!(
            "note: mosquitto or mosquitto-clients not installed; skipping the parking example"
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/parking/run.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("RIGEL_BIN", env!("CARGO_BIN_EXE_rigel"))
        .output()
        .expect("the script runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("parking example: OK"), "{text}");
}
