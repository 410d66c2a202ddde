//! The real recordings of `traces/real/` replay with verification; each verification report is a snapshot.
//!
//! A snapshot here is a claim about how far the model agrees with the real kernel on that recording (the figures
//! and the first disagreements with their causes), so a change that moves any figure shows up in review.

use std::process::Command;

/// `traces/real/`, relative to this file's directory (what `insta::glob!` resolves against).
const REAL: &str = "../../../../traces/real";
/// The repository's top-level `snapshots/`, relative to this file's directory.
const SNAPSHOTS: &str = "../../../../snapshots";

#[test]
fn every_real_recording_verifies_and_matches_its_snapshot() {
    insta::glob!(REAL, "*.{ftrace,xz,txt}", |path| {
        let name = format!("traces/real/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut args = vec!["replay".to_string(), name.clone(), "--verify".to_string()];
        let truth = format!("{name}.truth");
        if std::path::Path::new(root).join(&truth).exists() {
            args.extend(["--truth".to_string(), truth]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_mmdb")).args(&args).current_dir(root).output().expect("runs mmdb");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // The verification part: divergences first, then the figures.
        let from = stdout.find("real trace:").expect("a real-trace report");
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb {}", args.join(" ")),
        }, {
            insta::assert_snapshot!("verify", &stdout[from..]);
        });
    });
}
