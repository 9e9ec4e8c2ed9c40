package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// startPrometheus runs the real Prometheus server (Debian package
// "prometheus") on a free loopback port, scraping target every second, and
// returns its URL. Without the binary the test is skipped, except under
// CI=true.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus binary not found (apt-get install prometheus)")
		}
		t.Skip("prometheus binary not found (apt-get install prometheus)")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: canary
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Ready comes before the first scrape (target discovery is
		// batched every 5 s): wait until the target has been scraped.
		resp, err := http.Get(url + `/api/v1/query?query=up{job="canary"}`)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"job":"canary"`) {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPrometheusRealServer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	lat := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canary_probe_latency_ms", Help: "test latency"}, []string{"db"})
	reg.MustRegister(lat)
	lat.WithLabelValues("orders").Set(12.5)
	lat.WithLabelValues("users").Set(3)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	url := startPrometheus(t, srv.Listener.Addr().String())

	src, err := NewPrometheus(PrometheusConfig{URL: url, Step: time.Second, Lag: 1500 * time.Millisecond,
		Queries: map[string]string{
			"latency:probe": `canary_probe_latency_ms{db="$db"}`,
			"up":            `up{job="canary"} * 0 + $weight`,
		}})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Instance: "eu-1", Labels: map[string]string{"db": "orders", "weight": "2"}}
	if got := src.Expand(`x{instance="$instance",db="$db"}`, target); got != `x{instance="eu-1",db="orders"}` {
		t.Errorf("Expand = %s", got)
	}
	from := time.Now().Add(time.Second)
	to := from.Add(4 * time.Second)
	samples, err := src.Collect(context.Background(), target, from, to)
	if err != nil {
		t.Fatal(err)
	}
	latency := judge.SelectKPI(samples, "latency:probe")
	if len(latency) < 3 || len(latency) > 4 {
		t.Errorf("latency:probe: %d samples, want 3-4 at 1 s steps over 4 s", len(latency))
	}
	for _, s := range latency {
		if s.Value != 12.5 || s.Instance != "eu-1" || s.At.Before(from) || !s.At.Before(to) {
			t.Errorf("sample %+v: want 12.5 for db=orders inside the window", s)
		}
	}
	if up := judge.SelectKPI(samples, "up"); len(up) == 0 || up[0].Value != 2 {
		t.Errorf("up = %+v, want value 2 from $weight", up)
	}
	// Prometheus keeps history: the window asked again gives the same.
	again, err := src.Collect(context.Background(), target, from, to)
	if err != nil || len(again) != len(samples) {
		t.Errorf("second Collect: %v, %d vs %d samples", err, len(again), len(samples))
	}
	// A PromQL error surfaces with the KPI's name.
	bad, _ := NewPrometheus(PrometheusConfig{URL: url, Lag: time.Millisecond, Queries: map[string]string{"cpu": "rate(("}})
	if _, err := bad.Collect(context.Background(), target, from, to); err == nil {
		t.Error("invalid PromQL: no error")
	}
}

func TestPrometheusConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []PrometheusConfig{
		{URL: "", Queries: map[string]string{"cpu": "x"}},
		{URL: "ftp://x", Queries: map[string]string{"cpu": "x"}},
		{URL: "http://127.0.0.1:9090"},
		{URL: "http://127.0.0.1:9090", Queries: map[string]string{"cpu": " "}},
		{URL: "http://127.0.0.1:9090", Queries: map[string]string{"cpu": "x"}, Step: -time.Second},
	} {
		if _, err := NewPrometheus(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewPrometheus(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}
