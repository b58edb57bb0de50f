//! A strict parser of the Prometheus text exposition format (0.0.4), enough to read `/metrics`
//! back: `# HELP` and `# TYPE` lines, then each family's samples right after its `# TYPE`
//! (`name{label="value",...} value`), histogram samples as `_bucket`/`_sum`/`_count`. Anything
//! else (a sample before its type, a duplicate sample or type, a bad escape or number) is an
//! error naming the line.

use std::collections::BTreeMap;

/// One sample: its full name (e.g. `x_bucket`), labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One metric family.
#[derive(Debug, Clone, Default)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// A parsed exposition, by family name.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// Parses `text`, refusing anything outside the format.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Exposition::default();
        let mut current: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                check_name(name).map_err(|e| at(&e))?;
                let family = out.families.entry(name.to_owned()).or_default();
                if family.help.replace(help.to_owned()).is_some() {
                    return Err(at("a second HELP for the family"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| at("TYPE without a type"))?;
                check_name(name).map_err(|e| at(&e))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at("unknown type"));
                }
                let family = out.families.entry(name.to_owned()).or_default();
                if !family.kind.is_empty() {
                    return Err(at("a second TYPE for the family"));
                }
                family.kind = kind.to_owned();
                current = Some(name.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue; // a comment
            }
            let sample = parse_sample(line).map_err(|e| at(&e))?;
            let family_name = current
                .as_ref()
                .ok_or_else(|| at("a sample before any TYPE"))?;
            let family = out
                .families
                .get_mut(family_name)
                .ok_or_else(|| at("no family"))?;
            let belongs = sample.name == *family_name
                || (matches!(family.kind.as_str(), "histogram" | "summary")
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| sample.name == format!("{family_name}{s}")));
            if !belongs {
                return Err(at(&format!("sample outside its family {family_name}")));
            }
            if !seen.insert((sample.name.clone(), format!("{:?}", sample.labels))) {
                return Err(at("a duplicate sample"));
            }
            family.samples.push(sample);
        }
        if let Some((name, _)) = out.families.iter().find(|(_, f)| f.kind.is_empty()) {
            return Err(format!("family {name} has HELP but no TYPE"));
        }
        Ok(out)
    }

    /// The family, which must be there.
    pub fn family(&self, name: &str) -> &Family {
        self.families.get(name).unwrap_or_else(|| {
            panic!(
                "no metric family {name}; there are {:?}",
                self.families.keys().collect::<Vec<_>>()
            )
        })
    }

    /// The value of the sample `name` whose labels include all of `labels`; 0 when none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a metric name"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            let Some(&(i, c)) = chars.peek() else {
                return Err("unterminated labels".into());
            };
            if c == '}' {
                rest = &body[i + 1..];
                break;
            }
            let key_start = i;
            while chars.peek().is_some_and(|&(_, c)| c != '=') {
                chars.next();
            }
            let (eq, _) = chars.next().ok_or("a label without '='")?;
            let key = &body[key_start..eq];
            if key.is_empty() || key.contains(':') {
                return Err(format!("{key:?} is not a label name"));
            }
            check_name(key)?;
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("a label value must be quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    None => return Err("unterminated label value".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        _ => return Err("a bad escape in a label value".into()),
                    },
                    Some(c) => value.push(c),
                }
            }
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            match chars.peek().map(|&(_, c)| c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("labels must be separated by ','".into()),
            }
        }
    }
    let mut fields = rest.split(' ').filter(|f| !f.is_empty());
    let value = fields.next().ok_or("a sample without a value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("{v:?} is not a number"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("{timestamp:?} is not a timestamp"))?;
    }
    if fields.next().is_some() {
        return Err("text after the value".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::Exposition;

    #[test]
    fn parses_and_refuses() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{route=\"/x\",s=\"2\\\"\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
        let parsed = Exposition::parse(text).unwrap();
        assert_eq!(
            parsed.value("a_total", &[("route", "/x"), ("s", "2\"")]),
            3.0
        );
        assert_eq!(parsed.value("h_count", &[]), 1.0);
        for bad in [
            "x 1\n",
            "# TYPE x counter\ny 1\n",
            "# TYPE x counter\nx{a=1} 1\n",
            "# TYPE x counter\nx one\n",
            "# TYPE x counter\nx 1\nx 2\n",
            "# TYPE x gauge\n# TYPE x gauge\n",
            "# TYPE x gauge\nx{a=\"1\" 2\n",
        ] {
            assert!(Exposition::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
