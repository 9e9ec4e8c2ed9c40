package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome binary; the test skips without one
// (fails under CI=true, where .ci/run installs Debian's chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium: apt-get install chromium")
	}
	t.Skip("no chromium on PATH (apt-get install chromium); skipping the headless browser test")
	return ""
}

// TestStatusPageInHeadlessBrowser renders the status page in a real headless
// Chromium, checks what a reader sees, and saves screenshots to
// reconciler/web/testdata/statuspage-out/ (ignored by git).
func TestStatusPageInHeadlessBrowser(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	h, err := NewStatusHandler(demoLikeStatus(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	outDir := filepath.Join("testdata", "statuspage-out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// The list.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#changes")),
	); err != nil {
		t.Fatalf("browse the list: %v", err)
	}
	listText := run(t, bctx, chromedp.Text(chromedp.CSS("#changes tbody")))
	listShot := run(t, bctx, chromedp.FullScreenshot(100))
	for _, want := range []string{"drop_orders_customer_index", "rolled back", "widen_products_price", "awaiting approval", "87%", "done"} {
		if !strings.Contains(listText, want) {
			t.Errorf("the list as rendered lacks %q:\n%s", want, listText)
		}
	}

	// Click through to the rolled-back change, as a reader would.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`tr[data-version="16"] td a`)),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	); err != nil {
		t.Fatalf("browse change 16: %v", err)
	}
	title := run(t, bctx, chromedp.Text(chromedp.CSS("h1")))
	rollback := run(t, bctx, chromedp.Text(chromedp.CSS("#rollback")))
	charts := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart").length`))
	// getBBox is computed by the browser's SVG layout: a series that did
	// not render has no width.
	canaryWidth := run(t, bctx, chromedp.Evaluate[float64](`document.querySelector('[data-kpi^="latency:"] polyline[data-series="canary"]').getBBox().width`))
	controlWidth := run(t, bctx, chromedp.Evaluate[float64](`document.querySelector('[data-kpi^="latency:"] polyline[data-series="control"]').getBBox().width`))
	markX := run(t, bctx, chromedp.Evaluate[float64](`document.querySelector('[data-kpi^="latency:"] .mark.rollback line').getBBox().x`))
	changeShot := run(t, bctx, chromedp.FullScreenshot(100))
	if !strings.Contains(title, "drop_orders_customer_index") || !strings.Contains(title, "rolled back") {
		t.Errorf("change page title %q", title)
	}
	if !strings.Contains(rollback, "schemacanary/revert-16") {
		t.Errorf("rollback box %q lacks the revert branch", rollback)
	}
	if charts != 2 {
		t.Errorf("%d KPI charts rendered, want 2", charts)
	}
	if canaryWidth < 300 || controlWidth < 300 {
		t.Errorf("series widths canary %.0f, control %.0f: the lines did not render across the chart", canaryWidth, controlWidth)
	}
	if markX <= padLeft || markX >= chartW-padRight {
		t.Errorf("rollback mark at x=%.0f, outside the plot", markX)
	}
	for name, shot := range map[string][]byte{"list.png": listShot, "change-16.png": changeShot} {
		if len(shot) < 10_000 {
			t.Errorf("%s: screenshot of %d bytes is suspiciously small", name, len(shot))
		}
		p := filepath.Join(outDir, name)
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// run runs one chromedp action and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}
