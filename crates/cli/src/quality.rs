//! `sluice count`, `compare`, `sql` and `actions`: clients of the sidecar's row counts,
//! comparisons, SQL and pre-merge action runs.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use sluice_gateway::api::{RequiredCheckCreation, RequiredCheckList, SqlRequest};

use crate::client::{Address, Api, ClientError, enc};
use crate::commands::print;

#[derive(Subcommand)]
pub enum ActionsCmd {
    /// List the pre-merge runs of sluice://REPO, newest first.
    Runs {
        repo: String,
        /// Only runs of merges into this branch.
        #[arg(long)]
        branch: Option<String>,
        #[arg(long, default_value_t = 20)]
        amount: usize,
    },
    /// Show one run of sluice://REPO with its hooks' reports.
    Show { repo: String, run_id: String },
}

#[derive(Subcommand)]
pub enum ChecksCmd {
    /// The required checks of sluice://REPO.
    List { repo: String },
    /// Require the action in FILE (an action file's YAML) on every merge it names, as NAME.
    Set {
        repo: String,
        name: String,
        file: std::path::PathBuf,
    },
    /// Stop requiring check NAME.
    Rm { repo: String, name: String },
}

/// `sluice checks`: required checks, set per repository outside every branch.
pub async fn checks(api: &Api, cmd: ChecksCmd, json_out: bool) -> Result<(), ClientError> {
    let path = |repo: &str| -> Result<String, ClientError> {
        Ok(format!(
            "/repositories/{}/settings/required_checks",
            enc(&Address::parse(repo)?.repo)
        ))
    };
    match cmd {
        ChecksCmd::List { repo } => {
            let v: RequiredCheckList = api.json(api.request(Method::GET, &path(&repo)?)).await?;
            print(json_out, &v, || {
                v.checks
                    .iter()
                    .map(|c| format!("{}\n{}", c.name, c.action.trim_end()))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            });
        }
        ChecksCmd::Set { repo, name, file } => {
            let action = std::fs::read_to_string(&file)
                .map_err(|e| ClientError::Local(format!("{}: {e}", file.display())))?;
            api.send(
                api.request(Method::PUT, &format!("{}/{}", path(&repo)?, enc(&name)))
                    .json(&RequiredCheckCreation { action }),
            )
            .await?;
            print(json_out, &serde_json::json!({"name": name}), || {
                format!("{name} is required on {repo}")
            });
        }
        ChecksCmd::Rm { repo, name } => {
            api.send(api.request(Method::DELETE, &format!("{}/{}", path(&repo)?, enc(&name))))
                .await?;
            print(json_out, &serde_json::json!({"name": name}), || {
                format!("{name} is no longer required on {repo}")
            });
        }
    }
    Ok(())
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Files that could not be read make the command fail, after the figures are printed.
fn problems_error(v: &Value) -> Result<(), ClientError> {
    let problems = v["problems"].as_array().cloned().unwrap_or_default();
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        eprintln!(
            "sluice: {}: {}",
            p["path"].as_str().unwrap_or(""),
            p["error"].as_str().unwrap_or("")
        );
    }
    Err(ClientError::Local(format!(
        "{} file(s) could not be read; their rows are not counted",
        problems.len()
    )))
}

pub async fn count(
    api: &Api,
    address: String,
    verify: bool,
    json_out: bool,
) -> Result<(), ClientError> {
    let a = Address::parse(&address)?;
    let v: Value = api
        .json(api.request(
            Method::GET,
            &format!(
                "{}/rows?prefix={}&verify={verify}",
                a.ref_path()?,
                enc(a.path.as_deref().unwrap_or(""))
            ),
        ))
        .await?;
    print(json_out, &v, || {
        let table = match v["version"].as_u64() {
            Some(version) if v["format"] == "delta" => format!(" (Delta table, version {version})"),
            _ => String::new(),
        };
        format!(
            "{} rows in {} files ({}) under {}/{}{table}{}",
            n(&v["rows"]),
            n(&v["files"]),
            bytes_text(n(&v["bytes"])),
            a.reference().unwrap_or(""),
            v["prefix"].as_str().unwrap_or(""),
            match (verify, v["verified"].as_bool()) {
                (false, _) => String::new(),
                (true, Some(true)) => ", every row decoded and checked".to_string(),
                (true, _) => format!(
                    ", {} file(s) decoded and checked, {} failed",
                    n(&v["verified_files"]),
                    v["problems"].as_array().map_or(0, Vec::len)
                ),
            }
        )
    });
    problems_error(&v)
}

/// What `sluice compare` was asked to compare and how.
pub struct CompareFlags {
    /// The folder.
    pub prefix: Option<String>,
    /// Comma-separated key columns.
    pub key_columns: Option<String>,
    /// Skip the duplicate search.
    pub no_duplicates: bool,
    /// Diff the change's rows too.
    pub rows: bool,
}

pub async fn compare(
    api: &Api,
    left: String,
    right: String,
    flags: CompareFlags,
    json_out: bool,
) -> Result<(), ClientError> {
    let CompareFlags {
        prefix,
        key_columns,
        no_duplicates,
        rows,
    } = flags;
    let l = Address::parse(&left)?;
    let r = Address::parse(&right)?;
    if l.repo != r.repo {
        return Err(ClientError::Usage(
            "both refs must be in one repository".into(),
        ));
    }
    let prefix = prefix.or(l.path.clone()).unwrap_or_default();
    let mut query = format!(
        "prefix={}&duplicates={}&rows={rows}",
        enc(&prefix),
        !no_duplicates
    );
    if let Some(k) = &key_columns {
        query.push_str(&format!("&key_columns={}", enc(k)));
    }
    let v: Value = api
        .json(api.request(
            Method::GET,
            &format!("{}/compare/{}?{query}", l.ref_path()?, enc(r.reference()?)),
        ))
        .await?;
    print(json_out, &v, || compare_text(&v));
    problems_error(&v)
}

fn compare_text(v: &Value) -> String {
    let mut out = Vec::new();
    let side = |s: &Value| format!("{:>12} rows  {:>6} files", n(&s["rows"]), n(&s["files"]));
    out.push(format!(
        "{:<14}{}  {}",
        "left",
        side(&v["left"]),
        v["left"]["reference"].as_str().unwrap_or("")
    ));
    out.push(format!(
        "{:<14}{}  {}",
        "right",
        side(&v["right"]),
        v["right"]["reference"].as_str().unwrap_or("")
    ));
    out.push(format!(
        "{:<14}{}  {}",
        "merge base",
        side(&v["base"]),
        v["base"]["reference"].as_str().unwrap_or("")
    ));
    let c = &v["change"];
    out.push(format!(
        "change        +{} rows in {} files, -{} rows in {} files; {} rows after a merge",
        n(&c["rows_added"]),
        n(&c["files_added"]),
        n(&c["rows_removed"]),
        n(&c["files_removed"]),
        n(&v["rows_after_merge"])
    ));
    let d = &v["duplicates"];
    if !d["columns"].as_array().is_none_or(Vec::is_empty) {
        out.push(format!(
            "duplicates    {} of {} added rows",
            n(&d["duplicate_rows"]),
            n(&d["rows_checked"])
        ));
        for s in d["samples"].as_array().into_iter().flatten() {
            out.push(format!(
                "  {}  (also in {})",
                s["row"],
                s["found_in"].as_str().unwrap_or("")
            ));
        }
    }
    let s = &v["schema"];
    let list = |k: &str| {
        s[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    if !list("added").is_empty() {
        out.push(format!("columns added    {}", list("added")));
    }
    if !list("removed").is_empty() {
        out.push(format!("columns removed  {}", list("removed")));
    }
    for c in s["changed"].as_array().into_iter().flatten() {
        out.push(format!(
            "column changed   {}: {} -> {}",
            c["column"].as_str().unwrap_or(""),
            c["left"].as_str().unwrap_or(""),
            c["right"].as_str().unwrap_or("")
        ));
    }
    if v["rows"].is_object() {
        out.extend(row_diff_text("rows          ", &v["rows"]));
    }
    out.join("\n")
}

/// A refused merge's report for people.
pub fn refusal_text(report: &Value) -> String {
    let mut out = vec![format!(
        "merge refused (action run {})",
        report["run_id"].as_str().unwrap_or("-")
    )];
    if let Some(e) = report["error"].as_str() {
        out.push(format!("  {e}"));
    }
    for h in report["hooks"].as_array().into_iter().flatten() {
        let status = h["status"].as_str().unwrap_or("");
        out.push(format!(
            "check {} ({}, {}): {}",
            h["hook_id"].as_str().unwrap_or(""),
            h["hook_type"].as_str().unwrap_or(""),
            h["action_file"].as_str().unwrap_or(""),
            if status == "completed" {
                "passed"
            } else {
                "FAILED"
            }
        ));
        for f in h["failures"].as_array().into_iter().flatten() {
            out.push(format!("  - {}", f.as_str().unwrap_or("")));
        }
        if h["hook_type"] == "row_check" && h["report"]["left"].is_object() {
            for line in compare_text(&h["report"]).lines() {
                out.push(format!("    {line}"));
            }
        }
    }
    out.join("\n")
}

pub async fn sql(
    api: &Api,
    address: String,
    query: String,
    max_rows: usize,
    json_out: bool,
) -> Result<(), ClientError> {
    let a = Address::parse(&address)?;
    let v: Value = api
        .json(
            api.request(Method::POST, &format!("{}/sql", a.ref_path()?))
                .json(&SqlRequest {
                    query,
                    max_rows: Some(max_rows),
                }),
        )
        .await?;
    print(json_out, &v, || table_text(&v));
    Ok(())
}

/// Rows as an aligned text table.
fn table_text(v: &Value) -> String {
    let columns: Vec<String> = v["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    let rows: Vec<Vec<String>> = v["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            columns
                .iter()
                .map(|c| match &r[c] {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![
        line(&columns),
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    ];
    out.extend(rows.iter().map(|r| line(r)));
    let shown = rows.len();
    out.push(if v["truncated"] == true {
        format!("({shown} rows shown; more were left out)")
    } else {
        format!("({shown} rows)")
    });
    out.join("\n")
}

pub async fn actions(api: &Api, cmd: ActionsCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        ActionsCmd::Runs {
            repo,
            branch,
            amount,
        } => {
            let a = Address::parse(&repo)?;
            let mut path = format!(
                "/repositories/{}/actions/runs?amount={}",
                enc(&a.repo),
                amount.clamp(1, 1000)
            );
            if let Some(b) = &branch {
                path.push_str(&format!("&branch={}", enc(b)));
            }
            let v: Value = api.json(api.request(Method::GET, &path)).await?;
            print(json_out, &v, || {
                v["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{} -> {}\t{}",
                            r["run_id"].as_str().unwrap_or(""),
                            r["status"].as_str().unwrap_or(""),
                            r["source_ref"].as_str().unwrap_or(""),
                            r["branch"].as_str().unwrap_or(""),
                            r["start_time"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        ActionsCmd::Show { repo, run_id } => {
            let a = Address::parse(&repo)?;
            let v: Value = api
                .json(api.request(
                    Method::GET,
                    &format!(
                        "/repositories/{}/actions/runs/{}",
                        enc(&a.repo),
                        enc(&run_id)
                    ),
                ))
                .await?;
            print(json_out, &v, || {
                refusal_text(&v).replacen("merge refused", "pre-merge run", 1)
            });
            Ok(())
        }
    }
}

/// `sluice diff --rows`: the rows of a table folder that RIGHT adds, removes and changes
/// against LEFT.
pub async fn row_diff(
    api: &Api,
    left: String,
    right: Option<String>,
    prefix: Option<String>,
    key: Option<String>,
    json_out: bool,
) -> Result<(), ClientError> {
    let l = Address::parse(&left)?;
    let right = right.ok_or_else(|| {
        ClientError::Usage(
            "diff --rows needs two refs: sluice://REPO/LEFT sluice://REPO/RIGHT".into(),
        )
    })?;
    let r = Address::parse(&right)?;
    if r.repo != l.repo {
        return Err(ClientError::Usage(
            "both refs must be of the same repository".into(),
        ));
    }
    let prefix = prefix.or(l.path.clone()).unwrap_or_default();
    let mut path = format!(
        "{}/diff/{}/rows?prefix={}",
        l.ref_path()?,
        enc(r.reference()?),
        enc(&prefix)
    );
    if let Some(k) = &key {
        path.push_str(&format!("&key_columns={}", enc(k)));
    }
    let v: Value = api.json(api.request(Method::GET, &path)).await?;
    print(json_out, &v, || {
        let heading = format!(
            "{} -> {} under {:?}:",
            l.reference.as_deref().unwrap_or(""),
            r.reference.as_deref().unwrap_or(""),
            v["prefix"].as_str().unwrap_or(""),
        );
        row_diff_text(&heading, &v).join("\n")
    });
    Ok(())
}

/// A row diff as lines: the counts after `heading`, the columns that changed, and the
/// schema's differences.
fn row_diff_text(heading: &str, v: &Value) -> Vec<String> {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut out = vec![format!(
        "{heading} {} rows added, {} removed, {} changed",
        n("rows_added"),
        n("rows_removed"),
        n("rows_changed")
    )];
    if let Some(cols) = v["column_changes"].as_object().filter(|c| !c.is_empty()) {
        let cols: Vec<String> = cols.iter().map(|(c, k)| format!("{c} ({k})")).collect();
        out.push(format!("changed columns: {}", cols.join(", ")));
    }
    for kind in ["added", "removed", "retyped"] {
        let field = if kind == "retyped" { "changed" } else { kind };
        if let Some(cols) = v["schema"][field].as_array().filter(|c| !c.is_empty()) {
            let names: Vec<String> = cols
                .iter()
                .map(|c| match c.as_str() {
                    Some(s) => s.to_string(),
                    None => c["column"].as_str().unwrap_or("").to_string(),
                })
                .collect();
            out.push(format!("columns {kind}: {}", names.join(", ")));
        }
    }
    out
}
