//! Time travel keeps its promises: any position reached through checkpoints, ladders and backward seeks holds
//! the same state as a straight replay, and the checkpoints stay within their memory budget.

use mmdb_model::Model;
use mmdb_repl::program::{Program, SourceKind, Step};
use mmdb_repl::Session;

/// A churning synthetic program of `n` events.
fn churn(n: usize) -> Program {
    let steps = mmdb_session::synth::churn(7, n)
        .into_iter()
        .enumerate()
        .map(|(i, event)| Step { line: u32::try_from(i + 1).unwrap_or(u32::MAX), event })
        .collect();
    Program { kind: SourceKind::Events, steps, ..Program::empty() }
}

/// The state after `pos` events, replayed straight from the start.
fn straight(program: &Program, pos: usize) -> String {
    let mut m = Model::new(program.config.clone());
    for step in &program.steps[..pos] {
        m.apply(&step.event);
    }
    format!("{:?}", m.report())
}

#[test]
fn a_small_budget_thins_the_checkpoints_and_every_position_is_still_exact() {
    let program = churn(20_000);
    let roomy = Session::new("churn", program.clone());
    // Room for about four models: the interval must grow until the checkpoints fit.
    let one_model = roomy.checkpoint_bytes() / roomy.checkpoint_count();
    let budget = 4 * one_model;
    let mut s = Session::with_budget("churn", program.clone(), budget);
    assert!(s.interval() > roomy.interval(), "interval {} did not grow", s.interval());
    assert!(s.checkpoint_count() < roomy.checkpoint_count());
    // Never over budget by more than one model (the one taken just before thinning).
    let largest = Session::with_budget("churn", program.clone(), usize::MAX).checkpoint_bytes();
    assert!(s.checkpoint_bytes() <= budget + largest / roomy.checkpoint_count() * 2, "{}", s.checkpoint_bytes());
    // Forwards far, backwards a little (ladder), backwards far, and around a checkpoint boundary.
    let i = s.interval();
    for pos in [19_000, 18_999, 18_990, 3, i, i - 1, i + 1, 2 * i - 1, 20_000, 0, 12_345] {
        s.seek(pos);
        assert_eq!(s.cursor(), pos);
        assert_eq!(format!("{:?}", s.model().report()), straight(&program, pos), "at {pos}");
    }
}

#[test]
fn the_footprint_grows_with_the_state() {
    let program = churn(5_000);
    let mut s = Session::new("churn", program);
    let empty = s.model().footprint();
    s.seek(5_000);
    let full = s.model().footprint();
    let folios = s.model().report().pages.folios;
    assert!(full > empty + folios as usize * std::mem::size_of::<mmdb_model::Folio>(), "{empty} -> {full}");
}

/// Every page's history at `pos` from a model that recorded it while replaying straight from the start.
fn straight_history(program: &Program, pos: usize, pfns: &[u64]) -> Vec<Vec<mmdb_model::HistoryEntry>> {
    let mut m = Model::new(mmdb_model::Config { history: true, ..program.config.clone() });
    for step in &program.steps[..pos] {
        m.apply(&step.event);
    }
    pfns.iter().map(|&p| m.page_history(p)).collect()
}

#[test]
fn history_at_any_position_is_what_a_straight_replay_recorded() {
    let program = churn(6_000);
    let mut s = Session::with_budget("churn", program.clone(), 1 << 20);
    assert!(s.program().history.len() > 6_000, "the opening pass records history: {:?}", s.program().history);
    // Every page the program touches, and pfns the trace never names.
    let mut pfns: Vec<u64> = Vec::new();
    let mut end = Model::new(program.config.clone());
    for step in &program.steps {
        let out = end.apply(&step.event);
        pfns.extend(out.allocated.iter().map(|(p, _)| *p));
    }
    pfns.sort_unstable();
    pfns.dedup();
    pfns.extend([0, 1, u64::MAX]);
    for pos in [6_000, 5_999, 170, 0, 3_001, 4_500] {
        s.seek(pos);
        let got: Vec<_> = pfns.iter().map(|&p| s.history_model().page_history(p)).collect();
        let want = straight_history(&program, pos, &pfns);
        assert!(want.iter().map(Vec::len).sum::<usize>() > 0 || pos == 0, "no history at {pos}");
        for ((pfn, g), w) in pfns.iter().zip(&got).zip(&want) {
            assert_eq!(g, w, "history of pfn {pfn:#x} at {pos}");
        }
        // Reading the history leaves the model at the cursor as a straight replay has it.
        assert_eq!(format!("{:?}", s.model().report()), straight(&program, pos), "at {pos}");
    }
}
