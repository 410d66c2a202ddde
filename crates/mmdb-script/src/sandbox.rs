//! The sandboxed Rhai engine: a raw engine with chosen packages, resource limits, no module loading, output
//! captured into a buffer and an interrupt flag checked as the script runs.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, BitFieldPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, Position, Token};

/// What a script may use. Scripts can be shared, so every resource they can grow is bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Rhai operations (statements, expressions, calls) before the script is stopped.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions, at global level and inside functions.
    pub max_expr_depths: (usize, usize),
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Elements in one array.
    pub max_array_size: usize,
    /// Properties in one object map.
    pub max_map_size: usize,
    /// Model events the script may perform (a `p.write` over a huge range is one call but many events).
    pub max_events: usize,
    /// Bytes the script may print.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 64,
            max_expr_depths: (64, 32),
            max_string_size: 1 << 20,
            max_array_size: 1 << 20,
            max_map_size: 1 << 16,
            max_events: 1_000_000,
            max_output: 16 << 20,
        }
    }
}

/// What `print` and `debug` wrote, and whether it outgrew [`Limits::max_output`].
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub text: String,
    pub truncated: bool,
}

impl Output {
    fn push(&mut self, max: usize, line: &str) {
        if self.text.len() + line.len() + 1 > max {
            self.truncated = true;
            return;
        }
        self.text.push_str(line);
        self.text.push('\n');
    }
}

/// The token `on_progress` stops a script with when the interrupt flag is set.
pub(crate) const INTERRUPTED: &str = "interrupted";
/// The token `on_progress` stops a script with when it printed more than [`Limits::max_output`].
pub(crate) const OUTPUT_FULL: &str = "output limit";

/// Builds an engine with the standard language (no clock: `timestamp` is left out), no `eval`, no module
/// loading, the limits, `print`/`debug` into `output`, and `interrupt` checked between operations.
pub(crate) fn engine(limits: &Limits, output: Rc<RefCell<Output>>, interrupt: Arc<AtomicBool>) -> Engine {
    let mut engine = Engine::new_raw();
    for package in [
        CorePackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicBlobPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    engine
        .set_module_resolver(DummyModuleResolver::new())
        .disable_symbol("eval")
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depths.0, limits.max_expr_depths.1)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size);
    // Rhai reserves words it does not use (`spawn`, `thread`, `shared`, `new`, ...) for future syntax; the API
    // needs some as the kernel-style names they are, and scenarios use others as plain variable names.
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match token {
        Token::Reserved(s) if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => Token::Identifier(s),
        token => token,
    });
    let max = limits.max_output;
    let out = Rc::clone(&output);
    engine.on_print(move |s| out.borrow_mut().push(max, s));
    let out = Rc::clone(&output);
    engine.on_debug(move |s, _, pos: Position| {
        let line = match (pos.line(), pos.position()) {
            (Some(l), Some(c)) => format!("[{l}:{c}] {s}"),
            _ => s.to_string(),
        };
        out.borrow_mut().push(max, &line);
    });
    engine.on_progress(move |_| {
        if interrupt.load(Ordering::Relaxed) {
            Some(Dynamic::from(INTERRUPTED))
        } else if output.borrow().truncated {
            Some(Dynamic::from(OUTPUT_FULL))
        } else {
            None
        }
    });
    engine
}
