//! Builds the console into the crate: installs the front-end packages pinned in
//! `package-lock.json` with `npm ci` under OUT_DIR, and writes the list of every file served
//! (ours in `web/`, theirs from `node_modules`) for `include_bytes!`. Without npm the console
//! is left out and says why (`RIGEL_CONSOLE_BUILD=off` leaves it out on purpose;
//! `RIGEL_CONSOLE_BUILD=required` makes a failed install fail the build, as CI does).
// A build script reports a failure by panicking, with the reason.
#![allow(clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The packages' files the console serves: (path in the package tree, path under /console).
const VENDORED: &[(&str, &str)] = &[
    ("leaflet/dist/leaflet.js", "vendor/leaflet.js"),
    ("leaflet/dist/leaflet.css", "vendor/leaflet.css"),
    ("leaflet/LICENSE", "vendor/leaflet.LICENSE.txt"),
    ("uplot/dist/uPlot.iife.min.js", "vendor/uplot.js"),
    ("uplot/dist/uPlot.min.css", "vendor/uplot.css"),
    ("uplot/LICENSE", "vendor/uplot.LICENSE.txt"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    for watched in ["package.json", "package-lock.json", "web"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=RIGEL_CONSOLE_BUILD");
    let mode = std::env::var("RIGEL_CONSOLE_BUILD").unwrap_or_default();
    let installed = if mode == "off" {
        Err("it was built with RIGEL_CONSOLE_BUILD=off".to_owned())
    } else {
        install(&manifest, &out)
    };
    let mut files = Vec::new();
    let missing = match installed {
        Ok(modules) => {
            collect(&manifest.join("web"), "", &mut files);
            for (from, to) in VENDORED {
                files.push(((*to).to_owned(), modules.join(from)));
            }
            None
        }
        Err(reason) => {
            if mode == "required" {
                panic!("the console's front-end packages could not be installed: {reason}");
            }
            println!("cargo:warning=the web console is left out of this build: {reason}");
            Some(reason)
        }
    };
    let mut code = String::from("/// Every file of the console: (path, body, ETag).\n");
    code.push_str("pub static FILES: &[(&str, &[u8], &str)] = &[\n");
    files.sort();
    for (path, file) in &files {
        let body =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let _ = writeln!(
            code,
            "    ({path:?}, include_bytes!({:?}), \"\\\"{:016x}\\\"\"),",
            file.display().to_string(),
            fnv1a(&body)
        );
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Why the console is not in this build, if it is not.\npub const MISSING: Option<&str> = {missing:?};"
    );
    std::fs::write(out.join("files.rs"), code).expect("OUT_DIR is writable");
}

/// `npm ci` of the pinned packages into OUT_DIR (the source tree is left alone), skipped when
/// the lock file has not changed since the last install there. Returns `node_modules`.
fn install(manifest: &Path, out: &Path) -> Result<PathBuf, String> {
    let dir = out.join("npm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lock = std::fs::read(manifest.join("package-lock.json")).map_err(|e| e.to_string())?;
    let stamp = dir.join("installed.stamp");
    let wanted = format!("{:016x}", fnv1a(&lock));
    let modules = dir.join("node_modules");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) && modules.is_dir() {
        return Ok(modules);
    }
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(manifest.join(file), dir.join(file)).map_err(|e| e.to_string())?;
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let status = Command::new(npm)
        .args([
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            "--loglevel=error",
        ])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("npm could not be run ({e}); install Node.js and npm"))?;
    if !status.success() {
        return Err(format!("`npm ci` failed ({status})"));
    }
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(modules)
}

/// Every file under `dir`, as (path relative to `web/`, file).
fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), files);
        } else {
            files.push((format!("{prefix}{name}"), path));
        }
    }
}

/// FNV-1a, 64 bits: the ETag of a file (stable across builds and toolchains).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
