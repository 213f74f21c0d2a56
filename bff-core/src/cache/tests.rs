use super::*;

fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(HeaderName::try_from(*k).unwrap(), v.parse().unwrap());
    }
    h
}

fn kept(status: u16, pairs: &[(&str, &str)], credentials: bool) -> Option<Duration> {
    keeping(
        StatusCode::from_u16(status).unwrap(),
        &h(pairs),
        credentials,
        None,
        SystemTime::now(),
    )
    .map(|(l, _)| l)
}

#[test]
fn freshness_follows_rfc_9111() {
    let s = Duration::from_secs;
    assert_eq!(
        kept(200, &[("cache-control", "max-age=60")], false),
        Some(s(60))
    );
    assert_eq!(
        kept(200, &[("cache-control", "max-age=60, s-maxage=10")], false),
        Some(s(10)),
        "a shared cache prefers s-maxage"
    );
    assert_eq!(
        kept(
            200,
            &[
                ("date", "Mon, 12 Jan 1970 13:46:40 GMT"),
                ("expires", "Mon, 12 Jan 1970 13:47:10 GMT"),
            ],
            false
        ),
        Some(s(30))
    );
    assert_eq!(kept(200, &[], false), None, "no freshness, no validators");
    assert_eq!(kept(200, &[("etag", "\"a\"")], false), Some(Duration::ZERO));
    for never in [
        &[("cache-control", "no-store, max-age=60")][..],
        &[("cache-control", "private, max-age=60")],
        &[("cache-control", "max-age=5"), ("vary", "*")],
        &[("cache-control", "max-age=5"), ("set-cookie", "a=b")],
    ] {
        assert_eq!(kept(200, never, false), None, "{never:?}");
    }
}

#[test]
fn answers_to_credentials_are_kept_only_when_shareable() {
    let s = Duration::from_secs;
    assert_eq!(kept(200, &[("cache-control", "max-age=60")], true), None);
    for ok in [
        "public, max-age=60",
        "s-maxage=60",
        "max-age=60, must-revalidate",
    ] {
        assert_eq!(
            kept(200, &[("cache-control", ok)], true),
            Some(s(60)),
            "{ok}"
        );
    }
}

#[test]
fn surrogate_control_replaces_cache_control_for_this_cache() {
    let s = Duration::from_secs;
    assert_eq!(
        kept(
            200,
            &[
                ("cache-control", "no-store"),
                ("surrogate-control", "max-age=30")
            ],
            false
        ),
        Some(s(30))
    );
    assert_eq!(
        kept(
            200,
            &[
                ("cache-control", "max-age=30"),
                ("surrogate-control", "no-store")
            ],
            false
        ),
        None
    );
}

#[test]
fn unknown_statuses_need_explicit_freshness_and_no_must_understand() {
    let lm = ("last-modified", "Mon, 12 Jan 1970 13:46:40 GMT");
    assert!(kept(404, &[lm], false).is_some_and(|l| l > Duration::ZERO));
    assert_eq!(kept(599, &[lm], false), Some(Duration::ZERO));
    assert_eq!(
        kept(
            599,
            &[("cache-control", "max-age=60, must-understand")],
            false
        ),
        None
    );
    assert!(kept(599, &[("cache-control", "max-age=60")], false).is_some());
    assert_eq!(kept(206, &[("cache-control", "max-age=60")], false), None);
}

fn ask<'a>(c: &HttpCache, headers: &'a HeaderMap) -> Ask<'a> {
    c.ask_call("s", "/x", headers)
}

#[test]
fn the_byte_bound_holds_and_the_least_recently_used_go_first() {
    let c = HttpCache::new(300_000);
    let none = HeaderMap::new();
    let cc = h(&[("cache-control", "max-age=60")]);
    let body = Bytes::from(vec![b'x'; 120_000]);
    let store = |target: &'static str| {
        let a = c.ask_call("s", target, &none);
        c.admit(
            &a,
            StatusCode::OK,
            &cc,
            body.clone(),
            SystemTime::now(),
            None,
        )
        .unwrap();
    };
    store("/a");
    store("/b");
    assert!(matches!(
        c.lookup(&c.ask_call("s", "/a", &none)),
        Lookup::Fresh(_)
    ));
    store("/c");
    assert!(c.store().bytes() <= 300_000);
    assert!(
        matches!(c.lookup(&c.ask_call("s", "/a", &none)), Lookup::Fresh(_)),
        "used last"
    );
    assert!(
        matches!(c.lookup(&c.ask_call("s", "/b", &none)), Lookup::Miss),
        "least recently used"
    );
    assert!(matches!(
        c.lookup(&c.ask_call("s", "/c", &none)),
        Lookup::Fresh(_)
    ));
}

#[test]
fn a_request_saying_no_store_keeps_nothing() {
    let c = HttpCache::new(1 << 20);
    let req = h(&[("cache-control", "no-store")]);
    let a = c.ask_proxy("s", "/x", &req, &HeaderMap::new());
    let cc = h(&[("cache-control", "max-age=60")]);
    assert!(!c.may_keep(&a, StatusCode::OK, &cc, None));
    assert!(
        c.admit(
            &a,
            StatusCode::OK,
            &cc,
            Bytes::new(),
            SystemTime::now(),
            None
        )
        .is_none()
    );
}

#[test]
fn an_answer_larger_than_the_whole_bound_is_not_kept() {
    let c = HttpCache::new(10_000);
    let none = HeaderMap::new();
    let cc = h(&[("cache-control", "max-age=60")]);
    let a = c.ask_call("s", "/big", &none);
    let body = Bytes::from(vec![b'x'; 20_000]);
    c.admit(&a, StatusCode::OK, &cc, body, SystemTime::now(), None);
    assert!(matches!(c.lookup(&a), Lookup::Miss));
    assert_eq!(c.store().bytes(), 0);
}

#[test]
fn vary_selects_among_variants_and_invalidation_drops_them_all() {
    let c = HttpCache::new(1 << 20);
    let cc = h(&[("cache-control", "max-age=60"), ("vary", "accept-language")]);
    let en = h(&[("accept-language", "en")]);
    let de = h(&[("accept-language", "de")]);
    let none = HeaderMap::new();
    for req in [&en, &de] {
        let a = c.ask_proxy("s", "/x", req, &none);
        c.admit(
            &a,
            StatusCode::OK,
            &cc,
            Bytes::from_static(b"1"),
            SystemTime::now(),
            None,
        )
        .unwrap();
    }
    assert!(matches!(
        c.lookup(&c.ask_proxy("s", "/x", &en, &none)),
        Lookup::Fresh(_)
    ));
    assert!(matches!(
        c.lookup(&c.ask_proxy("s", "/x", &de, &none)),
        Lookup::Fresh(_)
    ));
    assert!(matches!(
        c.lookup(&c.ask_proxy("s", "/x", &none, &none)),
        Lookup::Miss
    ));
    c.invalidate("s", ["/x"]);
    assert!(matches!(
        c.lookup(&c.ask_proxy("s", "/x", &en, &none)),
        Lookup::Miss
    ));
}

#[test]
fn calls_with_other_headers_never_share_an_answer() {
    let c = HttpCache::new(1 << 20);
    let cc = h(&[("cache-control", "max-age=60")]);
    let alice = h(&[("x-user-id", "alice")]);
    let bob = h(&[("x-user-id", "bob")]);
    let a = ask(&c, &alice);
    c.admit(
        &a,
        StatusCode::OK,
        &cc,
        Bytes::from_static(b"alice"),
        SystemTime::now(),
        None,
    )
    .unwrap();
    assert!(matches!(c.lookup(&ask(&c, &alice)), Lookup::Fresh(_)));
    assert!(matches!(c.lookup(&ask(&c, &bob)), Lookup::Miss));
}

#[test]
fn an_invalid_age_is_stale_at_once() {
    let c = HttpCache::new(1 << 20);
    let none = HeaderMap::new();
    let a = ask(&c, &none);
    let cc = h(&[("cache-control", "max-age=3600"), ("age", "0, 0")]);
    c.admit(
        &a,
        StatusCode::OK,
        &cc,
        Bytes::new(),
        SystemTime::now(),
        None,
    );
    assert!(!matches!(c.lookup(&a), Lookup::Fresh(_)));
    let cc = h(&[("cache-control", "max-age=3600"), ("age", "3000")]);
    let e = c
        .admit(
            &a,
            StatusCode::OK,
            &cc,
            Bytes::new(),
            SystemTime::now(),
            None,
        )
        .unwrap();
    assert!(
        e.age() >= Duration::from_secs(3000),
        "the upstream's Age counts"
    );
}
