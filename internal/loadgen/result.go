package loadgen

import (
	"math"
	"sort"
	"time"
)

// Observation is one executed statement.
type Observation struct {
	// Statement is the Statement.Name.
	Statement string
	// Scheduled is the slot the statement was scheduled for.
	Scheduled time.Time
	// Latency runs from Scheduled to the end of execution (queueing for a
	// worker included).
	Latency time.Duration
	// Err is "" on success, else the SQLSTATE ("55P03"), "timeout" or "client".
	Err string
}

// Result holds what a generator observed. It is a snapshot: it does not
// change when the generator goes on.
type Result struct {
	// Start and End bound the run (End is the Stop or Snapshot time).
	Start, End time.Time
	// Interval is the bucket width of StatementStats.Intervals.
	Interval time.Duration
	// Stats holds one entry per configured statement, by name.
	Stats map[string]*StatementStats
	// Observations holds every execution, in completion order.
	Observations []Observation
}

// StatementStats summarizes one statement's executions.
type StatementStats struct {
	// Name is the statement name.
	Name string
	// Calls counts executions (successful or not).
	Calls int
	// Errors counts failed executions; ErrorCodes breaks them down.
	Errors     int
	ErrorCodes map[string]int
	// Scheduled counts the slots scheduled for the statement: Calls, plus
	// Dropped, plus those still queued or cancelled by Stop.
	Scheduled int
	// Dropped counts slots skipped because the queue was full.
	Dropped int
	// Latencies holds the successful executions' latencies from their
	// scheduled start, ordered by scheduled time.
	Latencies []time.Duration
	// Intervals buckets the executions by scheduled time.
	Intervals []Interval
}

// Interval is one bucket of a statement's executions.
type Interval struct {
	// Start of the bucket (scheduled times in [Start, Start+Interval)).
	Start time.Time
	// Calls and Errors in the bucket.
	Calls, Errors int
	// P50, P99 and Max latency of the bucket's successful executions.
	P50, P99, Max time.Duration
}

func newResult(cfg Config, start, end time.Time, obs []Observation, dropped, scheduled map[string]int) *Result {
	r := &Result{Start: start, End: end, Interval: cfg.Interval, Stats: map[string]*StatementStats{},
		Observations: append([]Observation(nil), obs...)}
	for _, s := range cfg.Statements {
		r.Stats[s.Name] = &StatementStats{Name: s.Name, ErrorCodes: map[string]int{}, Dropped: dropped[s.Name], Scheduled: scheduled[s.Name]}
	}
	sorted := append([]Observation(nil), obs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Scheduled.Before(sorted[j].Scheduled) })
	nb := int(end.Sub(start)/cfg.Interval) + 1
	buckets := map[string][][]time.Duration{}
	for name, st := range r.Stats {
		st.Intervals = make([]Interval, nb)
		for i := range st.Intervals {
			st.Intervals[i].Start = start.Add(time.Duration(i) * cfg.Interval)
		}
		buckets[name] = make([][]time.Duration, nb)
	}
	for _, o := range sorted {
		st := r.Stats[o.Statement]
		b := min(max(int(o.Scheduled.Sub(start)/cfg.Interval), 0), nb-1)
		st.Calls++
		st.Intervals[b].Calls++
		if o.Err != "" {
			st.Errors++
			st.ErrorCodes[o.Err]++
			st.Intervals[b].Errors++
			continue
		}
		st.Latencies = append(st.Latencies, o.Latency)
		buckets[o.Statement][b] = append(buckets[o.Statement][b], o.Latency)
	}
	for name, st := range r.Stats {
		for i, b := range buckets[name] {
			st.Intervals[i].P50 = quantile(b, 0.5)
			st.Intervals[i].P99 = quantile(b, 0.99)
			st.Intervals[i].Max = quantile(b, 1)
		}
	}
	return r
}

// Quantile returns the q-quantile (0..1) of the successful latencies,
// interpolating between order statistics; 0 without any.
func (s *StatementStats) Quantile(q float64) time.Duration { return quantile(s.Latencies, q) }

// Between returns the successful latencies of executions scheduled in
// [from, to), in milliseconds (the unit rollout's judge uses).
func (r *Result) Between(name string, from, to time.Time) []float64 {
	var out []float64
	for _, o := range r.Observations {
		if o.Statement == name && o.Err == "" && !o.Scheduled.Before(from) && o.Scheduled.Before(to) {
			out = append(out, float64(o.Latency)/float64(time.Millisecond))
		}
	}
	return out
}

func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	if int(lo)+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[int(lo)] + time.Duration((h-lo)*float64(s[int(lo)+1]-s[int(lo)]))
}
