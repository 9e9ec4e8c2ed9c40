package change

// Values of Request.Instances that a catch-up records on a done change for
// an instance that joined the fleet after it; beside them an instance maps
// to the change's version (it holds it), 0 (it does not) or -1
// (unreachable). Neither counts as holding the change.
const (
	// HoldingCatchingUp: the instance is being brought up to the change.
	HoldingCatchingUp int64 = -2
	// HoldingCatchUpFailed: its catch-up stopped at this change (a
	// pre-flight check or the apply failed; the change's events say why);
	// every reconcile pass checks it again.
	HoldingCatchUpFailed int64 = -3
)
