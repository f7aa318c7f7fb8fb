//! The work queue's order: milestones that arrived while watching (a live
//! run's newest) before the startup backlog; within each class, runs take
//! turns (the run served least so far goes next) and each run's oldest step
//! goes first, so every run's curve fills in evenly from the left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: PathBuf,
    pub run: String,
    pub step: u64,
    /// Arrived after the startup scan.
    pub fresh: bool,
    /// Bytes its biggest layer needs (0: unknown).
    pub cost: u64,
}

#[derive(Debug, Default)]
pub struct Queue {
    items: Vec<Item>,
    served: HashMap<String, u64>,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Add (or replace) the item for `item.path`.
    pub fn push(&mut self, item: Item) {
        self.remove(&item.path);
        self.items.push(item);
    }

    pub fn remove(&mut self, path: &Path) -> bool {
        let before = self.items.len();
        self.items.retain(|i| i.path != path);
        self.items.len() != before
    }

    pub fn remove_run(&mut self, run: &str) {
        self.items.retain(|i| i.run != run);
        self.served.remove(run);
    }

    /// The next item to compute. Linear in the queue length, which is at
    /// most the number of milestone files.
    pub fn pop(&mut self) -> Option<Item> {
        self.pop_where(|_| true)
    }

    /// The next item among those `eligible` accepts, in the same order.
    pub fn pop_where(&mut self, eligible: impl Fn(&Item) -> bool) -> Option<Item> {
        let fresh = self.items.iter().filter(|i| eligible(i)).any(|i| i.fresh);
        let served = &self.served;
        let (idx, _) = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.fresh == fresh && eligible(i))
            .min_by(|(_, a), (_, b)| {
                let sa = served.get(&a.run).copied().unwrap_or(0);
                let sb = served.get(&b.run).copied().unwrap_or(0);
                (sa, &a.run, a.step, &a.path).cmp(&(sb, &b.run, b.step, &b.path))
            })?;
        let item = self.items.swap_remove(idx);
        *self.served.entry(item.run.clone()).or_default() += 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(run: &str, step: u64, fresh: bool) -> Item {
        Item {
            path: PathBuf::from(format!("{run}/{step}.npy")),
            run: run.into(),
            step,
            fresh,
            cost: step * 10,
        }
    }

    fn order(q: &mut Queue) -> Vec<(String, u64)> {
        std::iter::from_fn(|| q.pop().map(|i| (i.run, i.step))).collect()
    }

    #[test]
    fn runs_take_turns_oldest_step_first() {
        let mut q = Queue::default();
        for s in [30, 10, 20] {
            q.push(item("a", s, false));
        }
        for s in [20, 10] {
            q.push(item("b", s, false));
        }
        let got = order(&mut q);
        let want = [("a", 10), ("b", 10), ("a", 20), ("b", 20), ("a", 30)];
        assert_eq!(got, want.map(|(r, s)| (r.to_string(), s)));
    }

    #[test]
    fn a_lane_takes_only_what_it_may_in_the_same_order() {
        let mut q = Queue::default();
        q.push(item("big", 90, true));
        q.push(item("a", 2, false));
        q.push(item("b", 1, false));
        let small = |i: &Item| i.cost <= 50;
        assert_eq!(q.pop_where(small).map(|i| i.run), Some("a".into()));
        assert_eq!(q.pop_where(small).map(|i| i.run), Some("b".into()));
        assert_eq!(q.pop_where(small), None);
        assert_eq!(q.pop().map(|i| i.run), Some("big".into()));
    }

    #[test]
    fn a_new_milestone_jumps_the_backlog() {
        let mut q = Queue::default();
        for s in 0..5 {
            q.push(item("old", s, false));
        }
        assert_eq!(q.pop().unwrap().step, 0);
        q.push(item("live", 90, true));
        assert_eq!(q.pop().unwrap().run, "live");
        assert_eq!(q.pop().unwrap().run, "old");
        assert!(q.remove(Path::new("old/4.npy")));
        q.push(item("old", 2, false)); // replaced, not duplicated
        assert_eq!(q.len(), 2);
    }
}
