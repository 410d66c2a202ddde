//! mmdb-trace: parses trace text into model events, collecting errors instead of stopping at the first one.
