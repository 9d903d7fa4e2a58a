//! One connection to one MQTT broker: a rumqttc client, the task that polls its event loop,
//! and the book that ties every publish to its acknowledgement (PUBACK for QoS 1, PUBCOMP
//! for QoS 2; QoS 0 counts once written to the socket).
//!
//! rumqttc does not hand out packet ids, so publishes are matched to the event loop's
//! `Outgoing::Publish(pkid)` events in submission order (its request channel is FIFO).
//! That order holds only within one network connection; so a session never reconnects:
//! when the connection fails every waiting publish fails, the session closes, and the next
//! delivery opens a fresh one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Packet as Packet5, PubAckReason, PubCompReason, PubRecReason};
use rumqttc::{Event, Outgoing, Packet};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::target::{BrokerKey, Qos, Version};
use crate::deliver::DeliveryError;

/// Publishes submitted and not yet settled, per connection; further senders wait.
pub const MAX_OUTSTANDING: u16 = 128;
/// A QoS 1/2 publish unacknowledged for this long means the connection is broken.
const STALL_AFTER: Duration = Duration::from_secs(120);
/// The broker only sends acknowledgements; their packets are small.
const MAX_INCOMING_PACKET: usize = 64 * 1024;

/// How connections behave; see `MqttSettings`.
#[derive(Clone)]
pub struct SessionConfig {
    pub keep_alive: Duration,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_packet: usize,
    /// `Some` for mqtts, `None` for plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Why a publish did not go out on this session.
pub enum PublishError {
    /// The session closed before the publish was submitted; the payload comes back so the
    /// caller can try a fresh session.
    Closed(Vec<u8>),
    Failed(DeliveryError),
}

enum Client {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// A live (or just closed) connection shared by every subscription notifying that broker.
pub struct Session {
    client: Client,
    permits: Arc<Semaphore>,
    book: Mutex<Book>,
}

struct Waiter {
    qos: Qos,
    since: Instant,
    reply: oneshot::Sender<Result<(), DeliveryError>>,
    _permit: OwnedSemaphorePermit,
}

struct Book {
    open: bool,
    last_used: Instant,
    idle_timeout: Duration,
    /// Submitted, not yet seen leaving, in submission order.
    queued: VecDeque<Waiter>,
    /// Sent with QoS 1/2, by packet id, until PUBACK (QoS 1) or PUBREC (QoS 2).
    inflight: HashMap<u16, Waiter>,
    /// QoS 2 publishes received by the broker, until PUBCOMP. rumqttc frees the packet id
    /// at PUBREC, so a new publish may already use it.
    releasing: HashMap<u16, Waiter>,
    /// Held back by rumqttc because its packet id was still in flight.
    collided: Option<(u16, Waiter)>,
}

/// What an event loop event means for the book, independent of the MQTT version.
enum Step {
    Sent(u16),
    HeldBack(u16),
    PubAck(u16, Result<(), String>),
    PubRec(u16, Result<(), String>),
    PubComp(u16, Result<(), String>),
    Disconnected,
    Other,
}

impl Session {
    /// Creates the client and spawns the task that drives its connection.
    /// A session with the broker of `key`, connecting to `host` (its name, or the address
    /// the outbound policy checked).
    pub fn open(
        key: &BrokerKey,
        host: &str,
        client_id: String,
        config: &SessionConfig,
    ) -> Arc<Self> {
        let book = Mutex::new(Book {
            open: true,
            last_used: Instant::now(),
            idle_timeout: config.idle_timeout,
            queued: VecDeque::new(),
            inflight: HashMap::new(),
            releasing: HashMap::new(),
            collided: None,
        });
        let permits = Arc::new(Semaphore::new(usize::from(MAX_OUTSTANDING)));
        // One extra slot so a DISCONNECT always fits.
        let capacity = usize::from(MAX_OUTSTANDING) + 1;
        let connect_secs = config.connect_timeout.as_secs().clamp(1, 60);
        let transport = match &config.tls {
            Some(tls) => {
                rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone()))
            }
            None => rumqttc::Transport::tcp(),
        };
        let mut network = rumqttc::NetworkOptions::new();
        network.set_connection_timeout(connect_secs);
        network.set_tcp_nodelay(true);
        match key.version {
            Version::V311 => {
                let mut options = rumqttc::MqttOptions::new(client_id, host, key.port);
                options
                    .set_keep_alive(config.keep_alive.max(Duration::from_secs(1)))
                    .set_clean_session(true)
                    .set_inflight(MAX_OUTSTANDING)
                    .set_max_packet_size(MAX_INCOMING_PACKET, config.max_packet)
                    .set_transport(transport);
                if let Some((user, pass)) = credentials(key) {
                    options.set_credentials(user, pass);
                }
                let (client, mut eventloop) = rumqttc::AsyncClient::new(options, capacity);
                eventloop.set_network_options(network);
                let session = Arc::new(Self {
                    client: Client::V311(client),
                    permits,
                    book,
                });
                tokio::spawn(drive_v311(eventloop, session.clone()));
                session
            }
            Version::V5 => {
                let mut options = rumqttc::v5::MqttOptions::new(client_id, host, key.port);
                options
                    .set_keep_alive(config.keep_alive.max(Duration::from_secs(5)))
                    .set_clean_start(true)
                    .set_connection_timeout(connect_secs)
                    .set_outgoing_inflight_upper_limit(MAX_OUTSTANDING)
                    .set_network_options(network)
                    .set_transport(transport);
                if let Some((user, pass)) = credentials(key) {
                    options.set_credentials(user, pass);
                }
                let (client, eventloop) = rumqttc::v5::AsyncClient::new(options, capacity);
                let session = Arc::new(Self {
                    client: Client::V5(client),
                    permits,
                    book,
                });
                tokio::spawn(drive_v5(eventloop, session.clone()));
                session
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.book().open
    }

    /// Stops taking publishes and disconnects once those already submitted are out.
    pub fn shut_down(&self) {
        let mut book = self.book();
        if book.open {
            book.open = false;
            self.try_disconnect();
        }
    }

    /// Publishes and waits, until `deadline`, for the acknowledgement the QoS calls for.
    pub async fn publish(
        &self,
        topic: &str,
        qos: Qos,
        payload: Vec<u8>,
        deadline: Instant,
    ) -> Result<(), PublishError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(PublishError::Closed(payload)),
                Err(_) => return Err(PublishError::Failed(DeliveryError::Timeout(timeout))),
            };
        let (reply, answer) = oneshot::channel();
        {
            let mut book = self.book();
            if !book.open {
                return Err(PublishError::Closed(payload));
            }
            // Submitted under the book's lock so the queue order is the channel order.
            self.try_publish(topic, qos, payload)
                .map_err(PublishError::Failed)?;
            book.queued.push_back(Waiter {
                qos,
                since: Instant::now(),
                reply,
                _permit: permit,
            });
            book.last_used = Instant::now();
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result.map_err(PublishError::Failed),
            Ok(Err(_)) => Err(PublishError::Failed(DeliveryError::Unreachable(
                "the MQTT connection closed".into(),
            ))),
            Err(_) => Err(PublishError::Failed(DeliveryError::Timeout(timeout))),
        }
    }

    fn try_publish(&self, topic: &str, qos: Qos, payload: Vec<u8>) -> Result<(), DeliveryError> {
        let sent = match &self.client {
            Client::V311(client) => client
                .try_publish(topic, qos_v311(qos), false, payload)
                .map_err(|e| e.to_string()),
            Client::V5(client) => client
                .try_publish(topic, qos_v5(qos), false, payload)
                .map_err(|e| e.to_string()),
        };
        sent.map_err(|e| DeliveryError::Unreachable(format!("MQTT client: {e}")))
    }

    fn try_disconnect(&self) -> bool {
        match &self.client {
            Client::V311(client) => client.try_disconnect().is_ok(),
            Client::V5(client) => client.try_disconnect().is_ok(),
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one event loop outcome; `false` ends the session's task.
    fn advance(&self, outcome: Result<Step, DeliveryError>) -> bool {
        let mut book = self.book();
        let step = match outcome {
            Ok(step) => step,
            Err(error) => {
                book.close(&error);
                return false;
            }
        };
        match step {
            Step::Sent(pkid) => book.sent(pkid),
            Step::HeldBack(pkid) => {
                if let Some(waiter) = book.queued.pop_front() {
                    book.collided = Some((pkid, waiter));
                }
            }
            Step::PubAck(pkid, result) => {
                if let Some(waiter) = book.inflight.remove(&pkid) {
                    waiter.settle(result);
                }
            }
            Step::PubRec(pkid, Ok(())) => {
                if let Some(waiter) = book.inflight.remove(&pkid) {
                    Book::track(&mut book.releasing, pkid, waiter);
                }
            }
            Step::PubRec(pkid, Err(why)) => {
                if let Some(waiter) = book.inflight.remove(&pkid) {
                    waiter.settle(Err(why));
                }
            }
            Step::PubComp(pkid, result) => {
                if let Some(waiter) = book.releasing.remove(&pkid) {
                    waiter.settle(result);
                }
            }
            Step::Disconnected => {
                book.close(&DeliveryError::Unreachable(
                    "the MQTT connection closed".into(),
                ));
                return false;
            }
            Step::Other => {}
        }
        if book.stalled() {
            book.close(&DeliveryError::Unreachable(
                "the MQTT broker stopped acknowledging publishes".into(),
            ));
            return false;
        }
        if book.open && book.is_idle() {
            // Close politely; the DISCONNECT going out ends the task.
            book.open = false;
            return self.try_disconnect();
        }
        true
    }
}

impl Waiter {
    fn settle(self, result: Result<(), String>) {
        let _ = self.reply.send(result.map_err(DeliveryError::Unreachable));
    }
}

impl Book {
    fn sent(&mut self, pkid: u16) {
        if let Some((held, _)) = &self.collided {
            if *held == pkid {
                if let Some((_, waiter)) = self.collided.take() {
                    Self::track(&mut self.inflight, pkid, waiter);
                }
                return;
            }
        }
        let Some(waiter) = self.queued.pop_front() else {
            return;
        };
        if waiter.qos == Qos::AtMostOnce {
            waiter.settle(Ok(()));
        } else {
            Self::track(&mut self.inflight, pkid, waiter);
        }
    }

    /// Files a waiter under its packet id; one still there lost its acknowledgement.
    fn track(map: &mut HashMap<u16, Waiter>, pkid: u16, waiter: Waiter) {
        if let Some(lost) = map.insert(pkid, waiter) {
            lost.settle(Err(format!(
                "packet id {pkid} was reused before the MQTT broker acknowledged it"
            )));
        }
    }

    fn is_idle(&self) -> bool {
        self.queued.is_empty()
            && self.inflight.is_empty()
            && self.releasing.is_empty()
            && self.collided.is_none()
            && self.last_used.elapsed() >= self.idle_timeout
    }

    fn stalled(&self) -> bool {
        let oldest = self
            .inflight
            .values()
            .chain(self.releasing.values())
            .chain(self.collided.as_ref().map(|(_, w)| w))
            .map(|w| w.since)
            .min();
        oldest.is_some_and(|since| since.elapsed() >= STALL_AFTER)
    }

    fn close(&mut self, error: &DeliveryError) {
        self.open = false;
        let waiters = self
            .queued
            .drain(..)
            .chain(self.inflight.drain().map(|(_, w)| w))
            .chain(self.releasing.drain().map(|(_, w)| w))
            .chain(self.collided.take().map(|(_, w)| w));
        for waiter in waiters {
            let _ = waiter.reply.send(Err(same_error(error)));
        }
    }
}

/// The one connection failure, told to each waiting publish.
fn same_error(error: &DeliveryError) -> DeliveryError {
    match error {
        DeliveryError::Status(code) => DeliveryError::Status(*code),
        DeliveryError::Timeout(d) => DeliveryError::Timeout(*d),
        DeliveryError::Unreachable(why) => DeliveryError::Unreachable(why.clone()),
        DeliveryError::BadEndpoint(why) => DeliveryError::BadEndpoint(why.clone()),
        DeliveryError::Withheld(why) => DeliveryError::Withheld(why.clone()),
    }
}

fn credentials(key: &BrokerKey) -> Option<(String, String)> {
    if key.username.is_none() && key.password.is_none() {
        return None;
    }
    Some((
        key.username.clone().unwrap_or_default(),
        key.password.clone().unwrap_or_default(),
    ))
}

fn qos_v311(qos: Qos) -> rumqttc::QoS {
    match qos {
        Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
        Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos_v5(qos: Qos) -> rumqttc::v5::mqttbytes::QoS {
    match qos {
        Qos::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        Qos::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        Qos::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn outgoing_step(outgoing: &Outgoing) -> Step {
    match outgoing {
        Outgoing::Publish(pkid) => Step::Sent(*pkid),
        Outgoing::AwaitAck(pkid) => Step::HeldBack(*pkid),
        Outgoing::Disconnect => Step::Disconnected,
        _ => Step::Other,
    }
}

async fn drive_v311(mut eventloop: rumqttc::EventLoop, session: Arc<Session>) {
    loop {
        let outcome = match eventloop.poll().await {
            Ok(Event::Outgoing(outgoing)) => Ok(outgoing_step(&outgoing)),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Ok(Step::PubAck(ack.pkid, Ok(()))),
            Ok(Event::Incoming(Packet::PubRec(rec))) => Ok(Step::PubRec(rec.pkid, Ok(()))),
            Ok(Event::Incoming(Packet::PubComp(comp))) => Ok(Step::PubComp(comp.pkid, Ok(()))),
            Ok(Event::Incoming(_)) => Ok(Step::Other),
            Err(rumqttc::ConnectionError::NetworkTimeout) => Err(connect_timeout(&eventloop)),
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                Err(DeliveryError::Unreachable(format!(
                    "the MQTT broker refused the connection: {code:?}"
                )))
            }
            Err(e) => Err(DeliveryError::Unreachable(format!("MQTT: {e}"))),
        };
        if !session.advance(outcome) {
            tracing::debug!(broker = ?eventloop.mqtt_options.broker_address(), "MQTT connection closed");
            return;
        }
    }
}

fn connect_timeout(eventloop: &rumqttc::EventLoop) -> DeliveryError {
    DeliveryError::Timeout(Duration::from_secs(
        eventloop.network_options().connection_timeout(),
    ))
}

async fn drive_v5(mut eventloop: rumqttc::v5::EventLoop, session: Arc<Session>) {
    use rumqttc::v5::{ConnectionError, Event as Event5};
    loop {
        let outcome = match eventloop.poll().await {
            Ok(Event5::Outgoing(outgoing)) => Ok(outgoing_step(&outgoing)),
            Ok(Event5::Incoming(Packet5::PubAck(ack))) => Ok(Step::PubAck(
                ack.pkid,
                match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(refused(reason)),
                },
            )),
            Ok(Event5::Incoming(Packet5::PubRec(rec))) => Ok(Step::PubRec(
                rec.pkid,
                match rec.reason {
                    PubRecReason::Success | PubRecReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(refused(reason)),
                },
            )),
            Ok(Event5::Incoming(Packet5::PubComp(comp))) => Ok(Step::PubComp(
                comp.pkid,
                match comp.reason {
                    PubCompReason::Success => Ok(()),
                    reason => Err(refused(reason)),
                },
            )),
            Ok(Event5::Incoming(_)) => Ok(Step::Other),
            Err(ConnectionError::Timeout(_)) => Err(DeliveryError::Timeout(Duration::from_secs(
                eventloop.options.connection_timeout(),
            ))),
            Err(ConnectionError::ConnectionRefused(code)) => Err(DeliveryError::Unreachable(
                format!("the MQTT broker refused the connection: {code:?}"),
            )),
            Err(e) => Err(DeliveryError::Unreachable(format!("MQTT: {e}"))),
        };
        if !session.advance(outcome) {
            tracing::debug!(broker = ?eventloop.options.broker_address(), "MQTT connection closed");
            return;
        }
    }
}

fn refused(reason: impl std::fmt::Debug) -> String {
    format!("the MQTT broker refused the publish: {reason:?}")
}
