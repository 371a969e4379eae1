//! What a statement in the binary log does to the configured tables.
//!
//! The rule: a query event is read for the tables it can change, never
//! passed over because it is not a row event. `TRUNCATE` of a configured
//! table is a truncate (see `events`); a row-changing statement (`INSERT`,
//! `REPLACE`, `UPDATE`, `DELETE`, `LOAD DATA`: a session that set
//! `binlog_format = STATEMENT` or `MIXED`) is reported with every table it
//! names as a target, so one naming a configured table is refused rather
//! than lost. When in doubt a table counts as written: a false refusal
//! names its fix, a missed write is silent.

/// A table named by a statement: its database when qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub database: Option<String>,
    pub name: String,
}

/// What a statement does to tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `TRUNCATE [TABLE] t`.
    Truncate(TableName),
    /// A statement that changes rows, with the verb and every table named
    /// in its target clause.
    WritesRows {
        verb: &'static str,
        tables: Vec<TableName>,
    },
    /// Anything else (transaction control, DDL other than TRUNCATE, SET).
    Other,
}

/// How table names compare on this server (`lower_case_table_names`: 0
/// compares them as written, 1 and 2 without case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameRule {
    pub fold_case: bool,
}

impl NameRule {
    /// The rule for a server's `lower_case_table_names`.
    pub fn for_setting(lower_case_table_names: i64) -> Self {
        Self {
            fold_case: lower_case_table_names != 0,
        }
    }

    /// Whether `a` and `b` name the same table (or database).
    pub fn same(self, a: &str, b: &str) -> bool {
        if self.fold_case {
            a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
        } else {
            a == b
        }
    }

    /// Whether `table`, named in a statement run in `default_database`,
    /// is `database`.`name`.
    pub fn names(
        self,
        table: &TableName,
        default_database: &str,
        database: &str,
        name: &str,
    ) -> bool {
        let in_database = table.database.as_deref().unwrap_or(default_database);
        self.same(in_database, database) && self.same(&table.name, name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word: a keyword or an identifier.
    Word(String),
    /// A `quoted` identifier.
    Quoted(String),
    /// A string literal (never a table).
    Literal,
    Dot,
    Comma,
    Other,
}

impl Token {
    fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn identifier(&self) -> Option<&str> {
        match self {
            Token::Word(word) | Token::Quoted(word) => Some(word),
            _ => None,
        }
    }
}

/// The statement's tokens; comments are skipped, except the executable
/// `/*! … */` and `/*M! … */` ones, whose text the server runs.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut index = 0;
    let at = |index: usize| chars.get(index).copied();
    while let Some(c) = at(index) {
        match c {
            c if c.is_whitespace() => index += 1,
            '/' if at(index + 1) == Some('*') => {
                let executable = at(index + 2) == Some('!')
                    || (at(index + 2) == Some('M') && at(index + 3) == Some('!'));
                if executable {
                    index += if at(index + 2) == Some('M') { 4 } else { 3 };
                    while at(index).is_some_and(|c| c.is_ascii_digit()) {
                        index += 1;
                    }
                } else {
                    index += 2;
                    while let Some(c) = at(index) {
                        if c == '*' && at(index + 1) == Some('/') {
                            break;
                        }
                        index += 1;
                    }
                    index += 2;
                }
            }
            // The end of an executable comment.
            '*' if at(index + 1) == Some('/') => index += 2,
            '#' => {
                while at(index).is_some_and(|c| c != '\n') {
                    index += 1;
                }
            }
            '-' if at(index + 1) == Some('-') && at(index + 2).is_none_or(char::is_whitespace) => {
                while at(index).is_some_and(|c| c != '\n') {
                    index += 1;
                }
            }
            '`' => {
                let mut name = String::new();
                index += 1;
                while let Some(c) = at(index) {
                    if c == '`' {
                        if at(index + 1) == Some('`') {
                            name.push('`');
                            index += 2;
                            continue;
                        }
                        break;
                    }
                    name.push(c);
                    index += 1;
                }
                index += 1;
                out.push(Token::Quoted(name));
            }
            '\'' | '"' => {
                let quote = c;
                index += 1;
                while let Some(c) = at(index) {
                    if c == '\\' {
                        index += 2;
                        continue;
                    }
                    if c == quote {
                        if at(index + 1) == Some(quote) {
                            index += 2;
                            continue;
                        }
                        break;
                    }
                    index += 1;
                }
                index += 1;
                out.push(Token::Literal);
            }
            '.' => {
                index += 1;
                out.push(Token::Dot);
            }
            ',' => {
                index += 1;
                out.push(Token::Comma);
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let start = index;
                while at(index).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                    index += 1;
                }
                out.push(Token::Word(chars[start..index].iter().collect()));
            }
            _ => {
                index += 1;
                out.push(Token::Other);
            }
        }
    }
    out
}

/// Every table reference in `tokens`: an identifier, or `db.name`; the
/// column part of `t.column` is read as a table `column` of database `t`,
/// which no configured table is unless names collide (then refused: the
/// safe side).
fn references(tokens: &[Token]) -> Vec<TableName> {
    let mut names = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let Some(first) = tokens[index].identifier() else {
            index += 1;
            continue;
        };
        match (tokens.get(index + 1), tokens.get(index + 2)) {
            (Some(Token::Dot), Some(second)) if second.identifier().is_some() => {
                names.push(TableName {
                    database: Some(first.to_owned()),
                    name: second.identifier().unwrap_or_default().to_owned(),
                });
                index += 3;
            }
            _ => {
                names.push(TableName {
                    database: None,
                    name: first.to_owned(),
                });
                index += 1;
            }
        }
    }
    names
}

/// The first table reference at or after `start`.
fn reference_at(tokens: &[Token], start: usize) -> Option<TableName> {
    references(tokens.get(start..)?).into_iter().next()
}

/// What `sql` does to tables.
pub fn classify(sql: &str) -> Statement {
    let tokens = tokens(sql);
    let Some(Token::Word(verb)) = tokens.first() else {
        return Statement::Other;
    };
    let verb = verb.to_ascii_uppercase();
    let upto = |stop: &[&str]| {
        tokens
            .iter()
            .position(|token| stop.iter().any(|keyword| token.is_word(keyword)))
            .unwrap_or(tokens.len())
    };
    match verb.as_str() {
        "TRUNCATE" => {
            let start = if tokens.get(1).is_some_and(|token| token.is_word("TABLE")) {
                2
            } else {
                1
            };
            reference_at(&tokens, start).map_or(Statement::Other, Statement::Truncate)
        }
        "INSERT" | "REPLACE" => {
            let mut start = 1;
            while tokens.get(start).is_some_and(|token| {
                ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
                    .iter()
                    .any(|keyword| token.is_word(keyword))
            }) {
                start += 1;
            }
            Statement::WritesRows {
                verb: if verb == "INSERT" {
                    "INSERT"
                } else {
                    "REPLACE"
                },
                tables: reference_at(&tokens, start).into_iter().collect(),
            }
        }
        "UPDATE" => Statement::WritesRows {
            verb: "UPDATE",
            tables: references(&tokens[1..upto(&["SET"])]),
        },
        "DELETE" => Statement::WritesRows {
            verb: "DELETE",
            tables: references(&tokens[1..upto(&["WHERE", "ORDER", "LIMIT", "RETURNING"])]),
        },
        "LOAD" => {
            let into = tokens
                .windows(2)
                .position(|pair| pair[0].is_word("INTO") && pair[1].is_word("TABLE"));
            Statement::WritesRows {
                verb: "LOAD DATA",
                tables: into
                    .and_then(|at| reference_at(&tokens, at + 2))
                    .into_iter()
                    .collect(),
            }
        }
        _ => Statement::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(database: Option<&str>, name: &str) -> TableName {
        TableName {
            database: database.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    #[test]
    fn truncate_with_and_without_table_and_qualified() {
        assert_eq!(
            classify("TRUNCATE TABLE product"),
            Statement::Truncate(table(None, "product"))
        );
        assert_eq!(
            classify("truncate `shop`.`order``s`"),
            Statement::Truncate(table(Some("shop"), "order`s"))
        );
        assert_eq!(
            classify("/* by hand */ TRUNCATE t -- end"),
            Statement::Truncate(table(None, "t"))
        );
    }

    #[test]
    fn row_statements_name_their_target_tables_only() {
        let writes = |sql: &str| match classify(sql) {
            Statement::WritesRows { tables, .. } => tables,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(
            writes("INSERT IGNORE INTO t (a) SELECT a FROM product"),
            [table(None, "t")]
        );
        assert_eq!(
            writes("insert into other values ('product', \"product\")"),
            [table(None, "other")]
        );
        assert_eq!(
            writes("UPDATE db.product SET price = 1 WHERE id = 2"),
            [table(Some("db"), "product")]
        );
        assert!(
            writes("DELETE a FROM a JOIN b ON a.id = b.id WHERE 1").contains(&table(None, "b"))
        );
        assert_eq!(
            writes("LOAD DATA INFILE '/tmp/x' REPLACE INTO TABLE `p` FIELDS TERMINATED BY ','"),
            [table(None, "p")]
        );
        assert_eq!(
            writes("/*!40000 REPLACE INTO t VALUES (1) */"),
            [table(None, "t")]
        );
    }

    #[test]
    fn other_statements_write_no_rows() {
        for sql in [
            "BEGIN",
            "COMMIT",
            "XA END X'31',X'',1",
            "ALTER TABLE product ADD c INT",
            "",
        ] {
            assert_eq!(classify(sql), Statement::Other, "{sql}");
        }
    }

    #[test]
    fn names_compare_by_lower_case_table_names() {
        let exact = NameRule::for_setting(0);
        let folded = NameRule::for_setting(1);
        assert!(!exact.same("Product", "product"));
        assert!(folded.same("Product", "product"));
        let qualified = table(Some("Shop"), "PRODUCT");
        assert!(folded.names(&qualified, "other", "shop", "product"));
        assert!(!exact.names(&qualified, "other", "shop", "product"));
        assert!(exact.names(&table(None, "product"), "shop", "shop", "product"));
    }
}
