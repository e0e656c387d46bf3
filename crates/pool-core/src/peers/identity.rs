//! Which replica gave out a key. The id sits in the high bits of the part of a key
//! the replica chooses (PostgreSQL's cancel secret, a MySQL connection id); the low
//! bits stay random or a counter, so keys stay unguessable and unique.

use rand::Rng;

/// Bits of a key that name the replica: up to 1024 replica ids, so that replicas that
/// pick theirs at random rarely collide (and a collision only costs a forward to two
/// peers instead of one).
pub const REPLICA_ID_BITS: u32 = 10;

/// One replica's id among its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplicaId(u16);

impl ReplicaId {
    pub const MAX: u16 = (1 << REPLICA_ID_BITS) - 1;

    pub fn new(id: u16) -> Option<Self> {
        (id <= Self::MAX).then_some(Self(id))
    }

    /// A random id that none of `taken` has.
    pub fn random_avoiding(taken: &[ReplicaId]) -> Self {
        let mut rng = rand::thread_rng();
        loop {
            let id = Self(rng.gen_range(0..=Self::MAX));
            if !taken.contains(&id) {
                return id;
            }
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// A 32-bit key with this id in its high bits and `low` (masked) below.
    pub fn embed(self, low: u32) -> u32 {
        (u32::from(self.0) << (32 - REPLICA_ID_BITS)) | (low & Self::low_mask())
    }

    /// The replica that made `key` with [`embed`](Self::embed).
    pub fn of(key: u32) -> Self {
        Self((key >> (32 - REPLICA_ID_BITS)) as u16)
    }

    /// The bits of a key below the id.
    pub fn low_mask() -> u32 {
        u32::MAX >> REPLICA_ID_BITS
    }
}

impl std::fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_survives_any_low_bits() {
        for id in [0, 1, 517, ReplicaId::MAX] {
            let r = ReplicaId::new(id).unwrap();
            for low in [0, 1, 0x3f_ffff, u32::MAX] {
                let key = r.embed(low);
                assert_eq!(ReplicaId::of(key), r);
                assert_eq!(key & ReplicaId::low_mask(), low & ReplicaId::low_mask());
            }
        }
        assert!(ReplicaId::new(ReplicaId::MAX + 1).is_none());
    }

    #[test]
    fn a_random_id_avoids_the_taken_ones() {
        let taken: Vec<_> = (0..ReplicaId::MAX).map(ReplicaId).collect();
        assert_eq!(ReplicaId::random_avoiding(&taken).get(), ReplicaId::MAX);
    }
}
