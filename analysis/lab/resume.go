package lab

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Output receives a run's records. Run calls Begin once with the plan's
// fingerprint and skips the runs whose keys it returns (records an
// earlier, killed run of the same plan already wrote), then Write for
// each record, from one goroutine.
type Output interface {
	Begin(plan string) (done map[string]bool, err error)
	Write(rec *Record) error
}

// WriterOutput writes JSON lines to W and resumes nothing.
type WriterOutput struct{ W io.Writer }

var _ Output = WriterOutput{}

// Begin returns no done runs.
func (WriterOutput) Begin(string) (map[string]bool, error) { return nil, nil }

// Write encodes rec as one line.
func (o WriterOutput) Write(rec *Record) error {
	if err := json.NewEncoder(o.W).Encode(rec); err != nil {
		return fmt.Errorf("lab: write record: %w", err)
	}
	return nil
}

// ErrPlanChanged is returned by Resumable.Begin when the work file was
// written for another plan (other seed, examples, arms, shares, templates
// or corpus): delete it, or run with the flags that made it.
var ErrPlanChanged = errors.New("lab: the work file belongs to another plan")

// header is the first line of a work file.
type header struct {
	Lab struct {
		Plan string `json:"plan"`
	} `json:"lab_run"`
}

func isHeader(line []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(line), []byte(`{"lab_run"`)) }

// Resumable is the output of `make lab`: records go, one synced line each,
// to a work file (Path + ".partial") that a killed run resumes from;
// Finish writes the datasets from it. Not safe for concurrent use.
type Resumable struct {
	// Path is the training dataset: the primary arm's first runs.
	Path string
	// Extra receives the other runs (other arms, repeats).
	Extra string
	work  *os.File
}

var _ Output = (*Resumable)(nil)

// NewResumable returns the output for path (.jsonl, or .jsonl.gz for
// gzip). The other runs go to path with "-extra" before the extension
// (lab.jsonl.gz -> lab-extra.jsonl.gz).
func NewResumable(path string) *Resumable {
	return &Resumable{Path: path, Extra: ExtraPath(path)}
}

// ExtraPath is where NewResumable writes the runs that are not training data.
func ExtraPath(path string) string {
	dir, base := filepath.Split(path)
	name, ext := base, ""
	if i := strings.Index(base, "."); i > 0 {
		name, ext = base[:i], base[i:]
	}
	return filepath.Join(dir, name+"-extra"+ext)
}

// WorkPath is the work file of a run writing path.
func WorkPath(path string) string { return path + ".partial" }

// Begin opens the work file: when one exists for the same plan, the
// records in it are kept (a torn last line is cut off) and their keys
// returned; when none exists, a new one is started. A work file of another
// plan is an error wrapping ErrPlanChanged.
func (o *Resumable) Begin(plan string) (map[string]bool, error) {
	wp := WorkPath(o.Path)
	done := map[string]bool{}
	f, err := os.OpenFile(wp, os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err = os.OpenFile(wp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		var h header
		h.Lab.Plan = plan
		line, _ := json.Marshal(h)
		if _, err := f.Write(append(line, '\n')); err != nil {
			f.Close()
			return nil, fmt.Errorf("lab: %w", err)
		}
		o.work = f
		return done, nil
	case err != nil:
		return nil, fmt.Errorf("lab: %w", err)
	}
	var h header
	first, err := readFirstLine(f)
	if err != nil || json.Unmarshal(first, &h) != nil || h.Lab.Plan == "" {
		f.Close()
		return nil, fmt.Errorf("lab: %s: not a lab work file", wp)
	}
	if h.Lab.Plan != plan {
		f.Close()
		return nil, fmt.Errorf("%w: %s (plan %s, this run's %s)", ErrPlanChanged, wp, h.Lab.Plan, plan)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: %w", err)
	}
	recs, good, err := readRecords(f, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: %s: %w", wp, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: %w", err)
	}
	for i := range recs {
		done[recs[i].Key()] = true
	}
	o.work = f
	return done, nil
}

func readFirstLine(f *os.File) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if n == 0 {
		return nil, err
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	return line, nil
}

// Write appends rec to the work file and syncs it.
func (o *Resumable) Write(rec *Record) error {
	if o.work == nil {
		return errors.New("lab: Write before Begin")
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("lab: record %s: %w", rec.Key(), err)
	}
	if _, err := o.work.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("lab: write %s: %w", o.work.Name(), err)
	}
	if err := o.work.Sync(); err != nil {
		return fmt.Errorf("lab: sync %s: %w", o.work.Name(), err)
	}
	return nil
}

// Finish writes Path (the records of primary, repeat 0, in plan order)
// and Extra (the others) from the work file, and closes it. With complete
// (every planned run is in), the work file is removed; otherwise it stays
// for the next run to resume. It returns every record.
func (o *Resumable) Finish(primary Arm, complete bool) ([]Record, error) {
	if o.work != nil {
		o.work.Close()
		o.work = nil
	}
	recs, err := ReadRecords(WorkPath(o.Path))
	if err != nil {
		return nil, err
	}
	sortRecords(recs)
	var train, extra []Record
	for _, r := range recs {
		if r.Arm == primary && r.Repeat == 0 {
			train = append(train, r)
		} else {
			extra = append(extra, r)
		}
	}
	if err := WriteDataset(o.Path, train); err != nil {
		return nil, err
	}
	if err := WriteDataset(o.Extra, extra); err != nil {
		return nil, err
	}
	if complete {
		if err := os.Remove(WorkPath(o.Path)); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	return recs, nil
}

// WriteDataset writes recs to path, one JSON record per line, through a
// temporary file and a rename (path may be the file recs were read from),
// gzip-compressed when path ends in .gz.
func WriteDataset(path string, recs []Record) error {
	tmp := path + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var w io.Writer = fh
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(fh)
		w = zw
	}
	err = WriteRecords(w, recs)
	if zw != nil && err == nil {
		err = zw.Close()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// PlanFingerprint identifies a plan and how it is measured: the recipe of
// the lab's tables, cfg's windows, apply timeout and Method, and every
// trial. Equal plans measured the same way give equal fingerprints.
func PlanFingerprint(cfg Config, trials []Trial) string {
	h := sha256.New()
	fmt.Fprintln(h, recipe)
	fmt.Fprintf(h, "%v %v %v %v %q\n", cfg.Warmup, cfg.Baseline, cfg.Settle, cfg.ApplyTimeout, cfg.Method)
	for _, t := range trials {
		fmt.Fprintf(h, "%s %s %d %g %g %d %t %d %t %d\n", t.Key(), t.Template.ID, t.Rows, t.ReadRate, t.WriteRate,
			t.LongTxn, t.LongTxnWrite, t.Risk, t.HeldOut, t.Seed)
		for _, s := range t.Template.Up {
			h.Write([]byte(s))
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
