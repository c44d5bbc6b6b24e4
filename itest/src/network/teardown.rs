//! What happens when a network ends: the policy in the module docs of
//! `network`.

use crate::error::{bail, Result};

use super::{Network, TAIL_LINES};
use crate::findings::{report, Finding};

impl Network {
    /// What a failing test prints: where the files are and each log tail.
    fn failure_report(&self, why: &str) -> String {
        let mut out = format!(
            "\n===== itest: {why}; files kept in {} =====\n",
            self.dir().display()
        );
        if let Some(b) = &self.bitcoind {
            out.push_str(&format!(
                "[bitcoind] datadir {}\n{}\n",
                b.datadir().display(),
                b.log_tail(TAIL_LINES)
            ));
        }
        if let Some(pg) = self.postgres() {
            out.push_str(&format!(
                "[postgres] data dir {}\n{}\n",
                pg.data_dir().display(),
                pg.log_tail()
            ));
        }
        for n in self.nodes() {
            let state = match n.died() {
                Some(status) => format!(" DIED ({status})"),
                None => String::new(),
            };
            out.push_str(&format!(
                "[{}]{state} lightning-dir {}\n{}\n",
                n.name(),
                n.lightning_dir().display(),
                n.log_tail(TAIL_LINES)
            ));
        }
        out
    }
}

impl Network {
    /// Stops every daemon and runs the teardown checks now, returning
    /// their findings as an error instead of panicking at drop. For a test
    /// that expects its network to fail them, or wants a `Result`.
    pub fn finish(mut self) -> Result<()> {
        self.teardown()
    }

    /// The teardown policy in the module docs. Idempotent: the second call
    /// (drop after [`Network::finish`]) finds nothing left to do.
    fn teardown(&mut self) -> Result<()> {
        if self.dir.is_none() {
            return Ok(());
        }
        let dead: Vec<&str> = self
            .nodes()
            .into_iter()
            .filter(|n| n.died().is_some())
            .map(|n| n.name())
            .collect();
        let why = if std::thread::panicking() {
            Some("test failed".to_string())
        } else if self.start_failed {
            Some("network failed to start".to_string())
        } else if !dead.is_empty() {
            Some(format!("node(s) {} died during the test", dead.join(", ")))
        } else {
            None
        };
        if let Some(why) = &why {
            // libtest shows this for failing tests (and with --nocapture).
            eprintln!("{}", self.failure_report(why));
        }
        // A failed test or start already fails; its findings are noise.
        let check = !std::thread::panicking() && !self.start_failed;
        let leaks: Vec<Option<String>> = std::thread::scope(|s| {
            let stops: Vec<_> = self
                .nodes()
                .into_iter()
                .map(|node| {
                    s.spawn(move || {
                        let leaks = if check { node.memleak_report() } else { None };
                        if check {
                            node.report_fds();
                        }
                        node.shutdown();
                        leaks
                    })
                })
                .collect();
            stops
                .into_iter()
                .map(|h| h.join().expect("stopping a node panicked"))
                .collect()
        });
        let checks = if check {
            self.timeline
                .time("teardown checks", || self.teardown_findings(leaks))
        } else {
            Vec::new()
        };
        self.nodes.clear();
        let timeline = self.timeline.clone();
        timeline.time("postgres: stopped", || self.postgres.stop());
        timeline.time("bitcoind: stopped", || self.bitcoind.take());
        let keep = why.is_some() || !checks.is_empty() || self.conf.keep_dirs;
        let dir = self.dir.take().expect("checked above");
        let shown = dir.path().display().to_string();
        if keep {
            let path = dir.keep();
            eprintln!("itest: kept {}", path.display());
        } else {
            timeline.time("directory removed", || drop(dir));
        }
        if crate::timeline::print_requested() {
            eprintln!(
                "{}",
                timeline.render(&format!("itest: timeline of the network in {shown}"))
            );
        }
        if checks.is_empty() {
            return Ok(());
        }
        bail!(
            "itest: the network failed its teardown checks; files kept in {shown}\n{}\n\
             (expected? allow the lines with NodeConf::allow_log(regex), \
             a node that may crash or exit non-zero with NodeConf::may_fail(), \
             see also NodeConf::allow_warning, allow_bad_gossip and may_reconnect)",
            checks.join("\n")
        )
    }

    /// One report per node that fails the teardown checks, given what
    /// each node's `dev-memleak` said.
    fn teardown_findings(&self, leaks: Vec<Option<String>>) -> Vec<String> {
        self.nodes()
            .into_iter()
            .zip(leaks)
            .filter_map(|(node, leaks)| {
                let findings = node
                    .teardown_findings(leaks)
                    .unwrap_or_else(|e| vec![Finding::Unreadable(e.to_string())]);
                (!findings.is_empty()).then(|| report(node.name(), node.lightning_dir(), &findings))
            })
            .collect()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            // Not while unwinding: a second panic would abort the process.
            if !std::thread::panicking() {
                panic!("{e:#}");
            }
        }
    }
}
