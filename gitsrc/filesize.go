package gitsrc

import "errors"

// WithMaxFileBytes sets the size limit of a migration file read from Git
// (default DefaultMaxFileBytes; 0 turns the limit off). A larger file is
// reported as a *MigrationError wrapping ErrTooLarge, like any other bad
// file, without reading its content. Negative values are rejected.
func WithMaxFileBytes(n int64) Option {
	return func(o *repoOptions) error {
		if n < 0 {
			return errors.New("WithMaxFileBytes: negative limit")
		}
		o.maxFileBytes = n
		return nil
	}
}
