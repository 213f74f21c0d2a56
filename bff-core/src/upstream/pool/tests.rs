use super::*;

fn pool(balance: BalanceKind, weights: &[u32]) -> Pool {
    let instances = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("http://10.0.0.{i}"), *w))
        .collect();
    Pool::new(
        instances,
        balance,
        None,
        OutlierConfig::default(),
        None,
        None,
    )
}

fn index(p: &Pool, i: &Instance) -> usize {
    p.instances()
        .iter()
        .position(|x| x.base_url == i.base_url)
        .unwrap()
}

#[test]
fn weighted_round_robin_follows_the_weights_smoothly() {
    let p = pool(BalanceKind::Weighted, &[5, 1, 1]);
    let picks: Vec<usize> = (0..7)
        .map(|_| index(&p, &p.pick(None, &[]).unwrap()))
        .collect();
    // Smooth: the heavy instance never gets all five in a row.
    assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn hashing_keeps_keys_on_their_instance_and_moves_only_the_lost_ones() {
    let p = pool(BalanceKind::Hash, &[1, 1, 1]);
    let pick = |k: usize| {
        index(
            &p,
            &p.pick(Some(format!("user-{k}").as_bytes()), &[]).unwrap(),
        )
    };
    let before: Vec<usize> = (0..100).map(pick).collect();
    assert!((0..3).all(|i| before.contains(&i)));
    p.eject(&p.instances()[1]);
    for (k, was) in before.iter().enumerate() {
        let now = pick(k);
        if *was == 1 {
            assert_ne!(now, 1);
        } else {
            assert_eq!(now, *was, "key {k} moved though its instance is up");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_eject_for_a_growing_time_but_never_all() {
    let p = pool(BalanceKind::RoundRobin, &[1, 1]);
    let (a, b) = (p.instances()[0].clone(), p.instances()[1].clone());
    for _ in 0..5 {
        p.record(&b, Instant::now(), false);
    }
    assert!(p.is_ejected(&b));
    assert!((0..10).all(|_| index(&p, &p.pick(None, &[]).unwrap()) == 0));
    // The other one failing too cannot eject it: one always stays.
    for _ in 0..5 {
        p.record(&a, Instant::now(), false);
    }
    assert!(!p.is_ejected(&a));
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(!p.is_ejected(&b), "back after the base ejection");
    for _ in 0..5 {
        p.record(&b, Instant::now(), false);
    }
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(p.is_ejected(&b), "the second ejection lasts twice as long");
}

#[test]
fn a_new_instance_set_keeps_the_instances_that_stay() {
    let p = pool(BalanceKind::RoundRobin, &[1, 1]);
    let kept = p.instances()[1].clone();
    p.set_instances(vec![
        ("http://10.0.0.1".into(), 1),
        ("http://10.0.0.9".into(), 1),
    ]);
    let now = p.instances();
    assert!(Arc::ptr_eq(&now[0], &kept));
    assert_eq!(now[1].base_url, "http://10.0.0.9");
    p.set_instances(vec![]);
    assert_eq!(p.instances().len(), 2, "an empty answer changes nothing");
}
