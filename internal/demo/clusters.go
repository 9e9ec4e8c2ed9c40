package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// Instance is one database of the demo fleet.
type Instance struct {
	// Name is the fleet instance name ("canary-1", "prod-1", …).
	Name string
	// Group is its fleet group ("canary" or "main").
	Group string
	// Cluster is the PostgreSQL server it lives on.
	Cluster *pgtest.Cluster
	// DSN is the database "shop" on that server.
	DSN string
}

// Clusters are the demo's PostgreSQL servers: the control store and the fleet.
type Clusters struct {
	// Control holds the daemon's control store (database "schemacanary").
	Control *pgtest.Cluster
	// ControlDSN is the control store's DSN.
	ControlDSN string
	// Fleet is the canary first, then the production instances.
	Fleet []Instance
}

// fleetLayout is the demo fleet: one canary and three production instances.
var fleetLayout = []struct{ name, group string }{
	{"canary-1", "canary"}, {"prod-1", "main"}, {"prod-2", "main"}, {"prod-3", "main"},
}

// startClusters starts the control cluster and the fleet concurrently and
// creates their databases. On error every started cluster is stopped.
func startClusters(ctx context.Context) (*Clusters, error) {
	if _, err := pgtest.BinDir(); err != nil {
		return nil, err
	}
	names := []string{"control"}
	for _, f := range fleetLayout {
		names = append(names, f.name)
	}
	started := make([]*pgtest.Cluster, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started[i], errs[i] = pgtest.Start(ctx, pgtest.Options{Name: "demo-" + n})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		pgtest.StopAll(started)
		return nil, err
	}
	c := &Clusters{Control: started[0]}
	var err error
	if c.ControlDSN, err = c.Control.CreateDatabase(ctx, "schemacanary"); err != nil {
		c.Stop()
		return nil, err
	}
	for i, f := range fleetLayout {
		cl := started[i+1]
		in := Instance{Name: f.name, Group: f.group, Cluster: cl}
		if in.DSN, err = cl.CreateDatabase(ctx, "shop"); err != nil {
			c.Fleet = append(c.Fleet, in)
			c.Stop()
			return nil, fmt.Errorf("demo: %s: %w", f.name, err)
		}
		c.Fleet = append(c.Fleet, in)
	}
	return c, nil
}

// Stop stops every cluster and removes its directory.
func (c *Clusters) Stop() {
	all := []*pgtest.Cluster{c.Control}
	for _, in := range c.Fleet {
		all = append(all, in.Cluster)
	}
	pgtest.StopAll(all)
}
