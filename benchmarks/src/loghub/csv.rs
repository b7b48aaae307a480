//! Just enough CSV (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) to read
//! Loghub's structured files and published tables.

/// All records of a CSV text, header included.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Records as maps from the header's column names.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn parse(text: &str) -> Table {
        let mut rows = parse(text);
        let header = if rows.is_empty() { Vec::new() } else { rows.remove(0) };
        Table { header, rows }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quoted_fields_commas_quotes_and_newlines() {
        let rows = parse("a,b,c\r\n1,\"x, \"\"y\"\"\",\"two\nlines\"\n2,,\n");
        assert_eq!(rows, vec![vec!["a", "b", "c"], vec!["1", "x, \"y\"", "two\nlines"], vec!["2", "", ""]]);
        assert_eq!(parse("h\nlast"), vec![vec!["h"], vec!["last"]]);
    }
}
