//! Counters per key that forget a key when its count returns to zero, so a table of per-source,
//! per-peer or per-project counts holds only keys with something counted.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug, Clone)]
pub struct Counts<K> {
    map: HashMap<K, usize>,
}

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Counts { map: HashMap::new() }
    }
}

impl<K: Hash + Eq> Counts<K> {
    /// The count of `key`; 0 for a key never counted or counted back to zero.
    pub fn get<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).copied().unwrap_or(0)
    }

    pub fn increment(&mut self, key: K) {
        *self.map.entry(key).or_default() += 1;
    }

    /// Counts `key` down, removing it at zero. A key not counted is left alone: a decrement
    /// without its increment is a caller's bug, and must not wrap a count around.
    pub fn decrement<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(n) = self.map.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.map.remove(key);
            }
        }
    }

    /// How many keys have a count above zero.
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// Every key with a count above zero, and its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, usize)> {
        self.map.iter().map(|(k, n)| (k, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_forgotten_when_counted_back_to_zero() {
        let mut c = Counts::default();
        c.increment("a");
        c.increment("a");
        c.increment("b");
        assert_eq!((c.get("a"), c.get("b"), c.keys()), (2, 1, 2));
        c.decrement("a");
        assert_eq!((c.get("a"), c.keys()), (1, 2));
        c.decrement("a");
        assert_eq!((c.get("a"), c.keys()), (0, 1));
    }

    #[test]
    fn decrementing_an_uncounted_key_changes_nothing() {
        let mut c = Counts::default();
        c.increment(1u8);
        c.decrement(&2);
        assert_eq!((c.get(&1), c.get(&2), c.keys()), (1, 0, 1));
    }

    #[test]
    fn string_keys_are_looked_up_by_str() {
        let mut c: Counts<String> = Counts::default();
        c.increment("p1".to_owned());
        assert_eq!(c.get("p1"), 1);
        c.decrement("p1");
        assert_eq!(c.keys(), 0);
    }
}
