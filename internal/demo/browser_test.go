package demo

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"vitals/internal/lb"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the status page screenshot to docs/status-page.png")

// chromium returns the headless browser, skipping (or failing with
// CI=true) when it is missing.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "chromium is not installed (apt-get install -y chromium chromium-driver)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestStatusPageBrowser is acceptance items 2 and 3: in headless
// Chromium, the demo's status page shows every member ONLINE; the hang
// button turns b2 ERROR in the agent-monitored pool without a reload; the
// page makes no request beyond loopback.
func TestStatusPageBrowser(t *testing.T) {
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Interactive: true, Ready: func(a string) { ready <- a }})
		done <- err
	}()
	defer func() { cancel(); <-done }()
	var admin string
	select {
	case admin = <-ready:
	case err := <-done:
		t.Fatal(err)
	}

	b := newBrowser(t, ctx, exe)
	bctx, waitJS := b.ctx, b.waitJS
	page := "http://" + admin + "/"
	if err := chromedp.Run(bctx, network.Enable(), chromedp.Navigate(page), chromedp.Evaluate(`window.__marker = 42`, nil)); err != nil {
		t.Fatal(err)
	}
	waitJS("all members ONLINE", `(() => { const b = [...document.querySelectorAll("tr[data-member] td.status .badge")];
		return b.length === 6 && b.every(x => x.textContent === "ONLINE"); })()`, 20*time.Second)
	waitJS("demo buttons", `!!document.getElementById("btn-b2-hung")`, 5*time.Second)
	if err := chromedp.Run(bctx, chromedp.Click("#btn-b2-hung", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	waitJS("b2 ERROR in the agent-monitored pool", `(() => { const b = document.querySelector('tr[data-pool="`+HTTPPool+`"][data-member="b2"] .badge');
		return !!b && b.textContent === "ERROR"; })()`, 15*time.Second)
	t.Logf("b2 ERROR on the page %s after the click", time.Since(clicked).Round(time.Millisecond))
	var marker int
	if err := chromedp.Run(bctx, chromedp.Evaluate(`window.__marker || 0`, &marker)); err != nil || marker != 42 {
		t.Fatalf("the page was reloaded (marker %d, %v); want live updates", marker, err)
	}
	// The contrast the page exists to show: the hung b2 still accepts TCP
	// connections, so the TCP-monitored pool keeps it ONLINE.
	var tcpB2 string
	if err := chromedp.Run(bctx, chromedp.Evaluate(`document.querySelector('tr[data-pool="`+TCPPool+`"][data-member="b2"] .badge')?.textContent ?? ""`, &tcpB2)); err != nil {
		t.Fatal(err)
	}
	if tcpB2 != "ONLINE" {
		t.Errorf("b2 in the TCP-monitored pool is %q while hung; want ONLINE (a TCP check cannot see the hang)", tcpB2)
	}
	// The member's details render: how far b2 is toward ONLINE again, its
	// weight and admin state, since when it is ERROR, its bytes.
	waitJS("b2's details in the agent-monitored pool", `(() => { const r = document.querySelector('tr[data-pool="`+HTTPPool+`"][data-member="b2"]');
		return !!r && /^\d+ of 2 passes$/.test(r.querySelector("td.progress").textContent)
			&& r.querySelector(".conf").textContent === "weight 1 · enabled"
			&& r.querySelector("td.since").textContent !== "" && /B/.test(r.querySelector("td.bytes").textContent); })()`, 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // let a few timeline cells turn red
	var png []byte
	if err := chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "status-page.png")
	if *updateScreenshot {
		out = filepath.Join("..", "..", "docs", "status-page.png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	b.checkLoopbackOnly()
}

// browser is a headless Chromium tab for a test, recording every request
// it makes.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	urls []string
}

func newBrowser(t *testing.T, ctx context.Context, exe string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	// The pinned cdproto does not know every enum of a newer Chromium;
	// those events (extra-info ones) are not the ones asserted on.
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(bcancel)
	b := &browser{t: t, ctx: bctx}
	chromedp.ListenTarget(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL)
			b.mu.Unlock()
		}
	})
	return b
}

// waitJS waits until the JavaScript expression expr is true.
func (b *browser) waitJS(what, expr string, limit time.Duration) {
	t := b.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		if err := chromedp.Run(b.ctx, chromedp.Evaluate(expr, &ok)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var html string
			chromedp.Run(b.ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
			t.Fatalf("%s: not within %s; page: %s", what, limit, html)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pointerClick clicks the element with the given id as a user does, with
// real mouse events (pointerdown, mousedown, pointerup, mouseup, click),
// and holds the button down until the page has received at least one live
// event, which rebuilds the tables. So the click lands only if the page
// keeps the pressed button while a pointer is down: a button replaced
// between press and release gets no click.
func (b *browser) pointerClick(id string) {
	t := b.t
	t.Helper()
	// Count the page's live events: its message handler rewrites the
	// #conn line on every event, and a MutationObserver's callback runs
	// after that handler has returned, so the count rises after each
	// event has been handled (rendered, or held while a pointer is down).
	const count = `(() => { if (window.__events === undefined) { window.__events = 0; new MutationObserver(() => window.__events++).observe(document.getElementById("conn"), {childList: true, characterData: true, subtree: true}); } return window.__events; })()`
	var at struct {
		X, Y float64
		Hit  bool
	}
	locate := `(() => { const e = document.getElementById(` + strconv.Quote(id) + `); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
		return {X: x, Y: y, Hit: document.elementFromPoint(x, y) === e}; })()`
	var before int
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(count, &before), chromedp.Evaluate(locate, &at)); err != nil {
		t.Fatalf("click #%s: %v", id, err)
	}
	if !at.Hit {
		t.Fatalf("click #%s: another element is at its centre (%.0f, %.0f)", id, at.X, at.Y)
	}
	if err := chromedp.Run(b.ctx,
		input.DispatchMouseEvent(input.MouseMoved, at.X, at.Y),
		input.DispatchMouseEvent(input.MousePressed, at.X, at.Y).WithButton(input.Left).WithButtons(1).WithClickCount(1)); err != nil {
		t.Fatalf("press #%s: %v", id, err)
	}
	b.waitJS("a live event while the button is held", fmt.Sprintf("window.__events > %d", before), 10*time.Second)
	if err := chromedp.Run(b.ctx, input.DispatchMouseEvent(input.MouseReleased, at.X, at.Y).WithButton(input.Left).WithClickCount(1)); err != nil {
		t.Fatalf("release #%s: %v", id, err)
	}
}

// checkLoopbackOnly fails the test if the page made a request beyond
// loopback, by the browser's network events and the page's own list.
func (b *browser) checkLoopbackOnly() {
	t := b.t
	t.Helper()
	var resources []string
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(`[location.href, ...performance.getEntriesByType("resource").map(e => e.name)]`, &resources)); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	urls := append(b.urls, resources...)
	if len(urls) == 0 {
		t.Fatal("saw no network requests; the listener is broken")
	}
	for _, u := range urls {
		if err := loopbackOnly(u); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d requests, all to loopback", len(urls))
}

// loopbackOnly fails for a URL that leaves the machine.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme == "data" || u.Scheme == "about" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("external request: %s", raw)
	}
	return nil
}

// TestLBStatusPageAdminBrowser: on a plain vitals lb with an admin token,
// the status page's disable button takes a member out only with the right
// token, the member turns OFFLINE on the page without a reload, and the
// enable button puts it back.
func TestLBStatusPageAdminBrowser(t *testing.T) {
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	dir, err := os.MkdirTemp("", "vlb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const token = "page-token-0123456789abcdef"
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	admin, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	listen, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := lb.Parse("lb.yaml", fmt.Appendf(nil, `admin:
  socket: %s/lb.sock
  listen: 127.0.0.1:%d
  token_file: %s/admin.token
loadbalancer:
  name: page-test
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 200ms, timeout: 150ms, max_retries: 1}
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: %d}
        - {name: m2, address: 127.0.0.1, protocol_port: %d}
`, dir, admin, dir, listen, ports[0], ports[1]))
	if err != nil {
		t.Fatal(err)
	}
	lbCtx, stopLB := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- lb.Run(lbCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() { stopLB(); <-done }()

	b := newBrowser(t, ctx, exe)
	page := fmt.Sprintf("http://127.0.0.1:%d/", admin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(page)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin endpoint never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := chromedp.Run(b.ctx, network.Enable(), chromedp.Navigate(page), chromedp.Evaluate(`window.__marker = 42`, nil)); err != nil {
		t.Fatal(err)
	}
	badge := func(m string) string {
		return `document.querySelector('tr[data-member="` + m + `"] .badge')?.textContent`
	}
	b.waitJS("both members ONLINE, with admin buttons", badge("m1")+` === "ONLINE" && `+badge("m2")+` === "ONLINE" && !!document.getElementById("admin-p-m2")`, 15*time.Second)

	// A wrong token is refused and changes nothing.
	if err := chromedp.Run(b.ctx, chromedp.SendKeys("#token", "not-the-token-0123456789", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	b.pointerClick("admin-p-m2")
	b.waitJS("the refusal", `document.getElementById("adminmsg").textContent.includes("Missing or wrong X-Auth-Token")`, 5*time.Second)
	// Refused before any change: m2 is still up, on the page and in
	// status.json.
	var still bool
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(badge("m2")+` === "ONLINE" && document.getElementById("admin-p-m2")?.textContent === "disable"`, &still)); err != nil || !still {
		t.Errorf("after the refused click m2 is not ONLINE with a disable button (%v)", err)
	}
	var before lbStatus
	getJSON(t, page+"status.json", &before)
	if up := before.Pools[0].Members[1].AdminStateUp; up != nil && !*up {
		t.Error("status.json: the refused click took m2 out")
	}

	// The right one takes m2 out; the page shows it without a reload.
	if err := chromedp.Run(b.ctx, chromedp.SetValue("#token", token, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	b.pointerClick("admin-p-m2")
	b.waitJS("m2 OFFLINE with an enable button", badge("m2")+` === "OFFLINE" && document.getElementById("admin-p-m2")?.textContent === "enable"`, 5*time.Second)
	var st lbStatus
	getJSON(t, page+"status.json", &st)
	if st.Pools[0].Members[1].AdminStateUp == nil || *st.Pools[0].Members[1].AdminStateUp {
		t.Errorf("status.json: m2 admin_state_up %v, want false", st.Pools[0].Members[1].AdminStateUp)
	}
	b.pointerClick("admin-p-m2")
	b.waitJS("m2 ONLINE again", badge("m2")+` === "ONLINE"`, 10*time.Second)
	var marker int
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(`window.__marker || 0`, &marker)); err != nil || marker != 42 {
		t.Fatalf("the page was reloaded (marker %d, %v); want live updates", marker, err)
	}
	b.checkLoopbackOnly()
}

type lbStatus struct {
	Pools []struct {
		Members []struct {
			AdminStateUp *bool `json:"admin_state_up"`
		} `json:"members"`
	} `json:"pools"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
