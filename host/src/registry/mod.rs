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
//! * [`store`]: the durable JSON file (see there for why a file, not a topic).
//! * [`errors`]: Confluent's error codes.
//! * [`auth`]: optional basic auth.

mod auth;
pub mod compatibility;
pub mod errors;
pub mod routes;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
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

    /// Waits until the server stops (it only does on an I/O error).
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

/// Loads the storage file, binds `config.listen` and starts serving.
pub async fn bind(config: &RegistryServerConfig) -> Result<RunningRegistry> {
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
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(RunningRegistry { address, task })
}

/// Runs the registry until the process ends.
pub async fn serve(config: &RegistryServerConfig) -> Result<()> {
    bind(config).await?.wait().await
}
