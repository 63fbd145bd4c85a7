//! The table the origin tests share: requests, a policy, a `Host` check,
//! and the status expected (101 for accepted).

use rfc6455::handshake::OriginPolicy;

pub struct Case {
    pub name: &'static str,
    pub host: &'static str,
    /// `Origin` lines (none, one, or two).
    pub origins: &'static [&'static str],
    pub policy: OriginPolicy,
    /// Require `Origin` (`require_origin` instead of `check_origin`).
    pub require: bool,
    /// The names for `check_host` (empty: any).
    pub hosts: &'static [&'static str],
    pub status: u16,
}

fn list(origins: &[&str]) -> Vec<String> {
    origins.iter().map(|o| o.to_string()).collect()
}

pub fn cases() -> Vec<Case> {
    use OriginPolicy::*;
    let case = |name, host, origins, policy, status| Case {
        name,
        host,
        origins,
        policy,
        require: false,
        hosts: &[],
        status,
    };
    vec![
        case(
            "same origin",
            "127.0.0.1:9001",
            &["http://127.0.0.1:9001"],
            SameOrigin,
            101,
        ),
        case(
            "same origin https",
            "127.0.0.1:9001",
            &["https://127.0.0.1:9001"],
            SameOrigin,
            101,
        ),
        case(
            "no origin: not a browser",
            "127.0.0.1:9001",
            &[],
            SameOrigin,
            101,
        ),
        case(
            "foreign origin",
            "127.0.0.1:9001",
            &["http://evil.example"],
            SameOrigin,
            403,
        ),
        case(
            "other port",
            "127.0.0.1:9001",
            &["http://127.0.0.1:9002"],
            SameOrigin,
            403,
        ),
        case(
            "null origin (data: page)",
            "127.0.0.1:9001",
            &["null"],
            SameOrigin,
            403,
        ),
        case(
            "suffix trick",
            "127.0.0.1:9001",
            &["http://127.0.0.1:9001.evil.example"],
            SameOrigin,
            403,
        ),
        case(
            "two origins",
            "127.0.0.1:9001",
            &["http://127.0.0.1:9001", "http://127.0.0.1:9001"],
            SameOrigin,
            403,
        ),
        case(
            "default port",
            "example.com",
            &["https://example.com"],
            SameOrigin,
            101,
        ),
        case(
            "any origin",
            "127.0.0.1:9001",
            &["http://evil.example"],
            AnyOrigin,
            101,
        ),
        case(
            "listed",
            "ws.example",
            &["https://app.example"],
            AllowList(list(&["https://app.example"])),
            101,
        ),
        case(
            "list is not same origin",
            "ws.example",
            &["https://ws.example"],
            AllowList(list(&["https://app.example"])),
            403,
        ),
        case(
            "widened",
            "127.0.0.1:9001",
            &["http://localhost:3000"],
            SameOriginOr(list(&["http://localhost:3000"])),
            101,
        ),
        case(
            "widened, still same origin",
            "127.0.0.1:9001",
            &["http://127.0.0.1:9001"],
            SameOriginOr(list(&["http://localhost:3000"])),
            101,
        ),
        case(
            "widened, foreign",
            "127.0.0.1:9001",
            &["http://evil.example"],
            SameOriginOr(list(&["http://localhost:3000"])),
            403,
        ),
        Case {
            require: true,
            ..case("required, absent", "127.0.0.1:9001", &[], SameOrigin, 403)
        },
        Case {
            require: true,
            ..case("required, any", "127.0.0.1:9001", &[], AnyOrigin, 101)
        },
        Case {
            hosts: &["127.0.0.1:9001", "localhost"],
            ..case(
                "known host",
                "localhost:9001",
                &["http://localhost:9001"],
                SameOrigin,
                101,
            )
        },
        Case {
            // DNS rebinding: Origin and Host both carry the attacker's name.
            hosts: &["127.0.0.1:9001", "localhost"],
            ..case(
                "rebound host",
                "evil.example:9001",
                &["http://evil.example:9001"],
                SameOrigin,
                421,
            )
        },
    ]
}
