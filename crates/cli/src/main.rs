//! The `sluice` binary. `sluice run` and the client subcommands come with the sidecar issue.

fn main() {
    eprintln!("sluice: no subcommands yet; the sidecar (`sluice run`) is not built");
    std::process::exit(2);
}
