//! Model-based property test (R01–R29): random sequences of every store
//! operation, with a clock that moves, run against the store and against the
//! reference model in `tests/harness`; every answer must agree.
//!
//! `GRANTDB_PROPTEST_CASES` sets the number of sequences (default 256). The
//! crash inputs the fuzzers found replay here too (`replay.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
#[cfg(feature = "postgres")]
#[path = "../support/pg.rs"]
mod pg;
mod replay;

use harness::Op;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let n = || any::<u8>();
    prop_oneof![
        2 => n().prop_map(|template| Op::Register { template }),
        1 => (n(), any::<bool>()).prop_map(|(client, stale)| Op::Authenticate { client, stale }),
        1 => n().prop_map(|client| Op::RotateSecret { client }),
        1 => n().prop_map(|client| Op::DeleteClient { client }),
        6 => (n(), n(), n(), n(), n(), n()).prop_map(|(client, subject, scope, redirect, pkce, binding)| Op::IssueCode {
            client, subject, scope, redirect, pkce, binding
        }),
        6 => (n(), n(), n(), n(), n()).prop_map(|(code, client, redirect, verifier, proof)| Op::ExchangeCode {
            code, client, redirect, verifier, proof
        }),
        10 => (n(), n(), n()).prop_map(|(client, subject, scope)| Op::Password { client, subject, scope }),
        3 => (n(), n()).prop_map(|(client, scope)| Op::ClientCredentials { client, scope }),
        8 => (n(), n(), n(), n()).prop_map(|(token, client, scope, proof)| Op::Refresh { token, client, scope, proof }),
        3 => (n(), any::<bool>(), n()).prop_map(|(token, refresh, client)| Op::Revoke { token, refresh, client }),
        1 => n().prop_map(|subject| Op::RevokeSubject { subject }),
        1 => n().prop_map(|client| Op::RevokeClient { client }),
        1 => (n(), n()).prop_map(|(subject, client)| Op::RevokeSubjectAtClient { subject, client }),
        5 => n().prop_map(|token| Op::Validate { token }),
        3 => (n(), any::<bool>()).prop_map(|(token, refresh)| Op::Introspect { token, refresh }),
        1 => (n(), n()).prop_map(|(token, position)| Op::Malformed { token, position }),
        2 => Just(Op::Purge),
        4 => n().prop_map(|step| Op::Advance { step }),
        2 => n().prop_map(|step| Op::StepBack { step }),
        1 => (n(), n(), n()).prop_map(|(subject, client, scope)| Op::RecordConsent { subject, client, scope }),
        1 => (n(), n(), n()).prop_map(|(subject, client, scope)| Op::HasConsent { subject, client, scope }),
        1 => n().prop_map(|subject| Op::ListSubject { subject }),
        1 => n().prop_map(|client| Op::ListClient { client }),
        1 => (n(), n()).prop_map(|(grant, subject)| Op::RevokeGrant { grant, subject }),
        1 => n().prop_map(|subject| Op::ListConsents { subject }),
        1 => (n(), n()).prop_map(|(subject, client)| Op::WithdrawConsent { subject, client }),
        1 => n().prop_map(|sid| Op::RevokeSession { sid }),
        2 => (n(), n()).prop_map(|(jti, window)| Op::ClaimJti { jti, window }),
        1 => Just(Op::AddKey),
        1 => n().prop_map(|key| Op::RetireKey { key }),
        2 => (n(), n(), any::<bool>()).prop_map(|(client, scope, pkce)| Op::Push { client, scope, pkce }),
        2 => (n(), n(), n()).prop_map(|(request, client, subject)| Op::UsePushed { request, client, subject }),
        2 => (n(), n()).prop_map(|(client, scope)| Op::StartDevice { client, scope }),
        3 => (n(), any::<bool>(), n(), any::<bool>()).prop_map(|(device, approve, subject, wrong)| Op::AnswerDevice { device, approve, subject, wrong }),
        4 => (n(), n()).prop_map(|(device, client)| Op::PollDevice { device, client }),
    ]
}

fn cases() -> u32 {
    std::env::var("GRANTDB_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Every answer of the store matches the reference model of R01–R29.
    #[test]
    fn store_agrees_with_the_lifecycle_model(
        preset in 0u8..3,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        // Start with one client of each template so most operations have a target.
        let mut all = (0..5).map(|template| Op::Register { template }).collect::<Vec<_>>();
        all.extend(ops);
        if let Err(failure) = harness::run(preset, &all) {
            prop_assert!(false, "{}", failure);
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    //! The same property on the PostgreSQL backend (fewer cases: each opens a
    //! schema on the test server). `GRANTDB_PG_PROPTEST_CASES` sets the count.

    use grantdb::{ManualClock, Store};
    use proptest::prelude::*;

    use super::{harness, op, pg};

    fn cases() -> u32 {
        std::env::var("GRANTDB_PG_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        /// Every answer of the store on PostgreSQL matches the reference model.
        #[test]
        fn postgres_store_agrees_with_the_lifecycle_model(
            preset in 0u8..3,
            ops in prop::collection::vec(op(), 1..80),
        ) {
            let Some(backend) = pg::backend(true) else {
                return Ok(());
            };
            let clock = ManualClock::new(harness::T0);
            let config = harness::config(preset).clock(clock.handle()).build().unwrap();
            let store = Store::with_backend(backend, config).unwrap();
            let mut all = (0..5).map(|template| harness::Op::Register { template }).collect::<Vec<_>>();
            all.extend(ops);
            if let Err(failure) = harness::run_on(&store, &clock, preset, &all) {
                prop_assert!(false, "{}", failure);
            }
        }
    }
}
