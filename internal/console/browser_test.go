package console_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/internal/hook"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context to drive it. Without Chromium the test skips, unless
// HERALD_REQUIRE_SERVICES=1.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("HERALD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is missing and HERALD_REQUIRE_SERVICES=1: install Debian's chromium package", chromiumPath)
		}
		t.Skipf("%s is missing: browser tests skip (apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs an action that reads something from the page.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the whole page as name.png in $HERALD_SCREENSHOT_DIR,
// or in the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HERALD_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func signIn(t *testing.T, ctx context.Context, e *env) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(e.url+"/ui/login"),
		chromedp.SendKeys(chromedp.CSS("#key"), e.admin),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#rate")),
	)
}

func pageHTML(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, "read the page", chromedp.OuterHTML(chromedp.CSS("html")))
}

// TestBrowserRetry signs in, finds a failed delivery through the
// endpoint's filter, opens it, presses retry and sees the new attempt.
func TestBrowserRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := newBrowser(t)
	for range 3 { // some successes for the chart
		d := e.send("acme", "payout.paid")
		e.waitDelivery(d.ID, func(d hook.Delivery) bool { return d.Status == hook.DeliverySucceeded })
	}
	failed := e.failed("acme", "payout.failed")

	signIn(t, ctx, e)
	screenshot(t, ctx, "console-overview")
	run(t, ctx, "open the tenant and its endpoint",
		chromedp.Click(chromedp.CSS(`a[href="/ui/tenants"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/tenants/acme"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/endpoints/`+e.acme.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#deliveries")),
	)
	screenshot(t, ctx, "console-endpoint")
	run(t, ctx, "filter failed deliveries",
		chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "failed"),
		chromedp.Submit(chromedp.CSS(`select[name="status"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/deliveries/`+failed.ID+`"]`)),
	)
	rows := get(t, ctx, "count rows", chromedp.Evaluate[int](`document.querySelectorAll("#deliveries tbody tr").length`))
	if rows != 1 {
		t.Errorf("the failed filter shows %d deliveries, want 1", rows)
	}
	run(t, ctx, "open the failed delivery",
		chromedp.Click(chromedp.CSS(`a[href="/ui/deliveries/`+failed.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#attempt-1")),
	)
	text := get(t, ctx, "read attempt 1", chromedp.Text(chromedp.CSS("#attempt-1")))
	for _, want := range []string{"failed", "HTTP 500", "receiver is down"} {
		if !strings.Contains(text, want) {
			t.Errorf("attempt 1 does not show %q:\n%s", want, text)
		}
	}
	run(t, ctx, "press retry",
		chromedp.Click(chromedp.CSS("#retry")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	text = get(t, ctx, "read the confirmation", chromedp.Text(chromedp.CSS(".flash")))
	if !strings.Contains(text, "Retry queued") {
		t.Errorf("the retry confirmation is %q", text)
	}
	deadline := time.Now().Add(waitFor)
	for {
		if get(t, ctx, "look for attempt 2", chromedp.Evaluate[bool](`!!document.getElementById("attempt-2")`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("attempt 2 did not appear on the delivery page")
		}
		time.Sleep(50 * time.Millisecond)
		run(t, ctx, "reload", chromedp.Reload())
	}
	text = get(t, ctx, "read attempt 2", chromedp.Text(chromedp.CSS("#attempt-2")))
	if !strings.Contains(text, "succeeded") || !strings.Contains(text, "HTTP 200") {
		t.Errorf("attempt 2 is not a success:\n%s", text)
	}
	// Times are shown in the viewer's zone, with UTC on hover.
	title := get(t, ctx, "read a time", chromedp.AttributeValue(chromedp.CSS("#attempt-2 time"), "title")).Value
	if !strings.HasSuffix(title, " UTC") {
		t.Errorf("a <time> has title %q, want the UTC time", title)
	}
	screenshot(t, ctx, "console-delivery")

	// On a phone the page fits its width: nothing scrolls sideways but
	// the tables, which scroll inside their box.
	run(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(e.url+"/ui/endpoints/"+e.acme.ID),
		chromedp.WaitVisible(chromedp.CSS("#deliveries")))
	if w := get(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390 px phone the endpoint page is %d px wide", w)
	}
	screenshot(t, ctx, "console-endpoint-phone")
}

// TestBrowserRotateSecret rotates a secret from the endpoint page.
func TestBrowserRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := newBrowser(t)
	signIn(t, ctx, e)
	run(t, ctx, "rotate",
		chromedp.Navigate(e.url+"/ui/endpoints/"+e.acme.ID),
		chromedp.Click(chromedp.CSS("#rotate")),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
	)
	secret := get(t, ctx, "read the secret", chromedp.Text(chromedp.CSS("#secret")))
	ep, err := e.store.Endpoint(context.Background(), e.acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret != ep.Secret() || secret == e.acme.Secret() || !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("the page shows %q; the endpoint's secret is %q, it was %q", secret, ep.Secret(), e.acme.Secret())
	}
	if len(ep.Secrets) != 2 || ep.Secrets[1].Key != e.acme.Secret() {
		t.Errorf("the old secret does not keep signing: %d secrets", len(ep.Secrets))
	}
	if page := pageHTML(t, ctx); !strings.Contains(page, "Secret rotated") {
		t.Error("the rotation is not confirmed")
	}
	// Back on the endpoint page the secret is hidden again.
	run(t, ctx, "back", chromedp.Navigate(e.url+"/ui/endpoints/"+e.acme.ID), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
	if strings.Contains(pageHTML(t, ctx), secret) {
		t.Error("the endpoint page shows the secret without a reveal")
	}
}

// TestBrowserPortal opens a tenant's portal link and finds no trace of
// another tenant; a tampered link is refused.
func TestBrowserPortal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gd := e.failed("globex", "order.created")
	ad := e.failed("acme", "payout.paid")
	_, out := e.portalLink("acme", "")
	link := out["url"].(string)
	ctx := newBrowser(t)

	leaks := []string{"globex", "Globex", e.globex.ID, gd.ID, gd.EventID, "order.created"}
	check := func(where string) {
		t.Helper()
		page := pageHTML(t, ctx)
		for _, l := range leaks {
			if strings.Contains(page, l) {
				t.Errorf("%s shows %q of another tenant", where, l)
			}
		}
	}
	run(t, ctx, "open the portal link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/endpoints/`+e.acme.ID+`"]`)))
	check("the portal's first page")
	run(t, ctx, "open the endpoint", chromedp.Click(chromedp.CSS(`a[href="/ui/endpoints/`+e.acme.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
	check("the endpoint page")
	run(t, ctx, "open the delivery", chromedp.Click(chromedp.CSS(`a[href="/ui/deliveries/`+ad.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#attempt-1")))
	check("the delivery page")
	for _, p := range []string{"/ui/tenants", "/ui/", "/ui/tenants/globex", "/ui/endpoints/" + e.globex.ID, "/ui/deliveries/" + gd.ID} {
		run(t, ctx, "open "+p, chromedp.Navigate(e.url+p), chromedp.WaitReady(chromedp.CSS("main")))
		page := pageHTML(t, ctx)
		if strings.Contains(page, e.globex.URL) || strings.Contains(page, "po_globex") {
			t.Errorf("the acme portal shows globex's data at %s", p)
		}
	}

	// A tampered link is refused and opens no session.
	ctx2 := newBrowser(t)
	u, _ := url.Parse(link)
	token := u.Query().Get("token")
	payload, sig, _ := strings.Cut(token, ".")
	tampered := strings.Replace(link, url.QueryEscape(token), url.QueryEscape(payload+"."+strings.Repeat("x", len(sig))), 1)
	run(t, ctx2, "open a tampered link", chromedp.Navigate(tampered))
	text := get(t, ctx2, "read the page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "not valid") {
		t.Errorf("a tampered link shows %q", text)
	}
	run(t, ctx2, "after the tampered link", chromedp.Navigate(e.url+"/ui/endpoints/"+e.acme.ID), chromedp.WaitReady(chromedp.CSS("main")))
	if page := pageHTML(t, ctx2); strings.Contains(page, e.acme.URL) || !strings.Contains(page, "Admin API key") {
		t.Error("a tampered link opened a session")
	}
}
