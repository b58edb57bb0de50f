//! The API listener's open connections: caps, the pool of pending TLS handshakes, and the
//! registry that revocation and the drain act on.
//!
//! Why caps, and why these: every connection holds a file descriptor, and the log, its sled
//! index and the upstream connections need descriptors too. A flood of plain TCP connections
//! that filled the descriptor table once made sled fail with EMFILE (read as a full disk) and
//! the gateway stop. So:
//!
//! - **API connections** are capped at the smaller of `[limits] max_connections` and what the
//!   descriptor limit (`RLIMIT_NOFILE`, read from `/proc/self/limits` at start) leaves after a
//!   reserve of [`RESERVED_DESCRIPTORS`], budgeting two descriptors per connection (its own
//!   and one upstream connection for the transfer on it);
//! - **connections still in the TLS handshake** (no certificate yet) are capped at `[limits]
//!   max_handshakes` (at most half the connection cap): when that pool is full, or every
//!   connection slot is taken, a new connection closes the *oldest* pending handshake. A
//!   certified client's handshake takes milliseconds, so a flood that never speaks TLS cannot
//!   lock it out; the handshake also has its own timeout (`handshake_timeout_secs`);
//! - **established connections of one principal** are capped at `[limits]
//!   max_connections_per_principal`: one over it is answered `429 quota.exceeded` and closed,
//!   and so is a connection whose certificate names no valid identity (its `401
//!   auth.bad_identity`), never kept idle.
//!
//! Each established connection is registered with its client certificate's serial and issuer,
//! so a reload with new CRLs closes the ones now revoked ([`Conns::revoke`]). The registry also
//! keeps the revoked set of the last reload, and a connection is checked against it when it is
//! established: one whose handshake began under the old acceptor (the old CRLs) and finished
//! after the reload's sweep is refused like the ones the sweep found, instead of slipping
//! through between the two. The set and the established connections are read and written under
//! one lock, so every connection meets one or the other.
//!
//! A pending handshake evicted for a newer connection is closed by its task as soon as it is
//! told; if its handshake completed meanwhile, [`Pending::establish`] refuses it (its slot was
//! given to the newer one), so the open count never exceeds the cap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot, watch};

use crate::config::Connections;
use crate::metrics::ConnectionMetrics;

/// Descriptors kept out of the API connections' budget: standard streams, the two listeners,
/// the ops listener's connections ([`OPS_MAX_CONNECTIONS`]), each runtime's epoll and wake-up
/// descriptors, the log's segment files and sled's files, regulator queries reading segments,
/// the demo upstream (dev mode), and headroom for connections being closed.
pub(crate) const RESERVED_DESCRIPTORS: usize = 128;

/// Most connections the ops listener serves at once (Prometheus and health probes need few).
pub(crate) const OPS_MAX_CONNECTIONS: usize = 16;

pub(crate) use crate::tls::CertId;

/// The caps in force, computed once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// API connections, pending or established.
    pub(crate) max: usize,
    /// Pending TLS handshakes.
    pub(crate) handshakes: usize,
    /// Established connections of one principal.
    pub(crate) per_principal: usize,
}

impl Caps {
    /// The caps for `config` under a descriptor limit of `nofile` (`None`: unlimited or
    /// unknown).
    pub(crate) fn new(config: &Connections, nofile: Option<u64>) -> Self {
        let by_descriptors = nofile.map_or(usize::MAX, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_sub(RESERVED_DESCRIPTORS)
                / 2
        });
        let max = config.max.min(by_descriptors).max(2);
        Self {
            max,
            handshakes: config.handshakes.min(max / 2).max(1),
            per_principal: config.per_principal,
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits`; `None` when unlimited
/// or unreadable.
pub(crate) fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_descriptor_limit(&limits)
}

fn parse_descriptor_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many refused TLS handshakes are logged per [`REFUSALS_EVERY`] (the rest are counted).
const REFUSALS_LOGGED: u64 = 10;
/// The window of [`REFUSALS_LOGGED`].
const REFUSALS_EVERY: Duration = Duration::from_secs(10);

/// Log lines for a condition that can repeat thousands of times a second: at most `burst` per
/// period, then one line that says how many were suppressed since.
#[derive(Debug)]
pub(crate) struct Throttled {
    every: Duration,
    burst: u64,
    window: Option<Instant>,
    written: u64,
    suppressed: u64,
}

impl Throttled {
    /// At most `burst` lines per `every`.
    pub(crate) fn new(every: Duration, burst: u64) -> Self {
        Self {
            every,
            burst: burst.max(1),
            window: None,
            written: 0,
            suppressed: 0,
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written now.
    pub(crate) fn hit(&mut self, now: Instant) -> Option<u64> {
        let current = self
            .window
            .filter(|start| now.saturating_duration_since(*start) < self.every);
        if current.is_none() {
            self.window = Some(now);
            self.written = 0;
        }
        if self.written >= self.burst {
            self.suppressed += 1;
            return None;
        }
        self.written += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Why a connection was refused or closed early (the `reason` label of
/// `loopgate_connections_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every API connection slot was taken by established connections.
    Limit,
    /// A pending handshake closed to admit a newer connection.
    HandshakeEvicted,
    /// The TLS handshake did not complete in time.
    HandshakeTimeout,
    /// The TLS handshake failed (no or a refused certificate, not TLS at all).
    HandshakeFailed,
    /// The principal already had its cap of connections: 429, closed.
    PerPrincipal,
    /// The certificate names no valid identity: 401, closed.
    BadIdentity,
    /// The ops listener had its cap of connections.
    OpsLimit,
}

impl Refused {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refused::Limit => "limit",
            Refused::HandshakeEvicted => "handshake_evicted",
            Refused::HandshakeTimeout => "handshake_timeout",
            Refused::HandshakeFailed => "handshake_failed",
            Refused::PerPrincipal => "per_principal",
            Refused::BadIdentity => "bad_identity",
            Refused::OpsLimit => "ops_limit",
        }
    }
}

/// What an established connection shares with the registry.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Its certificate, when it presented one that parses.
    cert: Option<CertId>,
    /// Set when a reload finds its certificate revoked.
    revoked: AtomicBool,
    /// Wakes the connection's task to close it gracefully.
    close: Notify,
}

impl Conn {
    /// Whether a reload found its certificate revoked.
    pub(crate) fn revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Asks the connection's task to close it once the requests in flight are answered.
    pub(crate) fn close(&self) {
        self.close.notify_one();
    }

    /// Resolves when [`Conn::close`] was called (also before this call).
    pub(crate) async fn closing(&self) {
        self.close.notified().await;
    }
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// Pending handshakes, oldest first, each with the sender that evicts it.
    pending: BTreeMap<u64, oneshot::Sender<()>>,
    established: HashMap<u64, Arc<Conn>>,
    per_principal: HashMap<String, usize>,
    /// The certificates the CRLs of the last reload list (empty before any reload: until
    /// then every handshake used the CRLs loaded at start).
    revoked: Arc<HashSet<CertId>>,
}

impl Inner {
    fn open(&self) -> usize {
        self.pending.len() + self.established.len()
    }
}

/// The API listener's connections.
#[derive(Debug)]
pub(crate) struct Conns {
    caps: Caps,
    inner: Mutex<Inner>,
    /// How many are open (pending and established), for the drain to wait on.
    open: watch::Sender<usize>,
    /// Set once the gateway stops: every connection closes gracefully.
    draining: watch::Sender<bool>,
    metrics: ConnectionMetrics,
    /// Refused TLS handshakes' lines.
    refusals: Mutex<Throttled>,
}

impl Conns {
    /// An empty registry with `caps`.
    pub(crate) fn new(caps: Caps, metrics: ConnectionMetrics) -> Arc<Self> {
        Arc::new(Self {
            caps,
            inner: Mutex::new(Inner::default()),
            open: watch::Sender::new(0),
            draining: watch::Sender::new(false),
            metrics,
            refusals: Mutex::new(Throttled::new(REFUSALS_EVERY, REFUSALS_LOGGED)),
        })
    }

    /// The caps in force.
    pub(crate) fn caps(&self) -> Caps {
        self.caps
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self, inner: &Inner) {
        let open = inner.open();
        self.open.send_replace(open);
        self.metrics.open("api", open);
    }

    /// Counts a connection refused or closed early.
    pub(crate) fn refused(&self, why: Refused) {
        self.metrics.refused(why.as_str());
    }

    /// Admits a connection that was just accepted, as a pending handshake: when the handshake
    /// pool is full, or every slot is taken, the oldest pending handshake is evicted for it.
    /// `None` when every slot is taken by established connections.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Pending> {
        let mut inner = self.lock();
        let full = inner.open() >= self.caps.max;
        if full || inner.pending.len() >= self.caps.handshakes {
            match inner.pending.pop_first() {
                Some((_, evict)) => {
                    let _ = evict.send(());
                    self.refused(Refused::HandshakeEvicted);
                }
                None => {
                    drop(inner);
                    self.refused(Refused::Limit);
                    return None;
                }
            }
        }
        let id = inner.next;
        inner.next += 1;
        let (evict, evicted) = oneshot::channel();
        inner.pending.insert(id, evict);
        self.changed(&inner);
        Some(Pending {
            conns: self.clone(),
            id,
            evicted: Some(evicted),
        })
    }

    /// Marks every established connection whose certificate is in `revoked` and asks it to
    /// close; returns how many were newly marked. Connections established later are checked
    /// against `revoked` too (their handshake may have used the CRLs before this reload).
    pub(crate) fn revoke(&self, revoked: &HashSet<CertId>) -> usize {
        let mut inner = self.lock();
        inner.revoked = Arc::new(revoked.clone());
        let mut count = 0;
        for conn in inner.established.values() {
            let hit = conn.cert.as_ref().is_some_and(|id| revoked.contains(id));
            if hit && !conn.revoked.swap(true, Ordering::AcqRel) {
                conn.close();
                count += 1;
            }
        }
        drop(inner);
        self.metrics.revoked(count as u64);
        count
    }

    /// A receiver that turns `true` once the gateway stops.
    pub(crate) fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    /// Tells every connection to close gracefully and waits up to `timeout` for them all to
    /// end; false when some are still open.
    pub(crate) async fn drain(&self, timeout: Duration) -> bool {
        self.draining.send_replace(true);
        let mut open = self.open.subscribe();
        tokio::time::timeout(timeout, open.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }

    /// How many API connections are open.
    pub(crate) fn open(&self) -> usize {
        self.lock().open()
    }
}

/// A connection in its TLS handshake; dropping it frees its slot.
#[derive(Debug)]
pub(crate) struct Pending {
    conns: Arc<Conns>,
    id: u64,
    evicted: Option<oneshot::Receiver<()>>,
}

impl Pending {
    /// Whether its refused handshake may be logged now (`Some(suppressed since the last)`);
    /// counts the refusal.
    pub(crate) fn log_refusal(&self) -> Option<u64> {
        self.conns.refused(Refused::HandshakeFailed);
        self.conns
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hit(Instant::now())
    }

    /// Resolves when a newer connection evicted this one.
    pub(crate) async fn evicted(&mut self) {
        match self.evicted.as_mut() {
            Some(evicted) => {
                let _ = evicted.await;
            }
            None => std::future::pending().await,
        }
    }

    /// The handshake completed: the connection is registered under `principal` (a valid
    /// identity) with its certificate `cert`. `over_cap` on the result says the principal
    /// already had its cap of connections; a certificate the last reload's CRLs list is marked
    /// revoked (refused, then closed). `None` when it was evicted for a newer connection
    /// meanwhile (its slot is taken): the caller closes it.
    pub(crate) fn establish(
        mut self,
        principal: Option<String>,
        cert: Option<CertId>,
    ) -> Option<Established> {
        let conns = self.conns.clone();
        let mut inner = conns.lock();
        self.evicted = None;
        inner.pending.remove(&self.id)?;
        let mut counted = None;
        let mut over_cap = false;
        if let Some(principal) = principal {
            let count = inner.per_principal.entry(principal.clone()).or_insert(0);
            if *count >= conns.caps.per_principal {
                over_cap = true;
            } else {
                *count += 1;
                counted = Some(principal);
            }
        }
        let revoked = cert.as_ref().is_some_and(|id| inner.revoked.contains(id));
        let conn = Arc::new(Conn {
            cert,
            revoked: AtomicBool::new(revoked),
            ..Conn::default()
        });
        inner.established.insert(self.id, conn.clone());
        conns.changed(&inner);
        drop(inner);
        if revoked {
            conns.metrics.revoked(1);
            conn.close();
        }
        Some(Established {
            conns,
            id: self.id,
            principal: counted,
            over_cap,
            conn,
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.evicted.is_none() {
            return;
        }
        let mut inner = self.conns.lock();
        if inner.pending.remove(&self.id).is_some() {
            self.conns.changed(&inner);
        }
    }
}

/// An established connection; dropping it unregisters it.
#[derive(Debug)]
pub(crate) struct Established {
    conns: Arc<Conns>,
    id: u64,
    /// The principal it counts against, unless it is over that principal's cap.
    principal: Option<String>,
    over_cap: bool,
    conn: Arc<Conn>,
}

impl Established {
    /// Whether its principal already had its cap of connections (429, then closed).
    pub(crate) fn over_cap(&self) -> bool {
        self.over_cap
    }

    /// What it shares with the registry.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Established {
    fn drop(&mut self) {
        let mut inner = self.conns.lock();
        inner.established.remove(&self.id);
        if let Some(principal) = &self.principal {
            if let Some(count) = inner.per_principal.get_mut(principal) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    inner.per_principal.remove(principal);
                }
            }
        }
        self.conns.changed(&inner);
    }
}

#[cfg(test)]
mod tests;
