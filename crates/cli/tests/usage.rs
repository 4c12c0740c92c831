//! The binary's own failures, without a server: bad addresses and an unreachable endpoint
//! are one line on stderr and a non-zero exit. (Building this test also builds the binary
//! with the test feature set, which the integration suite then runs.)

use std::process::Command;

fn sluice(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_ENDPOINT", "http://127.0.0.1:9")
        .env("SLUICE_ACCESS_KEY_ID", "k")
        .env("SLUICE_SECRET_ACCESS_KEY", "s")
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_addresses_are_one_line_errors() {
    for args in [
        ["count", "s3://lake/main/t"],
        ["count", "sluice://lake"],
        ["sql", "sluice://"],
    ] {
        let mut argv = args.to_vec();
        if argv[0] == "sql" {
            argv.push("SELECT 1");
        }
        let (code, stdout, stderr) = sluice(&argv);
        assert_ne!(code, 0, "{argv:?}");
        assert!(stdout.is_empty(), "{argv:?}: {stdout}");
        assert_eq!(stderr.trim().lines().count(), 1, "{argv:?}: {stderr}");
        assert!(stderr.starts_with("sluice: "), "{stderr}");
    }
}

#[test]
fn an_unreachable_sidecar_is_named() {
    let (code, _, stderr) = sluice(&["compare", "sluice://lake/main", "sluice://lake/dev"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9"),
        "{stderr}"
    );
}
