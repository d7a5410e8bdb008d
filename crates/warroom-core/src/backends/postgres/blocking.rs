//! The blocking tree, from the graph that pg_blocking_pids gives.
//!
//! Roots block others while waiting on no one, sorted by impact: the number of distinct
//! sessions waiting behind them, directly or transitively. Each waiter appears once, under
//! the first root (in impact order) that reaches it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::PgSession;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockingNode {
    pub pid: i32,
    /// Distinct sessions waiting behind this one, directly or transitively.
    pub waiting_count: usize,
    pub children: Vec<BlockingNode>,
}

impl BlockingNode {
    /// Depth-first walk: (depth, node).
    pub fn walk(&self) -> Vec<(usize, &BlockingNode)> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, self)];
        while let Some((depth, node)) = stack.pop() {
            out.push((depth, node));
            for child in node.children.iter().rev() {
                stack.push((depth + 1, child));
            }
        }
        out
    }
}

/// Build the tree. Blockers that are not in `sessions` (other backend types, hidden
/// sessions) still appear as roots, so no waiter is ever lost. A pure wait cycle (a
/// deadlock the server has not broken yet) gets its lowest pid as root.
pub fn blocking_tree(sessions: &[PgSession]) -> Vec<BlockingNode> {
    // blocker -> direct waiters
    let mut waiters: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
    let mut waiting: BTreeSet<i32> = BTreeSet::new();
    for s in sessions {
        for &b in &s.blocked_by {
            if b != s.pid {
                waiters.entry(b).or_default().insert(s.pid);
                waiting.insert(s.pid);
            }
        }
    }
    if waiters.is_empty() {
        return Vec::new();
    }
    let reach = |root: i32| -> HashSet<i32> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([root]);
        while let Some(p) = queue.pop_front() {
            for &w in waiters.get(&p).into_iter().flatten() {
                if w != root && seen.insert(w) {
                    queue.push_back(w);
                }
            }
        }
        seen
    };
    let mut counts: HashMap<i32, usize> = HashMap::new();
    let mut count_of = |pid: i32| *counts.entry(pid).or_insert_with(|| reach(pid).len());

    let mut roots: Vec<i32> = waiters
        .keys()
        .copied()
        .filter(|b| !waiting.contains(b))
        .collect();
    roots.sort_by_key(|&r| (std::cmp::Reverse(count_of(r)), r));

    let mut placed: HashSet<i32> = HashSet::new();
    let mut out = Vec::new();
    for &r in &roots {
        placed.insert(r);
    }
    for r in roots {
        out.push(grow(r, &waiters, &mut placed, &mut count_of));
    }
    // Cycles: waiters never reached from a root.
    while let Some(&left) = waiting.iter().find(|p| !placed.contains(p)) {
        placed.insert(left);
        out.push(grow(left, &waiters, &mut placed, &mut count_of));
    }
    out
}

/// Breadth-first placement so a waiter sits under its nearest blocker in the tree.
fn grow(
    root: i32,
    waiters: &BTreeMap<i32, BTreeSet<i32>>,
    placed: &mut HashSet<i32>,
    count_of: &mut impl FnMut(i32) -> usize,
) -> BlockingNode {
    // Decide parents breadth-first, then build nodes bottom-up.
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(p) = queue.pop_front() {
        for &w in waiters.get(&p).into_iter().flatten() {
            if placed.insert(w) {
                parent_of.push((w, p));
                queue.push_back(w);
            }
        }
    }
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (child, parent) in &parent_of {
        children.entry(*parent).or_default().push(*child);
    }
    fn build(
        pid: i32,
        children: &HashMap<i32, Vec<i32>>,
        count_of: &mut impl FnMut(i32) -> usize,
    ) -> BlockingNode {
        let mut kids: Vec<BlockingNode> = children
            .get(&pid)
            .into_iter()
            .flatten()
            .map(|&c| build(c, children, count_of))
            .collect();
        kids.sort_by_key(|k| (std::cmp::Reverse(k.waiting_count), k.pid));
        BlockingNode {
            pid,
            waiting_count: count_of(pid),
            children: kids,
        }
    }
    build(root, &children, count_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pid: i32, blocked_by: &[i32]) -> PgSession {
        PgSession {
            pid,
            state: Some("active".into()),
            blocked_by: blocked_by.to_vec(),
            ..PgSession::default()
        }
    }

    #[test]
    fn no_waiters_no_tree() {
        assert!(blocking_tree(&[s(1, &[]), s(2, &[])]).is_empty());
    }

    #[test]
    fn chain_counts_transitive_waiters_for_the_root() {
        // 10 holds the lock; 11 and 12 wait on 10; 13 waits on 10 and holds a lock 14 wants.
        let sessions = [
            s(10, &[]),
            s(11, &[10]),
            s(12, &[10]),
            s(13, &[10]),
            s(14, &[13]),
        ];
        let tree = blocking_tree(&sessions);
        assert_eq!(tree.len(), 1);
        let root = &tree[0];
        assert_eq!((root.pid, root.waiting_count), (10, 4));
        let kids: Vec<(i32, usize)> = root
            .children
            .iter()
            .map(|c| (c.pid, c.waiting_count))
            .collect();
        assert_eq!(kids, vec![(13, 1), (11, 0), (12, 0)]);
        assert_eq!(root.children[0].children[0].pid, 14);
    }

    #[test]
    fn waiter_with_two_blockers_appears_once_and_roots_sort_by_impact() {
        // 1 blocks 3; 2 blocks 3, 4, 5. 3 waits on both.
        let sessions = [s(1, &[]), s(2, &[]), s(3, &[1, 2]), s(4, &[2]), s(5, &[2])];
        let tree = blocking_tree(&sessions);
        let roots: Vec<(i32, usize)> = tree.iter().map(|r| (r.pid, r.waiting_count)).collect();
        assert_eq!(roots, vec![(2, 3), (1, 1)]);
        let all: Vec<i32> = tree
            .iter()
            .flat_map(|r| r.walk())
            .map(|(_, n)| n.pid)
            .collect();
        assert_eq!(all.iter().filter(|&&p| p == 3).count(), 1);
        assert_eq!(all.len(), 5);
    }

    #[test]
    fn blocker_outside_the_snapshot_is_still_a_root() {
        let tree = blocking_tree(&[s(7, &[99])]);
        assert_eq!(tree.len(), 1);
        assert_eq!((tree[0].pid, tree[0].waiting_count), (99, 1));
    }

    #[test]
    fn a_cycle_is_shown_not_lost() {
        let tree = blocking_tree(&[s(1, &[2]), s(2, &[1]), s(3, &[2])]);
        let all: BTreeSet<i32> = tree
            .iter()
            .flat_map(|r| r.walk())
            .map(|(_, n)| n.pid)
            .collect();
        assert_eq!(all, BTreeSet::from([1, 2, 3]));
    }
}
