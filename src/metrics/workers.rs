//! Parallel passes whose scratch memory is bounded by the thread count.
//!
//! rayon's `fold`, `map_init` and `for_each_init` make one accumulator per
//! split job, and a thread that waits for a stolen job may run other jobs
//! meanwhile, so how many accumulators are alive at once depends on the
//! scheduling. The memory budget needs a number it can count on: here at
//! most `rayon::current_num_threads()` workers each own one state, and they
//! take tasks from a shared counter in order (largest first when the caller
//! orders its tasks so), which keeps the load balanced like work stealing.
//! Callers whose result must not depend on which worker ran which task
//! combine the states with an order-free operation (integer sums, min/max,
//! top-k under a total order).

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Workers used for `tasks` tasks: the thread count, at most one per task.
pub fn worker_count(tasks: usize) -> usize {
    rayon::current_num_threads().max(1).min(tasks.max(1))
}

/// Run `work(state, task)` for every task in `0..tasks`, on at most
/// [`worker_count`] workers, each with its own `init()` state; returns the
/// states (one per worker that existed, in worker order).
pub fn run<S: Send>(
    tasks: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) + Sync,
) -> Vec<S> {
    let next = AtomicUsize::new(0);
    (0..worker_count(tasks))
        .into_par_iter()
        .map(|_| {
            let mut state = init();
            loop {
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= tasks {
                    break;
                }
                work(&mut state, t);
            }
            state
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_on_at_most_the_thread_count() {
        let states = run(1000, Vec::new, |s: &mut Vec<usize>, t| s.push(t));
        assert!(states.len() <= rayon::current_num_threads());
        let mut all: Vec<usize> = states.concat();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(run(0, || 0, |_, _| {}).len(), 1);
        assert_eq!(worker_count(1), 1);
    }
}
