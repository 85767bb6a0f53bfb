use super::*;
use crate::store::test_db::TestPostgres;

fn record(hotkey: &str, score: f64, outcome: Outcome) -> QueryRecord {
    QueryRecord {
        miner_hotkey: hotkey.into(),
        uid: 3,
        circuit: "conv3x3".into(),
        profile: "p".into(),
        batch_size: 1,
        quality: outcome.passed().then_some(0.999),
        seconds_per_item: Some(1.5),
        key_upload_seconds: None,
        outcome,
        score,
        block: 10,
        started_at_ms: 1,
        finished_at_ms: 2,
    }
}

/// Writes queries and a weight setting, closes, reopens and reads them back: the
/// same assertions for both backends.
async fn queries_and_weights_survive_reopening(spec: &str, backend: Backend) {
    {
        let store = Store::open(spec).await.unwrap();
        assert_eq!(store.backend(), backend);
        for i in 0..5 {
            store
                .insert_query(&record("alice", i as f64, Outcome::Passed))
                .await
                .unwrap();
        }
        store
            .insert_query(&record(
                "bob",
                0.0,
                Outcome::failed(FailureKind::TruncatedStream, "2 of 3 frames"),
            ))
            .await
            .unwrap();
        store
            .insert_weight_setting(&WeightSetting {
                block: 99,
                set_at_ms: 5,
                uids: vec![3],
                weights: vec![65535],
                outcome: "ok".into(),
            })
            .await
            .unwrap();
        store.close().await;
    }
    // Reopening applies no migration twice and finds everything.
    let store = Store::open(spec).await.unwrap();
    assert_eq!(store.query_count().await.unwrap(), 6);
    assert_eq!(
        store.known_miners().await.unwrap(),
        vec!["alice".to_string(), "bob".to_string()]
    );
    let alice = store.recent_queries("alice", 3).await.unwrap();
    assert_eq!(
        alice.iter().map(|q| q.score).collect::<Vec<_>>(),
        vec![4.0, 3.0, 2.0],
        "newest first, limited"
    );
    let bob = store.recent_queries("bob", 40).await.unwrap();
    assert_eq!(
        bob[0].outcome,
        Outcome::failed(FailureKind::TruncatedStream, "2 of 3 frames")
    );
    assert_eq!(bob[0].quality, None);
    assert_eq!(store.last_weights_block().await.unwrap(), Some(99));
    store.close().await;
}

#[tokio::test]
async fn sqlite_queries_and_weights_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    queries_and_weights_survive_reopening(path.to_str().unwrap(), Backend::Sqlite).await;
}

/// The same round trip on a real PostgreSQL server, in a database of its own.
#[tokio::test]
async fn postgres_queries_and_weights_survive_reopening() {
    let Some(database) = TestPostgres::create("store").await else {
        return;
    };
    queries_and_weights_survive_reopening(&database.url, Backend::Postgres).await;
    database.drop().await;
}

#[test]
fn database_specs() {
    assert_eq!(database_url("postgres://u:p@h/db").0, Backend::Postgres);
    assert_eq!(
        database_url("sqlite::memory:"),
        (Backend::Sqlite, "sqlite::memory:".into())
    );
    assert_eq!(
        database_url("/var/x.db"),
        (Backend::Sqlite, "sqlite:///var/x.db?mode=rwc".into())
    );
}

/// A TCP relay to the test's PostgreSQL server that can go away as a restarting server
/// does: every connection cut, then each new one answered as a server that is still
/// starting up answers it (SQLSTATE 57P03), until it is back.
struct Relay {
    addr: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, watch) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(Self::relay(inbound, upstream, watch.clone()));
            }
        });
        Self { addr, up, task }
    }

    async fn relay(
        mut inbound: tokio::net::TcpStream,
        upstream: std::net::SocketAddr,
        mut up: tokio::sync::watch::Receiver<bool>,
    ) {
        if !*up.borrow() {
            return Self::answer_starting_up(inbound).await;
        }
        let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
            _ = up.wait_for(|up| !up) => {}
        }
    }

    /// What PostgreSQL answers while it starts: no TLS, then a FATAL error response.
    async fn answer_starting_up(mut stream: tokio::net::TcpStream) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const SSL_REQUEST: [u8; 4] = 80877103u32.to_be_bytes();
        loop {
            let mut length = [0u8; 4];
            if stream.read_exact(&mut length).await.is_err() {
                return;
            }
            let length = (u32::from_be_bytes(length) as usize).clamp(4, 10_000);
            let mut body = vec![0; length - 4];
            if stream.read_exact(&mut body).await.is_err() {
                return;
            }
            if body.starts_with(&SSL_REQUEST) {
                let _ = stream.write_all(b"N").await;
                continue;
            }
            break;
        }
        let fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0";
        let mut message = vec![b'E'];
        message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(fields);
        let _ = stream.write_all(&message).await;
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// PostgreSQL restarting under a running validator: connections cut, new ones told
/// "starting up" for two seconds, then back. A query finished meanwhile waits in the
/// pool (it drops the dead connection and retries the connect within its 30-second
/// acquire timeout) and is stored once the server is back, not lost.
#[tokio::test]
async fn postgres_outage_delays_a_query_record_without_losing_it() {
    let Some(database) = TestPostgres::create("outage").await else {
        return;
    };
    let mut url = url::Url::parse(&database.url).unwrap();
    let server = (url.host_str().unwrap(), url.port().unwrap_or(5432));
    let upstream = tokio::net::lookup_host(server)
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(upstream).await;
    url.set_port(Some(relay.addr.port())).unwrap();
    let store = Store::open(url.as_str()).await.unwrap();
    store
        .insert_query(&record("alice", 1.0, Outcome::Passed))
        .await
        .unwrap();

    relay.set_up(false);
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        relay.set_up(true);
        relay
    });
    let started = std::time::Instant::now();
    store
        .insert_query(&record("alice", 2.0, Outcome::Passed))
        .await
        .expect("stored once the server is back");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store.query_count().await.unwrap(), 2);
    store.close().await;
    drop(back.await.unwrap());
    database.drop().await;
}

/// On PostgreSQL through `AnyPool`, a cached statement keeps the parameter types of its
/// first use: a failed query (no quality, no latency: NULLs) stored first must not make
/// every later passed query on that connection unstorable (found by the soak run).
#[tokio::test]
async fn postgres_stores_passed_queries_after_a_failed_one() {
    let Some(database) = TestPostgres::create("nulls").await else {
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    let failed = QueryRecord {
        seconds_per_item: None,
        ..record(
            "bob",
            0.0,
            Outcome::Failed {
                kind: FailureKind::Unreachable,
                reason: "no route".into(),
            },
        )
    };
    store.insert_query(&failed).await.unwrap();
    for i in 0..3 {
        store
            .insert_query(&record("alice", i as f64, Outcome::Passed))
            .await
            .unwrap();
    }
    assert_eq!(store.query_count().await.unwrap(), 4);
    store.close().await;
    database.drop().await;
}
