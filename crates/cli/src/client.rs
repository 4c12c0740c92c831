//! The client side of the `sluice` command: addresses (`sluice://REPO/REF/PATH`) and calls to
//! the REST API of a running sidecar, with one-line errors.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_gateway::api::{ErrorBody, List};

/// A failure of a client subcommand: one line for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        source: reqwest::Error,
    },
    #[error("{status}: {message}")]
    Api { status: StatusCode, message: String },
    /// A refused merge: the server's report comes with it.
    #[error("{status}: {message}")]
    Refused {
        status: StatusCode,
        message: String,
        report: Box<Value>,
    },
    #[error("{0}")]
    Local(String),
}

/// `sluice://REPO[/REF[/PATH]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub repo: String,
    pub reference: Option<String>,
    pub path: Option<String>,
}

impl Address {
    pub fn parse(uri: &str) -> Result<Self, ClientError> {
        let rest = uri.strip_prefix("sluice://").ok_or_else(|| {
            ClientError::Usage(format!(
                "{uri:?} is not an address of the form sluice://REPO/REF/PATH"
            ))
        })?;
        let mut parts = rest.splitn(3, '/');
        let repo = parts.next().unwrap_or_default().to_string();
        if repo.is_empty() {
            return Err(ClientError::Usage(format!("{uri:?} names no repository")));
        }
        let reference = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
        let path = parts.next().map(str::to_string);
        Ok(Self {
            repo,
            reference,
            path,
        })
    }

    pub fn reference(&self) -> Result<&str, ClientError> {
        self.reference.as_deref().ok_or_else(|| {
            ClientError::Usage(format!("sluice://{} names no branch or ref", self.repo))
        })
    }

    /// The API path of the ref: `/repositories/REPO/refs/REF`.
    pub fn ref_path(&self) -> Result<String, ClientError> {
        Ok(format!(
            "/repositories/{}/refs/{}",
            enc(&self.repo),
            enc(self.reference()?)
        ))
    }

    /// The API path of the ref as a branch: `/repositories/REPO/branches/BRANCH`.
    pub fn branch_path(&self) -> Result<String, ClientError> {
        Ok(format!(
            "/repositories/{}/branches/{}",
            enc(&self.repo),
            enc(self.reference()?)
        ))
    }

    pub fn path(&self) -> Result<&str, ClientError> {
        self.path
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ClientError::Usage("the address names no object path".into()))
    }
}

/// Percent-encode one path segment or query value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A REST API client with the key pair from the environment.
pub struct Api {
    http: reqwest::Client,
    pub endpoint: String,
    key: String,
    secret: String,
}

impl Api {
    pub fn from_env(endpoint: String) -> Result<Self, ClientError> {
        let var = |k: &str| {
            std::env::var(k)
                .map_err(|_| ClientError::Usage(format!("{k} is not set (the sidecar's key pair)")))
        };
        Ok(Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            key: var("SLUICE_ACCESS_KEY_ID")?,
            secret: var("SLUICE_SECRET_ACCESS_KEY")?,
        })
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.endpoint))
            .basic_auth(&self.key, Some(&self.secret))
    }

    /// Send, and turn a non-2xx answer into its JSON message.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = req
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(ErrorBody {
                message,
                report: Some(report),
                ..
            }) => Err(ClientError::Refused {
                status,
                message,
                report: Box::new(report),
            }),
            Ok(body) => Err(ClientError::Api {
                status,
                message: body.message,
            }),
            Err(_) => Err(ClientError::Api {
                status,
                message: text,
            }),
        }
    }

    /// Send, and read the answer as a `T` (one of [`sluice_gateway::api`]'s types, or a
    /// [`Value`] for sluice-query's reports).
    pub async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let text = resp
            .text()
            .await
            .map_err(|e| ClientError::Local(e.to_string()))?;
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text)
            .map_err(|e| ClientError::Local(format!("bad JSON from the server: {e}")))
    }

    /// Every result of a paginated listing.
    pub async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        extra: &str,
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page: List<T> = self
                .json(self.request(
                    Method::GET,
                    &format!("{path}?amount=1000&after={}{extra}", enc(&after)),
                ))
                .await?;
            out.extend(page.results);
            if !page.pagination.has_more {
                return Ok(out);
            }
            after = page.pagination.next_offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::parse("sluice://lake/main/a/b.parquet").unwrap();
        assert_eq!(
            (a.repo.as_str(), a.reference().unwrap(), a.path().unwrap()),
            ("lake", "main", "a/b.parquet")
        );
        let a = Address::parse("sluice://lake").unwrap();
        assert!(a.reference().is_err());
        assert!(Address::parse("s3://lake/main").is_err());
        assert!(Address::parse("sluice://").is_err());
    }
}
