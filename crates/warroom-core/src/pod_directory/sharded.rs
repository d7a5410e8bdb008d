//! A hash map split into shards behind `Arc`s: a clone shares every shard, and a change copies
//! only the shard it touches. The Pods pane hands a copy of the pod directory to the other
//! panes after every watch event; with one plain map that copy was the whole directory.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// 10,000 pods make shards of ~40 entries: a change copies those, a clone copies 256 `Arc`s.
const SHARDS: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct ShardedMap<K, V> {
    /// Always `SHARDS` long; a key's shard comes from a fixed hasher, so two maps with the
    /// same entries have them in the same shards (and compare equal shard by shard).
    shards: Vec<Arc<HashMap<K, V>>>,
    len: usize,
}

impl<K: Hash + Eq, V: PartialEq> PartialEq for ShardedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.shards == other.shards
    }
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ShardedMap<K, V> {
    fn shard(key: &K) -> usize {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % SHARDS as u64) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards[Self::shard(key)].get(key)
    }

    /// Copies the key's shard if a clone still shares it (only when the key is there).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let shard = &mut self.shards[Self::shard(key)];
        if !shard.contains_key(key) {
            return None;
        }
        Arc::make_mut(shard).get_mut(key)
    }

    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let shard = Arc::make_mut(&mut self.shards[Self::shard(&key)]);
        match shard.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.len += 1;
                e.insert(V::default())
            }
        }
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let old = Arc::make_mut(&mut self.shards[Self::shard(&key)]).insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let shard = &mut self.shards[Self::shard(key)];
        if !shard.contains_key(key) {
            return None;
        }
        let old = Arc::make_mut(shard).remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.shards.iter().flat_map(|s| s.keys())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|s| s.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_copies_one_shard_and_leaves_the_clone_as_it_was() {
        let mut m: ShardedMap<u32, String> = ShardedMap::default();
        for i in 0..1000 {
            m.insert(i, format!("v{i}"));
        }
        let held = m.clone();
        assert_eq!(m, held);
        *m.get_mut(&7).expect("7") = "changed".into();
        m.remove(&8);
        m.entry_or_default(5000).push('x');
        assert!(m.get_mut(&4242).is_none() && m.remove(&4242).is_none());

        assert_eq!(held.get(&7).map(String::as_str), Some("v7"));
        assert_eq!(held.get(&8).map(String::as_str), Some("v8"));
        assert!(held.get(&5000).is_none());
        assert_eq!((held.values().count(), m.values().count()), (1000, 1000));
        assert_eq!(m.get(&7).map(String::as_str), Some("changed"));
        assert_eq!(m.get(&5000).map(String::as_str), Some("x"));
        let shared = m
            .shards
            .iter()
            .zip(&held.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared >= SHARDS - 3,
            "only the touched shards are copied: {shared}"
        );
        m.remove(&5000);
        m.insert(8, "v8".into());
        m.insert(7, "v7".into());
        assert_eq!(m, held, "same entries, equal again");
        assert!(!m.is_empty() && ShardedMap::<u32, u32>::default().is_empty());
    }
}
