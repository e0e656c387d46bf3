use super::*;
use PinReason as P;

fn verdict(sql: &str) -> Verdict {
    classify(sql.as_bytes()).verdict
}

fn pins(sql: &str) -> Option<PinReason> {
    match verdict(sql) {
        Verdict::Pin(p) => Some(p),
        Verdict::Harmless => None,
        other => panic!("{sql}: {other:?}"),
    }
}

fn refused(sql: &str) -> Refusal {
    match verdict(sql) {
        Verdict::Refuse(r) => r,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn harmless_statements() {
    for sql in [
        "SELECT 1",
        "select c from sbtest1 where id = 5",
        "SELECT 'temporary', \"get_lock(1)\", 'KILL 5'",
        "select `get_lock` from t",
        "select get_lock from t",
        "SELECT 1 /* CREATE TEMPORARY TABLE */",
        "SELECT 1 -- KILL 5",
        "SELECT 1 # LOCK TABLES t WRITE",
        "SELECT @x",
        "SELECT @'x', @`y`, @\"z\"",
        "SELECT @x = 1",
        "select @@session.time_zone",
        "set session time_zone = '+05:00'",
        "SET @@session.sql_mode = 'ANSI'",
        "SET sql_mode = DEFAULT, autocommit = 0",
        "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
        "SET CHARACTER SET latin1",
        "SET CHARSET utf8",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET GLOBAL TRANSACTION READ ONLY",
        "SET time_zone = @tz",
        "SET PASSWORD = 'x'",
        "SET DEFAULT ROLE r FOR u",
        "USE shop",
        "INSERT INTO users (email) VALUES ('ann@example.com')",
        "CREATE TABLE t (temporary_code INT)",
        "CREATE TABLE t (x INT)",
        "DROP TABLE t",
        "UNLOCK TABLES",
        "FLUSH TABLES",
        "FLUSH PRIVILEGES",
        "SELECT RELEASE_LOCK('a'), IS_FREE_LOCK('a'), IS_USED_LOCK('a'), RELEASE_ALL_LOCKS()",
        "SELECT LAST_INSERT_ID()",
        "BEGIN",
        "BEGIN WORK",
        "START TRANSACTION READ ONLY",
        "COMMIT; SELECT 1",
        "SET STATEMENT max_statement_time = 1 FOR SELECT SLEEP(2)",
        "SELECT t.kill FROM t",
        "SELECT `kill` FROM t",
        "SELECT kill FROM t WHERE kill > 0",
        "GRANT SELECT ON db.* TO 'u'@'%'",
        "SELECT x INTO OUTFILE '/tmp/x' FROM t",
        "SELECT PREVIOUS VALUE FOR s",
        "LOAD DATA LOCAL INFILE 'f' INTO TABLE t",
        "",
        ";",
        "  ;  ; ",
    ] {
        assert_eq!(verdict(sql), Verdict::Harmless, "{sql}");
    }
}

#[test]
fn user_variables_pin_when_assigned() {
    for sql in [
        "set @acc_v = 41",
        "SET @a=-1",
        "SET x = 1, @y = 2",
        "SET @`q v` := 3",
        "SET @'q' = 1",
        "SELECT @x := 1",
        "SELECT 1 INTO @x",
        "SELECT a, b INTO @x, @y FROM t",
        "SELECT a FROM t INTO @x",
        "select 1 into/**/@x",
        "DO @x := 5",
        "UPDATE t SET c = (@n := @n + 1)",
        "LOAD DATA INFILE 'f' INTO TABLE t (@a) SET c = @a",
        "SET STATEMENT max_statement_time=1 FOR SELECT @a := 1",
    ] {
        assert_eq!(pins(sql), Some(P::UserVariable), "{sql}");
    }
}

#[test]
fn session_objects_pin_by_tokens() {
    let cases = [
        ("create temporary table t(x int)", P::TemporaryTable),
        ("CREATE/**/TEMPORARY TABLE t(x int)", P::TemporaryTable),
        (
            "/*!50000 CREATE TEMPORARY */ TABLE t(x int)",
            P::TemporaryTable,
        ),
        ("/*M! CREATE */ TEMPORARY TABLE t(x int)", P::TemporaryTable),
        (
            "CREATE OR REPLACE TEMPORARY TABLE t(x int)",
            P::TemporaryTable,
        ),
        (
            "/* hi */ DROP TEMPORARY TABLE IF EXISTS t",
            P::TemporaryTable,
        ),
        ("SELECT GET_LOCK('a', 1)", P::NamedLock),
        ("SELECT get_lock /* x */ ('a', 1)", P::NamedLock),
        ("LOCK TABLES t WRITE", P::TableLock),
        ("lock table t read", P::TableLock),
        ("LOCK INSTANCE FOR BACKUP", P::TableLock),
        ("FLUSH TABLES WITH READ LOCK", P::TableLock),
        ("FLUSH TABLES t1, t2 WITH READ LOCK", P::TableLock),
        ("FLUSH TABLES t FOR EXPORT", P::TableLock),
        ("BACKUP STAGE START", P::TableLock),
        ("select sql_calc_found_rows * from t", P::FoundRows),
        ("SELECT FOUND_ROWS()", P::FoundRows),
        (
            "UPDATE seq SET id = LAST_INSERT_ID(id + 1)",
            P::LastInsertIdSet,
        ),
        ("SELECT NEXTVAL(s)", P::Sequence),
        ("SELECT NEXT VALUE FOR s", P::Sequence),
        ("SELECT SETVAL(s, 10)", P::Sequence),
        ("PREPARE s FROM 'SELECT 1'", P::SqlPrepare),
        ("EXECUTE s USING @a", P::SqlPrepare),
        ("DEALLOCATE PREPARE s", P::SqlPrepare),
        ("DROP PREPARE s", P::SqlPrepare),
        ("EXECUTE IMMEDIATE 'SELECT 1'", P::SqlPrepare),
        ("HANDLER t OPEN", P::Handler),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            P::NextTransaction,
        ),
        (
            "SET @@transaction_isolation = 'READ-COMMITTED'",
            P::NextTransaction,
        ),
        ("SET @@tx_read_only = 1", P::NextTransaction),
        ("XA START 'x'", P::Xa),
        ("SET ROLE r", P::Role),
        ("set role all", P::Role),
        ("CALL p(@out)", P::Procedure),
        ("BEGIN NOT ATOMIC SELECT 1; END", P::Procedure),
        ("IF 1 THEN SELECT 1; END IF", P::Procedure),
        ("lbl: LOOP LEAVE lbl; END LOOP", P::Procedure),
        (
            "SET SESSION session_track_system_variables = ''",
            P::SessionTracking,
        ),
        (
            "SET @@session.session_track_schema = OFF",
            P::SessionTracking,
        ),
        (
            "SELECT 'it''s'; CREATE TEMPORARY TABLE t (x INT)",
            P::TemporaryTable,
        ),
        ("SELECT 'a", P::Unreadable),
        ("SELECT /* a", P::Unreadable),
    ];
    for (sql, why) in cases {
        assert_eq!(pins(sql), Some(why), "{sql}");
    }
}

#[test]
fn kill_forms_are_translated() {
    let k = |id, connection| Verdict::Kill { id, connection };
    assert_eq!(verdict("KILL 42"), k(42, true));
    assert_eq!(verdict("kill query 42;"), k(42, false));
    assert_eq!(verdict("  KILL CONNECTION 7 "), k(7, true));
    assert_eq!(verdict("KILL HARD QUERY 9"), k(9, false));
    assert_eq!(verdict("KILL SOFT 9"), k(9, true));
    assert_eq!(verdict("/* x */ KILL 5"), k(5, true));
    assert_eq!(verdict("KILL/**/5"), k(5, true));
    assert_eq!(verdict("KILL\n\tQUERY\r\n5"), k(5, false));
    assert_eq!(verdict("/*! KILL */ 5"), k(5, true));
    assert_eq!(verdict("/*!50000 KILL 5 */"), k(5, true));
    assert_eq!(verdict("# c\nKILL 5 -- bye"), k(5, true));
    assert_eq!(verdict("KILL 5;;"), k(5, true));
}

#[test]
fn kill_forms_sluice_cannot_carry_out_are_refused() {
    use Refusal as R;
    assert_eq!(refused("KILL USER bob"), R::KillUser);
    assert_eq!(refused("KILL CONNECTION USER 'bob'@'%'"), R::KillUser);
    assert_eq!(refused("KILL QUERY ID 9"), R::KillQueryId);
    assert_eq!(refused("KILL HARD QUERY ID 9"), R::KillQueryId);
    assert_eq!(refused("KILL QUERY x"), R::KillExpression);
    assert_eq!(refused("KILL CONNECTION_ID()"), R::KillExpression);
    assert_eq!(refused("KILL 5 + 1"), R::KillExpression);
    assert_eq!(refused("KILL ?"), R::KillExpression);
    assert_eq!(refused("KILL 99999999999"), R::KillExpression);
    assert_eq!(refused("KILL"), R::KillExpression);
    assert_eq!(refused("KILL 5; SELECT 1"), R::KillInMultiStatement);
    assert_eq!(refused("SELECT 1; /* */ KILL 5"), R::KillInMultiStatement);
    assert_eq!(
        refused("CREATE EVENT e ON SCHEDULE AT NOW() DO KILL 5"),
        R::KillInsideStatement
    );
    assert_eq!(
        refused("BEGIN NOT ATOMIC KILL 5; END"),
        R::KillInsideStatement
    );
    assert_eq!(
        refused("CREATE PROCEDURE p() BEGIN IF 1 THEN KILL 5; END IF; END"),
        R::KillInsideStatement
    );
    assert_eq!(
        refused("CREATE PROCEDURE p() BEGIN l1: KILL 5; END"),
        R::KillInsideStatement
    );
    assert_eq!(
        refused("SET STATEMENT max_statement_time=1 FOR KILL 5"),
        R::KillInsideStatement
    );
    assert_eq!(refused("KILL 5 /* open"), R::KillUnreadable);
    // Only one reading of the backslash sees the KILL.
    assert_eq!(refused("SELECT 'a\\'; KILL 5; '"), R::KillUnreadable);
}

#[test]
fn last_insert_id_readers() {
    let reads = |sql: &str| classify(sql.as_bytes()).reads_last_insert_id;
    assert!(reads("SELECT LAST_INSERT_ID()"));
    assert!(reads("select last_insert_id ( )"));
    assert!(reads("select @@IDENTITY"));
    assert!(reads("select @@session.last_insert_id"));
    assert!(!reads("select 1"));
    assert!(!reads("select 'last_insert_id()'"));
    assert!(!reads("select `last_insert_id` from t2"));
}

#[test]
fn no_text_panics() {
    let text =
        "SET @a:=1; /*!50000 KILL QUERY */ 5; CREATE TEMPORARY TABLE `t` ('x\\'', \"y\") -- z";
    for end in 0..=text.len() {
        let _ = classify(&text.as_bytes()[..end]);
    }
    let _ = classify(&[0xff, 0xfe, b'@', b'@', b'`']);
}
