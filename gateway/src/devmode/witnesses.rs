//! Dev mode's two witnesses, for the Hong Kong and the Mainland regulator: `loopgate witness`
//! servers run inside the gateway's process on loopback (ports the OS chooses), their keys
//! and state under `loopgate-dev/witnesses/`, their verifier keys in `loopgate-dev/witnesses.pub`
//! (one per line, beside `log.pub`). The gateway asks both, with `witness_quorum = 2`, so the
//! first receipt is already cosigned.

use std::path::Path;

use loopgate_audit::{VerifierKey, WitnessSigningKey, WitnessVerifierKey};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{DevError, create_new, io, private_folder};
use crate::config::WitnessTarget;
use crate::witness::{Bound, WitnessConfig, WitnessError, run_until};

/// The dev witnesses' names (their keys' names): the Hong Kong PCPD's and the Guangdong
/// Cyberspace Administration's.
pub const WITNESSES: [&str; 2] = ["witness.pcpd.hk.example", "witness.cac-gd.cn.example"];

/// The running dev witnesses.
#[derive(Debug)]
pub struct DevWitnesses {
    /// What the gateway's config gets as `[[witness]]`.
    pub targets: Vec<WitnessTarget>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), WitnessError>>>,
}

impl DevWitnesses {
    /// Stops them, letting their requests in flight finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts both witnesses of the log `origin` in the dev folder `dir` (keys made on first use),
/// on the current runtime, and writes `witnesses.pub`.
pub async fn start_witnesses(dir: &Path, origin: &str) -> Result<DevWitnesses, DevError> {
    let bad = |why: String| DevError::Witness(why);
    let folder = dir.join("witnesses");
    // Files (and the keys' fsyncs) on a blocking thread, not the runtime's.
    let (log_key, keys) = {
        let (dir, folder) = (dir.to_owned(), folder.clone());
        tokio::task::spawn_blocking(move || prepare(&dir, &folder))
            .await
            .map_err(|e| bad(format!("cannot prepare the dev witnesses: {e}")))??
    };
    let (stop, stopped) = watch::channel(false);
    let mut witnesses = DevWitnesses {
        targets: Vec::new(),
        stop,
        tasks: Vec::new(),
    };
    let mut verifiers = String::new();
    for (name, key) in WITNESSES.into_iter().zip(keys) {
        let config = WitnessConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            key,
            state_dir: folder.join(name),
            prefix: String::new(),
            tls: None,
            logs: vec![(origin.to_owned(), log_key.clone())],
        };
        let (tx, rx) = oneshot::channel::<Bound>();
        let mut stopped = stopped.clone();
        let task = tokio::spawn(run_until(
            config,
            move |bound| {
                let _ = tx.send(bound.clone());
            },
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        let bound = match rx.await {
            Ok(bound) => bound,
            Err(_) => {
                let why = match task.await {
                    Ok(Err(e)) => e.to_string(),
                    _ => "it stopped before listening".to_owned(),
                };
                witnesses.stop().await;
                return Err(bad(format!("the dev witness {name}: {why}")));
            }
        };
        witnesses.tasks.push(task);
        let target = bound
            .url()
            .parse()
            .ok()
            .zip(WitnessVerifierKey::parse(&bound.verifier).ok());
        let Some((url, key)) = target else {
            witnesses.stop().await;
            return Err(bad(format!("the dev witness {name} announced {bound:?}")));
        };
        verifiers.push_str(&format!("{}\n", bound.verifier));
        witnesses.targets.push(WitnessTarget {
            name: name.to_owned(),
            url,
            key,
            ca: None,
        });
    }
    let pub_file = dir.join("witnesses.pub");
    let written = tokio::task::spawn_blocking(move || {
        if pub_file.exists() {
            std::fs::write(&pub_file, &verifiers).map_err(io(&pub_file))
        } else {
            create_new(&pub_file, verifiers.as_bytes(), 0o644)
        }
    })
    .await
    .map_err(|e| bad(format!("cannot write witnesses.pub: {e}")))
    .and_then(|written| written);
    if let Err(e) = written {
        witnesses.stop().await;
        return Err(e);
    }
    Ok(witnesses)
}

/// The witnesses' folder (mode 0700), the log's verifier key and each witness's key (made on
/// first use). Blocking.
fn prepare(dir: &Path, folder: &Path) -> Result<(VerifierKey, Vec<WitnessSigningKey>), DevError> {
    let bad = |why: String| DevError::Witness(why);
    private_folder(folder)?;
    let log_pub = dir.join("log.pub");
    let log_key = std::fs::read_to_string(&log_pub).map_err(io(&log_pub))?;
    let log_key = VerifierKey::parse(&log_key).map_err(|e| bad(format!("log.pub: {e}")))?;
    let mut keys = Vec::new();
    for name in WITNESSES {
        let path = folder.join(format!("{name}.key"));
        if !path.exists() {
            WitnessSigningKey::generate(name)
                .and_then(|key| key.create_file(&path))
                .map_err(|e| bad(format!("cannot make {}: {e}", path.display())))?;
        }
        let key =
            WitnessSigningKey::load(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        keys.push(key);
    }
    Ok((log_key, keys))
}
