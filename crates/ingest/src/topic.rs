//! MQTT topic filters (MQTT 3.1.1 clause 4.7, 5.0 clause 4.7): `+` matches one level, `#`
//! the rest, and a filter is checked before it is subscribed to.

/// A checked topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter(String);

impl TopicFilter {
    /// Checks `filter`: not empty, no NUL, `#` only as the whole last level, `+` only as a
    /// whole level.
    pub fn parse(filter: &str) -> Result<Self, String> {
        if filter.is_empty() {
            return Err("the topic filter is empty".into());
        }
        if filter.contains('\0') {
            return Err("the topic filter contains NUL".into());
        }
        let levels: Vec<&str> = filter.split('/').collect();
        for (i, level) in levels.iter().enumerate() {
            if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
                return Err(format!(
                    "{filter:?}: '#' must be the whole last level of a topic filter"
                ));
            }
            if level.contains('+') && *level != "+" {
                return Err(format!(
                    "{filter:?}: '+' must be a whole level of a topic filter"
                ));
            }
        }
        Ok(Self(filter.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a topic (as published, no wildcards) matches the filter. Topics starting with
    /// `$` match only filters that name that first level.
    pub fn matches(&self, topic: &str) -> bool {
        let mut filter = self.0.split('/');
        let mut levels = topic.split('/');
        let mut first = true;
        loop {
            match (filter.next(), levels.next()) {
                (Some("#"), level) => return !(first && level.is_some_and(|l| l.starts_with('$'))),
                (Some("+"), Some(level)) if !(first && level.starts_with('$')) => {}
                (Some(f), Some(level)) if f == level => {}
                (None, None) => return true,
                _ => return false,
            }
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(filter: &str, topic: &str) -> bool {
        TopicFilter::parse(filter).expect("filter").matches(topic)
    }

    #[test]
    fn wildcards_match_one_level_or_the_rest() {
        assert!(matches("sensors/parking/+", "sensors/parking/lotA"));
        assert!(!matches("sensors/parking/+", "sensors/parking/lotA/17"));
        assert!(matches("sensors/#", "sensors/parking/lotA/17"));
        assert!(matches("sensors/#", "sensors"));
        assert!(matches("+/parking/#", "city/parking/a"));
        assert!(!matches("sensors/parking", "sensors/parking/lotA"));
        assert!(matches("a//b", "a//b"));
        assert!(!matches("#", "$SYS/broker"));
        assert!(matches("$SYS/#", "$SYS/broker"));
    }

    #[test]
    fn misplaced_wildcards_are_refused() {
        for bad in ["", "a/#/b", "a/b#", "a+/b", "a/+b"] {
            assert!(TopicFilter::parse(bad).is_err(), "{bad:?}");
        }
    }
}
