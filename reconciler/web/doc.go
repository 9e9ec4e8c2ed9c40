// Package web is the daemon's HTTP surface: /metrics, /healthz, /readyz, the
// JSON API (/api/changes), the GitHub webhook that triggers a poll, and the
// status page with its KPI charts. It reads through small ports (API,
// StatusSource) that the control store implements; it knows no Postgres.
package web
