//! Opens N logged-in, idle connections to a PostgreSQL endpoint, prints `ready N` once
//! all are up, and holds them until stdin closes. The benchmark script measures the
//! proxy's memory meanwhile.
//!
//! Usage: hold-connections N "host=127.0.0.1 port=6432 user=bench dbname=bench"

use std::io::Read;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(conn_str)) = (
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: hold-connections N CONNECTION_STRING");
        std::process::exit(2);
    };
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        match tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                clients.push(client);
            }
            Err(e) => {
                eprintln!("connection {i} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    // One query each, so every session is fully set up, then idle.
    for c in &clients {
        if let Err(e) = c.simple_query("select 1").await {
            eprintln!("query failed: {e}");
            std::process::exit(1);
        }
    }
    println!("ready {}", clients.len());
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await
    .unwrap();
}
