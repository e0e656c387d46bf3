//! Writing a byte stream as real clients do: cut at random places (mid-message too),
//! with pauses between the pieces, so that a proxy sees the client's messages and the
//! server's replies interleave differently on each run. Shared by the differential
//! tests, with their seed handling.
#![allow(dead_code)]

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use tokio::io::{AsyncWrite, AsyncWriteExt};

#[derive(Clone, Copy, Debug)]
pub enum Pause {
    None,
    Yield,
    Sleep(u64),
}

impl Pause {
    pub async fn wait(self) {
        match self {
            Pause::None => {}
            Pause::Yield => tokio::task::yield_now().await,
            Pause::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
}

/// `bytes` in up to `max_cuts + 1` pieces, each followed by a pause.
pub fn random_split(rng: &mut StdRng, bytes: &[u8], max_cuts: usize) -> Vec<(Vec<u8>, Pause)> {
    let mut cuts: Vec<usize> = if bytes.len() > 1 {
        (0..rng.gen_range(0..=max_cuts))
            .map(|_| rng.gen_range(1..bytes.len()))
            .collect()
    } else {
        Vec::new()
    };
    cuts.sort_unstable();
    cuts.dedup();
    cuts.push(bytes.len());
    let mut pieces = Vec::new();
    let mut from = 0;
    for to in cuts {
        let pause = match rng.gen_range(0..10) {
            0..=3 => Pause::None,
            4..=5 => Pause::Yield,
            _ => Pause::Sleep(rng.gen_range(1..=3)),
        };
        pieces.push((bytes[from..to].to_vec(), pause));
        from = to;
    }
    pieces
}

pub async fn write_pieces<W: AsyncWrite + Unpin>(
    w: &mut W,
    pieces: &[(Vec<u8>, Pause)],
) -> std::io::Result<()> {
    for (piece, pause) in pieces {
        w.write_all(piece).await?;
        pause.wait().await;
    }
    Ok(())
}

/// A number from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: impl FnOnce() -> T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(default)
}

/// The run's seed: `SLUICE_DIFF_SEED`, or a random one; printed so that a failure
/// replays.
pub fn seed(test: &str) -> u64 {
    let seed: u64 = env_or("SLUICE_DIFF_SEED", || rand::thread_rng().gen());
    eprintln!("{test} seed: {seed} (SLUICE_DIFF_SEED={seed} replays it)");
    seed
}
