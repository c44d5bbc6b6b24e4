//! Talking to the server from the test process: `tokio-postgres` on the
//! harness's own runtime, so the sync API works the same in a plain
//! `#[test]` and inside a caller's `#[tokio::test]`.

use std::time::Duration;

use serde_json::{Map, Number, Value};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row};

use crate::error::{bail, Context, Error, Result};

/// One row: column name to value.
pub type DbRow = Map<String, Value>;

/// Connects to `dsn`, runs `work` with the client, and closes the
/// connection; the whole within `limit`.
async fn with_client<T>(
    dsn: &str,
    limit: Duration,
    work: impl AsyncFnOnce(&Client) -> Result<T>,
) -> Result<T> {
    let attempt = async {
        let (client, connection) = tokio_postgres::connect(dsn, NoTls)
            .await
            .with_context(|| format!("connecting to {dsn}"))?;
        let driver = tokio::spawn(connection);
        let result = work(&client).await;
        drop(client);
        let _ = driver.await;
        result
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| Error::msg(format!("{dsn} did not answer within {}s", limit.as_secs())))?
}

/// Whether the server at `dsn` accepts a connection now; the error says
/// why not.
pub(crate) fn ping(dsn: &str, limit: Duration) -> Result<()> {
    let dsn = dsn.to_string();
    crate::runtime::block_on(async move {
        with_client(&dsn, limit, async |c: &Client| {
            c.simple_query("SELECT 1").await.context("SELECT 1")?;
            Ok(())
        })
        .await
    })
}

/// Runs `statement` (no result rows expected) on `dsn`.
pub(crate) fn execute(dsn: &str, statement: &str, limit: Duration) -> Result<()> {
    let (dsn, statement) = (dsn.to_string(), statement.to_string());
    crate::runtime::block_on(async move {
        with_client(&dsn, limit, async |c: &Client| {
            c.batch_execute(&statement)
                .await
                .with_context(|| format!("running `{statement}`"))
        })
        .await
    })
}

/// Runs `sql` on `dsn` and returns its rows, each column as JSON (see
/// [`Node::db_query`](crate::Node::db_query) for the types).
pub(crate) fn query(dsn: &str, sql: &str, limit: Duration) -> Result<Vec<DbRow>> {
    let (dsn, sql) = (dsn.to_string(), sql.to_string());
    crate::runtime::block_on(async move {
        with_client(&dsn, limit, async |c: &Client| {
            let rows = c
                .query(sql.as_str(), &[])
                .await
                .with_context(|| format!("running `{sql}`"))?;
            rows.iter().map(|row| to_json(row, &sql)).collect()
        })
        .await
    })
}

fn to_json(row: &Row, sql: &str) -> Result<DbRow> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let value = value(row, i, column.type_())
            .with_context(|| format!("column {name} of `{sql}` (a {})", column.type_()))?;
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// One value as JSON: integers and floats as numbers, text as strings,
/// `bytea` as lower-case hex (as lightningd's JSON shows ids and
/// scripts), booleans, NULL as null.
fn value(row: &Row, i: usize, ty: &Type) -> Result<Value> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<Option<T>> {
        row.try_get::<_, Option<T>>(i).context("reading the value")
    }
    let value = match *ty {
        Type::BOOL => get::<bool>(row, i)?.map(Value::Bool),
        Type::INT2 => get::<i16>(row, i)?.map(Value::from),
        Type::INT4 => get::<i32>(row, i)?.map(Value::from),
        Type::INT8 => get::<i64>(row, i)?.map(Value::from),
        Type::OID => get::<u32>(row, i)?.map(Value::from),
        Type::FLOAT4 => get::<f32>(row, i)?.map(|f| float(f.into())),
        Type::FLOAT8 => get::<f64>(row, i)?.map(float),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            get::<String>(row, i)?.map(Value::String)
        }
        Type::BYTEA => get::<Vec<u8>>(row, i)?.map(|b| Value::String(hex(&b))),
        _ => bail!("no JSON form for this type here: cast it in the query (`column::text`)"),
    };
    Ok(value.unwrap_or(Value::Null))
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_lower_case_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
        assert_eq!(float(f64::NAN), Value::Null);
    }
}
