//! Where S3 names point: the bucket is the repository and the first key segment the ref;
//! virtual-host style requests name the repository in the host.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// A key split into its ref and the path on that ref. `path` is empty for the ref itself
/// (`repo/main` or `repo/main/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefPath<'a> {
    pub reference: &'a str,
    pub path: &'a str,
}

pub(crate) fn split_key(key: &str) -> RefPath<'_> {
    match key.split_once('/') {
        Some((reference, path)) => RefPath { reference, path },
        None => RefPath {
            reference: key,
            path: "",
        },
    }
}

/// Virtual-host style for `{repo}.{domain}` (any port); every other host is path style,
/// so that `127.0.0.1:8000`, `localhost:8000` and a machine's own name all work.
pub(crate) struct Hosts {
    domain: String,
}

impl Hosts {
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.trim_matches('.').to_ascii_lowercase(),
        }
    }
}

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if let Some(bucket) = name
            .strip_suffix(self.domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            && !bucket.is_empty()
        {
            return Ok(VirtualHost::new(host).with_bucket(bucket));
        }
        Ok(VirtualHost::new(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_on_the_first_slash() {
        assert_eq!(
            split_key("main/a/b.parquet"),
            RefPath {
                reference: "main",
                path: "a/b.parquet"
            }
        );
        assert_eq!(split_key("main").path, "");
        assert_eq!(split_key("main/").path, "");
        assert_eq!(split_key("main//x").path, "/x");
    }

    #[test]
    fn virtual_hosts() {
        let h = Hosts::new("localhost");
        assert_eq!(
            h.parse_host_header("lake.localhost:8000").unwrap().bucket(),
            Some("lake")
        );
        assert_eq!(
            h.parse_host_header("localhost:8000").unwrap().bucket(),
            None
        );
        assert_eq!(h.parse_host_header("myhost").unwrap().bucket(), None);
        assert_eq!(
            h.parse_host_header("a.b.localhost").unwrap().bucket(),
            Some("a.b")
        );
    }
}
