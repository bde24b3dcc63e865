//! Splitting one column's work over the kernels' threads so that the
//! calling thread works too. The pool's threads sleep between calls, and on
//! small VMs waking one costs about as much as a 1M-element pass; with
//! rayon's own `par_iter` the caller would wait idle for that wake-up.
//! Here the caller starts on the first block at once and the pool's threads
//! take the next blocks from a shared counter as they wake. Which thread
//! computes a block never changes its result, and results come back in
//! block order, so reductions stay bit-identical whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
    rayon::in_place_scope(|scope| {
        for _ in 1..rayon::current_num_threads().min(blocks) {
            scope.spawn(|_| run());
        }
        run();
    });
    // The scope has joined every helper; a poisoned slot (a panicking
    // block, never expected) is left out rather than propagated.
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
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
