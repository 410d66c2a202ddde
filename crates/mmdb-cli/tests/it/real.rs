//! The real recordings of `traces/real/` replay with verification; each verification report is a snapshot.
//!
//! A snapshot here is a claim about how far the model agrees with the real kernel on that recording (the figures
//! and the first disagreements with their causes), so a change that moves any figure shows up in review.

use std::process::Command;

/// `traces/real/`, relative to this file's directory (what `insta::glob!` resolves against).
const REAL: &str = "../../../../traces/real";
/// The repository's top-level `snapshots/`, relative to this file's directory.
const SNAPSHOTS: &str = "../../../../snapshots";

#[test]
fn every_real_recording_verifies_and_matches_its_snapshot() {
    insta::glob!(REAL, "*.{ftrace,xz,txt}", |path| {
        let name = format!("traces/real/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
        if name.ends_with(".lru.xz") || name.ends_with(".truth.xz") {
            return; // a perf recording's side files (the other tasks' LRU events, the markers), not a recording
        }
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut args = vec!["replay".to_string(), name.clone(), "--verify".to_string()];
        args.extend(side_files(root, &name));
        let out = Command::new(env!("CARGO_BIN_EXE_mmdb")).args(&args).current_dir(root).output().expect("runs mmdb");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // The verification part: divergences first, then the figures.
        let from = stdout.find("real trace:").expect("a real-trace report");
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb {}", args.join(" ")),
        }, {
            insta::assert_snapshot!("verify", &stdout[from..]);
        });
    });
}

/// The figures of each recording (from `--format json`), measured when the recordings were made: a change that
/// makes the model agree less with the real kernel fails here; raise them when it agrees more. The targets are
/// every `rss_stat` matched, 99% of pages and 95% of rollups; where a floor is below them, traces/real/README.md
/// says why. A rollup's LazyFree agrees when it lies in the model's range (stores through clean writable PTEs
/// raise no event); the last figure caps how many rollups agree on LazyFree only that way, so that a range grown
/// too wide shows here.
#[test]
fn real_recordings_keep_their_agreement_floors() {
    /// (file, rss_stat matched, of, pages agree, of, rollups agree, of, LazyFree within the range at most)
    type Floor = (&'static str, u64, u64, u64, u64, u64, u64, u64);
    const FLOORS: &[Floor] = &[
        ("dontneed-munmap.ftrace", 151, 151, 316, 316, 7, 7, 0),
        ("fork-cow.ftrace", 121, 121, 447, 447, 7, 7, 0),
        ("fork-tree.ftrace", 184, 184, 528, 528, 11, 11, 0),
        ("madv-free.ftrace", 142, 142, 376, 376, 4, 4, 2),
        ("zero-page.ftrace", 96, 96, 154, 154, 3, 3, 0),
        ("lazyfree-memcg.ftrace.xz", 3237, 3237, 3049, 3049, 2, 2, 0),
        ("thp-fork.ftrace.xz", 98, 98, 10911, 10911, 7, 7, 0),
        ("thread-churn.ftrace.xz", 1026, 1026, 1446, 1446, 3, 3, 0),
        ("fork-cow.perf.txt", 124, 124, 440, 440, 7, 7, 0),
        ("fork-tree.perf.txt", 180, 180, 528, 528, 11, 11, 0),
        ("madv-free.perf.txt", 147, 147, 376, 376, 4, 4, 2),
        ("pagecache-holes.ftrace", 89, 89, 96, 96, 3, 3, 0),
        ("pagecache-holes.perf.txt", 85, 85, 96, 96, 3, 3, 0),
        ("python-modules.ftrace.xz", 2416, 2416, 10089, 10117, 5, 5, 0),
        ("big-unmap.ftrace.xz", 20126, 20126, 20124, 20124, 4, 4, 0),
        ("perl-readahead.ftrace.xz", 2181, 2181, 2064, 2071, 1, 1, 0),
        ("awk-cow-retry.ftrace.xz", 107, 107, 236, 236, 4, 4, 0),
        ("sh-exec.ftrace", 269, 269, 0, 0, 0, 0, 0),
        ("pagecache-readin.ftrace.xz", 83, 83, 96, 96, 3, 3, 0),
        ("thread-churn-notgid.ftrace.xz", 1025, 1025, 1452, 1452, 3, 3, 0),
        ("git-log.ftrace.xz", 16448, 16448, 2780, 2780, 7, 7, 0),
        ("git-cold.ftrace.xz", 4391, 4391, 555, 555, 2, 2, 0),
        ("find-gconv.ftrace.xz", 197, 197, 121, 121, 1, 1, 0),
        ("perl-exec-readahead.ftrace.xz", 9344, 9344, 48373, 48373, 7, 7, 0),
        ("gcc-O2.ftrace.xz", 3794, 3813, 510, 510, 8, 8, 0),
        ("sh-pipeline.ftrace.xz", 986, 986, 1124, 1124, 12, 12, 0),
        ("sort-pipeline.ftrace.xz", 1773, 1773, 10410, 10425, 59, 59, 0),
        ("seq-wc.ftrace.xz", 266, 266, 0, 0, 0, 0, 0),
        ("sort-race.ftrace.xz", 1787, 1787, 6698, 6698, 37, 37, 0),
        ("find-xargs.ftrace.xz", 640, 640, 1942, 1942, 36, 36, 0),
        ("bash-loop.ftrace.xz", 4613, 4613, 2774, 2778, 67, 67, 0),
        ("bash-loop.perf.txt.xz", 3122, 3122, 1575, 1579, 30, 30, 0),
        ("shared-readaround.ftrace.xz", 2513, 2513, 3523, 3524, 2, 2, 0),
        ("java-version.ftrace.xz", 3064, 3064, 3050, 3057, 3, 3, 0),
    ];
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for &(file, rss, rss_total, pages, pages_total, rollups, rollups_total, lazyfree_within) in FLOORS {
        let name = format!("traces/real/{file}");
        let mut args = vec!["replay".to_string(), name.clone(), "--verify".into(), "--format".into(), "json".into()];
        args.extend(side_files(root, &name));
        let out = Command::new(env!("CARGO_BIN_EXE_mmdb")).args(&args).current_dir(root).output().expect("runs mmdb");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let v = &json["verify"];
        let n = |a: &str, b: &str| v[a][b].as_u64().unwrap_or_else(|| panic!("{file}: verify.{a}.{b}"));
        assert_eq!(
            (n("rss_stat", "total"), n("pages", "total"), n("rollups", "total")),
            (rss_total, pages_total, rollups_total),
            "{file}"
        );
        assert!(n("rss_stat", "matched") >= rss, "{file}: rss_stat matched {} < {rss}", n("rss_stat", "matched"));
        assert!(n("pages", "agree") >= pages, "{file}: pages agree {} < {pages}", n("pages", "agree"));
        assert!(n("rollups", "agree") >= rollups, "{file}: rollups agree {} < {rollups}", n("rollups", "agree"));
        let within = v["rollup_within"].as_array().expect("verify.rollup_within");
        let lazyfree = within.iter().find(|f| f[0] == "lazyfree_kb").map_or(0, |f| f[1].as_u64().unwrap_or(0));
        assert!(lazyfree <= lazyfree_within, "{file}: LazyFree within the range {lazyfree} > {lazyfree_within}");
    }
}

/// `traces/real/python-modules.ftrace.xz`: CPython `dlopen()`s its extension modules after exec, so the recorder
/// first measured their page cache at a checkpoint and backdated it to the exec stop (the `mmdb-pagecache` lines
/// before `mmdb-exec` of the files measured again after it). Without those lines the replay takes the modules'
/// uncached pages to be cached until the checkpoint, and fault-around maps them: MM_FILEPAGES runs high.
#[test]
fn page_cache_backdated_to_the_exec_stop_is_what_makes_python_agree() {
    let text = unxz("python-modules.ftrace.xz");
    let lines: Vec<&str> = text.lines().collect();
    let exec = lines.iter().position(|l| l.contains("tracing_mark_write: mmdb-exec ")).expect("mmdb-exec");
    let file = |l: &str| l.split_once(" ino=").map(|(_, r)| r.split(' ').next().unwrap_or("").to_string());
    let later: std::collections::BTreeSet<String> =
        lines[exec..].iter().filter(|l| l.contains("mmdb-pagecache")).filter_map(|l| file(l)).collect();
    let backdated =
        |i: usize, l: &str| i < exec && l.contains("mmdb-pagecache") && file(l).is_some_and(|f| later.contains(&f));
    let kept: String =
        lines.iter().enumerate().filter(|&(i, l)| !backdated(i, l)).map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(lines.len() - kept.lines().count(), 17, "the 17 backdated files");
    let json = replay_json(&super::test_dir("backdated"), "stripped.ftrace", &kept);
    let v = &json["verify"];
    let (matched, total) = (v["rss_stat"]["matched"].as_u64(), v["rss_stat"]["total"].as_u64());
    assert_eq!(total, Some(2416));
    assert!(matched < Some(2316), "without the backdated lines {matched:?} of 2416 match");
    let mismatches = json["rss_mismatches"].as_array().expect("rss_mismatches");
    assert!(mismatches.iter().all(|m| m["member"] == "MM_FILEPAGES" && m["model"].as_i64() > m["kernel"].as_i64()));
    assert!(v["rollups"]["agree"].as_u64() < Some(5));
}

/// `traces/real/big-unmap.ftrace.xz`: a munmap of 10000 pages steps its counters one page table at a time,
/// except where the mmu_gather filled (9678 pages: the step stops inside a table, the gathered pages are freed,
/// the zap goes on) and where `need_resched()` cut a step short (the `rss_stat` carries `N` in the irq-info
/// column). The gather's step is predicted; the cut-short one is compared as a range, and without its `N` the
/// model could not tell it from a whole table's step: every step after it would be off by one.
#[test]
fn unmap_steps_follow_the_mmu_gather_and_need_resched() {
    let text = unxz("big-unmap.ftrace.xz");
    let dir = super::test_dir("big-unmap");
    let verify = |name: &str, text: &str| {
        let r = rss_stat_of(&dir, name, text);
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        (n("matched"), n("total"), n("resched"))
    };
    // The munmap's steps: 9678 pages into the gather, a step of fewer than 512 pages, then the frees.
    let munmap = text.find("sys_munmap(addr: 0x7f0285b2c000").expect("the region's munmap");
    let frees = text[munmap..].find("mm_page_free:").expect("the flush") + munmap;
    let allocs = text[munmap..frees].matches("gfp_flags=GFP_NOWAIT").count();
    assert_eq!(allocs, 19, "tlb_next_batch() allocated MAX_GATHER_BATCH_COUNT batches");
    let next_step = text[frees..].find("rss_stat:").expect("the steps after the flush") + frees;
    assert_eq!(text[frees..next_step].matches("mm_page_free: ").count(), 9678, "the gather's pages freed");
    assert_eq!(verify("big-unmap.ftrace", &text), (20126, 20126, 1));
    // The step need_resched() cut short, without its mark.
    let cut = "[001] .N.1. 34289.716031: rss_stat:";
    assert_eq!(text.matches(cut).count(), 1);
    let (matched, total, resched) =
        verify("unmarked.ftrace", &text.replace(cut, "[001] ...1. 34289.716031: rss_stat:"));
    assert_eq!((total, resched), (20126, 0));
    assert!(matched + 10 < total, "without the mark the steps after it disagree: {matched} of {total}");
}

/// `traces/real/perl-readahead.ftrace.xz`: page 417 of `/usr/bin/perl` carries `PG_readahead`, which fault-around
/// skips; the recorder's probe wrote it in the exec stop's `mmdb-pagecache` line (`readahead=417`). Without it the
/// replay maps the page at the first fault-around over it, and MM_FILEPAGES runs one page high from there.
#[test]
fn readahead_mark_is_what_makes_perl_agree() {
    let text = unxz("perl-readahead.ftrace.xz");
    assert_eq!(text.matches(" readahead=").count(), 1);
    assert!(text.contains(" readahead=417\n"), "the mark on page 417 of the binary");
    let dir = super::test_dir("perl-readahead");
    let rss = |name: &str, text: &str| {
        let r = rss_stat_of(&dir, name, text);
        (r["matched"].as_u64().unwrap_or(0), r["total"].as_u64().unwrap_or(0))
    };
    assert_eq!(rss("marked.ftrace", &text), (2181, 2181));
    assert_eq!(rss("unmarked.ftrace", &text.replace(" readahead=417", "")), (2181 - 39, 2181));
}

/// `traces/real/awk-cow-retry.ftrace.xz`: exec's `padzero()` writes to the data segment of a binary whose page was
/// not cached. `do_cow_fault()` allocates the copy, `filemap_fault()` reads the page in (read-around adds pages to
/// the page cache and fills an lru_add batch), drops the mmap lock for the I/O and returns `VM_FAULT_RETRY`: the
/// copy and its page table are freed, and the fault starts over, allocating the same pfn again, with no second
/// `page_fault` record. All of that is one fault; cut at the first page-cache addition, the copy the kernel then
/// frees was already mapped in the model (a `free-mapped` divergence).
#[test]
fn a_cow_fault_that_reads_its_page_in_and_retries_is_one_fault() {
    let text = unxz("awk-cow-retry.ftrace.xz");
    // The fault, its copy (allocated twice) and the read in between.
    let fault = text.find("ip=elf_load error_code=0x2").expect("padzero()'s fault");
    let first = text[fault..].find(" order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP").expect("copy");
    let alloc = text[..fault + first].rsplit_once("mm_page_alloc: ").expect("the copy's record").1;
    let (page, pfn) = alloc.split_once(' ').expect("page=... pfn=...");
    let copy = format!("mm_page_alloc: {page} {pfn} order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP");
    let first = text[fault..].find(&copy).expect("the copy") + fault;
    let freed = text[first..].find(&format!("mm_page_free: {page} {pfn} order=0")).expect("freed") + first;
    assert!(text[first..freed].contains("mm_filemap_fault: ") && text[first..freed].contains("add_to_page_cache"));
    assert!(text[freed..].contains(&copy), "allocated again by the retry");
    let json = replay_json(&super::test_dir("awk-cow-retry"), "t.ftrace", &text);
    assert_eq!(json["verify"]["divergences"], 0, "{}", json["divergence_list"]);
    assert_eq!(json["verify"]["rss_stat"]["matched"], json["verify"]["rss_stat"]["total"]);
}

/// `traces/real/sh-exec.ftrace`: a shell runs `cat` and `ls`, each in a child made by `vfork()` (`task_newtask`
/// shows `CLONE_VM | CLONE_VFORK`) that executes the program. The child borrows the shell's mm until its exec, whose
/// records (the new stack's argument pages, `padzero()`'s faults, the binary read into the page cache) belong to
/// the new image and are held back until `sched_process_exec`. The recorder follows every descendant with ptrace
/// and stops each `execve`, so the children's new images have their layout (`mmdb-exec-vma`, `mmdb-exec`) and
/// their files' page cache too: every `rss_stat` matches. Without the children's layout lines their ELF mappings
/// are stand-ins with every page taken to be cached, and MM_FILEPAGES runs high.
#[test]
fn children_that_vfork_and_exec_get_their_own_mm_and_layout() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/real/sh-exec.ftrace"))
        .expect("the recording");
    assert_eq!(text.matches("task_newtask: pid=").count(), 2);
    assert_eq!(text.matches("clone_flags=4100 ").count(), 2, "CLONE_VM | CLONE_VFORK");
    assert_eq!(text.matches("sched_process_exec: ").count(), 3, "sh, then cat and ls in its children");
    assert_eq!(text.matches("tracing_mark_write: mmdb-exec pid=").count(), 3, "an exec stop for each");
    let dir = super::test_dir("sh-exec");
    let json = replay_json(&dir, "t.ftrace", &text);
    let v = &json["verify"];
    assert_eq!(v["divergences"], 0, "{}", json["divergence_list"]);
    assert_eq!((v["rss_stat"]["matched"].as_u64(), v["rss_stat"]["total"].as_u64()), (Some(269), Some(269)));
    let recorded = text.split_once("mmdb-record pid=").and_then(|(_, r)| r.split(' ').next()).expect("mmdb-record");
    let own = format!(" pid={recorded} ");
    let child_layout = |l: &&str| l.contains("tracing_mark_write: mmdb-exec") && !l.contains(&own);
    let without: String = text.lines().filter(|l| !child_layout(l)).map(|l| format!("{l}\n")).collect();
    assert_eq!(text.lines().filter(child_layout).count(), 29, "the children's layout lines");
    let v = replay_json(&dir, "without.ftrace", &without)["verify"].clone();
    let matched = v["rss_stat"]["matched"].as_u64().expect("matched");
    assert!(matched < 200, "without the children's layout {matched} of 269 match");
}

/// `traces/real/gcc-O2.ftrace.xz` was recorded before `mmdb record` wrote each device's readahead window
/// (`mmdb-bdi`), on a disk whose `read_ahead_kb` was 8192 (traces/real/README.md). With that line the recorder now
/// writes, `cc1`'s synchronous read-arounds put their `PG_readahead` mark `ra_pages * 3 / 4` into each window, where
/// fault-around then skips it, and every `rss_stat` matches; without it, 19 do not.
#[test]
fn the_devices_readahead_window_places_read_around_marks() {
    let text = unxz("gcc-O2.ftrace.xz");
    assert!(!text.contains("mmdb-bdi "), "recorded without the readahead window");
    let record = text.lines().find(|l| l.contains("tracing_mark_write: mmdb-record ")).expect("mmdb-record");
    let bdi = record.split_once("mmdb-record ").map(|(head, _)| format!("{head}mmdb-bdi dev=254:0 read_ahead_kb=8192"));
    let with: String = text
        .lines()
        .flat_map(|l| std::iter::once(l.to_string()).chain(bdi.clone().filter(|_| l == record)))
        .map(|l| l + "\n")
        .collect();
    let dir = super::test_dir("gcc-bdi");
    let rss = |name: &str, text: &str| {
        let v = replay_json(&dir, name, text)["verify"]["rss_stat"].clone();
        (v["matched"].as_u64().expect("matched"), v["total"].as_u64().expect("total"))
    };
    assert_eq!(rss("with.ftrace", &with), (3813, 3813));
    assert_eq!(rss("without.ftrace", &text), (3794, 3813));
}

/// `traces/real/sh-pipeline.ftrace.xz`: a shell pipeline whose children fork and execute, two at once on one CPU.
/// - An mm_struct freed by exec comes back from the slab, with the same hashed `mm_id`, for the shell's next fork:
///   the 24 `rss_stat`s of that fork's copy must not be compared with the executed child's counters.
/// - The exec is applied at `sched_process_exec` with its teardown's frees (held since `sys_enter_execve`), not at
///   the exec stop: tasks that run in between reuse those page frames (20 `pfn-in-use` warnings otherwise).
/// - Another task's frees are held with an exec in flight only when they free pages of its old image: the
///   replayed records of one `sort`'s exec are not held for the other's (13 `free-mapped` divergences otherwise).
/// - The frees of a write fault's batch drain (`wp_can_reuse_anon_folio()`) do not end the fault (line 875).
#[test]
fn a_shell_pipelines_execs_release_their_old_images_where_the_kernel_did() {
    let (_, json) = replay_recording("sh-pipeline.ftrace.xz");
    assert_eq!(agreement(&json), ([986, 986], [1124, 1124], [12, 12], 0), "{}", json["divergence_list"]);
    assert_eq!(pfn_in_use(&json), 0, "the trace's allocations found their page frames free");
}

/// `traces/real/sort-pipeline.ftrace.xz`: the same pipeline on both CPUs, while a build ran: four children
/// execute within a millisecond, three of them on one CPU, and each exec's records are held back until its exec
/// stop. Three rules keep the replay in the kernel's order. A record replayed late with another exec (`tail`'s
/// batch drain before its own `execve`) is not `tail`'s exec's: it used to end that exec there, without its
/// layout, and `tail`'s stack and image were stand-ins (MM_FILEPAGES 5 pages low, 15 rollups off). And a
/// record of another task on a CPU ends the fault pending there even when it is held with an exec: the shell's
/// write fault (line 1485) used to wait until after `seq` had executed (line 1677), and found the page no longer
/// shared (a copy the model took for reuse: 3 divergences, 15 pages off). And a `sort`'s exec tore its old image
/// down (`exec_mmap()`) long before `sched_process_exec`, and `tail` reused a freed page frame in between: the
/// teardown's first free begins the exec (2 `pfn-in-use` warnings before).
#[test]
fn execs_in_flight_at_once_keep_the_order_of_the_records_they_hold() {
    let text = unxz("sort-pipeline.ftrace.xz");
    assert_eq!(text.matches(": sched_process_exec: ").count(), 5, "sh, seq, two sorts and tail");
    let dir = super::test_dir("sort-pipeline");
    let json = replay_json(&dir, "t.ftrace", &text);
    assert_eq!(agreement(&json), ([1773, 1773], [10410, 10425], [59, 59], 0), "{}", json["divergence_list"]);
    assert_eq!(pfn_in_use(&json), 0, "the trace's allocations found their page frames free");
    // The execs that began at their teardown took their names at `sched_process_exec` (`rename`).
    let out = repl_output(&dir, "t.ftrace", b"goto checkpoint 1\nps\nlist 2179\n");
    let comm = |pid: &str| out.lines().find(|l| l.split_whitespace().next() == Some(pid)).map(|l| l.to_string());
    for (pid, name) in [("1604", "sort"), ("1605", "sort"), ("1606", "tail")] {
        let row = comm(pid).unwrap_or_else(|| panic!("{pid} in ps: {out}"));
        assert_eq!(row.split_whitespace().nth(2), Some(name), "{row}");
    }
    assert!(out.contains("exec: filename=\"\"") && out.contains("rename: comm=tail"), "{out}");
}

/// `traces/real/sort-race.ftrace.xz`: the pipeline again, on an idle machine, where the children's execs and
/// faults overlap on both CPUs. Three more rules:
/// - `sort`'s `exit_mmap()` drains its CPU's batch, which holds other tasks' folios, and frees those whose last
///   reference it held: those moves and frees happen at once, not with the exec's held records (6 `free-mapped`
///   divergences when the page frames had been reused by the exec stop).
/// - The shell and `tail` (its child) write to one copy-on-write page at the same moment on two CPUs, and both
///   copy: the second applied finds the page held by the first's `folio_get()` (a `fault-alloc-missing`, a
///   `free-mapped`, a `pfn-in-use` and 10 pages off before).
/// - `sort`'s copy-on-write fault on its data segment waited for the page another `sort` was reading, and retried
///   (`VM_FAULT_RETRY`): the page table it freed is part of the fault (a `fault-alloc-extra` and 9 pages off).
#[test]
fn faults_racing_on_two_cpus_replay_as_the_kernel_ran_them() {
    let (dir, json) = replay_recording("sort-race.ftrace.xz");
    assert_eq!(agreement(&json), ([1787, 1787], [6698, 6698], [37, 37], 0), "{}", json["divergence_list"]);
    assert_eq!(pfn_in_use(&json), 0, "the trace's allocations found their page frames free");
    let out = repl_output(&dir, "t.ftrace", b"break folio_get\ncontinue\nlist 8\n");
    // tail's reference on the shared page while the shell's fault copies it, then both copies, then its put.
    for want in [
        "15853 [001] folio_get: pfn=0x4b5daa",
        "15845 [000] fault: addr=0x7f5b6e22c068 access=write pfn=0x1aefba",
        "15853 [001] fault: addr=0x7f5b6e22c068 access=write pfn=0x265965",
        "15853 [001] folio_put: pfn=0x4b5daa",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
}

/// `traces/real/find-xargs.ftrace.xz`: `find`'s exec tore its old mm down (line ~2550), and the shell's next fork
/// (line 2661, for `wc`) was given the freed mm_struct, so its copy's `rss_stat`s carry the mm_id `find`'s old mm
/// had, before `find`'s `sched_process_exec` (line 2736). The teardown's first free forgets that mm_id, so those
/// steps are the fork's copy, not `find`'s counters (12 of them failed to match before, 639/651).
#[test]
fn an_exec_gives_up_its_mm_id_at_its_teardown() {
    let (_, json) = replay_recording("find-xargs.ftrace.xz");
    assert_eq!(agreement(&json), ([640, 640], [1942, 1942], [36, 36], 0), "{}", json["verify"]["rss_stat"]);
}

/// `traces/real/bash-loop.ftrace.xz`: bash forks a subshell per iteration, then writes to its own data pages on
/// one CPU (copies: the child shares them) while the child writes to the same pages on the other. Bash's copy has
/// its allocation and nothing after it (a copy of an anonymous page changes no counter), so it stayed pending
/// until bash's next record, after the child's write: the child then copied the page the kernel let it reuse, and
/// bash reused the page the kernel had copied (three divergences each time, eight in all). A fault that comes on a
/// shared page now first applies the other tasks' pending copies of it.
#[test]
fn a_pending_copy_of_a_shared_page_comes_before_the_next_fault_on_it() {
    let (_, json) = replay_recording("bash-loop.ftrace.xz");
    assert_eq!(agreement(&json), ([4613, 4613], [2774, 2778], [67, 67], 0), "{}", json["divergence_list"]);
}

/// `traces/real/bash-loop.perf.txt.xz` (with `.truth.xz` and `.lru.xz`): the bash loop recorded with `--perf`.
/// Three things its text showed that the ftrace one did not: the shell and its child both copied one stack page
/// at once, the child's copy allocated first and put in place only after the shell's decision (so a pending copy
/// is applied before another task's fault only when that fault reused the page); a child's exec tore its old mm
/// down freeing nothing (every page shared with the shell), so the shell's writes right after found its pages its
/// own (the teardown's `rss_stat`s of the old mm begin the exec too); and an interrupt's frees of slab pages
/// inside a fault, which perf text cannot mark as an interrupt's, ended the fault before its fault-around (15
/// pages short in 11 `rss_stat`s).
#[test]
fn the_perf_recording_of_the_bash_loop_verifies_too() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let name = "traces/real/bash-loop.perf.txt.xz";
    let mut args = vec!["replay".to_string(), name.to_string(), "--verify".into(), "--format".into(), "json".into()];
    args.extend(side_files(root, name));
    assert_eq!(args.len(), 9, "both side files: {args:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_mmdb")).args(&args).current_dir(root).output().expect("runs mmdb");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(agreement(&json), ([3122, 3122], [1575, 1579], [30, 30], 0), "{}", json["divergence_list"]);
    assert_eq!(pfn_in_use(&json), 0);
}

/// `traces/real/shared-readaround.ftrace.xz` (`shared-readaround.py`): a file evicted, mapped shared (its
/// page-cache pages are ground truth), read in by a fault's read-around, then mapped by another fault's
/// fault-around. The pages the read-around added are in the frames its records name; the model used to give the
/// second fault's window frames of its own (31 pages off in pfn).
#[test]
fn pages_a_read_around_brought_in_keep_their_frames() {
    let text = unxz("shared-readaround.ftrace.xz");
    assert!(text.lines().next().is_some_and(|l| l.ends_with("/traces/real/shared-readaround.py")));
    let dir = super::test_dir("shared-readaround");
    let json = replay_json(&dir, "t.ftrace", &text);
    assert_eq!(agreement(&json), ([2513, 2513], [3523, 3524], [2, 2], 0), "{}", json["verify"]["first_pages"]);
}

/// `traces/real/java-version.ftrace.xz`: a JVM starting (a program the project had not seen). It maps its modules
/// file shared, whose pages a fault's read-around brings in (the frames the trace names, above), and reads its
/// cold `libjvm.so` with many faults: one waited for a page another read had in flight when the checkpoint's
/// SIGSTOP came, and went back to user space without mapping anything (`fault_signal_pending()`), to fault again
/// after the checkpoint. Applied, it mapped one page in the model; the retry then found the window mapped (248
/// `rss_stat`s and every rollup off before).
#[test]
fn a_fault_waiting_on_anothers_read_when_a_checkpoint_comes_maps_nothing() {
    let (_, json) = replay_recording("java-version.ftrace.xz");
    assert_eq!(agreement(&json), ([3064, 3064], [3050, 3057], [3, 3], 0), "{}", json["verify"]["rss_stat"]);
}

/// `traces/real/seq-wc.ftrace.xz`: `seq` and `wc` map locale files after their exec stops and exit before any
/// checkpoint. The recorder stops each `mmap()` of a file (a seccomp filter's `SECCOMP_RET_TRACE`) and measures
/// the file there, before the call runs: its `mmdb-pagecache` line comes right before the task's `sys_mmap` of
/// it (and again, backdated, at the exec stop). Without those lines the replay takes the files' pages to be
/// cached, and fault-around maps pages the kernel skipped (3 `rss_stat`s off).
#[test]
fn files_mapped_after_exec_are_measured_at_their_mmap() {
    let text = unxz("seq-wc.ftrace.xz");
    let lines: Vec<&str> = text.lines().collect();
    let ino = |l: &str| l.split_once(" ino=").and_then(|(_, r)| r.split(' ').next()).map(str::to_string);
    // Each file whose measurement a traced task's `mmap()` of a descriptor follows at once (on that task's line).
    let at_mmap: std::collections::BTreeSet<String> =
        super::measured_at_mmap(&lines).into_iter().filter_map(ino).collect();
    // LC_CTYPE and the other locale files, and the gconv cache.
    assert!(at_mmap.len() >= 12, "{at_mmap:?}");
    let dir = super::test_dir("seq-wc");
    let json = replay_json(&dir, "t.ftrace", &text);
    assert_eq!(agreement(&json), ([266, 266], [0, 0], [0, 0], 0), "{}", json["divergence_list"]);
    let without: String = lines
        .iter()
        .filter(|l| {
            !(l.contains("tracing_mark_write: mmdb-pagecache ") && ino(l).is_some_and(|i| at_mmap.contains(&i)))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let rss = replay_json(&dir, "without.ftrace", &without)["verify"]["rss_stat"]["matched"].as_u64();
    assert_eq!(rss, Some(263), "fault-around over files the replay takes to be cached");
}

/// `traces/real/thread-churn-notgid.ftrace.xz`: four threads made by `clone3()` (whose flags the syscall record
/// does not show) recorded without the TGID column. `task_newtask`'s `clone_flags` (`CLONE_VM | CLONE_THREAD`, ...)
/// tell they are threads; without those records they would be processes with copied mms, and almost nothing would
/// agree.
#[test]
fn task_newtask_tells_threads_without_the_tgid_column() {
    let text = unxz("thread-churn-notgid.ftrace.xz");
    assert!(!text.contains(") ["), "no TGID column");
    assert_eq!(text.matches("task_newtask: pid=").count(), 4);
    let dir = super::test_dir("notgid");
    let figures = |name: &str, text: &str| {
        let v = replay_json(&dir, name, text)["verify"].clone();
        (v["rss_stat"]["matched"].as_u64(), v["pages"]["agree"].as_u64(), v["rollups"]["agree"].as_u64())
    };
    assert_eq!(figures("t.ftrace", &text), (Some(1025), Some(1452), Some(3)));
    let without: String = text.lines().filter(|l| !l.contains("task_newtask: ")).map(|l| format!("{l}\n")).collect();
    let (rss, pages, rollups) = figures("without.ftrace", &without);
    assert!(rss < Some(200) && pages < Some(100) && rollups == Some(0), "{rss:?} {pages:?} {rollups:?}");
}

/// `traces/real/git-log.ftrace.xz`: git maps its object files for a moment, between checkpoints, so the recorder
/// never measures them; the pages the trace then shows added to their page cache were missing at the exec stop,
/// and the recorder wrote them there (`first=I pages=N cached=-`). Without those lines a fault-around over such a
/// file maps pages the kernel could not.
#[test]
fn pages_read_in_of_files_never_measured_are_missing_from_the_start() {
    let text = unxz("git-log.ftrace.xz");
    let missing = |l: &&str| l.contains("tracing_mark_write: mmdb-pagecache ") && l.ends_with(" cached=-");
    assert_eq!(text.lines().filter(missing).count(), 1663);
    let dir = super::test_dir("git-log");
    let figures = |name: &str, text: &str| {
        let v = replay_json(&dir, name, text)["verify"].clone();
        (v["rss_stat"]["matched"].as_u64(), v["divergences"].as_u64())
    };
    assert_eq!(figures("t.ftrace", &text), (Some(16448), Some(0)));
    let without: String = text.lines().filter(|l| !missing(l)).map(|l| format!("{l}\n")).collect();
    let (rss, divergences) = figures("without.ftrace", &without);
    assert!(rss < Some(16448) && divergences > Some(0), "{rss:?} {divergences:?}");
}

/// `traces/real/git-log.ftrace.xz` again, recorded while a build ran: a fault that reads its page in sleeps on the
/// I/O inside the fault, and other tasks run on its CPU meanwhile (the LRU events of `rustc` beside the trace);
/// the fault is not over until its retry's fault-around (`mm_filemap_map_pages`) maps the pages read in. Taken to
/// be over when the CPU ran someone else, it mapped only its own page: 34 MM_FILEPAGES `rss_stat`s a page or more
/// low. And a checkpoint's SIGSTOP came during the read of a fault whose fault-around had mapped nothing (its
/// `rss_stat` step of 0 pages): that fault maps nothing either (`fault_signal_pending()`), or rollup 2 is 4 kB
/// high in RssFile.
#[test]
fn a_fault_sleeping_on_its_read_is_not_over_when_others_run() {
    let text = unxz("git-log.ftrace.xz");
    let miss = text.find("git-24700   [001] ..... 41098.824912: mm_filemap_fault: ").expect("the miss");
    let retry =
        text[miss..].find("41098.828075: mm_filemap_map_pages: dev=254:0 ino=5140d3 ofs=0-8191").expect("retry");
    let others = text[miss..miss + retry].lines().filter(|l| l.trim_start().starts_with("rustc-")).count();
    let on_its_cpu = text[miss..miss + retry].lines().filter(|l| l.contains("rustc-24708   [001]")).count();
    assert!(others > 100 && on_its_cpu > 10, "{others} {on_its_cpu}");
    let stopped = text.find("41098.907857: mm_filemap_fault: dev=254:0 ino=54000b ofs=4096").expect("the stopped miss");
    let checkpoint = text.find("mmdb-checkpoint begin id=2").expect("checkpoint 2");
    let between = &text[stopped..checkpoint];
    let no_retry = !between.contains("mm_filemap_map_pages: ") && !between.contains("page_fault_user: ");
    assert!(stopped < checkpoint && no_retry, "the read, then the checkpoint");
    let around = text[..stopped].rsplit_once("page_fault_user: ").expect("its fault").1;
    assert!(around.contains("type=MM_FILEPAGES size=4415488B") && around.contains("mm_filemap_map_pages"), "{around}");
    let v = replay_json(&super::test_dir("git-log-sleep"), "t.ftrace", &text)["verify"].clone();
    assert_eq!((v["rss_stat"]["matched"].as_u64(), v["rollups"]["agree"].as_u64()), (Some(16448), Some(7)));
}

/// `traces/real/git-cold.ftrace.xz`: the first checkpoint's SIGSTOP came while git was faulting in a page of an
/// object file that was not cached. With a signal pending, the fault does not retry after the read
/// (`fault_signal_pending()`): git stops with the page unmapped, and faults on it again after the checkpoint. The
/// model must not map it at the checkpoint either, or RssFile is a page high there.
#[test]
fn a_fault_a_checkpoint_interrupts_maps_nothing() {
    let text = unxz("git-cold.ftrace.xz");
    let begin = text.find("mmdb-checkpoint begin id=1").expect("checkpoint 1");
    let end = text.find("mmdb-checkpoint end id=1").expect("checkpoint 1");
    // git's last fault before the checkpoint: a page-cache miss, without the retry.
    let before = text[..begin].rfind("page_fault_user: ").expect("the fault before");
    let fault = text[before..].lines().next().expect("its line");
    assert!(text[before..begin].contains("mm_filemap_fault: "), "a page-cache miss");
    assert!(!text[before..begin].contains("mm_filemap_map_pages: "), "no retry");
    assert!(text[end..].find(fault).is_some_and(|at| at < 2000), "the same fault again after the checkpoint");
    let v = replay_json(&super::test_dir("git-cold"), "t.ftrace", &text)["verify"].clone();
    assert_eq!((v["rollups"]["agree"].as_u64(), v["rollups"]["total"].as_u64()), (Some(2), Some(2)));
}

/// `traces/real/find-gconv.ftrace.xz`: glibc maps `gconv-modules.cache` shared (`r--s`), so its page-cache pages
/// are ground truth (`mmdb-page`), and other processes on the machine map them too. The recorder wrote where each
/// of the 7 pages was and its flags (`mmdb-pagecache-page`: active, `PG_mappedtodisk`), and how many mappings
/// the checkpoint's kpagecount counts outside the trace (`mmdb-outside`). Without the first the model's pages are
/// its own, without their pfns and flags; without the second their mapcount is the trace's alone.
#[test]
fn shared_file_pages_take_their_frame_and_count_mappings_outside_the_trace() {
    let text = unxz("find-gconv.ftrace.xz");
    let frames = |l: &&str| l.contains("tracing_mark_write: mmdb-pagecache-page ");
    let outside = |l: &&str| l.contains("tracing_mark_write: mmdb-outside ");
    assert_eq!((text.lines().filter(frames).count(), text.lines().filter(outside).count()), (14, 7));
    let dir = super::test_dir("find-gconv");
    let pages = |name: &str, text: &str| {
        let v = replay_json(&dir, name, text)["verify"].clone();
        (v["pages"]["agree"].as_u64(), v["pages"]["total"].as_u64(), v["pages"]["outside"].as_u64())
    };
    assert_eq!(pages("t.ftrace", &text), (Some(121), Some(121), Some(7)));
    let without = |drop: &dyn Fn(&&str) -> bool| -> String {
        text.lines().filter(|l| !drop(l)).map(|l| format!("{l}\n")).collect()
    };
    assert_eq!(pages("no-frames.ftrace", &without(&frames)), (Some(114), Some(121), Some(7)));
    assert_eq!(pages("no-outside.ftrace", &without(&outside)), (Some(114), Some(121), Some(0)));
}

/// `traces/real/perl-exec-readahead.ftrace.xz`: `/usr/bin/perl` evicted, so exec reads it in, and its readahead
/// marks page 417; the recorder measures the mark at the exec stop, after that read (`readahead=1,417`). The
/// exec's records are held back until then and replayed after the measurement: replayed as they were, page 417's
/// addition to the page cache took the mark away, and a later fault-around over it mapped a page the kernel's
/// skipped (37 MM_FILEPAGES `rss_stat`s and every rollup a page high).
#[test]
fn the_exec_stop_measurement_is_newer_than_the_execs_own_reads() {
    let text = unxz("perl-exec-readahead.ftrace.xz");
    let added = text.find("mm_filemap_add_to_page_cache: dev 254:0 ino 3c742 pfn=").expect("perl read in");
    let page_417 = text[added..].find(" ofs=1708032 order=0").expect("page 417 read in") + added;
    let measured = text.find("ino=247618 first=0 pages=929 cached=0-928 readahead=1,417").expect("the mark");
    let stop = text.find("tracing_mark_write: mmdb-exec ").expect("the exec stop");
    assert!(page_417 < measured && measured < stop);
    let v = replay_json(&super::test_dir("perl-exec-ra"), "t.ftrace", &text)["verify"].clone();
    assert_eq!((v["rss_stat"]["matched"].as_u64(), v["rollups"]["agree"].as_u64()), (Some(9344), Some(7)));
}

/// The report of `mmdb replay --verify --format json` of the recording `file` of `traces/real/` (decompressed into
/// a test directory of its own), and that directory.
fn replay_recording(file: &str) -> (std::path::PathBuf, serde_json::Value) {
    let dir = super::test_dir(file.split('.').next().unwrap_or(file));
    let json = replay_json(&dir, "t.ftrace", &unxz(file));
    (dir, json)
}

/// The report of `mmdb replay NAME --verify --format json`, NAME written in `dir` with `text`.
fn replay_json(dir: &std::path::Path, name: &str, text: &str) -> serde_json::Value {
    super::write(dir, name, text);
    let out = Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["replay", name, "--verify", "--format", "json"])
        .current_dir(dir)
        .output()
        .expect("runs mmdb");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// What `mmdb repl FILE` (in `dir`) prints for the commands `input`.
fn repl_output(dir: &std::path::Path, file: &str, input: &[u8]) -> String {
    use std::io::Write as _;
    let mut repl = Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["repl", file])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs mmdb repl");
    repl.stdin.take().expect("stdin").write_all(input).expect("writes");
    String::from_utf8(repl.wait_with_output().expect("repl exits").stdout).expect("UTF-8")
}

/// A JSON report's figures: `rss_stat` matched and total, pages and rollups agreeing and total, divergences.
fn agreement(json: &serde_json::Value) -> ([u64; 2], [u64; 2], [u64; 2], u64) {
    let v = &json["verify"];
    let pair =
        |what: &str, part: &str| [v[what][part].as_u64().unwrap_or(u64::MAX), v[what]["total"].as_u64().unwrap_or(0)];
    (
        pair("rss_stat", "matched"),
        pair("pages", "agree"),
        pair("rollups", "agree"),
        v["divergences"].as_u64().unwrap_or(u64::MAX),
    )
}

/// How many `pfn-in-use` warnings a JSON report has: allocations of page frames the model still held.
fn pfn_in_use(json: &serde_json::Value) -> usize {
    json["report"]["diagnostics"].as_array().map_or(0, |d| d.iter().filter(|d| d["kind"] == "pfn-in-use").count())
}

/// Its `verify.rss_stat` object.
fn rss_stat_of(dir: &std::path::Path, name: &str, text: &str) -> serde_json::Value {
    replay_json(dir, name, text)["verify"]["rss_stat"].clone()
}

/// The text of the compressed recording `traces/real/FILE`.
fn unxz(file: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let xz = std::fs::read(format!("{root}/traces/real/{file}")).expect("the recording");
    let mut text = Vec::new();
    lzma_rs::xz_decompress(&mut xz.as_slice(), &mut text).expect("xz");
    String::from_utf8(text).expect("UTF-8")
}

/// The options that name a perf recording's side files, where they exist: `--truth FILE.truth` and
/// `--lru FILE.lru.xz`.
fn side_files(root: &str, name: &str) -> Vec<String> {
    // (A compressed recording's are compressed too: `x.perf.txt.xz` has `x.perf.txt.truth.xz`.)
    let base = name.strip_suffix(".xz").unwrap_or(name);
    let mut args = Vec::new();
    for (option, suffixes) in [("--truth", [".truth", ".truth.xz"]), ("--lru", [".lru.xz", ".lru.xz"])] {
        if let Some(file) =
            suffixes.iter().map(|s| format!("{base}{s}")).find(|f| std::path::Path::new(root).join(f).exists())
        {
            args.extend([option.to_string(), file]);
        }
    }
    args
}

/// `mmdb replay` streams a real trace: read in pieces, parsed on `--jobs` threads, replayed in order. However it
/// is cut and however many threads parse it, the report and the errors (located in the whole file, with their
/// excerpts read back from it) are those of one piece on one thread; here with damaged lines in the middle, a
/// perf recording with both side files, and a last line without its line break.
#[test]
fn streamed_replays_do_not_depend_on_pieces_or_threads() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = super::test_dir("streamed");
    let mut text = std::fs::read_to_string(format!("{root}/traces/real/madv-free.ftrace")).expect("madv-free.ftrace");
    let at = text.len() / 2;
    let at = at + text[at..].find('\n').expect("a line break") + 1;
    text.insert_str(at, "  this line is damaged\n  madv-free-1 [001] ..... 12.5: mm_page_alloc: pfn=zz\n");
    text.push_str("  madv-free-1 [001] ..... 102");
    super::write(&dir, "damaged.ftrace", &text);
    let perf = format!("{root}/traces/real/fork-cow.perf.txt");
    let runs = |extra: &[&str]| {
        let damaged: Vec<&str> = ["replay", "damaged.ftrace", "--verify"].iter().chain(extra).copied().collect();
        let perf: Vec<&str> = ["replay", &perf, "--verify", "--truth", &format!("{perf}.truth")]
            .iter()
            .chain(&["--lru", &format!("{perf}.lru.xz")])
            .chain(extra)
            .copied()
            .map(|s| Box::leak(s.to_string().into_boxed_str()) as &str)
            .collect();
        [super::mmdb(&dir, &damaged, None).render(), super::mmdb(&dir, &perf, None).render()]
    };
    let whole = runs(&["-j", "1"]);
    assert!(whole[0].contains("damaged.ftrace:"), "{}", whole[0]);
    assert!(whole[0].contains("this line is damaged"), "the excerpt is read back: {}", whole[0]);
    assert!(whole[0].contains("has no line break"), "{}", whole[0]);
    let cuts =
        [["-j", "1", "--piece-size", "4096"], ["-j", "3", "--piece-size", "1"], ["-j", "2", "--piece-size", "65536"]];
    for extra in cuts {
        assert_eq!(runs(&extra), whole, "{extra:?}");
    }
}

/// `mmdb bench` measures every phase on a real trace and refuses what it cannot measure.
#[test]
fn bench_measures_each_phase() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let run = super::mmdb(root, &["bench", "--runs", "1", "-j", "2", "traces/real/madv-free.ftrace"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("mmdb bench: traces/real/madv-free.ftrace (ftrace, 1.1 MB of text, "), "{lines:?}");
    for (line, phase) in lines[2..6].iter().zip(["newline count", "parse", "replay -j1", "replay -j2"]) {
        assert!(line.starts_with(phase), "{line:?} is not {phase}");
        assert!(line.contains(" MB"), "{line:?} has no peak memory");
    }
    assert!(lines[4].ends_with("(180 model events)"), "{lines:?}");
    assert!(lines[6].starts_with("replay -j1 runs at ") && lines[7].starts_with("replay -j2 is "), "{lines:?}");
    let run = super::mmdb(root, &["bench", "-"], Some(""));
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.contains("give a file, not standard input"), "{}", run.render());
    let run = super::mmdb(root, &["bench", "traces/basic.events"], None);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.contains("is an mm event trace; mmdb bench measures real traces"), "{}", run.render());
}
