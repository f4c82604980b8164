//! PECL gearman's global constants: the 157 `GEARMAN_*` names with the values libgearman
//! 1.1.20 gives them, as Debian's php-gearman 2.1.0 reports them. Data only; the binding
//! registers each one, and the return codes among them are the ones `codes.rs` uses.

/// A constant's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An integer constant.
    Int(i64),
    /// A string constant.
    Str(&'static str),
}

/// Every constant, in PECL's order.
pub const CONSTANTS: &[(&str, Value)] = &[
    ("GEARMAN_DEFAULT_TCP_HOST", Value::Str("localhost")),
    ("GEARMAN_DEFAULT_TCP_PORT", Value::Int(4730)),
    ("GEARMAN_DEFAULT_SOCKET_TIMEOUT", Value::Int(10)),
    ("GEARMAN_DEFAULT_SOCKET_SEND_SIZE", Value::Int(32768)),
    ("GEARMAN_DEFAULT_SOCKET_RECV_SIZE", Value::Int(32768)),
    ("GEARMAN_MAX_ERROR_SIZE", Value::Int(2048)),
    ("GEARMAN_PACKET_HEADER_SIZE", Value::Int(12)),
    ("GEARMAN_JOB_HANDLE_SIZE", Value::Int(64)),
    ("GEARMAN_OPTION_SIZE", Value::Int(64)),
    ("GEARMAN_UNIQUE_SIZE", Value::Int(64)),
    ("GEARMAN_MAX_COMMAND_ARGS", Value::Int(8)),
    ("GEARMAN_ARGS_BUFFER_SIZE", Value::Int(128)),
    ("GEARMAN_SEND_BUFFER_SIZE", Value::Int(8192)),
    ("GEARMAN_RECV_BUFFER_SIZE", Value::Int(8192)),
    ("GEARMAN_WORKER_WAIT_TIMEOUT", Value::Int(10000)),
    ("GEARMAN_SUCCESS", Value::Int(0)),
    ("GEARMAN_IO_WAIT", Value::Int(1)),
    ("GEARMAN_SHUTDOWN", Value::Int(2)),
    ("GEARMAN_SHUTDOWN_GRACEFUL", Value::Int(3)),
    ("GEARMAN_ERRNO", Value::Int(4)),
    ("GEARMAN_EVENT", Value::Int(5)),
    ("GEARMAN_TOO_MANY_ARGS", Value::Int(6)),
    ("GEARMAN_NO_ACTIVE_FDS", Value::Int(7)),
    ("GEARMAN_INVALID_MAGIC", Value::Int(8)),
    ("GEARMAN_INVALID_COMMAND", Value::Int(9)),
    ("GEARMAN_INVALID_PACKET", Value::Int(10)),
    ("GEARMAN_UNEXPECTED_PACKET", Value::Int(11)),
    ("GEARMAN_GETADDRINFO", Value::Int(12)),
    ("GEARMAN_NO_SERVERS", Value::Int(13)),
    ("GEARMAN_LOST_CONNECTION", Value::Int(14)),
    ("GEARMAN_MEMORY_ALLOCATION_FAILURE", Value::Int(15)),
    ("GEARMAN_JOB_EXISTS", Value::Int(16)),
    ("GEARMAN_JOB_QUEUE_FULL", Value::Int(17)),
    ("GEARMAN_SERVER_ERROR", Value::Int(18)),
    ("GEARMAN_WORK_ERROR", Value::Int(19)),
    ("GEARMAN_WORK_DATA", Value::Int(20)),
    ("GEARMAN_WORK_WARNING", Value::Int(21)),
    ("GEARMAN_WORK_STATUS", Value::Int(22)),
    ("GEARMAN_WORK_EXCEPTION", Value::Int(23)),
    ("GEARMAN_WORK_FAIL", Value::Int(24)),
    ("GEARMAN_NOT_CONNECTED", Value::Int(25)),
    ("GEARMAN_COULD_NOT_CONNECT", Value::Int(26)),
    ("GEARMAN_SEND_IN_PROGRESS", Value::Int(27)),
    ("GEARMAN_RECV_IN_PROGRESS", Value::Int(28)),
    ("GEARMAN_NOT_FLUSHING", Value::Int(29)),
    ("GEARMAN_DATA_TOO_LARGE", Value::Int(30)),
    ("GEARMAN_INVALID_FUNCTION_NAME", Value::Int(31)),
    ("GEARMAN_INVALID_WORKER_FUNCTION", Value::Int(32)),
    ("GEARMAN_NO_REGISTERED_FUNCTIONS", Value::Int(34)),
    ("GEARMAN_NO_JOBS", Value::Int(35)),
    ("GEARMAN_ECHO_DATA_CORRUPTION", Value::Int(36)),
    ("GEARMAN_NEED_WORKLOAD_FN", Value::Int(37)),
    ("GEARMAN_PAUSE", Value::Int(38)),
    ("GEARMAN_UNKNOWN_STATE", Value::Int(39)),
    ("GEARMAN_PTHREAD", Value::Int(40)),
    ("GEARMAN_PIPE_EOF", Value::Int(41)),
    ("GEARMAN_QUEUE_ERROR", Value::Int(42)),
    ("GEARMAN_FLUSH_DATA", Value::Int(43)),
    ("GEARMAN_SEND_BUFFER_TOO_SMALL", Value::Int(44)),
    ("GEARMAN_IGNORE_PACKET", Value::Int(45)),
    ("GEARMAN_UNKNOWN_OPTION", Value::Int(46)),
    ("GEARMAN_TIMEOUT", Value::Int(47)),
    ("GEARMAN_MAX_RETURN", Value::Int(53)),
    ("GEARMAN_VERBOSE_FATAL", Value::Int(1)),
    ("GEARMAN_VERBOSE_ERROR", Value::Int(2)),
    ("GEARMAN_VERBOSE_INFO", Value::Int(3)),
    ("GEARMAN_VERBOSE_DEBUG", Value::Int(4)),
    ("GEARMAN_VERBOSE_CRAZY", Value::Int(5)),
    ("GEARMAN_VERBOSE_MAX", Value::Int(6)),
    ("GEARMAN_NON_BLOCKING", Value::Int(0)),
    ("GEARMAN_DONT_TRACK_PACKETS", Value::Int(1)),
    ("GEARMAN_CON_READY", Value::Int(0)),
    ("GEARMAN_CON_PACKET_IN_USE", Value::Int(1)),
    ("GEARMAN_CON_EXTERNAL_FD", Value::Int(2)),
    ("GEARMAN_CON_IGNORE_LOST_CONNECTION", Value::Int(3)),
    ("GEARMAN_CON_CLOSE_AFTER_FLUSH", Value::Int(4)),
    ("GEARMAN_CON_SEND_STATE_NONE", Value::Int(0)),
    ("GEARMAN_CON_RECV_STATE_READ_DATA", Value::Int(2)),
    ("GEARMAN_COMMAND_TEXT", Value::Int(0)),
    ("GEARMAN_COMMAND_CAN_DO", Value::Int(1)),
    ("GEARMAN_COMMAND_CANT_DO", Value::Int(2)),
    ("GEARMAN_COMMAND_RESET_ABILITIES", Value::Int(3)),
    ("GEARMAN_COMMAND_PRE_SLEEP", Value::Int(4)),
    ("GEARMAN_COMMAND_UNUSED", Value::Int(5)),
    ("GEARMAN_COMMAND_NOOP", Value::Int(6)),
    ("GEARMAN_COMMAND_SUBMIT_JOB", Value::Int(7)),
    ("GEARMAN_COMMAND_JOB_CREATED", Value::Int(8)),
    ("GEARMAN_COMMAND_GRAB_JOB", Value::Int(9)),
    ("GEARMAN_COMMAND_NO_JOB", Value::Int(10)),
    ("GEARMAN_COMMAND_JOB_ASSIGN", Value::Int(11)),
    ("GEARMAN_COMMAND_WORK_STATUS", Value::Int(12)),
    ("GEARMAN_COMMAND_WORK_COMPLETE", Value::Int(13)),
    ("GEARMAN_COMMAND_WORK_FAIL", Value::Int(14)),
    ("GEARMAN_COMMAND_GET_STATUS", Value::Int(15)),
    ("GEARMAN_COMMAND_ECHO_REQ", Value::Int(16)),
    ("GEARMAN_COMMAND_ECHO_RES", Value::Int(17)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_BG", Value::Int(18)),
    ("GEARMAN_COMMAND_ERROR", Value::Int(19)),
    ("GEARMAN_COMMAND_STATUS_RES", Value::Int(20)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_HIGH", Value::Int(21)),
    ("GEARMAN_COMMAND_SET_CLIENT_ID", Value::Int(22)),
    ("GEARMAN_COMMAND_CAN_DO_TIMEOUT", Value::Int(23)),
    ("GEARMAN_COMMAND_ALL_YOURS", Value::Int(24)),
    ("GEARMAN_COMMAND_WORK_EXCEPTION", Value::Int(25)),
    ("GEARMAN_COMMAND_OPTION_REQ", Value::Int(26)),
    ("GEARMAN_COMMAND_OPTION_RES", Value::Int(27)),
    ("GEARMAN_COMMAND_WORK_DATA", Value::Int(28)),
    ("GEARMAN_COMMAND_WORK_WARNING", Value::Int(29)),
    ("GEARMAN_COMMAND_GRAB_JOB_UNIQ", Value::Int(30)),
    ("GEARMAN_COMMAND_JOB_ASSIGN_UNIQ", Value::Int(31)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_HIGH_BG", Value::Int(32)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_LOW", Value::Int(33)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_LOW_BG", Value::Int(34)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_SCHED", Value::Int(35)),
    ("GEARMAN_COMMAND_SUBMIT_JOB_EPOCH", Value::Int(36)),
    ("GEARMAN_COMMAND_MAX", Value::Int(43)),
    ("GEARMAN_TASK_STATE_NEW", Value::Int(0)),
    ("GEARMAN_TASK_STATE_SUBMIT", Value::Int(1)),
    ("GEARMAN_TASK_STATE_WORKLOAD", Value::Int(2)),
    ("GEARMAN_TASK_STATE_WORK", Value::Int(3)),
    ("GEARMAN_TASK_STATE_CREATED", Value::Int(4)),
    ("GEARMAN_TASK_STATE_DATA", Value::Int(5)),
    ("GEARMAN_TASK_STATE_WARNING", Value::Int(6)),
    ("GEARMAN_TASK_STATE_STATUS", Value::Int(7)),
    ("GEARMAN_TASK_STATE_COMPLETE", Value::Int(8)),
    ("GEARMAN_TASK_STATE_EXCEPTION", Value::Int(9)),
    ("GEARMAN_TASK_STATE_FAIL", Value::Int(10)),
    ("GEARMAN_TASK_STATE_FINISHED", Value::Int(11)),
    ("GEARMAN_JOB_PRIORITY_HIGH", Value::Int(0)),
    ("GEARMAN_JOB_PRIORITY_NORMAL", Value::Int(1)),
    ("GEARMAN_JOB_PRIORITY_LOW", Value::Int(2)),
    ("GEARMAN_JOB_PRIORITY_MAX", Value::Int(3)),
    ("GEARMAN_CLIENT_ALLOCATED", Value::Int(1)),
    ("GEARMAN_CLIENT_NON_BLOCKING", Value::Int(2)),
    ("GEARMAN_CLIENT_TASK_IN_USE", Value::Int(4)),
    ("GEARMAN_CLIENT_UNBUFFERED_RESULT", Value::Int(8)),
    ("GEARMAN_CLIENT_NO_NEW", Value::Int(16)),
    ("GEARMAN_CLIENT_FREE_TASKS", Value::Int(32)),
    ("GEARMAN_CLIENT_STATE_IDLE", Value::Int(0)),
    ("GEARMAN_CLIENT_STATE_NEW", Value::Int(1)),
    ("GEARMAN_CLIENT_STATE_SUBMIT", Value::Int(2)),
    ("GEARMAN_CLIENT_STATE_PACKET", Value::Int(3)),
    ("GEARMAN_WORKER_ALLOCATED", Value::Int(1)),
    ("GEARMAN_WORKER_NON_BLOCKING", Value::Int(2)),
    ("GEARMAN_WORKER_PACKET_INIT", Value::Int(4)),
    ("GEARMAN_WORKER_GRAB_JOB_IN_USE", Value::Int(8)),
    ("GEARMAN_WORKER_PRE_SLEEP_IN_USE", Value::Int(16)),
    ("GEARMAN_WORKER_WORK_JOB_IN_USE", Value::Int(32)),
    ("GEARMAN_WORKER_CHANGE", Value::Int(64)),
    ("GEARMAN_WORKER_GRAB_UNIQ", Value::Int(128)),
    ("GEARMAN_WORKER_TIMEOUT_RETURN", Value::Int(256)),
    ("GEARMAN_WORKER_STATE_START", Value::Int(0)),
    ("GEARMAN_WORKER_STATE_FUNCTION_SEND", Value::Int(1)),
    ("GEARMAN_WORKER_STATE_CONNECT", Value::Int(2)),
    ("GEARMAN_WORKER_STATE_GRAB_JOB_SEND", Value::Int(3)),
    ("GEARMAN_WORKER_STATE_GRAB_JOB_RECV", Value::Int(4)),
    ("GEARMAN_WORKER_STATE_PRE_SLEEP", Value::Int(5)),
];

/// The value of the constant `name`.
pub fn value(name: &str) -> Option<Value> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_157_distinct_names() {
        let mut names: Vec<&str> = CONSTANTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 157);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 157);
        assert!(names.iter().all(|n| n.starts_with("GEARMAN_")));
    }

    #[test]
    fn values_are_libgearmans() {
        assert_eq!(value("GEARMAN_SUCCESS"), Some(Value::Int(0)));
        assert_eq!(value("GEARMAN_TIMEOUT"), Some(Value::Int(47)));
        assert_eq!(value("GEARMAN_WORKER_GRAB_UNIQ"), Some(Value::Int(128)));
        assert_eq!(
            value("GEARMAN_DEFAULT_TCP_HOST"),
            Some(Value::Str("localhost"))
        );
        assert_eq!(value("GEARMAN_MAX_RETURN"), Some(Value::Int(53)));
        assert_eq!(value("GEARMAN_NOPE"), None);
    }
}
