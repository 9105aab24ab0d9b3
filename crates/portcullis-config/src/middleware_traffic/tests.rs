use super::*;
use crate::load_str;

const MAIN: &str = "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\n";

fn middleware(yaml: &str) -> Result<MiddlewareConfig, Vec<String>> {
    let text = format!("{MAIN}http:\n  middlewares:\n    m:\n{yaml}");
    match load_str(&text) {
        Ok(mut config) => Ok(config.dynamic.middlewares.shift_remove("m").unwrap()),
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    }
}

fn refused(yaml: &str) -> Vec<String> {
    middleware(yaml).unwrap_err()
}

#[test]
fn basic_auth_defaults_to_the_traefik_realm_and_keeps_the_authorization_header() {
    let MiddlewareConfig::BasicAuth(auth) = middleware(
        "      basicAuth:\n        users: [\"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\"]\n",
    )
    .unwrap() else {
        panic!("not basicAuth")
    };
    assert_eq!(auth.realm, "traefik");
    assert!(!auth.remove_header);
    assert_eq!(auth.header_field, None);
    assert_eq!(auth.users.len(), 1);
}

#[test]
fn basic_auth_refuses_unknown_hashes_lines_without_colon_and_no_users() {
    let errors = refused(
        "      basicAuth:\n        users: [\"plain:secret\", \"nocolon\", \"a:b:c\"]\n        headerField: \"bad header\"\n",
    );
    assert_eq!(
        errors,
        [
            "http.middlewares.m.basicAuth.users[0]: unsupported password hash for user \"plain\"; expected bcrypt ($2y$), SHA1 ({SHA}) or Apache MD5 ($apr1$), as htpasswd writes them",
            "http.middlewares.m.basicAuth.users[1]: expected name:hashed-password",
            "http.middlewares.m.basicAuth.users[2]: expected name:hashed-password",
            "http.middlewares.m.basicAuth.headerField: invalid header name",
        ]
    );
    assert_eq!(
        refused("      basicAuth:\n        realm: x\n"),
        ["http.middlewares.m.basicAuth: set users, usersFile or (in Kubernetes) secret"]
    );
}

#[test]
fn ip_allow_list_parses_ranges_and_the_strategy_and_defaults_to_403() {
    let MiddlewareConfig::IpAllowList(allow) = middleware(
        "      ipAllowList:\n        sourceRange: [\"127.0.0.1/32\", \"192.168.1.7\", \"::1\"]\n        ipStrategy: { depth: 2, excludedIPs: [\"10.0.0.0/8\"], ipv6Subnet: 64 }\n",
    )
    .unwrap() else {
        panic!("not ipAllowList")
    };
    assert_eq!(allow.source_range.len(), 3);
    assert_eq!(allow.reject_status, StatusCode::FORBIDDEN);
    assert_eq!(allow.strategy.depth, 2);
    assert_eq!(allow.strategy.ipv6_subnet, Some(64));
}

#[test]
fn ip_allow_list_refuses_bad_ranges_subnets_and_statuses() {
    let errors = refused(
        "      ipAllowList:\n        sourceRange: [\"10.0.0.300\"]\n        ipStrategy: { ipv6Subnet: 129, excludedIPs: [nope] }\n        rejectStatusCode: 999\n",
    );
    assert_eq!(
        errors,
        [
            "http.middlewares.m.ipAllowList.sourceRange[0]: must be an IP address or a CIDR range",
            "http.middlewares.m.ipAllowList.ipStrategy.excludedIPs[0]: must be an IP address or a CIDR range",
            "http.middlewares.m.ipAllowList.ipStrategy.ipv6Subnet: must be between 1 and 128",
            "http.middlewares.m.ipAllowList.rejectStatusCode: must be a standard HTTP status code such as 403 or 404",
        ]
    );
    let errors = refused(
        "      ipAllowList:\n        sourceRange: [10.0.0.0/8]\n        rejectStatusCode: 499\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        refused("      ipAllowList: {}\n"),
        ["http.middlewares.m.ipAllowList.sourceRange: at least one range is required"]
    );
}

#[test]
fn rate_limit_defaults_match_traefik() {
    let MiddlewareConfig::RateLimit(limit) =
        middleware("      rateLimit: { average: 100 }\n").unwrap()
    else {
        panic!("not rateLimit")
    };
    assert_eq!(limit.average, 100);
    assert_eq!(limit.period, Duration::from_secs(1));
    assert_eq!(limit.burst, 1);
    assert_eq!(limit.source, SourceCriterion::Ip(IpStrategy::default()));
    assert!(limit.redis.is_none());
}

#[test]
fn rate_limit_maps_redis_options_onto_the_store() {
    let MiddlewareConfig::RateLimit(limit) = middleware(
        "      rateLimit:\n        average: 5\n        period: 1m\n        redis:\n          endpoints: [\"127.0.0.1:6379\"]\n          db: 2\n          password: pw\n          tls: { ca: /etc/ssl/ca.crt }\n",
    )
    .unwrap() else {
        panic!("not rateLimit")
    };
    assert_eq!(limit.period, Duration::from_secs(60));
    let redis = limit.redis.unwrap();
    assert_eq!(redis.database, 2);
    assert_eq!(
        redis.tls.unwrap().ca_bundle,
        Some(crate::SecretRef::File("/etc/ssl/ca.crt".into()))
    );
}

#[test]
fn source_criteria_are_mutually_exclusive() {
    let errors = refused(
        "      rateLimit:\n        average: 1\n        sourceCriterion: { requestHost: true, requestHeaderName: X-User }\n",
    );
    assert_eq!(
        errors,
        [
            "http.middlewares.m.rateLimit.sourceCriterion: ipStrategy, requestHeaderName and requestHost are mutually exclusive"
        ]
    );
    let errors = refused("      rateLimit: { average: -1, burst: -2 }\n");
    assert_eq!(
        errors,
        [
            "http.middlewares.m.rateLimit.average: must be 0 or greater",
            "http.middlewares.m.rateLimit.burst: must be 0 or greater",
        ]
    );
}

#[test]
fn in_flight_req_groups_by_request_host_by_default() {
    let MiddlewareConfig::InFlightReq(in_flight) =
        middleware("      inFlightReq: { amount: 10 }\n").unwrap()
    else {
        panic!("not inFlightReq")
    };
    assert_eq!(in_flight.amount, 10);
    assert_eq!(in_flight.source, SourceCriterion::RequestHost);
    let MiddlewareConfig::InFlightReq(in_flight) = middleware(
        "      inFlightReq: { amount: 1, sourceCriterion: { requestHeaderName: X-Tenant } }\n",
    )
    .unwrap() else {
        panic!("not inFlightReq")
    };
    assert_eq!(
        in_flight.source,
        SourceCriterion::RequestHeader(HeaderName::from_static("x-tenant"))
    );
}

#[test]
fn retry_requires_attempts_and_status_without_network_errors() {
    let MiddlewareConfig::Retry(retry) =
        middleware("      retry: { attempts: 4, initialInterval: 100ms }\n").unwrap()
    else {
        panic!("not retry")
    };
    assert_eq!(retry.attempts, 4);
    assert_eq!(retry.initial_interval, Duration::from_millis(100));
    assert_eq!(retry.max_request_body_bytes, Some(DEFAULT_RETRY_MAX_BODY));
    assert!(retry.retry_on_network_error);
    assert_eq!(
        refused(
            "      retry: { attempts: 0, disableRetryOnNetworkError: true, status: [\"600\", \"500-\"] }\n"
        ),
        [
            "http.middlewares.m.retry.attempts: must be at least 1",
            "http.middlewares.m.retry.status[0]: expected a status code (500) or a range (500-599) between 100 and 599",
            "http.middlewares.m.retry.status[1]: expected a status code (500) or a range (500-599) between 100 and 599",
            "http.middlewares.m.retry.status: is required when disableRetryOnNetworkError is true",
        ]
    );
    assert_eq!(
        refused("      retry: {}\n"),
        ["http.middlewares.m.retry.attempts: is required"]
    );
}

#[test]
fn two_middleware_types_in_one_are_refused() {
    let errors = refused("      retry: { attempts: 1 }\n      inFlightReq: { amount: 1 }\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("found 2"), "{errors:?}");
}

#[test]
fn the_deprecated_ip_white_list_is_an_ip_allow_list_without_reject_status_code() {
    let MiddlewareConfig::IpAllowList(allow) = middleware(
        "      ipWhiteList:\n        sourceRange: [\"127.0.0.1/32\"]\n        ipStrategy: { depth: 1 }\n",
    )
    .unwrap() else {
        panic!("not ipAllowList")
    };
    assert_eq!(allow.reject_status, StatusCode::FORBIDDEN);
    assert_eq!(allow.strategy.depth, 1);
    let errors =
        refused("      ipWhiteList:\n        sourceRange: [x]\n        rejectStatusCode: 404\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("rejectStatusCode"), "{errors:?}");
}
