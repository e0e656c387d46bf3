//! tokio-postgres clients for tests, with the connection driven on a spawned task.

/// Connects with tokio-postgres (no TLS) and drives the connection on a
/// spawned task.
pub async fn try_connect(conninfo: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Like [`try_connect`], panicking on failure.
pub async fn connect(conninfo: &str) -> tokio_postgres::Client {
    try_connect(conninfo)
        .await
        .unwrap_or_else(|e| panic!("cannot connect with {conninfo:?}: {e}"))
}
