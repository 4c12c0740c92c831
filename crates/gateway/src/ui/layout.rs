//! The frame of every page: header with sign-out, the repository's tabs, the message a
//! form left, and small formatting helpers.

use maud::{DOCTYPE, Markup, html};

use super::form::repo_url;
use super::session::{Flash, SessionView};
use super::{Reply, UiError, html};

/// The tabs of a repository, with the walkthrough's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Objects,
    Changes,
    Commits,
    Branches,
    Compare,
    Actions,
}

/// Where a repository page is: its repository, tab and the ref it shows.
pub(crate) struct RepoNav<'a> {
    pub repo: &'a str,
    pub tab: Tab,
    /// The ref the tabs carry over (a branch, tag or commit).
    pub reference: &'a str,
    /// The repository's default branch.
    pub default_branch: &'a str,
}

fn tabs(nav: &RepoNav) -> Markup {
    let r = nav.reference;
    let items: [(Tab, &str, String); 6] = [
        (
            Tab::Objects,
            "Objects",
            repo_url(nav.repo, "objects", &[("ref", r)]),
        ),
        (
            Tab::Changes,
            "Uncommitted Changes",
            repo_url(nav.repo, "changes", &[("ref", r)]),
        ),
        (
            Tab::Commits,
            "Commits",
            repo_url(nav.repo, "commits", &[("ref", r)]),
        ),
        (
            Tab::Branches,
            "Branches",
            repo_url(nav.repo, "branches", &[]),
        ),
        (
            Tab::Compare,
            "Compare",
            repo_url(
                nav.repo,
                "compare",
                &[
                    ("ref", nav.default_branch),
                    ("compare", if r == nav.default_branch { "" } else { r }),
                ],
            ),
        ),
        (Tab::Actions, "Actions", repo_url(nav.repo, "actions", &[])),
    ];
    html! {
        nav.tabs aria-label="Repository" {
            ul {
                @for (tab, label, href) in &items {
                    li {
                        @if *tab == nav.tab {
                            a.current href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// The message a form left, or an error of this page.
pub(crate) fn flash(f: &Flash) -> Markup {
    html! {
        @if f.error {
            div.flash.error role="alert" {
                strong { "Error: " } (f.message)
                @if let Some(report) = &f.report {
                    (super::compare::refusal_report(report))
                }
            }
        } @else {
            div.flash.ok role="status" { (f.message) }
        }
    }
}

/// A whole page.
pub(crate) fn page(
    title: &str,
    session: Option<&SessionView>,
    nav: Option<&RepoNav>,
    flash_message: Option<&Flash>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Sluice" }
                link rel="stylesheet" href="/ui/static/style.css";
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/repositories" { "Sluice" }
                    @if let Some(nav) = nav {
                        span.crumb { " / " a href=(repo_url(nav.repo, "", &[])) { (nav.repo) } }
                    }
                    @if let Some(s) = session {
                        form.signout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span.user { (s.user) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some(nav) = nav { (tabs(nav)) }
                main #main {
                    @if let Some(f) = flash_message { (flash(f)) }
                    (body)
                }
            }
        }
    }
}

/// A page that only says what went wrong.
pub(crate) fn error_page(e: &UiError) -> Reply {
    let f = e.flash();
    html(
        e.status,
        page(
            "Error",
            None,
            None,
            Some(&f),
            html! {
                p { a href="/ui/repositories" { "Back to the repositories" } }
            },
        ),
    )
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf(s: &SessionView) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// Bytes for people: 1.5 MB.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A count with thousands separators: 486,000.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds since the epoch as a UTC time.
pub(crate) fn time(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// The first 12 characters of a commit id.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_read_well() {
        assert_eq!(super::count(972_000), "972,000");
        assert_eq!(super::count(5), "5");
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1_500_000), "1.5 MB");
        assert_eq!(super::time(0), "1970-01-01 00:00:00 UTC");
    }
}
