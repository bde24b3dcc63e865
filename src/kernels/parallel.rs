//! Splitting one column's work over the kernels' threads so that the
//! calling thread works too. The pool's threads sleep between calls, and on
//! small VMs waking one costs about as much as a 1M-element pass; with
//! rayon's own `par_iter` the caller would wait idle for that wake-up.
//! Here the caller starts on the first block at once and the pool's threads
//! take the next blocks from a shared counter as they wake. Which thread
//! computes a block never changes its result, and results come back in
//! block order, so reductions stay bit-identical whatever the thread count.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// `work(i)` for every `i < blocks`, in block order.
pub fn blocks<R: Send>(blocks: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let results: Vec<Mutex<Option<R>>> = (0..blocks).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let run = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = results.get(i) else { break };
        let value = work(i);
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(value);
        }
    };
    let helpers = rayon::current_num_threads().min(blocks).saturating_sub(1);
    if helpers == 0 {
        run();
    } else if rayon::current_thread_index().is_some() {
        // Called from a pool thread (a Polars task): the pool is awake, and
        // a scope lets the caller take part in its work while it waits.
        rayon::in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| run());
            }
            run();
        });
    } else {
        with_late_helpers(helpers, &run);
    }
    // Every helper has left; a poisoned slot (a panicking block, never
    // expected) is left out rather than propagated.
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

/// Runs `task` on the calling thread and on up to `helpers` pool threads,
/// without waiting for a helper that has not started: when the caller is
/// done, a helper still asleep is turned away at the door and only helpers
/// already inside are waited for (at most the one block each is computing).
/// `task` must stop by itself once there is no work left.
///
/// A scope would instead wait for every spawned helper to wake, which on a
/// small VM costs more than the caller computing everything alone.
fn with_late_helpers(helpers: usize, task: &(dyn Fn() + Sync)) {
    // SAFETY: only the lifetime is erased. The pointer is called only by a
    // helper that entered while the door was open, and `close` does not
    // return while such a helper is inside (see `Door`), so every call
    // happens before this function returns and `task` is still borrowed.
    let task: *const (dyn Fn() + Sync + 'static) = unsafe { std::mem::transmute(task) };
    let door = Arc::new(Door {
        open: AtomicBool::new(true),
        inside: AtomicUsize::new(0),
        task,
    });
    for _ in 0..helpers {
        let door = Arc::clone(&door);
        rayon::spawn(move || door.enter());
    }
    // If the caller's task unwinds (it never should), the guard still shuts
    // the door before `task` goes out of scope.
    let closer = CloseOnDrop(&door);
    // SAFETY: `task` is the live reference passed in.
    unsafe { (*door.task)() };
    drop(closer);
}

/// The meeting point of the caller and its helpers. Sequentially consistent
/// operations give one order to "a helper counts itself inside, then looks
/// at `open`" and "the caller shuts `open`, then reads `inside`": either the
/// helper sees the door shut and leaves without touching the task, or the
/// caller sees it inside and waits until it has left.
struct Door {
    open: AtomicBool,
    inside: AtomicUsize,
    task: *const (dyn Fn() + Sync + 'static),
}

// SAFETY: `task` points to a `Sync` closure, called only under the protocol
// above; the other fields are atomics.
unsafe impl Send for Door {}
unsafe impl Sync for Door {}

impl Door {
    fn enter(&self) {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let _leave = LeaveOnDrop(&self.inside);
        if self.open.load(Ordering::SeqCst) {
            // SAFETY: the door is open and we are counted inside, so the
            // caller is still waiting and the closure is alive.
            unsafe { (*self.task)() };
        }
    }

    fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        let mut spins = 0u32;
        while self.inside.load(Ordering::SeqCst) != 0 {
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

struct LeaveOnDrop<'a>(&'a AtomicUsize);

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct CloseOnDrop<'a>(&'a Door);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// `work(chunk)` for every chunk of `size` elements of `input`, in order.
pub fn map_chunks<I: Sync, R: Send>(
    input: &[I],
    size: usize,
    work: impl Fn(&[I]) -> R + Sync,
) -> Vec<R> {
    let chunks: Vec<&[I]> = input.chunks(size.max(1)).collect();
    blocks(chunks.len(), |i| {
        work(chunks.get(i).copied().unwrap_or(&[]))
    })
}

/// `work(input_chunk, output_chunk)` for matching chunks of `size` elements.
pub fn zip_chunks_mut<I: Sync, O: Send>(
    input: &[I],
    output: &mut [O],
    size: usize,
    work: impl Fn(&[I], &mut [O]) + Sync,
) {
    let size = size.max(1);
    let outputs: Vec<Mutex<&mut [O]>> = output.chunks_mut(size).map(Mutex::new).collect();
    let inputs: Vec<&[I]> = input.chunks(size).collect();
    blocks(outputs.len(), |i| {
        if let (Some(out), Some(inp)) = (outputs.get(i), inputs.get(i)) {
            if let Ok(mut out) = out.lock() {
                work(inp, &mut out);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_in_order_whatever_the_pool() {
        let expected: Vec<usize> = (0..100).map(|i| i * i).collect();
        assert_eq!(blocks(100, |i| i * i), expected);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(one.install(|| blocks(100, |i| i * i)), expected);
        assert!(blocks(0, |i| i).is_empty());
    }

    #[test]
    fn late_helpers_never_lose_or_reorder_a_block() {
        // Many short calls from outside the pool: helpers arrive before,
        // during and after the caller's work, and some are turned away.
        for round in 0..2_000usize {
            let n = 1 + round % 9;
            let expected: Vec<usize> = (0..n).map(|i| i * 31 + round).collect();
            assert_eq!(blocks(n, |i| i * 31 + round), expected);
        }
    }

    #[test]
    fn chunks_are_written_once_each() {
        let input: Vec<u32> = (0..1000).collect();
        let mut output = vec![0u32; 1000];
        zip_chunks_mut(&input, &mut output, 64, |i, o| {
            for (x, y) in i.iter().zip(o.iter_mut()) {
                *y = x * 2;
            }
        });
        assert!(output.iter().enumerate().all(|(i, &v)| v == 2 * i as u32));
    }
}
