//! A Confluent-compatible Schema Registry (Avro only), for machines that have none.
//!
//! It speaks the subset of Confluent's REST API that serializers, deserializers
//! and operators use: register/look up schemas, versions, ids, soft and hard
//! deletes, compatibility config and checks (really enforced with Avro's
//! resolution rules). Clients need no changes: the pipeline's own
//! `schema_registry_converter` and Python's `confluent-kafka` both work.
//!
//! * [`routes`]: the HTTP paths and their JSON.
//! * [`state`]: ids, versions and the rules that change them.
//! * [`compatibility`]: the levels and the Avro check.
//! * [`references`]: schema references across subjects.
//! * [`store`]: the durable JSON file (see there for why a file, not a topic).
//! * [`errors`]: Confluent's error codes.
//! * [`auth`]: optional basic auth.

mod auth;
pub mod compatibility;
pub mod errors;
pub mod references;
pub mod routes;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::config::RegistryServerConfig;
use crate::error::{Error, Result};

use routes::Shared;
use store::Store;

/// A registry listening on a socket, serving in a background task.
///
/// Dropping it stops the server (tests rely on this to simulate a restart).
pub struct RunningRegistry {
    address: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningRegistry {
    /// The address actually bound (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://ADDRESS`, what clients are given.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Waits until the server stops (on its stop signal or an I/O error).
    pub async fn wait(mut self) -> Result<()> {
        let outcome = (&mut self.task).await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Error::Registry(format!("server stopped: {error}"))),
            Err(error) => Err(Error::Registry(format!("server task failed: {error}"))),
        }
    }
}

impl Drop for RunningRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long a stopping registry waits for requests in flight (a client
/// slow to send its body must not hold the process forever; a write cut off
/// leaves the old state, the storage file being replaced atomically).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Loads the storage file, binds `config.listen` and starts serving until
/// the process ends (or the returned handle is dropped).
pub async fn bind(config: &RegistryServerConfig) -> Result<RunningRegistry> {
    bind_until(config, std::future::pending()).await
}

/// Like [`bind`], but stops accepting when `stop` completes, lets the
/// requests in flight finish (their writes reach the storage file) and then
/// ends the server task.
pub async fn bind_until(
    config: &RegistryServerConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningRegistry> {
    let store = Store::new(&config.storage_file);
    let state = store.load()?;
    let credentials = config
        .basic_auth
        .as_deref()
        .map(auth::Credentials::parse)
        .transpose()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        store,
        max_body_bytes: config.max_body_bytes,
        limits: routes::Limits {
            max_subjects: config.max_subjects,
            max_versions_per_subject: config.max_versions_per_subject,
            max_schema_bytes: config.max_schema_bytes,
        },
    });
    let app = routes::router(shared)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(credentials),
            auth::require_basic_auth,
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|error| Error::Registry(format!("cannot listen on {}: {error}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|error| Error::Registry(format!("cannot read the bound address: {error}")))?;
    tracing::info!(%address, storage = %config.storage_file.display(), "schema registry listening");
    let (stopping_tx, mut stopping_rx) = watch::channel(false);
    let graceful = async move {
        stop.await;
        tracing::info!("schema registry stopping: finishing the requests in flight");
        let _ = stopping_tx.send(true);
    };
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
        let drain_limit = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        };
        tokio::select! {
            served = server => served,
            () = drain_limit => {
                tracing::warn!(limit_s = DRAIN_LIMIT.as_secs(), "schema registry: requests still open after the drain limit; stopping anyway");
                Ok(())
            }
        }
    });
    Ok(RunningRegistry { address, task })
}

/// Runs the registry until the process ends.
pub async fn serve(config: &RegistryServerConfig) -> Result<()> {
    bind(config).await?.wait().await
}

/// Runs the registry until `shutdown` turns true (SIGINT/SIGTERM in
/// `pipeline registry`), then drains the requests in flight and returns.
pub async fn serve_until_signal(
    config: &RegistryServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    bind_until(config, stop).await?.wait().await?;
    tracing::info!("schema registry stopped");
    Ok(())
}
