use proptest::prelude::*;

use super::*;

fn mine(lines: &[&str]) -> (TemplateMiner, Vec<Mined>) {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let mined = lines.iter().map(|l| m.add(l)).collect();
    (m, mined)
}

fn text(m: &TemplateMiner, id: TemplateId) -> String {
    m.template(id).map(|t| t.text.to_string()).unwrap_or_default()
}

#[test]
fn table_of_templates() {
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("numbers are variables", vec!["Received block 1234 of size 67108864", "Received block 99 of size 1024"], "Received block <*> of size <*>"),
        ("addresses with ports", vec!["Connection from 10.0.0.1:50010 closed", "Connection from 10.2.3.4:50011 closed"], "Connection from <*>:<*> closed"),
        ("key=value keeps the key", vec!["session opened for uid=0 by sshd", "session opened for uid=1000 by sshd"], "session opened for uid=<*> by sshd"),
        ("Loghub-2.0 default strings are variables", vec!["login as root succeeded"], "login as <*> succeeded"),
        ("differing words past the routing prefix become variables", vec!["worker started on node alpha", "worker started on node bravo"], "worker started on node <*>"),
        ("identical lines", vec!["GC pause done", "GC pause done"], "GC pause done"),
    ];
    for (name, lines, want) in cases {
        let (m, mined) = mine(&lines);
        let last = mined.last().expect("lines");
        assert!(mined.iter().all(|x| x.template == last.template), "{name}: one template expected, got {mined:?}");
        assert_eq!(text(&m, last.template), want, "{name}");
        assert_eq!(m.template(last.template).map(|t| t.count), Some(lines.len() as u64), "{name}");
    }
}

#[test]
fn different_events_get_different_templates() {
    let (m, mined) = mine(&["Starting worker pool", "Disk full on /dev/sda1", "Starting worker pool"]);
    assert_ne!(mined[0].template, mined[1].template);
    assert_eq!(mined[0].template, mined[2].template);
    assert_eq!(mined[0].change, Change::Created);
    assert_eq!(mined[1].change, Change::Created);
    assert_eq!(mined[2].change, Change::None);
    assert_eq!(m.len(), 2);
}

#[test]
fn ids_are_stable_across_miners() {
    let lines = ["job 17 failed after 3 retries", "job 18 failed after 5 retries", "worker w-1 started"];
    let (_, a) = mine(&lines);
    let (_, b) = mine(&lines);
    assert_eq!(a, b);
}

#[test]
fn the_template_budget_is_respected() {
    let mut m = TemplateMiner::new(MinerConfig { max_templates: 3, ..MinerConfig::default() });
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let mut mined: Vec<Mined> = words.iter().map(|w| m.add(&format!("{w} happened here now"))).collect();
    mined.extend(words.iter().map(|w| m.add(w)));
    assert!(m.len() <= 3);
    assert!(mined.iter().any(|x| x.change == Change::Overflow && x.template == TemplateId::OVERFLOW));
    assert!(m.overflow() > 0);
}

#[test]
fn config_validation_names_fields() {
    let bad = MinerConfig { similarity: 1.5, depth: 0, ..MinerConfig::default() };
    let paths: Vec<String> = bad.validate("logs.miner").into_iter().map(|i| i.path).collect();
    assert!(paths.iter().any(|p| p == "logs.miner.similarity"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "logs.miner.depth"), "{paths:?}");
    assert!(MinerConfig::default().validate("logs.miner").is_empty());
}

/// Lines of one shape are answered from the shape of the first only when its canonical
/// tokens kept no digit; a kept digit or a changed zero makes them differ, and the results
/// are those of a miner that tokenizes every line.
#[test]
fn lines_of_a_known_shape_mine_as_if_tokenized() {
    let table: [&[&str]; 4] = [
        &["v5 is up", "v5 is up", "v7 is up", "v7 is up", "v9 is up"],
        &["got blk_-123 size 4", "got blk_-123 size 4", "got blk_-987 size 6", "got blk_-100 size 1"],
        &["at 0x1f now", "at 0x1f now", "at 1x1f now", "at 0x9f now"],
        &["user u12 in", "user u12 in", "user u345 in", "user u999 in", "user u12 in"],
    ];
    for lines in table {
        let mut with = TemplateMiner::new(MinerConfig::default());
        let mut without = TemplateMiner::new(MinerConfig::default()).without_line_memo();
        for l in lines {
            assert_eq!(with.add(l), without.add(l), "{l} in {lines:?}");
        }
        let texts = |m: &TemplateMiner| m.templates().iter().map(|t| (t.text.to_string(), t.count)).collect::<Vec<_>>();
        assert_eq!(texts(&with), texts(&without), "{lines:?}");
    }
}

fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..60 {
        v.push(format!("Received block blk_{} of size {} from /10.0.{}.{}", 1000 + i * 7, 512 * (i % 5 + 1), i % 3, i % 11));
        v.push(format!("PacketResponder {} for block blk_{} terminating", i % 3, 2000 + i));
        if i % 4 == 0 {
            v.push(format!("user u{} logged in from host-{}", i, i % 2));
        }
        if i % 9 == 0 {
            v.push("Verification succeeded".to_string());
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Remembering which cluster a token sequence joined, and which tokens a line's shape
    /// has, changes no result, no count and no state: lines that recur, interleaved with
    /// lines that create and generalise templates of the same and of other lengths, under a
    /// template budget that overflows.
    #[test]
    fn the_line_memo_changes_nothing(picks in proptest::collection::vec((0usize..8, 0usize..6, 0usize..4), 1..160), budget in 3usize..40) {
        // `#` is a number that changes from line to line: lines of one shape with other
        // ids, kept digits (`v#`), and zeros that change the shape (`0x#`).
        const WORDS: [&str; 12] = ["alpha", "beta", "gamma", "id=7", "node-3", "x.y.z", "root", "delta", "blk_-#", "v#", "0x#", "#ms"];
        let lines: Vec<String> = picks
            .iter()
            .enumerate()
            .map(|(k, &(a, b, len))| {
                (0..len + 2).map(|i| WORDS[(a + i * b) % WORDS.len()].replace('#', &(k * 37 % 11 + k * 7 % 3 * 90).to_string())).collect::<Vec<_>>().join(" ")
            })
            .collect();
        for cfg in [MinerConfig::default(), MinerConfig { max_templates: budget, max_children: 3, ..MinerConfig::default() }] {
            let mut with = TemplateMiner::new(cfg.clone());
            let mut without = TemplateMiner::new(cfg).without_line_memo();
            for l in &lines {
                prop_assert_eq!(with.add(l), without.add(l), "{}", l);
            }
            let state = |m: &TemplateMiner| m.snapshot().map(|s| s.state.to_string()).unwrap_or_default();
            prop_assert_eq!(state(&with), state(&without));
        }
    }

    /// Snapshot at any line, restore in a fresh miner, go on: same ids, same templates.
    #[test]
    fn snapshot_then_restore_gives_the_same_templates(cut in 0usize..200) {
        let lines = corpus();
        let cut = cut % lines.len();
        let mut whole = TemplateMiner::new(MinerConfig::default());
        let a: Vec<Mined> = lines.iter().map(|l| whole.add(l)).collect();
        let mut first = TemplateMiner::new(MinerConfig::default());
        let mut b: Vec<Mined> = lines[..cut].iter().map(|l| first.add(l)).collect();
        let snap = serde_json::to_vec(&first.snapshot().expect("snapshot")).expect("encode");
        let mut second = TemplateMiner::new(MinerConfig::default());
        second.restore(serde_json::from_slice(&snap).expect("decode")).expect("restore");
        b.extend(lines[cut..].iter().map(|l| second.add(l)));
        prop_assert_eq!(a, b);
        let ta: Vec<(TemplateId, String, u64)> = whole.templates().iter().map(|t| (t.id, t.text.to_string(), t.count)).collect();
        let tb: Vec<(TemplateId, String, u64)> = second.templates().iter().map(|t| (t.id, t.text.to_string(), t.count)).collect();
        prop_assert_eq!(ta, tb);
    }
}
