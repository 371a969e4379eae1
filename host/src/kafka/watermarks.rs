//! A partition's high watermark as librdkafka last saw it, without asking
//! the broker.
//!
//! `fetch_watermarks` sends a ListOffsets request and blocks until the
//! answer. A member refreshing its lag that way every few seconds stalled
//! its own thread behind the broker: on a broker that serves one
//! connection's requests in order (nisshi), the request waits behind the
//! member's outstanding fetch (up to `fetch.wait.max.ms`), once per owned
//! partition, and every record fetched meanwhile waited too. librdkafka
//! keeps the high watermark of each fetch response; reading that cache is
//! enough for a lag figure.

use rdkafka::bindings::{rd_kafka_get_watermark_offsets, rd_kafka_resp_err_t};
use rdkafka::client::{Client, ClientContext};

/// The high watermark of `topic`/`partition` from the last fetch response,
/// `None` until a fetch of it has answered.
pub fn cached_high_watermark<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `client` is borrowed,
    // `topic` is NUL-terminated and outlives the call, and `low`/`high` are
    // valid for writes. The call only reads librdkafka's cached offsets.
    let error = unsafe {
        rd_kafka_get_watermark_offsets(
            client.native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
