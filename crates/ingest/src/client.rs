//! One MQTT connection of the ingestion, MQTT 3.1.1 or 5.0 (rumqttc): a persistent session
//! (the broker keeps the subscriptions and the unacknowledged messages across a
//! disconnection or a crash of Rigel), manual acknowledgements, and the incoming messages
//! handed to the processing task over a bounded channel.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::broker_url::{BrokerUrl, Version};
use crate::rule::Qos;

/// How long the broker keeps an MQTT 5 session after a disconnection: a day, so that a
/// broker down for maintenance loses nothing.
const SESSION_EXPIRY_SECS: u32 = 24 * 3600;
/// The largest message accepted.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Unacknowledged QoS 1/2 messages the broker may send at once (MQTT 5 Receive Maximum).
const RECEIVE_MAXIMUM: u16 = 4096;
/// Reconnection back-off: from one second, doubling up to 30.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// A received message and what acknowledges it.
pub(crate) struct Incoming {
    pub topic: String,
    pub payload: Bytes,
    pub ack: Ack,
}

/// What acknowledges a message to the broker (nothing for QoS 0).
pub(crate) enum Ack {
    V311(rumqttc::Publish),
    V5(rumqttc::v5::mqttbytes::v5::Publish),
}

/// What the connection reports besides messages.
pub(crate) enum Event {
    Message(Box<Incoming>),
    /// Connected (again): subscriptions must be (re)made.
    Connected,
    /// The connection failed; rumqttc reconnects on the next poll.
    Failed(String),
}

/// Where and how to connect.
pub(crate) struct ConnectOptions {
    pub url: BrokerUrl,
    /// The address to connect to (checked by the egress policy), or the name for TLS.
    pub host: String,
    pub client_id: String,
    pub keep_alive: Duration,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Clone)]
pub(crate) enum Client {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

fn qos_v311(q: Qos) -> rumqttc::QoS {
    match q {
        Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
        Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos_v5(q: Qos) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        Qos::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        Qos::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        Qos::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

impl Client {
    pub(crate) async fn subscribe(&self, filter: &str, qos: Qos) -> Result<(), String> {
        match self {
            Self::V311(c) => c
                .subscribe(filter, qos_v311(qos))
                .await
                .map_err(|e| e.to_string()),
            Self::V5(c) => c
                .subscribe(filter, qos_v5(qos))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub(crate) async fn ack(&self, ack: &Ack) -> Result<(), String> {
        match (self, ack) {
            (Self::V311(c), Ack::V311(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            (Self::V5(c), Ack::V5(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            _ => Err("an acknowledgement for another protocol version".into()),
        }
    }

    /// Publishes at QoS 1, not waiting for the broker's acknowledgement.
    pub(crate) async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Self::V311(c) => c
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .map_err(|e| e.to_string()),
            Self::V5(c) => c
                .publish(
                    topic,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

impl Client {
    pub(crate) async fn unsubscribe(&self, filter: &str) -> Result<(), String> {
        match self {
            Self::V311(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
            Self::V5(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
        }
    }

    /// Ends the connection with a DISCONNECT; the session (subscriptions, messages not
    /// acknowledged) stays with the MQTT broker.
    pub(crate) async fn disconnect(&self) {
        let sent = match self {
            Self::V311(c) => c.disconnect().await.map_err(|e| e.to_string()),
            Self::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "ingestion: disconnect not sent");
        }
    }
}

/// Hands an event to the processing task; after a failure waits `pause` (doubling it up
/// to [`LONGEST_PAUSE`]), after a connection starts it again from [`FIRST_PAUSE`]. False
/// once the processing task is gone.
async fn forward(events: &mpsc::Sender<Event>, event: Event, pause: &mut Duration) -> bool {
    let failed = matches!(event, Event::Failed(_));
    if matches!(event, Event::Connected) {
        *pause = FIRST_PAUSE;
    }
    if events.send(event).await.is_err() {
        return false;
    }
    if failed {
        tokio::time::sleep(*pause).await;
        *pause = (*pause * 2).min(LONGEST_PAUSE);
    }
    true
}

/// Opens the connection (lazily: the first poll connects) and starts the task that polls
/// it, which sends what happens to `events` and ends when `events` is closed or the client
/// disconnects.
pub(crate) fn connect(options: ConnectOptions, events: mpsc::Sender<Event>) -> Client {
    let transport = match &options.tls {
        Some(tls) if options.url.authority.tls => {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone()))
        }
        _ => rumqttc::Transport::tcp(),
    };
    let credentials = options.url.authority.username.clone().map(|u| {
        (
            u,
            options.url.authority.password.clone().unwrap_or_default(),
        )
    });
    let mut network = rumqttc::NetworkOptions::new();
    network.set_connection_timeout(10);
    network.set_tcp_nodelay(true);
    let capacity = 4096;
    match options.url.version {
        Version::V311 => {
            let mut o = rumqttc::MqttOptions::new(
                &options.client_id,
                &options.host,
                options.url.authority.port,
            );
            o.set_keep_alive(options.keep_alive.max(Duration::from_secs(1)))
                .set_clean_session(false)
                .set_manual_acks(true)
                .set_max_packet_size(MAX_MESSAGE_BYTES + 1024, MAX_MESSAGE_BYTES + 1024)
                .set_transport(transport);
            if let Some((u, p)) = credentials {
                o.set_credentials(u, p);
            }
            let (client, mut eventloop) = rumqttc::AsyncClient::new(o, capacity);
            eventloop.set_network_options(network);
            tokio::spawn(async move {
                let mut pause = FIRST_PAUSE;
                loop {
                    let event = match eventloop.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                            Event::Message(Box::new(Incoming {
                                topic: p.topic.clone(),
                                payload: p.payload.clone(),
                                ack: Ack::V311(p),
                            }))
                        }
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                            Event::Connected
                        }
                        Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                        Ok(_) => continue,
                        Err(e) => Event::Failed(e.to_string()),
                    };
                    if !forward(&events, event, &mut pause).await {
                        return;
                    }
                }
            });
            Client::V311(client)
        }
        Version::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(
                &options.client_id,
                &options.host,
                options.url.authority.port,
            );
            o.set_keep_alive(options.keep_alive.max(Duration::from_secs(5)))
                .set_clean_start(false)
                .set_session_expiry_interval(Some(SESSION_EXPIRY_SECS))
                .set_manual_acks(true)
                .set_receive_maximum(Some(RECEIVE_MAXIMUM))
                .set_max_packet_size(Some((MAX_MESSAGE_BYTES + 1024) as u32))
                .set_connection_timeout(10)
                .set_network_options(network)
                .set_transport(transport);
            if let Some((u, p)) = credentials {
                o.set_credentials(u, p);
            }
            let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(o, capacity);
            tokio::spawn(async move {
                use rumqttc::v5::mqttbytes::v5::Packet;
                let mut pause = FIRST_PAUSE;
                loop {
                    let event = match eventloop.poll().await {
                        Ok(rumqttc::v5::Event::Incoming(Packet::Publish(p))) => {
                            Event::Message(Box::new(Incoming {
                                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                                payload: p.payload.clone(),
                                ack: Ack::V5(p),
                            }))
                        }
                        Ok(rumqttc::v5::Event::Incoming(Packet::ConnAck(_))) => Event::Connected,
                        Ok(rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                        Ok(_) => continue,
                        Err(e) => Event::Failed(e.to_string()),
                    };
                    if !forward(&events, event, &mut pause).await {
                        return;
                    }
                }
            });
            Client::V5(client)
        }
    }
}
