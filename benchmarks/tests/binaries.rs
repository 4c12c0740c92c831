//! The benchmark binaries are built by `cargo test --workspace`, with the tests' feature
//! set: naming them here makes Cargo build them for this test, so running one afterwards
//! (`$CARGO_TARGET_DIR/debug/scale-bench`) compiles nothing again. The scale benchmark also
//! runs, at a tiny size, so that it keeps working.

use std::process::Command;

#[test]
fn every_benchmark_binary_is_built_with_the_tests() {
    for bin in [
        env!("CARGO_BIN_EXE_meta-bench"),
        env!("CARGO_BIN_EXE_s3-bench"),
        env!("CARGO_BIN_EXE_query-bench"),
        env!("CARGO_BIN_EXE_mem-s3"),
        env!("CARGO_BIN_EXE_scale-bench"),
    ] {
        assert!(std::path::Path::new(bin).is_file(), "{bin}");
    }
}

#[test]
fn the_scale_benchmark_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_scale-bench"))
        .arg("--smoke")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| PUT latency"), "{stdout}");
    assert!(
        stdout.contains("round trips per operation: PUT 1 get, 0 scan, 1 write"),
        "{stdout}"
    );
}
