//! thread-churn: four threads allocate and free with glibc malloc. Record it with `--record-tgid`.
//!
//! Each thread gets its own malloc arena (a 64 MiB reserved `[anon]` mapping of which only the used part is
//! read-write), allocates 16 blocks of 64 B to 32 KiB and 16 blocks of 16 to 64 KiB from it (heap growth by
//! mprotect) and one 256 KiB block
//! above the mmap threshold (its own mmap), writes every page it allocates, then frees the 256 KiB block and the
//! later half of the small blocks.
//! All threads wait on a barrier while the main thread stops the process: a group stop stops every thread.
//! In the trace, `clone3` creates the threads (`sys_exit_clone3` twice per thread); the TGID column tells them
//! from processes.
//!
//! Checkpoints:
//! 1. four threads with their blocks allocated: one arena VMA per thread (167 present pages each), 2 MiB `[anon]`
//!    stacks with guard pages, four 256 KiB mmaps (adjacent ones merge into one VMA), the written pages present.
//! 2. after every thread freed its later 16 blocks (the free chunk at the top of the arena exceeds the trim
//!    threshold, so glibc gives the pages back with one MADV_DONTNEED per arena: 167 -> 51 present pages, same
//!    VMA) and its 256 KiB block (munmap: its VMA is gone).
//! 3. after the threads were joined: the kept blocks are freed into the arenas (no change), glibc MADV_DONTNEEDs
//!    each exiting thread's stack except its top pages, the stacks stay mapped (glibc caches up to 40 MiB of
//!    stacks), and each thread's signal stack (a guard page and three pages) is unmapped.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;

use mmdb_workloads::{ckpt, say, set_name, PG};

/// Allocates a block of `size` bytes and writes one byte in each of its pages.
fn block(size: usize, value: u8) -> Vec<u8> {
    let mut v = vec![0u8; size];
    for i in (0..size).step_by(PG) {
        v[i] = value;
    }
    black_box(v)
}

fn main() {
    set_name("thread-churn");
    const THREADS: usize = 4;
    let allocated = Arc::new(Barrier::new(THREADS + 1));
    let resume = Arc::new(Barrier::new(THREADS + 1));
    let freed = Arc::new(Barrier::new(THREADS + 1));
    let finish = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (allocated, resume, freed, finish) =
                (Arc::clone(&allocated), Arc::clone(&resume), Arc::clone(&freed), Arc::clone(&finish));
            thread::spawn(move || {
                // Allocated first, so the list itself sits below the blocks and does not pin the top of the arena.
                let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(33);
                for i in 0..32 {
                    // Blocks 0-15: 64 B .. 32 KiB; blocks 16-31: 16, 32 or 64 KiB, too large for the tcache, so
                    // freeing them merges them into the top chunk.
                    let size = if i < 16 { 64 << (i % 10) } else { 16 << (10 + i % 3) };
                    blocks.push(block(size, (t * 32 + i) as u8));
                }
                blocks.push(block(256 << 10, 0xee)); // above the mmap threshold
                say!("thread {t}: {} blocks allocated", blocks.len());
                allocated.wait();
                resume.wait();
                // Free the later half of the small blocks, which sit at the top of the arena: the free top chunk
                // grows past the trim threshold (128 KiB) and glibc shrinks the heap. Then the 256 KiB block
                // (munmap), after: freeing an mmapped chunk raises the trim threshold to twice its size.
                let big = blocks.pop();
                blocks.truncate(16);
                drop(big);
                say!("thread {t}: freed the 256 KiB block and blocks 16-31, kept {}", blocks.len());
                freed.wait();
                finish.wait();
                black_box(blocks);
            })
        })
        .collect();
    allocated.wait();
    ckpt("1: every thread allocated its blocks");
    resume.wait();
    freed.wait();
    ckpt("2: every thread freed half of its blocks");
    finish.wait();
    for t in threads {
        t.join().expect("thread panicked");
    }
    ckpt("3: threads joined");
}
