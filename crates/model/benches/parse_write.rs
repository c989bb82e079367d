//! How fast a typical domain document is read and written.
//!
//! `cargo bench -p virtkit-model --bench parse_write` runs three criterion
//! benchmarks on `typical.xml` (a ~75-line KVM guest): parse only, write only,
//! and parse + write. Then it prints one line with documents per second for
//! parse + write, from a plain timed loop in the same run, against the target
//! of at least 20,000 documents per second (under 50 µs each).
//!
//! Criterion's own options still work, e.g. `-- parse_write` to filter, or
//! `-- --measurement-time 10` for a longer run on a quiet machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use virtkit_model::domain::Domain;

/// The document measured: a realistic KVM guest with the usual devices.
const TYPICAL: &str = include_str!("typical.xml");

/// Parse + write rounds of the plain timed loop; the fastest round counts.
const ROUNDS: u32 = 5;
/// Documents parsed and written in each round.
const ITERATIONS: u32 = 20_000;
/// The throughput virtkit aims for, in documents per second.
const TARGET_DOCS_PER_SEC: f64 = 20_000.0;

fn parse(text: &str) -> Domain {
    match Domain::from_xml(text) {
        Ok(d) => d,
        Err(e) => panic!("typical.xml does not parse:\n{e}"),
    }
}

fn parse_and_write(text: &str) -> String {
    parse(text).to_xml()
}

/// Fails early, before anything is timed, if the document is not one the
/// model reads and writes back unchanged.
fn check_document() {
    let domain = parse(TYPICAL);
    let written = domain.to_xml();
    assert_eq!(parse(&written), domain, "typical.xml does not survive a write and a re-read");
}

fn benches(c: &mut Criterion) {
    let domain = parse(TYPICAL);
    let mut group = c.benchmark_group("typical_domain");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| b.iter(|| parse(black_box(TYPICAL))));
    group.bench_function("write", |b| b.iter(|| black_box(&domain).to_xml()));
    group.bench_function("parse_write", |b| b.iter(|| parse_and_write(black_box(TYPICAL))));
    group.finish();
}

/// The fastest of [`ROUNDS`] rounds of [`ITERATIONS`] parse + write passes.
fn best_round() -> Duration {
    // One untimed round to warm caches and the allocator.
    for _ in 0..ITERATIONS / 10 {
        black_box(parse_and_write(black_box(TYPICAL)));
    }
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                black_box(parse_and_write(black_box(TYPICAL)));
            }
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report_throughput() {
    let best = best_round();
    let per_doc = best.as_secs_f64() / f64::from(ITERATIONS);
    let docs_per_sec = if per_doc > 0.0 { 1.0 / per_doc } else { f64::INFINITY };
    let verdict = if docs_per_sec >= TARGET_DOCS_PER_SEC { "meets" } else { "MISSES" };
    println!();
    println!(
        "parse+write of typical.xml ({} lines, {} bytes), best of {ROUNDS} rounds of {ITERATIONS}:",
        TYPICAL.lines().count(),
        TYPICAL.len()
    );
    println!(
        "  {:.0} docs/s, {:.1} µs/doc (target ≥ {:.0}/s, i.e. < {:.0} µs): {verdict} the target",
        docs_per_sec,
        per_doc * 1e6,
        TARGET_DOCS_PER_SEC,
        1e6 / TARGET_DOCS_PER_SEC
    );
}

/// Whether criterion was asked to measure (`cargo bench`), rather than to
/// run each benchmark once (`cargo test --benches`, `-- --test`) or list them.
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--bench") && !has("--test") && !has("--list") && !args.iter().any(|a| a.starts_with("--profile-time"))
}

fn main() {
    check_document();
    // A short run by default: the 2-core machines this runs on are noisy,
    // and the timed loop below gives the headline number anyway.
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    if measuring() {
        report_throughput();
    }
}
