//! Users' secret keys at rest. SigV4 needs the secret itself to check a signature, so it
//! cannot be hashed: it is encrypted with XChaCha20-Poly1305 under a key derived from
//! `SLUICE_AUTH_ENCRYPT_SECRET_KEY` (the same on every sidecar sharing a store), or, when
//! that is not set, from a random key kept in the data dir (mode 0600). The metadata store
//! alone (a PostgreSQL dump, a copied RocksDB) does not reveal a secret.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The variable that names the encryption key.
pub const KEY_VARIABLE: &str = "SLUICE_AUTH_ENCRYPT_SECRET_KEY";
/// The file that holds a generated key when the variable is not set.
const KEY_FILE: &str = "auth-encrypt.key";
const CONTEXT: &str = "sluice 2026-11 secrets of access keys";

/// Encrypts and decrypts secrets.
#[derive(Clone)]
pub struct SecretCipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(<key>)")
    }
}

impl SecretCipher {
    /// A cipher whose key is derived from `material` (any length).
    pub fn from_material(material: &[u8]) -> Self {
        let key = blake3::derive_key(CONTEXT, material);
        Self {
            aead: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The cipher of `from_env` (the variable's value) or of the data dir's key file,
    /// created on first use.
    pub fn load_or_create(data_dir: &Path, from_env: Option<String>) -> std::io::Result<Self> {
        if let Some(v) = from_env.filter(|v| !v.is_empty()) {
            return Ok(Self::from_material(v.as_bytes()));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => return Ok(Self::from_material(&bytes)),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        std::fs::create_dir_all(data_dir)?;
        let material = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(material.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(Self::from_material(material.as_bytes()))
    }

    /// `plain`, encrypted under a fresh random nonce, as base64 of nonce and ciphertext.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        nonce[16..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        let sealed = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("encryption of a short secret does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// The secret `sealed` holds; `None` when it was sealed under another key or altered.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .aead
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let c = SecretCipher::from_material(b"one");
        let sealed = c.seal("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(sealed, c.seal("s3cret"), "a fresh nonce each time");
        assert_eq!(c.open(&sealed).as_deref(), Some("s3cret"));
        assert_eq!(SecretCipher::from_material(b"two").open(&sealed), None);
        let mut altered = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        *altered.last_mut().unwrap() ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(altered);
        assert_eq!(c.open(&altered), None);
    }

    #[test]
    fn the_key_file_is_made_once_and_the_variable_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretCipher::load_or_create(dir.path(), None).unwrap();
        let b = SecretCipher::load_or_create(dir.path(), None).unwrap();
        assert_eq!(b.open(&a.seal("x")).as_deref(), Some("x"));
        let env = SecretCipher::load_or_create(dir.path(), Some("k".into())).unwrap();
        assert_eq!(env.open(&a.seal("x")), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
