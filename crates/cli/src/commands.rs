//! The client subcommands. Each prints a human line (or table) by default and one JSON
//! document with `--json`; a failure is one line on stderr and a non-zero exit.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;
use sluice_gateway::api::{
    BranchCreation, BranchProtectionRule, Commit, CommitCreation, Diff, GcRequest, GcResult, List,
    Merge, MergeAsyncStatus, MergeResult, ObjectStats, Ref, Repository, RepositoryCreation,
    ResetCreation, RevertCreation, StorageConfig, TagCreation, TaskCreation,
};

use crate::client::{Address, Api, ClientError, enc};

#[derive(Subcommand)]
pub enum RepoCmd {
    /// Create a repository (and its default branch).
    Create {
        /// sluice://REPO
        repo: String,
        /// Where its objects live [default: the server's default namespace prefix + REPO,
        /// local://REPO unless the server is configured otherwise]
        #[arg(long)]
        storage_namespace: Option<String>,
        #[arg(long, default_value = "main")]
        default_branch: String,
    },
    /// List repositories.
    List,
    /// Delete a repository's metadata.
    Delete { repo: String },
}

#[derive(Subcommand)]
pub enum BranchCmd {
    /// Create sluice://REPO/BRANCH from --source (a ref).
    Create {
        branch: String,
        #[arg(long)]
        source: String,
    },
    /// List the branches of sluice://REPO.
    List { repo: String },
    /// Delete sluice://REPO/BRANCH.
    Delete { branch: String },
    /// Drop uncommitted changes of sluice://REPO/BRANCH[/PREFIX].
    Reset { branch: String },
    /// Revert a commit on sluice://REPO/BRANCH.
    Revert {
        branch: String,
        commit: String,
        #[arg(long)]
        parent: Option<usize>,
    },
    /// Protect sluice://REPO/BRANCH (a glob pattern): it then changes only by merge.
    Protect { branch: String },
}

#[derive(Subcommand)]
pub enum TagCmd {
    /// Create sluice://REPO/TAG at REF.
    Create { tag: String, reference: String },
    /// List the tags of sluice://REPO.
    List { repo: String },
    /// Delete sluice://REPO/TAG.
    Delete { tag: String },
}

#[derive(Subcommand)]
pub enum FsCmd {
    /// List sluice://REPO/REF/PREFIX.
    Ls {
        address: String,
        #[arg(long, short)]
        recursive: bool,
    },
    /// Print an object.
    Cat { address: String },
    /// Upload a local file to sluice://REPO/BRANCH/PATH.
    Upload { source: PathBuf, address: String },
    /// Download sluice://REPO/REF/PATH to a local file.
    Download {
        address: String,
        destination: PathBuf,
    },
    /// Delete sluice://REPO/BRANCH/PATH.
    Rm { address: String },
    /// An object's metadata.
    Stat { address: String },
}

/// Print `value` as JSON, or `human` for people.
pub(crate) fn print(json_out: bool, value: &impl Serialize, human: impl FnOnce() -> String) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string(value).expect("answers serialise")
        );
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{text}");
        }
    }
}

/// `--meta KEY=VALUE` flags as a map.
pub(crate) fn parse_meta(
    meta: Vec<String>,
) -> Result<std::collections::BTreeMap<String, String>, ClientError> {
    let mut metadata = std::collections::BTreeMap::new();
    for kv in meta {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| ClientError::Usage(format!("--meta takes KEY=VALUE, not {kv:?}")))?;
        metadata.insert(k.into(), v.into());
    }
    Ok(metadata)
}

/// Branches and tags for people: name, tab, commit id.
fn ref_lines(refs: &[Ref]) -> String {
    refs.iter()
        .map(|r| format!("{}\t{}", r.id, r.commit_id))
        .collect::<Vec<_>>()
        .join("\n")
}

fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

pub async fn repo(api: &Api, cmd: RepoCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        RepoCmd::Create {
            repo,
            storage_namespace,
            default_branch,
        } => {
            let a = Address::parse(&repo)?;
            let ns = match storage_namespace {
                Some(ns) => ns,
                // The server's default: its namespace prefix (local:// unless configured).
                None => {
                    let config: StorageConfig = api
                        .json(api.request(Method::GET, "/config/storage"))
                        .await?;
                    format!("{}{}", config.default_namespace_prefix, a.repo)
                }
            };
            let v: Repository = api
                .json(
                    api.request(Method::POST, "/repositories")
                        .json(&RepositoryCreation {
                            name: a.repo.clone(),
                            storage_namespace: ns.clone(),
                            default_branch,
                            sample_data: false,
                            read_only: false,
                            storage_id: None,
                        }),
                )
                .await?;
            print(json_out, &v, || {
                format!("created repository {} ({ns})", a.repo)
            });
        }
        RepoCmd::List => {
            let all: Vec<Repository> = api.all("/repositories", "").await?;
            print(json_out, &all, || {
                all.iter()
                    .map(|r| format!("{}\t{}\t{}", r.id, r.default_branch, r.storage_namespace))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RepoCmd::Delete { repo } => {
            let a = Address::parse(&repo)?;
            api.send(api.request(Method::DELETE, &format!("/repositories/{}", enc(&a.repo))))
                .await?;
            print(json_out, &json!({ "deleted": a.repo }), || {
                format!("deleted repository {}", a.repo)
            });
        }
    }
    Ok(())
}

pub async fn branch(api: &Api, cmd: BranchCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        BranchCmd::Create { branch, source } => {
            let a = Address::parse(&branch)?;
            let name = a.reference()?;
            // The answer is the new head as bare text, as lakeFS gives it.
            let head = api
                .send(
                    api.request(
                        Method::POST,
                        &format!("/repositories/{}/branches", enc(&a.repo)),
                    )
                    .json(&BranchCreation {
                        name: name.to_string(),
                        source,
                    }),
                )
                .await?
                .text()
                .await
                .map_err(|e| ClientError::Local(e.to_string()))?
                .trim()
                .to_string();
            let created = Ref {
                id: name.to_string(),
                commit_id: head,
            };
            print(json_out, &created, || {
                format!("created branch {name} at {}", created.commit_id)
            });
        }
        BranchCmd::List { repo } => {
            let a = Address::parse(&repo)?;
            let all: Vec<Ref> = api
                .all(&format!("/repositories/{}/branches", enc(&a.repo)), "")
                .await?;
            print(json_out, &all, || ref_lines(&all));
        }
        BranchCmd::Delete { branch } => {
            let a = Address::parse(&branch)?;
            let name = a.reference()?;
            api.send(api.request(
                Method::DELETE,
                &format!("/repositories/{}/branches/{}", enc(&a.repo), enc(name)),
            ))
            .await?;
            print(json_out, &json!({ "deleted": name }), || {
                format!("deleted branch {name}")
            });
        }
        BranchCmd::Reset { branch } => {
            let a = Address::parse(&branch)?;
            let name = a.reference()?;
            let body = match a.path.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => ResetCreation {
                    kind: "common_prefix".into(),
                    path: Some(p.to_string()),
                },
                None => ResetCreation {
                    kind: "reset".into(),
                    path: None,
                },
            };
            api.send(
                api.request(
                    Method::PUT,
                    &format!("/repositories/{}/branches/{}", enc(&a.repo), enc(name)),
                )
                .json(&body),
            )
            .await?;
            print(json_out, &json!({ "reset": name }), || {
                format!("dropped uncommitted changes on {name}")
            });
        }
        BranchCmd::Revert {
            branch,
            commit,
            parent,
        } => {
            let a = Address::parse(&branch)?;
            let name = a.reference()?;
            api.send(
                api.request(
                    Method::POST,
                    &format!(
                        "/repositories/{}/branches/{}/revert",
                        enc(&a.repo),
                        enc(name)
                    ),
                )
                .json(&RevertCreation {
                    reference: commit.clone(),
                    parent_number: parent.unwrap_or(0),
                    allow_empty: false,
                    commit_overrides: None,
                    force: false,
                }),
            )
            .await?;
            print(json_out, &json!({ "reverted": commit }), || {
                format!("reverted {commit} on {name}")
            });
        }
        BranchCmd::Protect { branch } => {
            let a = Address::parse(&branch)?;
            let name = a.reference()?;
            api.send(
                api.request(
                    Method::POST,
                    &format!("/repositories/{}/branch_protection", enc(&a.repo)),
                )
                .json(&BranchProtectionRule {
                    pattern: name.to_string(),
                }),
            )
            .await?;
            print(json_out, &json!({ "protected": name }), || {
                format!("protected {name}: it changes only by merge")
            });
        }
    }
    Ok(())
}

pub async fn commit(
    api: &Api,
    branch: String,
    message: String,
    allow_empty: bool,
    meta: Vec<String>,
    json_out: bool,
) -> Result<(), ClientError> {
    let a = Address::parse(&branch)?;
    let name = a.reference()?;
    let metadata = parse_meta(meta)?;
    let v: Commit = api
        .json(
            api.request(
                Method::POST,
                &format!(
                    "/repositories/{}/branches/{}/commits",
                    enc(&a.repo),
                    enc(name)
                ),
            )
            .json(&CommitCreation {
                message,
                metadata,
                allow_empty,
                date: None,
            }),
        )
        .await?;
    print(json_out, &v, || format!("committed {} on {name}", v.id));
    Ok(())
}

pub async fn log(
    api: &Api,
    reference: String,
    amount: usize,
    first_parent: bool,
    json_out: bool,
) -> Result<(), ClientError> {
    let a = Address::parse(&reference)?;
    let r = a.reference()?;
    let v: List<Commit> = api
        .json(api.request(
            Method::GET,
            &format!(
                "/repositories/{}/refs/{}/commits?amount={amount}&first_parent={first_parent}",
                enc(&a.repo),
                enc(r)
            ),
        ))
        .await?;
    let commits = v.results;
    print(json_out, &commits, || {
        commits
            .iter()
            .map(|c| {
                format!(
                    "{}  {}  {}",
                    &c.id[..12.min(c.id.len())],
                    c.committer,
                    c.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn diff(
    api: &Api,
    left: String,
    right: Option<String>,
    json_out: bool,
) -> Result<(), ClientError> {
    let a = Address::parse(&left)?;
    let l = a.reference()?;
    let path = match &right {
        Some(r) => format!(
            "/repositories/{}/refs/{}/diff/{}",
            enc(&a.repo),
            enc(l),
            enc(r)
        ),
        None => format!("/repositories/{}/branches/{}/diff", enc(&a.repo), enc(l)),
    };
    let all: Vec<Diff> = api.all(&path, "").await?;
    print(json_out, &all, || {
        all.iter()
            .map(|d| {
                let sign = match d.kind.as_str() {
                    "added" => "+",
                    "removed" => "-",
                    _ => "~",
                };
                format!("{sign} {}", d.path)
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn merge(
    api: &Api,
    source: String,
    destination: String,
    strategy: Option<String>,
    message: Option<String>,
    wait: bool,
    json_out: bool,
) -> Result<(), ClientError> {
    let s = Address::parse(&source)?;
    let d = Address::parse(&destination)?;
    let path = format!("{}/merge/{}", s.ref_path()?, enc(d.reference()?));
    let body = Merge {
        message,
        strategy,
        ..Merge::default()
    };
    let answer = if wait {
        merge_and_wait(api, &path, &body, json_out).await
    } else {
        api.json(api.request(Method::POST, &path).json(&body)).await
    };
    let v: MergeResult = match answer {
        Ok(v) => v,
        Err(ClientError::Refused {
            status,
            message,
            report,
        }) => {
            // The report goes to stdout (a JSON document with --json); the one-line
            // error to stderr, and the exit is non-zero.
            print(json_out, &report, || crate::quality::refusal_text(&report));
            return Err(ClientError::Refused {
                status,
                message,
                report,
            });
        }
        Err(e) => return Err(e),
    };
    print(json_out, &v, || {
        format!(
            "merged into {}: {}",
            d.reference().unwrap_or(""),
            v.reference
        )
    });
    Ok(())
}

/// A spinner on stderr for a wait of unknown length (hidden off a terminal and with
/// --json); `template` is indicatif's.
pub(crate) fn spinner(template: &str, json_out: bool) -> ProgressBar {
    if json_out || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Start an async merge and poll it until it completes, with a progress line on a terminal;
/// a failure comes back as the synchronous call's would.
async fn merge_and_wait(
    api: &Api,
    path: &str,
    body: &Merge,
    json_out: bool,
) -> Result<MergeResult, ClientError> {
    let task: TaskCreation = api
        .json(
            api.request(Method::POST, &format!("{path}/async"))
                .json(body),
        )
        .await?;
    let bar = spinner("{spinner} merging, checks running {elapsed}", json_out);
    let status_path = format!("{path}/async/{}/status", enc(&task.id));
    let status = loop {
        let status: MergeAsyncStatus = api.json(api.request(Method::GET, &status_path)).await?;
        if status.completed {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    match (status.result, status.error) {
        (Some(result), _) => Ok(result),
        (None, Some(error)) => {
            let status = reqwest::StatusCode::from_u16(error.status_code)
                .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
            Err(match error.report {
                Some(report) => ClientError::Refused {
                    status,
                    message: error.message,
                    report: Box::new(report),
                },
                None => ClientError::Api {
                    status,
                    message: error.message,
                },
            })
        }
        (None, None) => Err(ClientError::Local(format!(
            "merge task {} completed with neither a result nor an error",
            task.id
        ))),
    }
}

pub async fn tag(api: &Api, cmd: TagCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        TagCmd::Create { tag, reference } => {
            let a = Address::parse(&tag)?;
            let v: Ref = api
                .json(
                    api.request(
                        Method::POST,
                        &format!("/repositories/{}/tags", enc(&a.repo)),
                    )
                    .json(&TagCreation {
                        id: a.reference()?.to_string(),
                        reference,
                    }),
                )
                .await?;
            print(json_out, &v, || {
                format!("tagged {} at {}", a.reference().unwrap_or(""), v.commit_id)
            });
        }
        TagCmd::List { repo } => {
            let a = Address::parse(&repo)?;
            let all: Vec<Ref> = api
                .all(&format!("/repositories/{}/tags", enc(&a.repo)), "")
                .await?;
            print(json_out, &all, || ref_lines(&all));
        }
        TagCmd::Delete { tag } => {
            let a = Address::parse(&tag)?;
            api.send(api.request(
                Method::DELETE,
                &format!(
                    "/repositories/{}/tags/{}",
                    enc(&a.repo),
                    enc(a.reference()?)
                ),
            ))
            .await?;
            print(json_out, &json!({ "deleted": a.reference()? }), || {
                format!("deleted tag {}", a.reference().unwrap_or(""))
            });
        }
    }
    Ok(())
}

pub async fn fs(api: &Api, cmd: FsCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        FsCmd::Ls { address, recursive } => {
            let a = Address::parse(&address)?;
            let prefix = a.path.clone().unwrap_or_default();
            let delimiter = if recursive { "" } else { "/" };
            let all: Vec<ObjectStats> = api
                .all(
                    &format!("{}/objects/ls", a.ref_path()?),
                    &format!("&prefix={}&delimiter={delimiter}", enc(&prefix)),
                )
                .await?;
            print(json_out, &all, || {
                all.iter()
                    .map(|o| match o.path_type.as_str() {
                        "common_prefix" => format!("{:>12}  {}", "PRE", o.path),
                        _ => format!("{:>12}  {}", o.size_bytes.unwrap_or(0), o.path),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        FsCmd::Stat { address } => {
            let a = Address::parse(&address)?;
            let v: ObjectStats = api
                .json(api.request(
                    Method::GET,
                    &format!("{}/objects/stat?path={}", a.ref_path()?, enc(a.path()?)),
                ))
                .await?;
            print(json_out, &v, || {
                format!(
                    "path: {}\nsize: {}\nchecksum: {}\ncontent type: {}\nmtime: {}",
                    v.path,
                    v.size_bytes.unwrap_or(0),
                    v.checksum,
                    v.content_type.as_deref().unwrap_or(""),
                    v.mtime
                )
            });
        }
        FsCmd::Cat { address } => {
            let a = Address::parse(&address)?;
            let resp = api
                .send(api.request(
                    Method::GET,
                    &format!("{}/objects?path={}", a.ref_path()?, enc(a.path()?)),
                ))
                .await?;
            let mut stream = resp.bytes_stream();
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| ClientError::Local(format!("download failed: {e}")))?;
                out.write_all(&chunk)
                    .map_err(|e| ClientError::Local(e.to_string()))?;
            }
        }
        FsCmd::Download {
            address,
            destination,
        } => {
            let a = Address::parse(&address)?;
            let resp = api
                .send(api.request(
                    Method::GET,
                    &format!("{}/objects?path={}", a.ref_path()?, enc(a.path()?)),
                ))
                .await?;
            let bar = progress(resp.content_length().unwrap_or(0), "download");
            let tmp = destination.with_extension("sluice-part");
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| ClientError::Local(format!("{}: {e}", tmp.display())))?;
            let mut stream = resp.bytes_stream();
            let mut total = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| ClientError::Local(format!("download failed: {e}")))?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(|e| ClientError::Local(e.to_string()))?;
                total += chunk.len() as u64;
                bar.inc(chunk.len() as u64);
            }
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(|e| ClientError::Local(e.to_string()))?;
            tokio::fs::rename(&tmp, &destination)
                .await
                .map_err(|e| ClientError::Local(e.to_string()))?;
            bar.finish_and_clear();
            print(
                json_out,
                &json!({ "path": a.path()?, "bytes": total, "destination": destination }),
                || format!("downloaded {total} bytes to {}", destination.display()),
            );
        }
        FsCmd::Upload { source, address } => {
            let a = Address::parse(&address)?;
            let file = tokio::fs::File::open(&source)
                .await
                .map_err(|e| ClientError::Local(format!("{}: {e}", source.display())))?;
            let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            let bar = progress(len, "upload");
            let counted = bar.clone();
            let stream =
                tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect(move |c| {
                    if let Ok(c) = c {
                        counted.inc(c.len() as u64);
                    }
                });
            let v: ObjectStats = api
                .json(
                    api.request(
                        Method::POST,
                        &format!("{}/objects?path={}", a.branch_path()?, enc(a.path()?)),
                    )
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(reqwest::Body::wrap_stream(stream)),
                )
                .await?;
            bar.finish_and_clear();
            print(json_out, &v, || {
                format!("uploaded {} bytes to {address}", v.size_bytes.unwrap_or(0))
            });
        }
        FsCmd::Rm { address } => {
            let a = Address::parse(&address)?;
            api.send(api.request(
                Method::DELETE,
                &format!("{}/objects?path={}", a.branch_path()?, enc(a.path()?)),
            ))
            .await?;
            print(json_out, &json!({ "deleted": a.path()? }), || {
                format!("deleted {address}")
            });
        }
    }
    Ok(())
}

/// `sluice gc REPO`: one collection, its report printed.
pub async fn gc(
    api: &Api,
    repo: String,
    dry_run: bool,
    grace_seconds: Option<u64>,
    json_out: bool,
) -> Result<(), ClientError> {
    let name = if repo.starts_with("sluice://") {
        Address::parse(&repo)?.repo
    } else {
        repo
    };
    let body = GcRequest {
        dry_run,
        grace_seconds,
    };
    let v: GcResult = api
        .json(
            api.request(Method::POST, &format!("/repositories/{}/gc", enc(&name)))
                .json(&body),
        )
        .await?;
    print(json_out, &v, || {
        format!(
            "{} {} object(s) ({} bytes) of {name}; examined {}, reachable {}, kept as too young {}",
            if dry_run { "would delete" } else { "deleted" },
            v.deleted,
            v.deleted_bytes,
            v.examined,
            v.reachable,
            v.too_young,
        )
    });
    Ok(())
}
