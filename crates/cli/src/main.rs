//! The `sluice` binary: `sluice run` starts the sidecar; the other subcommands are clients of
//! a running sidecar's REST API (`--endpoint` or `SLUICE_ENDPOINT`, with
//! `SLUICE_ACCESS_KEY_ID` and `SLUICE_SECRET_ACCESS_KEY`), addressing `sluice://REPO/REF/PATH`.

mod client;
mod commands;
mod import;
mod quality;
mod run;
mod users;

use clap::{Parser, Subcommand};

use commands::{BranchCmd, FsCmd, RepoCmd, TagCmd};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Git-like branches for a data lake, over S3"
)]
struct Cli {
    /// The sidecar to talk to.
    #[arg(
        long,
        global = true,
        env = "SLUICE_ENDPOINT",
        default_value = "http://127.0.0.1:8000"
    )]
    endpoint: String,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sidecar: S3 and the REST API on one port, with the embedded metadata store.
    Run(run::RunArgs),
    /// Repositories.
    #[command(subcommand)]
    Repo(RepoCmd),
    /// Branches.
    #[command(subcommand)]
    Branch(BranchCmd),
    /// Commit a branch's uncommitted changes.
    Commit {
        /// sluice://REPO/BRANCH
        branch: String,
        #[arg(short, long)]
        message: String,
        #[arg(long)]
        allow_empty: bool,
        /// KEY=VALUE metadata, repeatable.
        #[arg(long)]
        meta: Vec<String>,
    },
    /// The history of sluice://REPO/REF.
    Log {
        reference: String,
        #[arg(long, default_value_t = 100)]
        amount: usize,
        #[arg(long)]
        first_parent: bool,
    },
    /// Differences: sluice://REPO/LEFT against RIGHT, or a branch's uncommitted changes;
    /// with --rows, the rows of a table folder that RIGHT adds, removes and changes.
    Diff {
        left: String,
        right: Option<String>,
        /// Diff the rows of the Parquet files under --prefix, not the paths.
        #[arg(long)]
        rows: bool,
        /// The table's folder (with --rows) [default: the path of LEFT, else everything].
        #[arg(long)]
        prefix: Option<String>,
        /// Comma-separated key columns (with --rows): a key on both sides with other
        /// values is a changed row, with the columns that changed.
        #[arg(long)]
        key: Option<String>,
    },
    /// Merge sluice://REPO/SOURCE into sluice://REPO/DESTINATION.
    Merge {
        source: String,
        destination: String,
        /// source-wins or dest-wins
        #[arg(long)]
        strategy: Option<String>,
        #[arg(short, long)]
        message: Option<String>,
        /// Merge in the background on the server (its async merge) and wait with a
        /// progress line: no client or proxy timeout cuts a long pre-merge check short.
        #[arg(long)]
        wait: bool,
    },
    /// Tags.
    #[command(subcommand)]
    Tag(TagCmd),
    /// Objects.
    #[command(subcommand)]
    Fs(FsCmd),
    /// Rows, files and bytes of the Parquet files under sluice://REPO/REF/PREFIX.
    Count {
        address: String,
        /// Decode every row and check it against the footers (slower).
        #[arg(long)]
        verify: bool,
    },
    /// Compare sluice://REPO/LEFT (a destination) with sluice://REPO/RIGHT (a source): rows,
    /// the change since the merge base, duplicates it brings, schema differences.
    Compare {
        left: String,
        right: String,
        /// The folder to compare [default: the path of LEFT, else everything].
        #[arg(long)]
        prefix: Option<String>,
        /// Compare rows on these comma-separated columns only.
        #[arg(long)]
        key_columns: Option<String>,
        /// Skip the duplicate search.
        #[arg(long)]
        no_duplicates: bool,
        /// Also diff the change's rows: added, removed and (with --key-columns) changed.
        #[arg(long)]
        rows: bool,
    },
    /// Run SQL on sluice://REPO/REF: each folder of Parquet files is a table.
    Sql {
        reference: String,
        query: String,
        #[arg(long, default_value_t = 1000)]
        max_rows: usize,
    },
    /// Pre-merge action runs.
    #[command(subcommand)]
    Actions(quality::ActionsCmd),
    /// Required checks: pre-merge actions set per repository, which no branch can remove.
    #[command(subcommand)]
    Checks(quality::ChecksCmd),
    /// Import the objects under SOURCE (s3://BUCKET/PREFIX, or a local folder or file under
    /// the server's [storage] import_roots) to sluice://REPO/BRANCH/PREFIX without copying
    /// them, as one commit; what the branch held under PREFIX is replaced.
    Import {
        source: String,
        destination: String,
        #[arg(short, long)]
        message: Option<String>,
        /// KEY=VALUE commit metadata, repeatable.
        #[arg(long)]
        meta: Vec<String>,
    },
    /// Users (lakeFS's auth API): create, list, show, delete.
    #[command(subcommand)]
    User(users::UserCmd),
    /// Users' access keys.
    #[command(subcommand)]
    Key(users::KeyCmd),
    /// Groups of users.
    #[command(subcommand)]
    Group(users::GroupCmd),
    /// Policies: what users and groups may do.
    #[command(subcommand)]
    Policy(users::PolicyCmd),
    /// Delete the objects of REPO (sluice://REPO or REPO) that no commit, branch, tag or
    /// upload reaches any more, once they are older than the grace period.
    Gc {
        repo: String,
        /// Report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep objects younger than this many seconds [default: 21600, six hours].
        #[arg(long)]
        grace_seconds: Option<u64>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args).map_err(|e| e.to_string()),
        other => client_command(&cli.endpoint, cli.json, other).map_err(|e| e.to_string()),
    };
    if let Err(e) = result {
        eprintln!("sluice: {e}");
        std::process::exit(1);
    }
}

fn client_command(endpoint: &str, json: bool, command: Command) -> Result<(), client::ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| client::ClientError::Local(e.to_string()))?;
    runtime.block_on(async move {
        let api = client::Api::from_env(endpoint.to_string())?;
        match command {
            Command::Run(_) => unreachable!("handled by main"),
            Command::Repo(c) => commands::repo(&api, c, json).await,
            Command::Branch(c) => commands::branch(&api, c, json).await,
            Command::Commit {
                branch,
                message,
                allow_empty,
                meta,
            } => commands::commit(&api, branch, message, allow_empty, meta, json).await,
            Command::Log {
                reference,
                amount,
                first_parent,
            } => commands::log(&api, reference, amount, first_parent, json).await,
            Command::Diff {
                left,
                right,
                rows: true,
                prefix,
                key,
            } => quality::row_diff(&api, left, right, prefix, key, json).await,
            Command::Diff {
                left,
                right,
                prefix: None,
                key: None,
                ..
            } => commands::diff(&api, left, right, json).await,
            Command::Diff { .. } => Err(client::ClientError::Usage(
                "--prefix and --key go with --rows".into(),
            )),
            Command::Merge {
                source,
                destination,
                strategy,
                message,
                wait,
            } => commands::merge(&api, source, destination, strategy, message, wait, json).await,
            Command::Tag(c) => commands::tag(&api, c, json).await,
            Command::Fs(c) => commands::fs(&api, c, json).await,
            Command::Count { address, verify } => quality::count(&api, address, verify, json).await,
            Command::Compare {
                left,
                right,
                prefix,
                key_columns,
                no_duplicates,
                rows,
            } => {
                let options = quality::CompareFlags {
                    prefix,
                    key_columns,
                    no_duplicates,
                    rows,
                };
                quality::compare(&api, left, right, options, json).await
            }
            Command::Sql {
                reference,
                query,
                max_rows,
            } => quality::sql(&api, reference, query, max_rows, json).await,
            Command::Actions(c) => quality::actions(&api, c, json).await,
            Command::Checks(c) => quality::checks(&api, c, json).await,
            Command::Import {
                source,
                destination,
                message,
                meta,
            } => import::import(&api, source, destination, message, meta, json).await,
            Command::Gc {
                repo,
                dry_run,
                grace_seconds,
            } => commands::gc(&api, repo, dry_run, grace_seconds, json).await,
            Command::User(c) => users::user(&api, c, json).await,
            Command::Key(c) => users::key(&api, c, json).await,
            Command::Group(c) => users::group(&api, c, json).await,
            Command::Policy(c) => users::policy(&api, c, json).await,
        }
    })
}
