//! The extension's ini settings, Gearbox's own (PECL has none): TLS defaults for every new
//! `GearmanClient` and `GearmanWorker`, so that TLS can be turned on for an application
//! without touching its code.
//!
//! ```ini
//! gearman.ssl = 1
//! gearman.ssl_ca_file = /etc/gearman/ca.pem
//! gearman.ssl_certificate = /etc/gearman/client.pem   ; for servers that require one
//! gearman.ssl_key = /etc/gearman/client.key
//! gearman.ssl_server_name =                           ; default: each server's host
//! ```
//!
//! This module only registers and reads them; what they mean is `gearbox_php_core::ssl`'s.

use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{ExecutorGlobals, IniEntryDef, IniEntryDefs};
use gearbox_php_core::ssl::SslSettings;

static ENTRIES: IniEntryDefs<6> = IniEntryDefs::new([
    IniEntryDef::new(c"gearman.ssl", c"0", IniEntryPermission::All),
    IniEntryDef::new(c"gearman.ssl_ca_file", c"", IniEntryPermission::All),
    IniEntryDef::new(c"gearman.ssl_certificate", c"", IniEntryPermission::All),
    IniEntryDef::new(c"gearman.ssl_key", c"", IniEntryPermission::All),
    IniEntryDef::new(c"gearman.ssl_server_name", c"", IniEntryPermission::All),
    IniEntryDef::end(),
]);

/// Register the settings (module startup).
pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

/// `setSSL()`'s arguments, those not given (null) taken from the ini settings.
pub fn ssl_arguments(
    enabled: bool,
    ca_file: Option<String>,
    certificate: Option<String>,
    key: Option<String>,
    server_name: Option<String>,
) -> SslSettings {
    SslSettings {
        enabled,
        ca_file,
        certificate,
        key,
        server_name,
    }
    .over(&ssl_defaults())
}

/// The settings as they stand now (`ini_set()` included).
pub fn ssl_defaults() -> SslSettings {
    let values = ExecutorGlobals::get().ini_values();
    let text = |name: &str| {
        values
            .get(name)
            .cloned()
            .flatten()
            .filter(|v| !v.is_empty())
    };
    let enabled = text("gearman.ssl")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"));
    SslSettings {
        enabled,
        ca_file: text("gearman.ssl_ca_file"),
        certificate: text("gearman.ssl_certificate"),
        key: text("gearman.ssl_key"),
        server_name: text("gearman.ssl_server_name"),
    }
}
