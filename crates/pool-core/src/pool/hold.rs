//! Holding a client through a switchover instead of failing it. While a cluster has
//! no reachable primary (the old one stopped, the new one not yet promoted), a client
//! between transactions that asks for a server connection waits and tries again,
//! up to the cluster's `failover_timeout`, so a switchover that takes a second or two
//! costs it a pause rather than an error and its session. Errors that waiting cannot
//! cure (refused credentials, a missing database) are returned at once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::PoolError;

/// First pause between attempts; each next one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// A checkout's result, and how long the client was held for it (zero when the first
/// attempt answered).
pub struct Held<T, E> {
    pub result: Result<T, PoolError<E>>,
    pub held: Duration,
}

/// Runs `attempt` until it succeeds, fails with an error `unavailable` does not
/// accept, or `timeout` has passed since the first failure (then the last error is
/// returned). A zero `timeout` tries once.
pub async fn hold_while_unavailable<T, E, F, Fut>(
    timeout: Duration,
    mut attempt: F,
    unavailable: impl Fn(&E) -> bool,
) -> Held<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PoolError<E>>>,
{
    let mut first_failure: Option<Instant> = None;
    let mut pause = FIRST_PAUSE;
    loop {
        let result = attempt().await;
        let held = first_failure.map_or(Duration::ZERO, |t| t.elapsed());
        let retry = match &result {
            Err(PoolError::Connect(e)) => unavailable(e),
            _ => false,
        };
        if !retry {
            return Held { result, held };
        }
        let since = *first_failure.get_or_insert_with(Instant::now);
        let left = timeout.saturating_sub(since.elapsed());
        if left.is_zero() {
            return Held { result, held };
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, PartialEq)]
    enum Failure {
        Down,
        Refused,
    }

    #[tokio::test(start_paused = true)]
    async fn waits_out_an_outage_and_gives_up_after_the_timeout() {
        let calls = AtomicUsize::new(0);
        // Down for the first three attempts, then up.
        let held = hold_while_unavailable(
            Duration::from_secs(30),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(PoolError::Connect(Failure::Down))
                } else {
                    Ok(7)
                }
            },
            |e| *e == Failure::Down,
        )
        .await;
        assert_eq!(held.result.unwrap(), 7);
        assert_eq!(held.held, Duration::from_millis(25 + 50 + 100));

        let held = hold_while_unavailable(
            Duration::from_secs(2),
            || async { Err::<(), _>(PoolError::Connect(Failure::Down)) },
            |e| *e == Failure::Down,
        )
        .await;
        assert!(matches!(
            held.result,
            Err(PoolError::Connect(Failure::Down))
        ));
        assert_eq!(held.held, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_waiting_cannot_cure_return_at_once() {
        let calls = AtomicUsize::new(0);
        let held = hold_while_unavailable(
            Duration::from_secs(30),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(PoolError::Connect(Failure::Refused))
            },
            |e| *e == Failure::Down,
        )
        .await;
        assert!(matches!(
            held.result,
            Err(PoolError::Connect(Failure::Refused))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(held.held, Duration::ZERO);
    }
}
