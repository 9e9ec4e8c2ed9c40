package model

import (
	"math"
	"sort"
)

// Scores are the quality figures of probabilistic predictions of "safe".
type Scores struct {
	// N is the number of examples scored.
	N int `json:"n"`
	// AUC is the probability that a random safe change scores above a
	// random unsafe one (ties count half); 0.5 is chance.
	AUC float64 `json:"auc"`
	// Brier is the mean squared error of the probability (0 is perfect,
	// 0.25 is a constant 0.5).
	Brier float64 `json:"brier"`
	// LogLoss is the mean negative log-likelihood (probabilities clipped
	// to [1e-6, 1-1e-6]).
	LogLoss float64 `json:"log_loss"`
	// SafeRate is the observed fraction of safe examples.
	SafeRate float64 `json:"safe_rate"`
}

// Score computes Scores for predicted probabilities p of safe and outcomes y.
func Score(p []float64, y []bool) Scores {
	s := Scores{N: len(p)}
	if len(p) == 0 {
		return s
	}
	var safe int
	for i := range p {
		t := 0.0
		if y[i] {
			t = 1
			safe++
		}
		s.Brier += (p[i] - t) * (p[i] - t)
		q := math.Min(math.Max(p[i], 1e-6), 1-1e-6)
		s.LogLoss -= t*math.Log(q) + (1-t)*math.Log(1-q)
	}
	s.Brier /= float64(len(p))
	s.LogLoss /= float64(len(p))
	s.SafeRate = float64(safe) / float64(len(p))
	s.AUC = AUC(p, y)
	return s
}

// AUC is the area under the ROC curve of scores for positives y (the
// Mann-Whitney statistic with average ranks for ties). It is NaN when one
// class is absent.
func AUC(score []float64, y []bool) float64 {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var rankSum float64
	var pos, neg int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && score[idx[j]] == score[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // 1-based average rank of the tie block
		for k := i; k < j; k++ {
			if y[idx[k]] {
				rankSum += avg
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - float64(pos)*float64(pos+1)/2) / (float64(pos) * float64(neg))
}

// CalibrationBin is one row of a reliability table: of the N examples
// predicted between Lo and Hi, the mean prediction and the observed safe
// rate.
type CalibrationBin struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	N             int     `json:"n"`
	MeanPredicted float64 `json:"mean_predicted"`
	Observed      float64 `json:"observed"`
}

// Calibration bins predictions into bins equal-width bins over [0,1] and
// returns the non-empty ones.
func Calibration(p []float64, y []bool, bins int) []CalibrationBin {
	if bins < 1 {
		bins = 10
	}
	out := make([]CalibrationBin, bins)
	for b := range out {
		out[b].Lo = float64(b) / float64(bins)
		out[b].Hi = float64(b+1) / float64(bins)
	}
	for i, v := range p {
		b := int(v * float64(bins))
		if b >= bins {
			b = bins - 1
		}
		if b < 0 {
			b = 0
		}
		out[b].N++
		out[b].MeanPredicted += v
		if y[i] {
			out[b].Observed++
		}
	}
	kept := out[:0]
	for _, b := range out {
		if b.N == 0 {
			continue
		}
		b.MeanPredicted /= float64(b.N)
		b.Observed /= float64(b.N)
		kept = append(kept, b)
	}
	return kept
}

// ExpectedCalibrationError is the N-weighted mean |predicted - observed|
// over the bins.
func ExpectedCalibrationError(bins []CalibrationBin) float64 {
	var n, e float64
	for _, b := range bins {
		n += float64(b.N)
		e += float64(b.N) * math.Abs(b.MeanPredicted-b.Observed)
	}
	if n == 0 {
		return 0
	}
	return e / n
}
