//! Independent work on a few threads, results in the order of the work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` applied to every item on at most `jobs` threads, the results in the items' order.
/// Every item is attempted, whatever the others give. With one item or one job it all
/// runs on the caller's thread, so the common case starts no thread at all.
pub fn map<T: Sync, R: Send>(jobs: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = jobs.max(1).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    // A worker that panicked has made `scope` panic already: every slot is filled.
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item was mapped")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_for_any_jobs() {
        let items: Vec<u64> = (0..50).collect();
        for jobs in [0, 1, 2, 7, 100] {
            let out = map(jobs, &items, |&i| {
                // Later items finish first.
                std::thread::sleep(std::time::Duration::from_micros(50 * (50 - i)));
                i * i
            });
            assert_eq!(
                out,
                items.iter().map(|i| i * i).collect::<Vec<_>>(),
                "{jobs}"
            );
        }
        assert!(map(4, &[] as &[u8], |_| 1).is_empty());
    }

    #[test]
    fn work_runs_on_several_threads() {
        // Each item waits for the other to start: on one thread they could never meet.
        let started = AtomicUsize::new(0);
        let met = map(2, &[(), ()], |_| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            started.load(Ordering::SeqCst) == 2
        });
        assert_eq!(met, [true, true]);
    }
}
