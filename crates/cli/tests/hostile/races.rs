//! Changing calls answer with the state their own change made, taken with
//! it: checked against the event stream while defines race undefines.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use virtkit_proto::v1;

use crate::common::Daemon;
use crate::common::grpc::{client, kind, req};

/// The QEMU host: its definitions are written to disk, which widens every
/// window a race needs (no guest is started).
const URI: &str = "qemu:///system";

fn xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory>1024</memory>\
         <os><type>hvm</type></os></domain>"
    )
}

/// (uuid, generation) → how many times: a multiset.
type Counts = HashMap<(String, u64), i64>;

/// `defines` defines race `undefines` undefines over a few names; every
/// define must succeed and answer with the generation its own change
/// made: the answers, as a multiset of (uuid, generation), equal the
/// define events of the stream, whose generations follow from the events
/// themselves (added: 1, updated: one more, undefined: gone). Returns the
/// wrong answers.
async fn race(d: &Daemon, names: usize, defines: usize, undefines: usize) -> (usize, Vec<String>) {
    let mut c = client(&d.sock()).await;
    let start = c.list_domains(req(v1::ListDomainsRequest::default(), URI)).await.unwrap().into_inner().revision;
    let mut events = c
        .watch(req(v1::WatchRequest { from_revision: Some(start), kinds: Vec::new() }, URI))
        .await
        .unwrap()
        .into_inner();
    let doms: Vec<(String, String)> =
        (0..names).map(|i| (format!("race{i}"), format!("00000000-0000-4000-8000-{i:012}"))).collect();
    let mut channels = Vec::new();
    for _ in 0..8 {
        channels.push(client(&d.sock()).await);
    }
    let limit = Arc::new(Semaphore::new(64));
    let mut calls = tokio::task::JoinSet::new();
    // Undefines spread among the defines, round robin over the names.
    let total = defines + undefines;
    for n in 0..total {
        let undefine = n % total.div_ceil(undefines.max(1)) == 1 && undefines > 0;
        let (name, uuid) = doms[n % names].clone();
        let mut c = channels[n % channels.len()].clone();
        let permit = limit.clone().acquire_owned().await.unwrap();
        calls.spawn(async move {
            let _permit = permit;
            if undefine {
                let r =
                    c.undefine_domain(req(v1::UndefineDomainRequest { uuid, expected_generation: None }, URI)).await;
                // Not there (undefined already): a fair answer.
                match r {
                    Err(e) if kind(&e) != Some("not-found") => Err(format!("undefine: {e:?}")),
                    _ => Ok(None),
                }
            } else {
                let msg = v1::DefineDomainRequest { xml: xml(&name, &uuid), expected_generation: None };
                match c.define_domain(req(msg, URI)).await {
                    Ok(r) => {
                        let i = r.into_inner();
                        if i.uuid == uuid && i.persistent {
                            Ok(Some((i.uuid, i.generation)))
                        } else {
                            Err(format!("define answered {i:?}"))
                        }
                    }
                    Err(e) => Err(format!("define: {} {}", kind(&e).unwrap_or("?"), e.message())),
                }
            }
        });
    }
    let mut answers = Counts::new();
    let mut wrong = Vec::new();
    let mut made = 0;
    while let Some(r) = calls.join_next().await {
        match r.unwrap() {
            Ok(Some(k)) => {
                made += 1;
                *answers.entry(k).or_default() += 1;
            }
            Ok(None) => {}
            Err(e) => wrong.push(e),
        }
    }
    let end = c.list_domains(req(v1::ListDomainsRequest::default(), URI)).await.unwrap().into_inner().revision;
    // The stream's own account of every define.
    let mut generation: HashMap<String, u64> = HashMap::new();
    let mut last = start;
    while last < end {
        let e = events.message().await.unwrap().expect("the stream goes on");
        assert_eq!(e.revision, last + 1, "a gap in the event stream");
        last = e.revision;
        match (v1::EventKind::try_from(e.kind), v1::EventDetail::try_from(e.detail)) {
            (Ok(v1::EventKind::Defined), Ok(detail)) => {
                let g = generation.entry(e.uuid.clone()).or_default();
                assert_eq!(*g == 0, detail == v1::EventDetail::Added, "{e:?} after generation {g}");
                *g += 1;
                *answers.entry((e.uuid, *g)).or_default() -= 1;
            }
            (Ok(v1::EventKind::Undefined), _) => {
                generation.remove(&e.uuid);
            }
            other => panic!("an event nobody caused: {other:?} {e:?}"),
        }
    }
    // An answer with no event of its own (another client's generation).
    let mut unanswered = 0;
    for ((uuid, g), n) in answers {
        if n > 0 {
            for _ in 0..n {
                wrong.push(format!("define answered {uuid} at generation {g}, which no define event made"));
            }
        } else {
            unanswered += -n;
        }
    }
    assert!(unanswered == 0 || !wrong.is_empty(), "{unanswered} define events have no answer");
    (made, wrong)
}

/// An outside test found 237 of 3,000 defines racing undefines told
/// `not-found` although each had stored its definition, and answers with
/// another client's generation (the daemon looked the domain up again
/// after defining it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn defines_racing_undefines_answer_with_their_own_change() {
    let d = Daemon::start(&[]);
    let (made, wrong) = race(&d, 5, 3000, 1000).await;
    eprintln!("{made} defines answered; {} wrong answers", wrong.len());
    assert!(wrong.is_empty(), "{} of 3000 wrong, such as:\n{}", wrong.len(), wrong[..wrong.len().min(10)].join("\n"));
    assert_eq!(made, 3000);
}
