//! TLS to a real PostgreSQL with libpq's sslmode meanings, over rustls: require encrypts,
//! verify-ca checks the chain, verify-full checks the chain and the host name.

use warroom_testkit::pg;

use std::path::Path;
use std::process::Command;

use warroom_core::backends::postgres::{ConnectSpec, PgSource, RealPg};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for this test (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for the name `db.internal` only (not 127.0.0.1).
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=warroom test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=db.internal",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:db.internal\n").expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

/// Install the certificate into the cluster and turn ssl on (a reload is enough).
async fn enable_ssl(server: &pg::PgServer, certs: &Path) {
    let data = server.dir().join("data");
    for f in ["server.crt", "server.key"] {
        std::fs::copy(certs.join(f), data.join(f)).expect("copy cert");
        let owner = std::fs::metadata(&data).expect("data dir");
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        std::os::unix::fs::chown(data.join(f), Some(owner.uid()), Some(owner.gid()))
            .expect("chown");
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    server.exec("ALTER SYSTEM SET ssl = on").await;
    server.exec("SELECT pg_reload_conf()").await;
    // The reload is asynchronous: wait until a new session sees it.
    for _ in 0..50 {
        let c = server.connect("postgres", "tls-probe").await;
        let on: String = c.query_one("SHOW ssl", &[]).await.expect("show ssl").get(0);
        if on == "on" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("ssl did not turn on:\n{}", server.log_contents());
}

async fn activity(url: &str) -> Result<usize, String> {
    let spec = ConnectSpec::resolve(url, None)?;
    let pg = RealPg::new(spec);
    pg.activity()
        .await
        .map(|s| s.sessions.len())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn sslmodes_behave_like_libpq() {
    let server = pg::PgServer::start();
    let certs = tempfile::tempdir().expect("tempdir");
    make_certs(certs.path());
    enable_ssl(&server, certs.path()).await;
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    let ca = certs.path().join("ca.crt");
    let ca = ca.display();

    // require: encrypted, certificate not checked.
    // The monitoring session stays open while another session looks at it.
    let monitor =
        RealPg::new(ConnectSpec::resolve(&format!("{base}?sslmode=require"), None).expect("spec"));
    monitor.activity().await.expect("require connects");
    let probe = server.connect("postgres", "tls-check").await;
    let ssl: bool = probe
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'warroom'",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert!(ssl, "the warroom session must be encrypted");
    drop(monitor);

    // verify-ca: the chain is checked against sslrootcert, the name (127.0.0.1) is not.
    activity(&format!("{base}?sslmode=verify-ca&sslrootcert={ca}"))
        .await
        .expect("verify-ca connects");

    // verify-full: the certificate is for db.internal, not 127.0.0.1.
    let err = activity(&format!("{base}?sslmode=verify-full&sslrootcert={ca}"))
        .await
        .expect_err("name mismatch");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // verify-full without our CA: unknown issuer.
    let err = activity(&format!("{base}?sslmode=verify-full"))
        .await
        .expect_err("unknown issuer");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // disable: plain TCP still works against this server.
    activity(&format!("{base}?sslmode=disable"))
        .await
        .expect("disable connects");

    // A bad mode is a clear configuration error.
    let err = ConnectSpec::resolve(&format!("{base}?sslmode=verify"), None).expect_err("bad mode");
    assert!(err.contains("unknown sslmode"), "{err}");
}
