//! The admin key pair: created on first start (from `SLUICE_ACCESS_KEY_ID` and
//! `SLUICE_SECRET_ACCESS_KEY`, or generated), stored in the data dir with mode 0600, reused
//! by later starts. A later start with both variables set to another pair replaces the
//! stored one (clients that use the variables must not be refused). The secret is never
//! logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An access key pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// The access key id (public).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// How the key pair was obtained at this start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from the data dir (a later start).
    Stored,
    /// Taken from the environment on first start.
    Environment,
    /// Taken from the environment, replacing a different stored pair.
    Replaced,
    /// Generated on first start; print it once.
    Generated,
}

/// Errors of loading or creating the key pair.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read or written.
    #[error("credentials file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a key pair.
    #[error("credentials file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Only one of the two environment variables is set, or one is empty.
    #[error("set both SLUICE_ACCESS_KEY_ID and SLUICE_SECRET_ACCESS_KEY, non-empty, or neither")]
    HalfSet,
}

/// The file that holds the key pair under `data_dir`.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials.json")
}

pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    // UUID v4 draws from the OS random source; 122 bits per UUID, used byte by byte.
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == len {
                break;
            }
            out.push(alphabet[*b as usize % alphabet.len()] as char);
        }
    }
    out
}

/// A new random key pair in AWS's shapes (20-character id, 40-character secret).
pub fn generate() -> KeyPair {
    KeyPair {
        access_key_id: format!(
            "AKSL{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        secret_access_key: random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        ),
    }
}

/// Load the stored key pair, or create it from `from_env` (both variables) or at random.
pub fn load_or_create(
    data_dir: &Path,
    from_env: (Option<String>, Option<String>),
) -> Result<(KeyPair, KeyOrigin), CredentialsError> {
    let path = credentials_path(data_dir);
    let io = |source| CredentialsError::Io {
        path: path.clone(),
        source,
    };
    let stored: Option<KeyPair> = match std::fs::read(&path) {
        Ok(bytes) => {
            Some(
                serde_json::from_slice(&bytes).map_err(|e| CredentialsError::Invalid {
                    path: path.clone(),
                    message: e.to_string(),
                })?,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let from_env = match from_env {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(KeyPair {
            access_key_id: id,
            secret_access_key: secret,
        }),
        (None, None) => None,
        _ => return Err(CredentialsError::HalfSet),
    };
    let (pair, origin) = match (stored, from_env) {
        (Some(stored), None) => return Ok((stored, KeyOrigin::Stored)),
        (Some(stored), Some(env)) if stored == env => return Ok((stored, KeyOrigin::Stored)),
        (Some(_), Some(env)) => (env, KeyOrigin::Replaced),
        (None, Some(env)) => (env, KeyOrigin::Environment),
        (None, None) => (generate(), KeyOrigin::Generated),
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(&serde_json::to_vec_pretty(&pair).expect("plain struct"))
            .map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok((pair, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_then_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let (a, origin) = load_or_create(dir.path(), (None, None)).unwrap();
        assert_eq!(origin, KeyOrigin::Generated);
        assert_eq!(a.access_key_id.len(), 20);
        assert_eq!(a.secret_access_key.len(), 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(credentials_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, origin) = load_or_create(dir.path(), (None, None)).unwrap();
        assert_eq!((b, origin), (a.clone(), KeyOrigin::Stored));
        assert!(!format!("{a:?}").contains(&a.secret_access_key));
    }

    /// Variables set to another pair on a later start win, and are stored for the next.
    #[test]
    fn environment_replaces_a_stored_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = load_or_create(dir.path(), (None, None)).unwrap();
        let same = (
            Some(a.access_key_id.clone()),
            Some(a.secret_access_key.clone()),
        );
        assert_eq!(
            load_or_create(dir.path(), same).unwrap(),
            (a.clone(), KeyOrigin::Stored)
        );
        let (b, origin) = load_or_create(dir.path(), (Some("X".into()), Some("Y".into()))).unwrap();
        assert_eq!(origin, KeyOrigin::Replaced);
        assert_eq!(
            (b.access_key_id.as_str(), b.secret_access_key.as_str()),
            ("X", "Y")
        );
        let (c, origin) = load_or_create(dir.path(), (None, None)).unwrap();
        assert_eq!((c, origin), (b, KeyOrigin::Stored));
        assert!(matches!(
            load_or_create(dir.path(), (Some("X".into()), Some(String::new()))),
            Err(CredentialsError::HalfSet)
        ));
    }

    #[test]
    fn from_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (a, origin) =
            load_or_create(dir.path(), (Some("AK".into()), Some("SK".into()))).unwrap();
        assert_eq!(origin, KeyOrigin::Environment);
        assert_eq!(a.secret_access_key, "SK");
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_or_create(dir.path(), (Some("AK".into()), None)),
            Err(CredentialsError::HalfSet)
        ));
    }
}
