// Package demo is `schemacanary demo`: the whole pipeline, end to end, on
// real PostgreSQL clusters started on this machine. It starts a control
// cluster and a fleet (one canary, three production instances), seeds them
// with a shop's data, runs a load generator, creates a local Git repository
// from examples/migrations, runs the daemon in-process with the local forge,
// then pushes three changes one by one: a safe one (done on the whole
// fleet), a harmful one (caught on the canary by the judge and rolled back,
// nothing lost, revert branch pushed) and a risky one (low confidence,
// awaiting approval, approved, done). It prints the timeline as it goes and
// cleans everything up, or keeps it running for a look at the status page.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/examples"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// ErrNoPostgres is returned when the PostgreSQL server binaries are missing;
// its message says what to install.
var ErrNoPostgres = pgtest.ErrNoPostgres

// Options configure Run.
type Options struct {
	// Out receives the timeline; default os.Stdout.
	Out io.Writer
	// Log receives the daemon's logs; default: discarded (the timeline
	// tells the story).
	Log *slog.Logger
	// Keep leaves the clusters, repository and daemon running after the
	// walk, until ctx ends, and prints where to look.
	Keep bool
	// Timing sets the pace; zero fields take DefaultTiming's.
	Timing Timing
	// Scale sizes the data; zero fields take DefaultScale's.
	Scale Scale
	// Model is a trained model file (schemacanary train --out) to predict
	// with; default the model embedded in the binary.
	Model string
	// Dir is where the repository, config and secrets go; default a new
	// temporary directory, removed at the end unless Keep.
	Dir string
}

// Outcome is what happened to one of the demo's changes.
type Outcome struct {
	Version    int64
	File       string
	Kind       string // safe, harmful, risky
	State      string
	Confidence float64
	Took       time.Duration
}

// Summary is the result of a demo run.
type Summary struct {
	Outcomes []Outcome
	// Versions maps each fleet instance to its goose version at the end.
	Versions map[string]int64
	// Orders maps each instance to its orders row count at the end, and
	// Expected to seeded + inserted by the load: equal means nothing lost.
	Orders, Expected map[string]int64
	// RevertBranch is the branch the harmful change's revert was pushed to.
	RevertBranch string
	// RepoDir is the bare repository (the audit branch lives there).
	RepoDir string
	// StatusURL is the status page.
	StatusURL string
	// Alerts counts the webhook deliveries whose signature the receiver
	// verified; AlertsRejected those it refused.
	Alerts, AlertsRejected int
	Took                   time.Duration
}

// demoChange is one of the three demo changes.
type demoChange struct {
	file, kind, title string
	who               author
	want              []string // the state the walk waits for
}

var demoChanges = []demoChange{
	{file: "00015_add_orders_coupon_code.sql", kind: "safe", title: "Add a coupon code to orders",
		who: author{"Dana Lee", "dana@shop.example"}, want: []string{"done"}},
	{file: "00016_drop_orders_customer_index.sql", kind: "harmful", title: "Drop an unused index on orders",
		who: author{"Sam Okafor", "sam@shop.example"}, want: []string{"rolled_back", "reverted"}},
	{file: "00017_add_orders_public_id.sql", kind: "risky", title: "Add a public id to orders",
		who: author{"Ana Ruiz", "ana@shop.example"}, want: []string{"awaiting_approval"}},
}

// Run runs the demo. It returns ErrNoPostgres (wrapped) when PostgreSQL is
// not installed.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	opts.defaults()
	p := newPrinter(opts.Out)
	p.plain("schemacanary demo: a Git repository of goose migrations deployed to a fleet of real PostgreSQL servers,")
	p.plain("one change at a time: predict, canary, judge, roll back or promote. Everything runs on this machine.")
	p.section("setting up")
	env := &environment{opts: opts, p: p}
	defer env.close()
	if err := env.setUp(ctx); err != nil {
		return nil, err
	}
	sum := &Summary{RepoDir: env.repo.Bare, StatusURL: env.statusURL()}
	for i, c := range demoChanges {
		out, err := env.walk(ctx, i, c)
		if out != nil {
			sum.Outcomes = append(sum.Outcomes, *out)
		}
		if err != nil {
			return sum, err
		}
	}
	if err := env.finish(ctx, sum); err != nil {
		return sum, err
	}
	sum.Took = p.elapsed()
	env.printSummary(sum)
	if opts.Keep {
		p.section("kept running (--keep)")
		p.plain("Status page:     %s", sum.StatusURL)
		p.plain("Audit trail:     git --git-dir %s log --stat schemacanary-audit", sum.RepoDir)
		p.plain("Config:          %s", path.Join(env.dir, "schemacanary.yaml"))
		p.plain("Press Ctrl-C to stop the daemon, the load and the clusters and remove everything.")
		<-ctx.Done()
	}
	return sum, nil
}

func (o *Options) defaults() {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := DefaultTiming
	if o.Timing.Poll == 0 {
		o.Timing.Poll = d.Poll
	}
	if o.Timing.Interval == 0 {
		o.Timing.Interval = d.Interval
	}
	if o.Timing.Baseline == 0 {
		o.Timing.Baseline = d.Baseline
	}
	if o.Timing.Bake == 0 {
		o.Timing.Bake = d.Bake
	}
	if o.Timing.Rate == 0 {
		o.Timing.Rate = d.Rate
	}
	s := DefaultScale
	if o.Scale.Customers == 0 {
		o.Scale.Customers = s.Customers
	}
	if o.Scale.Products == 0 {
		o.Scale.Products = s.Products
	}
	if o.Scale.Orders == 0 {
		o.Scale.Orders = s.Orders
	}
}

// demoSource reads one of the demo changes from the embedded examples.
func demoSource(file string) ([]byte, error) {
	sub, err := fs.Sub(examples.DemoChanges, "demo")
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(sub, file)
}

// versionOf parses a demo file's version.
func versionOf(file string) int64 {
	v, _, err := migration.ParseVersion(file)
	if err != nil {
		panic(fmt.Sprintf("demo file %s: %v", file, err)) // the embedded files are tested
	}
	return v
}

var errSetup = errors.New("demo: setup")
