//! systemd integration (`Type=notify`): `READY=1` once the listeners are bound, the log
//! recovered and the policy loaded; `RELOADING=1` (with `MONOTONIC_USEC`) and `READY=1` around
//! a SIGHUP reload; `STOPPING=1` at SIGTERM; and `WATCHDOG=1` every half `WatchdogSec` while
//! the accept loop and the log writer are alive (see `crate::liveness`). Without
//! `NOTIFY_SOCKET` every call does nothing.

use std::sync::Arc;
use std::time::Instant;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::state::AppState;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// Listeners bound, log recovered, policy loaded.
pub(super) fn ready() {
    notify(&[NotifyState::Ready]);
}

/// A reload begins.
pub(super) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the monotonic clock for RELOADING=1");
            notify(&[NotifyState::Reloading]);
        }
    }
}

/// SIGTERM: draining.
pub(super) fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// When systemd set a watchdog (`WATCHDOG_USEC`, for this process), pings it every half
/// period while [`crate::liveness::Liveness::check`] passes with that half period as the
/// limit (at least five accept-loop heartbeats); the first failed check is logged and the
/// pings stop until the gateway is alive again (systemd restarts it before that when the stall
/// outlasts `WatchdogSec`).
pub(super) fn watchdog(state: Arc<AppState>) -> Option<JoinHandle<()>> {
    let timeout = sd_notify::watchdog_enabled()?;
    let period = timeout / 2;
    tracing::info!(
        watchdog_ms = timeout.as_millis() as u64,
        "systemd watchdog enabled"
    );
    // A period shorter than a few accept-loop heartbeats would read an idle loop as stuck.
    let limit = period.max(super::accept::HEARTBEAT * 5);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stalled = false;
        loop {
            tick.tick().await;
            match state.liveness.check(Instant::now(), limit) {
                Ok(()) => {
                    if stalled {
                        tracing::info!("alive again; watchdog pings resume");
                        stalled = false;
                    }
                    notify(&[NotifyState::Watchdog]);
                }
                Err(why) => {
                    if !stalled {
                        tracing::error!(error = %why, "not alive; watchdog pings withheld");
                        stalled = true;
                    }
                }
            }
        }
    }))
}
