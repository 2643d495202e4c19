//! One tag listing per repository per `checkInterval`, shared by every instance that runs an
//! image of that repository: 500 instances of `ghcr.io/openclaw/openclaw` cost the registry one
//! request per interval, not 500. Each repository's next listing is pushed back by a jitter
//! derived from its name (up to a tenth of the interval), so that the repositories of a cluster,
//! all first looked at when the operator starts, do not come due at the same second again.
//!
//! Concurrent askers for one repository wait on the same listing (a per-repository async
//! lock); a failed listing is not cached, so the next reconcile asks again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

/// The jitter of `repository`: a stable fraction (0 to 1/10) of `interval`.
pub fn jitter(repository: &str, interval: Duration) -> Duration {
    let digest = Sha256::digest(repository.as_bytes());
    let fraction = f64::from(u16::from_be_bytes([digest[0], digest[1]])) / f64::from(u16::MAX);
    interval.mul_f64(fraction / 10.0)
}

/// Whether a listing made at `last` is stale at `now`.
pub fn due(last: Instant, now: Instant, interval: Duration, repository: &str) -> bool {
    now.saturating_duration_since(last) >= interval + jitter(repository, interval)
}

#[derive(Debug, Clone)]
struct Listing {
    at: Instant,
    tags: Arc<Vec<String>>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Listing>>>;

/// The shared listings.
#[derive(Debug, Default)]
pub struct TagLookups {
    slots: Mutex<HashMap<String, Slot>>,
    listings: AtomicU64,
}

impl TagLookups {
    /// The tags of `repository`: the shared listing while it is fresh, else a new one made by
    /// `list` (at most one at a time per repository).
    pub async fn tags<E, F, Fut>(
        &self,
        repository: &str,
        interval: Duration,
        list: F,
    ) -> Result<Arc<Vec<String>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<String>, E>>,
    {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(repository.to_owned()).or_default().clone()
        };
        let mut listing = slot.lock().await;
        if let Some(fresh) = listing
            .as_ref()
            .filter(|l| !due(l.at, Instant::now(), interval, repository))
        {
            return Ok(fresh.tags.clone());
        }
        self.listings.fetch_add(1, Ordering::Relaxed);
        let tags = Arc::new(list().await?);
        *listing = Some(Listing {
            at: Instant::now(),
            tags: tags.clone(),
        });
        Ok(tags)
    }

    /// Listings made so far (every repository).
    pub fn listings(&self) -> u64 {
        self.listings.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_is_stable_and_at_most_a_tenth() {
        let hour = Duration::from_secs(3600);
        let a = jitter("ghcr.io/openclaw/openclaw", hour);
        assert_eq!(a, jitter("ghcr.io/openclaw/openclaw", hour));
        assert!(a <= hour / 10);
        let spread: std::collections::BTreeSet<u128> = (0..50)
            .map(|i| jitter(&format!("registry/repo-{i}"), hour).as_millis())
            .collect();
        assert!(spread.len() > 40, "jitters collide: {spread:?}");
        let start = Instant::now();
        assert!(!due(start, start + hour, hour, "x") || jitter("x", hour).is_zero());
        assert!(due(start, start + hour + hour / 10, hour, "x"));
    }

    #[tokio::test]
    async fn two_hundred_instances_cost_one_listing_per_interval() {
        let lookups = Arc::new(TagLookups::default());
        let calls = Arc::new(AtomicU64::new(0));
        let interval = Duration::from_millis(300);
        let ask = |lookups: Arc<TagLookups>, calls: Arc<AtomicU64>| async move {
            lookups
                .tags("ghcr.io/openclaw/openclaw", interval, || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, std::convert::Infallible>(vec!["2026.9.6".to_owned()])
                })
                .await
        };
        let first: Vec<_> =
            futures::future::join_all((0..200).map(|_| ask(lookups.clone(), calls.clone()))).await;
        assert!(
            first
                .iter()
                .all(|r| r.as_ref().is_ok_and(|t| t[0] == "2026.9.6"))
        );
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        tokio::time::sleep(interval + interval / 10 + Duration::from_millis(10)).await;
        futures::future::join_all((0..200).map(|_| ask(lookups.clone(), calls.clone()))).await;
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(lookups.listings(), 2);
    }

    #[tokio::test]
    async fn a_failed_listing_is_asked_again() {
        let lookups = TagLookups::default();
        let interval = Duration::from_secs(3600);
        let failed = lookups
            .tags("r", interval, || async {
                Err::<Vec<String>, _>("registry down")
            })
            .await;
        assert!(failed.is_err());
        let tags = lookups
            .tags("r", interval, || async {
                Ok::<_, &str>(vec!["1".to_owned()])
            })
            .await;
        assert_eq!(tags.map(|t| t.len()), Ok(1));
    }
}
