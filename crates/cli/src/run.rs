//! `sluice run`: settings from flags, `SLUICE_*` variables and a TOML file (in that order of
//! precedence, over the defaults), the admin key pair, and the server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use sluice_gateway::credentials::{self, KeyOrigin};

/// Flags of `sluice run`. Each also reads a `SLUICE_*` variable.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Where metadata and local storage namespaces live [default: ./sluice-data]
    #[arg(long, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000]
    #[arg(long, env = "SLUICE_LISTEN")]
    listen: Option<String>,
    /// A TOML file with `data_dir`, `listen`, `domain`, `metadata`, `[storage.s3]`, `[gc]`
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Domain for virtual-host style requests (`{repo}.{domain}`) [default: localhost]
    #[arg(long, env = "SLUICE_DOMAIN")]
    domain: Option<String>,
    /// The metadata store: `postgres://USER[:PASSWORD]@HOST:PORT/DB`, shared by every
    /// sidecar given the same address [default: the embedded store in the data dir]
    #[arg(long, env = "SLUICE_METADATA")]
    metadata: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key)
    #[arg(long, env = "SLUICE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, env = "SLUICE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    domain: Option<String>,
    metadata: Option<String>,
    storage: Option<StorageConfig>,
    gc: Option<GcConfig>,
}

/// `[storage]`: how `s3://` storage namespaces reach S3 (`[storage.s3]`: endpoint, region,
/// access_key_id, secret_access_key, allow_http, virtual_hosted_style; what it leaves out
/// comes from the standard AWS variables).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageConfig {
    /// The namespace of a repository created without one (an S3 CreateBucket) is this
    /// prefix and its name [default: local://].
    default_namespace_prefix: Option<String>,
    s3: Option<sluice_meta::S3Settings>,
    /// Local folders whose files `sluice import` (lakeFS's importStart) may point at; none
    /// by default, so that no one imports the server's own files.
    #[serde(default)]
    import_roots: Vec<PathBuf>,
}

/// `[gc]`: collect every repository's garbage periodically (off unless configured).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcConfig {
    /// Seconds between collections.
    interval_seconds: u64,
    /// Objects younger than this are kept [default: 21600, six hours].
    grace_seconds: Option<u64>,
}

/// Errors of `sluice run`, each one line for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read config file {0}: {1}")]
    ConfigRead(PathBuf, std::io::Error),
    #[error("config file {0} is not valid: {1}")]
    ConfigParse(PathBuf, toml::de::Error),
    #[error("invalid listen address {0:?}: {1}")]
    Listen(String, std::net::AddrParseError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error("cannot open the metadata store or storage: {0}")]
    Engine(#[from] sluice_meta::Error),
    #[error(
        "metadata {0:?}: expected postgres://USER[:PASSWORD]@HOST:PORT/DB (or nothing, for the embedded store)"
    )]
    MetadataScheme(String),
    #[error("{0}")]
    Config(String),
    #[error("cannot create the data dir: {0}")]
    DataDir(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("[gc] interval_seconds must be at least 1")]
    GcInterval,
    #[error("users and access keys: {0}")]
    Access(#[from] sluice_gateway::access::AccessError),
    #[error("TLS: {0}")]
    Tls(#[from] sluice_gateway::tls::TlsError),
}

pub fn run(args: RunArgs) -> Result<(), RunError> {
    let file = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| RunError::ConfigRead(path.clone(), e))?;
            toml::from_str(&text).map_err(|e| RunError::ConfigParse(path.clone(), e))?
        }
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("sluice-data"));
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8000".to_string());
    let domain = args
        .domain
        .or(file.domain)
        .unwrap_or_else(|| "localhost".to_string());
    let metadata = args.metadata.or(file.metadata).filter(|m| !m.is_empty());
    if let Some(m) = &metadata
        && !(m.starts_with("postgres://") || m.starts_with("postgresql://"))
    {
        return Err(RunError::MetadataScheme(m.clone()));
    }
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| RunError::Listen(listen.clone(), e))?;
    if file.gc.as_ref().is_some_and(|g| g.interval_seconds == 0) {
        return Err(RunError::GcInterval);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(sluice_gateway::tls::acceptor(cert, key)?),
        _ => None,
    };

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,s3s=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let (keys, origin) = credentials::load_or_create(
        &data_dir,
        (
            std::env::var("SLUICE_ACCESS_KEY_ID").ok(),
            std::env::var("SLUICE_SECRET_ACCESS_KEY").ok(),
        ),
    )?;
    match origin {
        KeyOrigin::Generated => {
            // Printed once, on the first start; it is stored (mode 0600), never logged.
            println!("Generated the admin key pair (shown only this once):");
            println!("  SLUICE_ACCESS_KEY_ID={}", keys.access_key_id);
            println!("  SLUICE_SECRET_ACCESS_KEY={}", keys.secret_access_key);
        }
        KeyOrigin::Environment => {
            tracing::info!(access_key_id = %keys.access_key_id, "admin key pair taken from the environment")
        }
        KeyOrigin::Replaced => {
            tracing::warn!(access_key_id = %keys.access_key_id, "admin key pair taken from the environment, replacing the stored one; the old pair no longer works")
        }
        KeyOrigin::Stored => {
            tracing::info!(access_key_id = %keys.access_key_id, "admin key pair loaded")
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(async move {
        // Every merge passes the quality gate: the action files on its source decide.
        let builder = match &metadata {
            Some(url) => {
                let kv = sluice_meta::kv::postgres::PostgresKv::connect(url).await?;
                tracing::info!(metadata = ?kv, "metadata on PostgreSQL");
                std::fs::create_dir_all(&data_dir).map_err(RunError::DataDir)?;
                sluice_meta::Engine::builder(std::sync::Arc::new(kv), data_dir.join("storage"))
            }
            None => sluice_meta::Engine::open_embedded(&data_dir)?,
        };
        let storage = file.storage.unwrap_or_default();
        for root in &storage.import_roots {
            if !root.is_absolute() || !root.is_dir() {
                return Err(RunError::Config(format!(
                    "[storage] import_roots: {} is not an absolute path to a folder",
                    root.display()
                )));
            }
        }
        let mut builder = builder
            .with_s3(storage.s3.unwrap_or_default())
            .with_import_roots(storage.import_roots);
        if let Some(prefix) = storage.default_namespace_prefix {
            sluice_meta::Namespace::parse(&format!("{prefix}repository")).map_err(|e| {
                RunError::Config(format!("[storage] default_namespace_prefix: {e}"))
            })?;
            builder = builder.with_default_namespace_prefix(prefix);
        }
        let engine = builder
            .with_merge_hook(std::sync::Arc::new(sluice_query::QualityGate::default()))
            .build();
        engine.check_storage().await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| RunError::Bind(addr, e))?;
        let local = listener.local_addr().map_err(RunError::Serve)?;
        // The line tests and scripts wait for; it names the real port when listen used :0.
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("Sluice listening on {scheme}://{local}");
        tracing::info!(data_dir = %data_dir.display(), %local, "serving");
        if let Some(gc) = file.gc.clone() {
            tokio::spawn(collect_periodically(engine.clone(), gc));
        }
        let cipher = sluice_gateway::access::SecretCipher::load_or_create(
            &data_dir,
            std::env::var(sluice_gateway::access::cipher::KEY_VARIABLE).ok(),
        )
        .map_err(RunError::DataDir)?;
        let access = sluice_gateway::access::Access::new(engine.kv().clone(), cipher, keys);
        access.setup().await?;
        let app = sluice_gateway::App::new(engine, access, &domain);
        sluice_gateway::server::serve_with(listener, app, tls, shutdown_signal())
            .await
            .map_err(RunError::Serve)
    })
}

/// Collect every repository's garbage every `interval_seconds`, logging each report; a
/// failure is logged and the next round tries again.
async fn collect_periodically(engine: sluice_meta::Engine, config: GcConfig) {
    let mut options = sluice_meta::GcOptions::default();
    if let Some(g) = config.grace_seconds {
        options.grace = std::time::Duration::from_secs(g);
    }
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(config.interval_seconds));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate: wait one interval first
    loop {
        ticker.tick().await;
        let repos = match engine
            .list_repositories(&sluice_meta::PageRequest::all())
            .await
        {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(error = %e, "periodic gc: cannot list repositories");
                continue;
            }
        };
        for repo in repos {
            match engine.collect_garbage(&repo.name, &options).await {
                Ok(r) => tracing::info!(
                    repository = %repo.name,
                    examined = r.examined,
                    reachable = r.reachable,
                    deleted = r.deleted,
                    deleted_bytes = r.deleted_bytes,
                    too_young = r.too_young,
                    "periodic gc"
                ),
                Err(e) => tracing::warn!(repository = %repo.name, error = %e, "periodic gc failed"),
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
