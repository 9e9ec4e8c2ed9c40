// Package model predicts whether a schema change deploys without a rollback.
//
// It fits an L2-regularized logistic regression on standardized features
// (gonum's L-BFGS with an analytic gradient), calibrates it with Platt scaling
// on out-of-fold predictions so that a confidence of 0.80 means that 80% of
// such changes deployed safely, and explains every prediction with the
// per-feature terms of its logit.
//
// The features are plain named numbers (analysis.Report.Features, the live
// catalog context, the author's risk label, history and time features), so
// the package depends on no other schemacanary package. Models serialize to
// versioned JSON that carries their training metrics; Bootstrap returns the
// model trained on the lab dataset (real migrations applied to a real
// PostgreSQL under load, see package analysis/lab), embedded in the binary
// and used until the daemon has history of its own.
//
// Models are immutable once trained or loaded and safe for concurrent use.
package model
