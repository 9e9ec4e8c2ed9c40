// Package app wires the daemon: it loads and validates the config file,
// resolves its secrets, opens the control store, the Git mirror, the
// forge, the audit branch, the fleet, the KPI sources, the model and its
// retraining, elects a leader, and runs the loop on cron schedules beside
// the HTTP server (Build, Daemon). `schemacanary run` and `make demo` both
// start the daemon through Build; the CLI's operator commands open the
// control store through OpenControl.
package app
