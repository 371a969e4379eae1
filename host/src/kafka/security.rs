//! Checking the broker's answer to the `[kafka]` security settings at start.
//!
//! The rule: **a client whose credentials or certificate the broker refuses
//! can never succeed by retrying**, so every process that talks to Kafka
//! asks the brokers once before it starts, and stops with a configuration
//! error (exit code 2, which `pipeline up` does not restart) naming the
//! setting to fix. A broker that is merely away (refused connections, a
//! timeout) is not an answer: the process starts and waits for it as before.
//!
//! librdkafka keeps retrying a refused login forever and reports each
//! refusal only to the client's error callback (`_AUTHENTICATION` for SASL,
//! `_SSL` for a TLS handshake); this context catches those.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client::{ClientRole, client_config};

/// How long the check waits for a broker to answer at all before letting
/// the process start anyway (it then waits for the broker as usual).
const ANSWER_WAIT: Duration = Duration::from_secs(15);

/// What the brokers said to the check's login, if they refused it.
#[derive(Default)]
struct RefusalWatch {
    refused: Mutex<Option<(RDKafkaErrorCode, String)>>,
}

impl ProducerContext for RefusalWatch {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl ClientContext for RefusalWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if let Some(code @ (RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) = code
            && let Ok(mut refused) = self.refused.lock()
        {
            refused.get_or_insert((code, reason.to_owned()));
        } else {
            tracing::debug!(%error, reason, "Kafka client error during the security check");
        }
    }
}

/// Connects to the brokers with the configured security settings and
/// returns an error naming the setting when they refuse the login (SASL)
/// or the certificate (TLS). `Ok` when they answer, and when none answers
/// within [`ANSWER_WAIT`] (a broker away is waited for elsewhere).
pub fn check_brokers_accept_login(config: &Config) -> Result<()> {
    // A producer that sends nothing: it only asks for metadata, and its
    // `poll` serves the error callback.
    let client: BaseProducer<RefusalWatch> =
        client_config(config, ClientRole::Admin).create_with_context(RefusalWatch::default())?;
    let started = Instant::now();
    while started.elapsed() < ANSWER_WAIT {
        let answered = client
            .client()
            .fetch_metadata(None, Duration::from_secs(1))
            .is_ok();
        client.poll(Duration::from_millis(100));
        if let Some((code, reason)) = client.context().refused.lock().ok().and_then(|r| r.clone()) {
            return Err(refusal_error(config, code, &reason));
        }
        if answered {
            return Ok(());
        }
    }
    tracing::warn!(
        brokers = config.bootstrap_servers(),
        "no Kafka broker answered within {} s; starting anyway and waiting for it",
        ANSWER_WAIT.as_secs()
    );
    Ok(())
}

/// [`check_brokers_accept_login`] off the async runtime's threads (it
/// blocks for up to [`ANSWER_WAIT`]).
pub async fn check_login(config: &Config) -> Result<()> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || check_brokers_accept_login(&config))
        .await
        .map_err(|error| Error::task_failed("the Kafka security check", error))?
}

/// The configuration error for a refusal: which settings to look at.
fn refusal_error(config: &Config, code: RDKafkaErrorCode, reason: &str) -> Error {
    let brokers = config.bootstrap_servers();
    let (settings, fix) = match code {
        RDKafkaErrorCode::SSL => (
            "[kafka] ssl.ca.location (and security.protocol)",
            "the broker's certificate is not trusted, or TLS does not match the listener: \
             point ssl.ca.location at the CA that signed it (PEM), or check that the \
             listener at bootstrap.servers speaks TLS",
        ),
        _ => (
            "[kafka] sasl.username / sasl.password (and sasl.mechanisms)",
            "the broker refused the login: check the credentials and that sasl.mechanisms \
             is one the listener enables (e.g. SCRAM-SHA-512, PLAIN)",
        ),
    };
    Error::config(
        settings,
        format!("Kafka at {brokers} refused the connection ({reason}); {fix}"),
    )
}
