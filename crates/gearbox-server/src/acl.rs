//! The access list (`--acl PATH`, a TOML file): which functions an identity may register as a
//! worker and submit jobs to, and which admin commands it may use. An identity is a client
//! certificate's subject CN or one of its DNS names; `"*"` is every verified identity and
//! `"anonymous"` every connection without a certificate.
//!
//! ```toml
//! [[rule]]
//! identity = "billing-worker"
//! work = ["billing.*"]
//! admin = "none"
//!
//! [[rule]]
//! identity = "web"
//! submit = ["billing.*", "thumbnail"]
//! admin = "read"
//! ```
//!
//! This module owns the file's format, its rules and the decision for one connection
//! ([`Access`]); the engine asks, and answers denials. With an access list, what no rule allows
//! is denied; several rules that match one identity add up. Nothing here does I/O except
//! [`AclFile`] reading its file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use gearbox_proto::AdminCommand;

use crate::file_error::FileError;
use serde::Deserialize;

/// Who is on the other end of a connection, from its client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The subject's common names.
    pub common_names: Vec<String>,
    /// The DNS names of its subjectAltName.
    pub dns_names: Vec<String>,
}

impl Identity {
    /// The name shown in logs: the first CN, else the first DNS name.
    pub fn label(&self) -> &str {
        self.common_names
            .first()
            .or(self.dns_names.first())
            .map_or("(a certificate without names)", String::as_str)
    }

    fn is(&self, name: &str) -> bool {
        self.common_names.iter().any(|n| n == name) || self.dns_names.iter().any(|n| n == name)
    }
}

/// Admin rights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRight {
    /// No admin command.
    #[default]
    None,
    /// `status`, `workers`, `version`, `show jobs`, `show unique jobs`, `prioritystatus`,
    /// `getpid`, and Gearbox's `show scheduled`.
    Read,
    /// Everything: also `cancel job`, `maxqueue`, `create function`, `drop function`,
    /// `verbose` and `shutdown`.
    All,
}

impl AdminRight {
    /// What `command` needs.
    pub fn needed_for(command: &AdminCommand) -> AdminRight {
        match command {
            AdminCommand::Status
            | AdminCommand::PriorityStatus
            | AdminCommand::Workers
            | AdminCommand::ShowJobs
            | AdminCommand::ShowUniqueJobs
            | AdminCommand::ShowScheduled
            | AdminCommand::Nodes
            | AdminCommand::DeadList(_)
            | AdminCommand::DeadShow(_)
            | AdminCommand::Result(_)
            | AdminCommand::Version
            | AdminCommand::Getpid => AdminRight::Read,
            AdminCommand::Verbose
            | AdminCommand::MaxQueue { .. }
            | AdminCommand::Cancel { .. }
            | AdminCommand::CreateFunction(_)
            | AdminCommand::DropFunction(_)
            | AdminCommand::Shutdown { .. }
            | AdminCommand::DeadRetry(_)
            | AdminCommand::DeadPurge(_) => AdminRight::All,
        }
    }
}

/// The file's format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default)]
    rule: Vec<RuleFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFormat {
    identity: String,
    #[serde(default)]
    work: Vec<String>,
    #[serde(default)]
    submit: Vec<String>,
    #[serde(default)]
    admin: AdminRight,
}

/// Whom a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    /// `"*"`: every verified identity.
    Verified,
    /// `"anonymous"`: connections without a certificate.
    Anonymous,
    /// This CN or DNS name.
    Named(String),
}

#[derive(Debug, Clone)]
struct Rule {
    who: Who,
    work: Vec<Glob>,
    submit: Vec<Glob>,
    admin: AdminRight,
}

/// A parsed access list.
#[derive(Debug, Clone)]
pub struct Acl {
    rules: Vec<Rule>,
}

/// An access list that cannot be used.
pub type AclError = FileError;

impl Acl {
    /// Parse an access list; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Acl, AclError> {
        let invalid = |detail: String| FileError::invalid(path, detail);
        let file: FileFormat = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let rules = file
            .rule
            .into_iter()
            .map(|r| {
                let who = match r.identity.as_str() {
                    "" => return Err(invalid("a rule has an empty identity".into())),
                    "*" => Who::Verified,
                    "anonymous" => Who::Anonymous,
                    name => Who::Named(name.to_owned()),
                };
                Ok(Rule {
                    who,
                    work: r.work.iter().map(|g| Glob::new(g)).collect(),
                    submit: r.submit.iter().map(|g| Glob::new(g)).collect(),
                    admin: r.admin,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Acl { rules })
    }

    /// What a connection with `identity` (`None`: no certificate) may do: every matching
    /// rule added up.
    pub fn access(&self, identity: Option<&Identity>) -> Access {
        let mut access = Access {
            label: identity.map_or_else(|| "anonymous".to_owned(), |i| i.label().to_owned()),
            work: Vec::new(),
            submit: Vec::new(),
            admin: AdminRight::None,
        };
        for rule in &self.rules {
            let applies = match (&rule.who, identity) {
                (Who::Verified, Some(_)) => true,
                (Who::Anonymous, None) => true,
                (Who::Named(name), Some(identity)) => identity.is(name),
                _ => false,
            };
            if applies {
                access.work.extend(rule.work.iter().cloned());
                access.submit.extend(rule.submit.iter().cloned());
                access.admin = access.admin.max(rule.admin);
            }
        }
        access
    }
}

/// What one connection may do under an access list.
#[derive(Debug, Clone)]
pub struct Access {
    label: String,
    work: Vec<Glob>,
    submit: Vec<Glob>,
    admin: AdminRight,
}

impl Access {
    /// The identity, for logs and denials.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// May register `function` as a worker.
    pub fn may_work(&self, function: &[u8]) -> bool {
        self.work.iter().any(|g| g.matches(function))
    }

    /// May submit jobs to `function`.
    pub fn may_submit(&self, function: &[u8]) -> bool {
        self.submit.iter().any(|g| g.matches(function))
    }

    /// May learn about jobs of `function` (status lookups): it works on or submits to it.
    pub fn may_see(&self, function: &[u8]) -> bool {
        self.may_work(function) || self.may_submit(function)
    }

    /// Its admin right.
    pub fn admin(&self) -> AdminRight {
        self.admin
    }

    /// May run the admin `command`.
    pub fn may_admin(&self, command: &AdminCommand) -> bool {
        self.admin >= AdminRight::needed_for(command)
    }
}

/// A function-name pattern: `*` any run of bytes, `?` one byte, anything else itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob(Vec<u8>);

impl Glob {
    fn new(pattern: &str) -> Glob {
        Glob(pattern.as_bytes().to_vec())
    }

    /// Iterative matching with backtracking to the last `*`: linear in practice, and never
    /// exponential whatever the pattern.
    fn matches(&self, name: &[u8]) -> bool {
        let pattern = &self.0;
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some(b'*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == b'?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }
}

/// The access list file, re-read on demand (SIGHUP): connections get the latest list, and
/// those already open are re-evaluated against it. A reload that fails keeps the previous list.
#[derive(Debug)]
pub struct AclFile {
    path: PathBuf,
    current: RwLock<Arc<Acl>>,
    changed: tokio::sync::Notify,
}

impl AclFile {
    /// Read and parse the file.
    pub fn load(path: &Path) -> Result<AclFile, AclError> {
        Ok(AclFile {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(read(path)?)),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// Read the file again; on failure nothing changes.
    pub fn reload(&self) -> Result<(), AclError> {
        let acl = read(&self.path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(acl);
        self.changed.notify_one();
        Ok(())
    }

    /// The list in force.
    pub fn current(&self) -> Arc<Acl> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves after the next successful reload.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read(path: &Path) -> Result<Acl, AclError> {
    Acl::parse(&FileError::read(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        Acl::parse(text, Path::new("test.toml")).unwrap()
    }

    fn named(cn: &str) -> Identity {
        Identity {
            common_names: vec![cn.to_owned()],
            dns_names: vec![],
        }
    }

    #[test]
    fn globs() {
        let g = |p: &str, n: &str| Glob::new(p).matches(n.as_bytes());
        assert!(g("billing.*", "billing.invoice"));
        assert!(g("billing.*", "billing."));
        assert!(!g("billing.*", "billing"));
        assert!(!g("billing.*", "xbilling.a"));
        assert!(g("thumbnail", "thumbnail"));
        assert!(!g("thumbnail", "thumbnails"));
        assert!(g("*", ""));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g("*.*.x", "a.b.c.x"));
        assert!(!g("*a*a*a*a*a*b", &"a".repeat(60)));
    }

    #[test]
    fn the_example_of_the_issue() {
        let acl = acl(r#"
            [[rule]]
            identity = "billing-worker"
            work = ["billing.*"]
            admin = "none"

            [[rule]]
            identity = "web"
            submit = ["billing.*", "thumbnail"]
            admin = "read"
        "#);
        let worker = acl.access(Some(&named("billing-worker")));
        assert!(worker.may_work(b"billing.charge"));
        assert!(!worker.may_submit(b"billing.charge"));
        assert!(!worker.may_work(b"thumbnail"));
        assert!(!worker.may_admin(&AdminCommand::Status));
        let web = acl.access(Some(&named("web")));
        assert!(web.may_submit(b"thumbnail") && web.may_submit(b"billing.x"));
        assert!(!web.may_work(b"thumbnail"));
        assert!(web.may_admin(&AdminCommand::Status));
        assert!(!web.may_admin(&AdminCommand::Shutdown { graceful: false }));
        assert!(web.may_see(b"billing.x") && !web.may_see(b"other"));
        let nobody = acl.access(None);
        assert!(!nobody.may_submit(b"thumbnail") && !nobody.may_admin(&AdminCommand::Version));
        let stranger = acl.access(Some(&named("stranger")));
        assert!(!stranger.may_submit(b"thumbnail"));
        assert_eq!(stranger.label(), "stranger");
    }

    #[test]
    fn star_anonymous_and_dns_names_add_up() {
        let acl = acl(r#"
            [[rule]]
            identity = "*"
            submit = ["public.*"]
            admin = "read"
            [[rule]]
            identity = "anonymous"
            submit = ["ping"]
            [[rule]]
            identity = "ops.example.com"
            admin = "all"
        "#);
        let ops = Identity {
            common_names: vec!["Ops team".into()],
            dns_names: vec!["ops.example.com".into()],
        };
        let access = acl.access(Some(&ops));
        assert!(access.may_submit(b"public.x") && !access.may_submit(b"ping"));
        assert!(access.may_admin(&AdminCommand::Shutdown { graceful: true }));
        let anonymous = acl.access(None);
        assert!(anonymous.may_submit(b"ping") && !anonymous.may_submit(b"public.x"));
        assert!(!anonymous.may_admin(&AdminCommand::Status));
        assert_eq!(anonymous.label(), "anonymous");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let err = |text: &str| {
            Acl::parse(text, Path::new("acl.toml"))
                .unwrap_err()
                .to_string()
        };
        assert!(err("[[rule]]\nwork = [\"a\"]\n").contains("identity"));
        assert!(err("[[rule]]\nidentity = \"a\"\nadmin = \"root\"\n").contains("root"));
        assert!(err("[[rule]]\nidentity = \"a\"\nsubmitt = [\"x\"]\n").contains("submitt"));
        assert!(err("[[rule]]\nidentity = \"\"\n").contains("empty identity"));
        assert!(err("[[rule]\n").starts_with("acl.toml:"));
    }

    #[test]
    fn an_empty_list_denies_everything() {
        let access = acl("").access(Some(&named("web")));
        assert!(!access.may_submit(b"x") && !access.may_work(b"x"));
        assert!(!access.may_admin(&AdminCommand::Version));
    }
}
