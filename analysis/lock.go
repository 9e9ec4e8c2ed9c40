package analysis

// LockMode is a PostgreSQL table-level lock mode, ordered by strength
// (the order of the conflict table in the PostgreSQL docs, "Explicit Locking").
type LockMode int

// The table lock modes, weakest first. LockNone means no table lock.
const (
	LockNone LockMode = iota
	LockAccessShare
	LockRowShare
	LockRowExclusive
	LockShareUpdateExclusive
	LockShare
	LockShareRowExclusive
	LockExclusive
	LockAccessExclusive
)

var lockNames = [...]string{
	"", "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
	"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
}

// String returns the name pg_locks.mode uses, e.g. "AccessExclusiveLock"
// ("" for LockNone).
func (l LockMode) String() string {
	if l < 0 || int(l) >= len(lockNames) {
		return ""
	}
	return lockNames[l]
}

// SQLName returns the mode as SQL spells it, e.g. "ACCESS EXCLUSIVE".
func (l LockMode) SQLName() string {
	return [...]string{"NONE", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
		"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}[l]
}

// BlocksWrites reports whether the mode conflicts with ROW EXCLUSIVE
// (INSERT/UPDATE/DELETE).
func (l LockMode) BlocksWrites() bool { return l >= LockShare }

// BlocksReads reports whether the mode conflicts with ACCESS SHARE (SELECT).
func (l LockMode) BlocksReads() bool { return l == LockAccessExclusive }

// ParseLockMode maps a name from String back to its mode (LockNone when unknown).
func ParseLockMode(name string) LockMode {
	for i, n := range lockNames {
		if n == name {
			return LockMode(i)
		}
	}
	return LockNone
}

func maxLock(a, b LockMode) LockMode {
	if b > a {
		return b
	}
	return a
}
