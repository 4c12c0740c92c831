//! What any request to the sidecar carries, read one way for S3, the REST API and the UI:
//! the path's segments under a mount point, and the ETag lists of conditional headers.

use http::HeaderMap;

/// The percent-decoded, non-empty segments of `path` after `mount` (`/api/v1`, `/ui`).
pub(crate) fn path_segments(path: &str, mount: &str) -> Vec<String> {
    path.strip_prefix(mount)
        .unwrap_or(path)
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The ETags a conditional header lists (`*` as `["*"]`), quotes and `W/` removed.
pub(crate) fn etags(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<Vec<String>> {
    let raw = headers.get(name)?.to_str().ok()?;
    Some(
        raw.split(',')
            .map(|t| {
                t.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_etags() {
        assert_eq!(
            path_segments("/api/v1/repositories/a%2Fb/", "/api/v1"),
            ["repositories", "a/b"]
        );
        assert!(path_segments("/ui", "/ui").is_empty());
        let mut h = HeaderMap::new();
        h.insert("if-none-match", "W/\"a\", \"b\" ,*".parse().unwrap());
        assert_eq!(etags(&h, "if-none-match").unwrap(), ["a", "b", "*"]);
        assert!(etags(&h, "if-match").is_none());
    }
}
