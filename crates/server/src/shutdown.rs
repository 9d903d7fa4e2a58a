//! Graceful shutdown. On SIGTERM or SIGINT (or [`RunningServer::stop`]) the broker, within the
//! grace period: reports not-ready, stops accepting connections and lets in-flight requests
//! finish; delivers the notifications still queued (what the grace period cannot deliver is
//! counted as lost on its subscription, never dropped silently); saves the delivery counters;
//! closes the store, which empties the write-ahead log; and stops the admin server. A second
//! signal stops waiting for notifications.

use std::io;

use tokio::time::Instant;

use crate::RunningServer;

/// How the broker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Changes that were still queued for notification when the grace period ran out.
    pub undelivered: usize,
}

impl RunningServer {
    /// Runs until SIGTERM or SIGINT, then shuts down gracefully. Errors only if the API server
    /// failed on its own.
    pub async fn wait(mut self) -> io::Result<Stopped> {
        let signalled = tokio::select! {
            result = &mut self.api => {
                result.map_err(io::Error::other)??;
                false
            }
            signal = termination() => {
                tracing::info!(signal, grace_secs = self.grace.as_secs(), "shutting down");
                true
            }
        };
        Ok(self.shut_down(signalled).await)
    }

    /// Shuts down gracefully now (as on SIGTERM).
    pub async fn stop(self) -> Stopped {
        self.shut_down(true).await
    }

    async fn shut_down(self, api_running: bool) -> Stopped {
        let deadline = Instant::now() + self.grace;
        self.operations.health.start_draining();
        if api_running {
            // Stops accepting at once; waits for in-flight requests up to the grace period.
            self.api_handle.stop(true).await;
        }
        // No new messages; those not yet acknowledged stay with the MQTT brokers.
        self.ingestion.shutdown().await;
        let pending = self.subscriptions.pending();
        if pending > 0 {
            tracing::info!(pending, "delivering queued notifications before stopping");
        }
        let undelivered = tokio::select! {
            n = self.subscriptions.drain(deadline) => n,
            _ = termination() => {
                tracing::warn!("second signal: not waiting for queued notifications");
                self.subscriptions.drain(Instant::now()).await
            }
        };
        self.subscriptions.shutdown().await;
        crate::outbox::forget_once(&self.store, &self.subscriptions).await;
        self.registry.save_status().await;
        if let Err(e) = self.store.close().await {
            tracing::error!("closing the store failed: {e}");
        }
        self.admin_handle.stop(true).await;
        tracing::info!(undelivered, "stopped");
        Stopped { undelivered }
    }
}

/// Resolves on SIGTERM or SIGINT with the signal's name.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM/SIGINT; stop the broker with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
