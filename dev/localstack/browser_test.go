package localstack_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive, or skips: Debian's package is
// `chromium` (apt-get install chromium); .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Chromium is not installed, so the demo page is not run in a browser here: apt-get install chromium (.ci/run installs it)")
	return ""
}

// TestDemoPageInHeadlessChromium loads the official account's demo page
// from the local stack in a real browser, with the simulator standing in
// for WeChat: its authorize page logs the browser in (the page trades the
// code for a session), its stand-in JS-SDK accepts wx.config only with a
// signature made from a ticket it issued, and its <wx-open-subscribe> fires
// the success event with WeChat's detail once "allow" is tapped in its
// popup. The page reports it; the ledger, read with the admin key, shows
// the credit.
func TestDemoPageInHeadlessChromium(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	h := start(t, officialAccount())
	if err := h.s.RunSchedule(context.Background(), "TemplatesFunction"); err != nil { // the catalogue, as `make run` syncs it at start
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	page := h.s.URL + "/web/demo/?sim=" + h.s.SimURL
	// text reads an element's text now (without waiting for it to show).
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(sel)+`) || {}).textContent || ""`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"], body[data-state="failed"]`)),
	); err != nil {
		t.Fatalf("loading the demo page: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "data-state"))
	if err != nil {
		t.Fatalf("the page's state: %v", err)
	}
	if state.Value != "ready" {
		t.Fatalf("the demo page failed (%s): %q", state.Value, text("#error"))
	}
	openid := text("#openid")
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(location, "code=") || !strings.HasPrefix(location, h.s.URL+"/web/demo/") {
		t.Errorf("the page did not come back from the authorize page with a code: %s", location)
	}
	if calls := h.s.WeChatCalls()["JssdkFunction"]; len(calls) != 0 {
		t.Errorf("the jssdk function called WeChat itself: %v", calls)
	}

	// Tap the button, then "allow" in the popup.
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, a); err != nil {
			t.Fatalf("%s: %v (page error %q)", name, err, text("#error"))
		}
	}
	tap := func(name, sel string) { step(name, chromedp.Click(chromedp.CSS(sel))) } // a mouse click on the element
	tap("tap the button", `#subscribe-`+oneTime)
	step("wait for the popup", chromedp.WaitVisible(chromedp.CSS(`#wechatsim-allow`)))
	tap("tap allow", `#wechatsim-allow`)
	step("wait for the report", chromedp.WaitVisible(chromedp.CSS(`body[data-reported="1"]`)))
	if status := text("#status"); !strings.Contains(status, `"credits":1`) {
		t.Errorf("the page shows %q", status)
	}

	// The report reached the ledger: the business backend sees the credit.
	l := h.admin("GET", "/v1/users/"+openid+"/subscriptions", nil)
	if l.status != 200 || !strings.Contains(l.raw, `"template_id":"`+oneTime+`","title":"订单发货通知","type":"one_time","status":"accept","credits":1`) {
		t.Fatalf("the ledger of %s: %d %s", openid, l.status, l.raw)
	}
	if r := h.row(openid, oneTime); r.Granted != 1 {
		t.Errorf("granted %d, want 1 (the report and WeChat's popup event are one tap)", r.Granted)
	}
}
