//! OIDC JWTs at a real `warroom server`: the test is the identity provider (discovery document
//! and JWKS over HTTP on loopback, P-256 keys generated here with ring). Accepted: a token signed
//! by a published key, with the right issuer and audience, not expired; the identity comes from
//! the `email` claim. Refused: expired, signed by another key, wrong audience or issuer. A key
//! added later (rotation) is fetched when a token names it. Groups from the configured groups
//! claim match `group:NAME` in a policy rule. Refused too: an unverified email, `nbf` or `iat`
//! in the future, keys from a plain-http issuer or jwks_uri that is not loopback.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pg::PgServer;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use server_process::{Api, ServerProcess, client_record, config_text, free_port};
use warroom_core::audit::GENESIS_HASH;

pub(crate) const AUDIENCE: &str = "warroom";
const CAROL: &str = "carol@example.com";

/// A P-256 signing key: its PKCS#8 document and its public JWK.
pub(crate) struct TestKey {
    pkcs8: Vec<u8>,
    kid: String,
}

impl TestKey {
    pub(crate) fn new(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate P-256 key")
            .as_ref()
            .to_vec();
        TestKey {
            pkcs8,
            kid: kid.to_string(),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &rng)
            .expect("key pair");
        let point = pair.public_key().as_ref(); // 0x04 || x || y
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// A JWT signed with this key, header kid = `kid`.
    pub(crate) fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .expect("sign")
    }
}

#[derive(Clone)]
pub(crate) struct Idp {
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    issuer: Arc<Mutex<String>>,
    /// The discovery document's jwks_uri; default `{issuer}/jwks`.
    jwks_uri: Arc<Mutex<Option<String>>>,
}

/// Serves the discovery document and `jwks` (changeable later through the returned `Idp`);
/// returns it with the issuer URL.
pub(crate) async fn start_idp(jwks: Value) -> (Idp, String) {
    let idp = Idp {
        jwks: Arc::new(Mutex::new(jwks)),
        fetches: Arc::new(AtomicUsize::new(0)),
        issuer: Arc::new(Mutex::new(String::new())),
        jwks_uri: Arc::new(Mutex::new(None)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    *idp.issuer.lock().expect("lock") = issuer.clone();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(idp): State<Idp>| async move {
                let issuer = idp.issuer.lock().expect("lock").clone();
                let jwks_uri = idp.jwks_uri.lock().expect("lock").clone();
                let jwks_uri = jwks_uri.unwrap_or_else(|| format!("{issuer}/jwks"));
                axum::Json(json!({"issuer": issuer, "jwks_uri": jwks_uri}))
            }),
        )
        .route(
            "/jwks",
            get(|State(idp): State<Idp>| async move {
                idp.fetches.fetch_add(1, Ordering::SeqCst);
                axum::Json(idp.jwks.lock().expect("lock").clone())
            }),
        )
        .with_state(idp.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (idp, issuer)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn record(id: &str) -> String {
    let session = format!("session-{id}");
    let mut r = client_record(id, &session, "2026-03-01T09:30:00.000Z", Some(CAROL));
    r.seal(GENESIS_HASH).expect("seal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_from_the_issuers_keys_are_accepted_and_others_refused() {
    let k1 = TestKey::new("k1");
    let (idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let pg = PgServer::start();
    let port = free_port();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\n",
        config_text(port, &db, "")
    );
    let server = ServerProcess::start(port, &config).await;
    let claims = |exp: u64, aud: &str, iss: &str| json!({"iss": iss, "aud": aud, "sub": "u-123", "email": CAROL, "email_verified": true, "exp": exp, "iat": now()});
    let good = claims(now() + 300, AUDIENCE, &issuer);
    let post = |token: String, id: &str| {
        let api = Api::new(&server.url(), Some(&token));
        let body = record(id);
        async move { api.post(body).await }
    };

    // Accepted, and the identity is the email claim.
    let (status, answer) = post(k1.sign("k1", &good), "jwt-ok").await;
    assert_eq!(status, 200, "{answer}");
    let (_, got) = Api::new(&server.url(), Some(&k1.sign("k1", &good)))
        .get("/v1/audit/jwt-ok")
        .await;
    assert_eq!(got["received_from"], json!(CAROL));
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "keys are cached");

    // Refused: expired, another key under the same kid, wrong audience, wrong issuer.
    let expired = claims(now() - 600, AUDIENCE, &issuer);
    let foreign = TestKey::new("k1");
    let cases = [
        ("expired", k1.sign("k1", &expired)),
        ("foreign key", foreign.sign("k1", &good)),
        (
            "wrong audience",
            k1.sign("k1", &claims(now() + 300, "other", &issuer)),
        ),
        (
            "wrong issuer",
            k1.sign("k1", &claims(now() + 300, AUDIENCE, "https://evil.example")),
        ),
        (
            "no email claim",
            k1.sign(
                "k1",
                &json!({"iss": issuer, "aud": AUDIENCE, "exp": now() + 300}),
            ),
        ),
    ];
    for (what, token) in cases {
        let (status, answer) = post(token, &format!("jwt-{}", what.replace(' ', "-"))).await;
        assert_eq!(status, 401, "{what}: {answer}");
    }
    // A key the issuer does not publish (unknown kid): refused after asking the issuer again.
    let stranger = TestKey::new("k-stranger");
    let (status, _) = post(stranger.sign("k-stranger", &good), "jwt-stranger").await;
    assert_eq!(status, 401);
    let client = pg.connect("postgres", "oidc-test").await;
    let stored: i64 = client
        .query_one("SELECT count(*) FROM audit_records", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 1, "only the good token stored anything");

    // Rotation: the issuer starts publishing k2; a token signed with it is accepted once the
    // server fetches the keys again (at most every 5 s for unknown key ids).
    let k2 = TestKey::new("k2");
    *idp.jwks.lock().expect("lock") = json!({"keys": [k1.jwk(), k2.jwk()]});
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let (status, answer) = post(k2.sign("k2", &good), "jwt-rotated").await;
    assert_eq!(status, 200, "{answer}");
    let log = server.log();
    assert!(
        !log.contains(&k1.sign("k1", &good)[..40]),
        "no token in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_from_the_configured_groups_claim_matches_a_policy_rule() {
    let k1 = TestKey::new("k1");
    let (_idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let pg = PgServer::start();
    let port = free_port();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\ngroups_claim = \"roles\"\n\
         [[server.rule]]\nname = \"sre cancel\"\nidentities = [\"group:sre\"]\ncontexts = [\"prod\"]\nactions = [\"pg.cancel\"]\n\
         [[postgres]]\nname = \"prod\"\nurl = \"{db}\"\n",
        config_text(port, &db, "actions_audit_file = \"actions.jsonl\"")
    );
    let server = ServerProcess::start(port, &config).await;
    let token = |roles: Value| {
        k1.sign(
            "k1",
            &json!({"iss": issuer, "aud": AUDIENCE, "email": CAROL, "email_verified": true,
                    "roles": roles, "exp": now() + 300, "iat": now()}),
        )
    };
    let cancel = json!({
        "action": {"name": "pg.cancel", "target": {
            "context": "prod", "pid": 999_999, "backend_start": null, "query_start": null,
            "user": null, "application": "", "database": null, "state": null, "query": ""}},
        "reason": "INC-7 a runaway query",
    });
    let post = |token: String| {
        let (url, body) = (format!("{}/v1/actions", server.url()), cancel.to_string());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            let v: Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
            (status, v)
        }
    };
    // In group sre: the rule matches (the target is then re-read: pid 999999 does not exist).
    let (status, answer) = post(token(json!(["dev", "sre"]))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rule"], "sre cancel", "{answer}");
    assert_eq!(answer["requester"], CAROL);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("no longer exists"),
        "{answer}"
    );
    // Not in it: no rule matches, refused.
    let (status, answer) = post(token(json!(["dev"]))).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["rule"].is_null(), "{answer}");
}

/// The server's 401 for `token` on `POST /v1/audit`: (status, error text).
async fn refusal(server: &ServerProcess, token: &str, id: &str) -> (u16, String) {
    let (status, answer) = Api::new(&server.url(), Some(token)).post(record(id)).await;
    (status, answer["error"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_email_and_a_token_from_the_future_are_refused() {
    let k1 = TestKey::new("k1");
    let (_idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let pg = PgServer::start();
    let port = free_port();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\n",
        config_text(port, &db, "")
    );
    let server = ServerProcess::start(port, &config).await;
    let token = |extra: Value| {
        let mut claims = json!({"iss": issuer, "aud": AUDIENCE, "email": CAROL,
                                "email_verified": true, "exp": now() + 300, "iat": now()});
        for (k, v) in extra.as_object().expect("object") {
            match v {
                Value::Null => claims.as_object_mut().expect("object").remove(k),
                v => claims
                    .as_object_mut()
                    .expect("object")
                    .insert(k.clone(), v.clone()),
            };
        }
        k1.sign("k1", &claims)
    };

    // Refused with the reason: the email is not proven, or the token is not valid yet.
    for (what, extra, why) in [
        (
            "unverified",
            json!({"email_verified": false}),
            "email_verified",
        ),
        (
            "no email_verified",
            json!({"email_verified": null}),
            "email_verified",
        ),
        (
            "nbf later",
            json!({"nbf": now() + 600}),
            "nbf is in the future",
        ),
        ("iat later", json!({"iat": now() + 600}), "iat"),
    ] {
        let (status, error) = refusal(
            &server,
            &token(extra),
            &format!("jwt-{}", what.replace(' ', "-")),
        )
        .await;
        assert_eq!(status, 401, "{what}: {error}");
        assert!(error.contains(why), "{what}: {error}");
    }
    // Within the 30 s leeway, and nbf/iat in the past: accepted.
    for (what, extra) in [
        ("skewed", json!({"nbf": now() + 10, "iat": now() + 10})),
        ("past", json!({"nbf": now() - 60, "iat": now() - 60})),
    ] {
        let (status, error) = refusal(&server, &token(extra), &format!("jwt-{what}")).await;
        assert_eq!(status, 200, "{what}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_only_over_https_or_from_loopback() {
    // At config load: a plain-http issuer or jwks_url elsewhere than loopback is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.toml");
    let base = config_text(free_port(), "postgres://warroom@127.0.0.1:1/warroom", "");
    let check = |oidc: &str| {
        let text = format!("{base}\n[server.oidc]\naudience = \"{AUDIENCE}\"\n{oidc}");
        std::fs::write(&path, &text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["server", "check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        let line = text.lines().count();
        (
            out.status.success(),
            line,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, line, err) = check("issuer = \"http://idp.example\"\n");
    assert!(!ok, "plain-http issuer accepted");
    assert!(
        err.contains(&format!(
            "server.toml:{line}:10: server.oidc.issuer: must be an https URL"
        )),
        "{err}"
    );
    let (ok, line, err) =
        check("issuer = \"https://idp.example\"\njwks_url = \"http://keys.example/jwks\"\n");
    assert!(!ok, "plain-http jwks_url accepted");
    assert!(
        err.contains(&format!(
            "server.toml:{line}:12: server.oidc.jwks_url: must be an https URL"
        )),
        "{err}"
    );
    let (ok, _, err) = check("issuer = \"http://localhost:9\"\njwks_url = \"http://[::1]:9/k\"\n");
    assert!(ok, "{err}");

    // At fetch time: the discovery document (from a loopback issuer) points at plain http
    // elsewhere (0.0.0.0 reaches this machine, but is not loopback): no key is fetched there.
    let k1 = TestKey::new("k1");
    let (idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let idp_port = issuer.rsplit(':').next().expect("port");
    *idp.jwks_uri.lock().expect("lock") = Some(format!("http://0.0.0.0:{idp_port}/jwks"));
    let pg = PgServer::start();
    let port = free_port();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\n",
        config_text(port, &db, "")
    );
    let server = ServerProcess::start(port, &config).await;
    let good = json!({"iss": issuer, "aud": AUDIENCE, "email": CAROL, "email_verified": true,
                      "exp": now() + 300, "iat": now()});
    let (status, error) = refusal(&server, &k1.sign("k1", &good), "jwt-plain-jwks").await;
    assert_eq!(status, 401, "{error}");
    assert!(
        error.contains("jwks_uri") && error.contains("https"),
        "{error}"
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        0,
        "no key fetched over plain http"
    );
}
