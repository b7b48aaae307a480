//! Where the message (`Content`) of a raw log line is, per system: the `log_format` strings
//! of the Loghub benchmark, turned into a regular expression the way its loader does
//! (`generate_logformat_regex`: each `<Header>` is a lazy group, runs of spaces match any
//! whitespace, the whole line is anchored, lines are stripped first).
//!
//! The second table holds the per-system masking regexes of Drain's Loghub benchmark; the
//! harness uses them only for its separately labelled per-system report.

use regex::Regex;

/// `log_format` per system (Loghub-2.0 benchmark settings).
pub const FORMATS: &[(&str, &str)] = &[
    ("Apache", r"\[<Time>\] \[<Level>\] <Content>"),
    ("BGL", "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"),
    ("HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"),
    ("HPC", "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>"),
    ("Hadoop", r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>"),
    ("HealthApp", r"<Time>\|<Component>\|<Pid>\|<Content>"),
    ("Linux", r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>"),
    ("Mac", r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>"),
    ("OpenSSH", r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>"),
    ("OpenStack", r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>"),
    ("Proxifier", r"\[<Time>\] <Program> - <Content>"),
    ("Spark", "<Date> <Time> <Level> <Component>: <Content>"),
    ("Thunderbird", r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>"),
    ("Zookeeper", r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>"),
    // Not in the 2k set here, kept so a directory holding them is read the same way.
    ("Android", "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>"),
    ("Windows", "<Date> <Time>, <Level>                  <Component>    <Content>"),
];

/// Per-system masking regexes of Drain's Loghub benchmark (each match becomes `<*>`).
pub const DRAIN_MASKS: &[(&str, &[&str])] = &[
    ("Apache", &[r"(\d+\.){3}\d+"]),
    ("BGL", &[r"core\.\d+"]),
    ("HDFS", &[r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"]),
    ("HPC", &[r"=\d+"]),
    ("Hadoop", &[r"(\d+\.){3}\d+"]),
    ("HealthApp", &[]),
    ("Linux", &[r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"]),
    ("Mac", &[r"([\w-]+\.){2,}[\w-]+"]),
    ("OpenSSH", &[r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"]),
    ("OpenStack", &[r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"]),
    ("Proxifier", &[r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"]),
    ("Spark", &[r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"]),
    ("Thunderbird", &[r"(\d+\.){3}\d+"]),
    ("Zookeeper", &[r"(/|)(\d+\.){3}\d+(:\d+)?"]),
];

pub fn format_of(system: &str) -> Option<&'static str> {
    FORMATS.iter().find(|(s, _)| *s == system).map(|(_, f)| *f)
}

pub fn drain_masks(system: &str) -> Option<&'static [&'static str]> {
    DRAIN_MASKS.iter().find(|(s, _)| *s == system).map(|(_, m)| *m)
}

/// A compiled `log_format`.
pub struct LogFormat {
    regex: Regex,
}

impl LogFormat {
    pub fn new(format: &str) -> Result<LogFormat, String> {
        let header = Regex::new(r"<[^<>]+>").map_err(|e| e.to_string())?;
        let spaces = Regex::new(r" +").map_err(|e| e.to_string())?;
        let mut re = String::from("^");
        let mut last = 0;
        for m in header.find_iter(format) {
            re.push_str(&spaces.replace_all(&format[last..m.start()], r"\s+"));
            let name = &format[m.start() + 1..m.end() - 1];
            re.push_str(&format!("(?P<{name}>.*?)"));
            last = m.end();
        }
        re.push_str(&spaces.replace_all(&format[last..], r"\s+"));
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| format!("log format {format:?}: {e}"))?;
        if regex.capture_names().all(|n| n != Some("Content")) {
            return Err(format!("log format {format:?} has no <Content>"));
        }
        Ok(LogFormat { regex })
    }

    /// The message of a raw line (stripped first), or None if the line does not match.
    pub fn content<'a>(&self, line: &'a str) -> Option<&'a str> {
        self.regex.captures(line.trim()).and_then(|c| c.name("Content")).map(|m| m.as_str())
    }
}

/// Apply masking regexes in order, each match replaced by `<*>` (Drain's `preprocess`).
pub struct Masks(Vec<Regex>);

impl Masks {
    pub fn new(patterns: &[&str]) -> Result<Masks, String> {
        patterns.iter().map(|p| Regex::new(p).map_err(|e| format!("{p}: {e}"))).collect::<Result<_, _>>().map(Masks)
    }

    pub fn apply(&self, line: &str) -> String {
        let mut s = line.to_string();
        for r in &self.0 {
            s = r.replace_all(&s, "<*>").into_owned();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_cut_like_the_loghub_loader() {
        let cases = [
            ("HDFS", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating", "PacketResponder 1 for block blk_1 terminating"),
            ("Zookeeper", "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200", "Notification time out: 3200"),
            ("Linux", "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4 ", "authentication failure; rhost=218.188.2.4"),
            ("Linux", "Jun 15 04:06:18 combo su(pam_unix)[21416]: session opened for user cyrus by (uid=0)", "session opened for user cyrus by (uid=0)"),
            ("Mac", "Jul  1 09:01:06 calvisitor-10-105-160-95 QQ[10018]: FA||Url||taskID[2019352994] dealloc", "FA||Url||taskID[2019352994] dealloc"),
            ("HealthApp", "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", "onStandStepChanged 3579"),
            ("Apache", "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties", "workerEnv.init() ok /etc/httpd/conf/workers2.properties"),
        ];
        for (system, line, want) in cases {
            let f = LogFormat::new(format_of(system).expect("known system")).expect("compiles");
            assert_eq!(f.content(line), Some(want), "{system}");
        }
        let f = LogFormat::new(format_of("Apache").expect("known")).expect("compiles");
        assert_eq!(f.content("no header here"), None);
    }

    #[test]
    fn drain_masks_apply_in_order() {
        let m = Masks::new(drain_masks("HDFS").expect("known")).expect("compiles");
        assert_eq!(m.apply("Receiving block blk_-16 src: /10.0.0.1:5 dest"), "Receiving block <*> src: /<*> dest");
    }
}
