//! The results table (Markdown, so it pastes into BENCHMARKS.md) and the machine it ran
//! on.

use std::process::Command;

/// One line of the table.
pub struct Row {
    pub what: String,
    pub measured: String,
    pub target: String,
    /// `None` for reference figures without a target.
    pub pass: Option<bool>,
}

/// The table being built.
#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// A figure checked against a target.
    pub fn check(&mut self, what: &str, measured: String, target: &str, pass: bool) {
        self.rows.push(Row {
            what: what.into(),
            measured,
            target: target.into(),
            pass: Some(pass),
        });
    }

    /// A reference figure.
    pub fn note(&mut self, what: &str, measured: String) {
        self.rows.push(Row {
            what: what.into(),
            measured,
            target: String::new(),
            pass: None,
        });
    }

    /// Targets missed.
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.pass == Some(false)).count()
    }

    /// The table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| measurement | result | target | |\n|---|---|---|---|\n");
        for row in &self.rows {
            let verdict = match row.pass {
                Some(true) => "pass",
                Some(false) => "**MISS**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row.what, row.measured, row.target, verdict
            ));
        }
        out
    }
}

fn run(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("({program}: {e})"))
}

fn proc_field(file: &str, key: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':').or_else(|| l.split_once('=')))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "?".into())
}

fn mem_total() -> String {
    let kib: f64 = proc_field("/proc/meminfo", "MemTotal")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    format!("{:.1} GiB", kib / (1024.0 * 1024.0))
}

/// The machine, as BENCHMARKS.md records it.
pub fn machine() -> String {
    format!(
        "- CPU: {} ({} logical cores available)\n- RAM: {}\n- OS: {}, kernel {}\n- {}\n- load average at start: {}",
        proc_field("/proc/cpuinfo", "model name"),
        run("nproc", &[]),
        mem_total(),
        proc_field("/etc/os-release", "PRETTY_NAME"),
        run("uname", &["-r"]),
        run("rustc", &["--version"]),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
    )
}
