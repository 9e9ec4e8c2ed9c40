package analysis

// Features is a named numeric feature vector for the prediction model.
// Names are stable; docs/features.md documents each one.
type Features map[string]float64

// Features returns the report's feature vector (see docs/features.md).
func (r *Report) Features() Features {
	f := Features{}
	for _, s := range r.Statements {
		if s.Section == SectionUp {
			f["statements"]++
		}
	}
	f["irreversible"] = b2f(r.Irreversible)
	f["lossy_down"] = b2f(r.LossyDown)
	return f
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
