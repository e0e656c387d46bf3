//! Sets `SLUICE_COMMIT` for `sluice --version` and the console's `SHOW VERSION`: the
//! short commit of the checkout being built, else the `SLUICE_COMMIT` environment
//! variable (a container build without `.git` passes it as a build argument), else
//! "unknown".
//!
//! The script runs again only when the commit can have changed: when `HEAD` moves to
//! another branch or commit, when the branch it points at moves, when refs are packed,
//! or when `SLUICE_COMMIT` changes, so an ordinary rebuild does not rerun it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A path git prints may be relative to the directory it ran in.
fn absolute(path: String) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }
}

/// Files whose change can change the commit. Only existing files are named: cargo
/// reruns a build script at every build for a path that does not exist.
fn watch_git_files() {
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(absolute) else {
        return;
    };
    let common_dir = git(&["rev-parse", "--git-common-dir"])
        .map(absolute)
        .unwrap_or_else(|| git_dir.clone());
    let mut files = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(common_dir.join(head_ref));
    }
    for file in files.iter().filter(|f| f.is_file()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=SLUICE_COMMIT");
    // Without this line cargo would rerun the script whenever any file of the
    // package changed.
    println!("cargo:rerun-if-changed=build.rs");
    watch_git_files();
    let commit = git(&["rev-parse", "--short=9", "HEAD"])
        .or_else(|| {
            std::env::var("SLUICE_COMMIT")
                .ok()
                .map(|c| {
                    c.chars()
                        .filter(|ch| ch.is_ascii_alphanumeric() || "._-".contains(*ch))
                        .collect::<String>()
                })
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SLUICE_COMMIT={commit}");
}
